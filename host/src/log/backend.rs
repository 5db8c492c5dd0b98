//! The log backend: where agents' lines go.

use crate::task::Caller;

/// Takes agents' log lines, already bounded and escaped, with the stamp of
/// who wrote them.
pub trait LogSink: Send + Sync {
    fn write(&self, level: tracing::Level, caller: &Caller, message: &str, fields: &str);
}

/// Lines become `tracing` events of target `nexus::agent`.
#[derive(Default)]
pub struct Tracing;

impl LogSink for Tracing {
    fn write(&self, level: tracing::Level, c: &Caller, message: &str, fields: &str) {
        macro_rules! emit {
            ($lvl:expr) => {
                tracing::event!(target: "nexus::agent", $lvl, agent = %c.agent, project = %c.project, task = %c.task_id, fields = %fields, "{message}")
            };
        }
        match level {
            tracing::Level::TRACE => emit!(tracing::Level::TRACE),
            tracing::Level::DEBUG => emit!(tracing::Level::DEBUG),
            tracing::Level::INFO => emit!(tracing::Level::INFO),
            tracing::Level::WARN => emit!(tracing::Level::WARN),
            _ => emit!(tracing::Level::ERROR),
        }
    }
}
