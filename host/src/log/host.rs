//! The log host impl: checks the grant and the level, bounds and escapes
//! what the guest wrote, and hands the line to the sink with the caller's
//! stamp.

use super::backend::LogSink;
use crate::bindings::Error;
use crate::bindings::nexus::agent::log::{Host, Level};
use crate::task::Caller;
use crate::text::clip;

/// Longest message kept, in bytes.
pub const MAX_MESSAGE: usize = 4096;
/// Most fields kept per line.
pub const MAX_FIELDS: usize = 32;

fn level(l: Level) -> tracing::Level {
    match l {
        Level::Trace => tracing::Level::TRACE,
        Level::Debug => tracing::Level::DEBUG,
        Level::Info => tracing::Level::INFO,
        Level::Warn => tracing::Level::WARN,
        Level::Error => tracing::Level::ERROR,
    }
}

/// What the log host impl sees of a task: who it is, the most verbose
/// level its grant allows, and the sink.
pub struct LogView<'a> {
    pub caller: &'a Caller,
    /// `None` when the policy has no `[log]` section.
    pub grant: Option<tracing::Level>,
    pub sink: &'a dyn LogSink,
}

/// Links the log host impl to a store's [`LogView`].
pub struct HasLog;

impl wasmtime::component::HasData for HasLog {
    type Data<'a> = LogView<'a>;
}

impl LogView<'_> {
    fn log_enabled(&self, lvl: Level) -> bool {
        self.grant.is_some_and(|max| level(lvl) <= max)
    }
}

impl Host for LogView<'_> {
    fn enabled(&mut self, lvl: Level) -> bool {
        self.log_enabled(lvl)
    }

    async fn write(
        &mut self,
        lvl: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> Result<(), Error> {
        if self.grant.is_none() {
            return Err(Error::Denied("the policy has no [log] section".into()));
        }
        if !self.log_enabled(lvl) {
            return Ok(());
        }
        let message = clip(&message, MAX_MESSAGE);
        let fields = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|(k, v)| format!("{}={}", clip(k, 64), clip(v, 512)))
            .collect::<Vec<_>>()
            .join(" ");
        self.sink.write(level(lvl), self.caller, &message, &fields);
        Ok(())
    }
}
