//! One task: the per-`Store` state of an agent instance and the limits that
//! end it.
//!
//! Every task gets a fresh `Store` holding a [`TaskState`]. The state carries
//! who is calling (stamped by the host, never taken from the guest), the
//! agent's policy, and the meters behind the CPU, memory and host-call limits.

use crate::bindings::Error;
use crate::bus::host::{BusView, HasBus};
use crate::llm::host::{HasLlm, LlmView};
use crate::log::host::{HasLog, LogView};
use crate::memory::host::{HasMemory, MemoryView};
use crate::metrics::host::{HasMetrics, MetricsView};
use crate::policy::Policy;
use crate::project::Project;
use crate::runtime::Runtime;
use crate::workspace::host::{HasWorkspace, WorkspaceView};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{CallHook, ResourceLimiter, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Reads a task as the command line takes it, `{"kind": "...", "payload":
/// {...}}`: its kind, and its payload as JSON text (`{}` when it has none).
/// Size and nesting are checked before it is parsed.
pub fn parse_task(text: &str) -> Result<(String, String), String> {
    crate::text::check_json(text, crate::project::MAX_TASK, "the task limit")
        .map_err(|e| format!("the task is refused: {e}"))?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        format!("the task is not JSON ({e}); write {{\"kind\": \"...\", \"payload\": {{...}}}}")
    })?;
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .ok_or("the task has no string `kind`; write {\"kind\": \"...\", \"payload\": {...}}")?
        .to_string();
    let payload = value
        .get("payload")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    Ok((kind, payload.to_string()))
}

/// Who a host call comes from. Set by the host when the task starts.
#[derive(Debug, Clone)]
pub struct Caller {
    pub agent: Arc<str>,
    pub project: Arc<str>,
    pub tenant: Arc<str>,
    pub task_id: String,
    /// Nesting of bus requests that led to this task (0 for a task from
    /// outside the project).
    pub depth: u32,
}

/// The limit that ended a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Memory,
    CpuTime,
    WallTime,
    HostCalls,
    HostcallBytes,
    Stack,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::Memory => "memory limit",
            Limit::CpuTime => "cpu time limit",
            Limit::WallTime => "wall time limit",
            Limit::HostCalls => "host call limit",
            Limit::HostcallBytes => "host call size limit",
            Limit::Stack => "stack limit",
        })
    }
}

/// Why a task did not produce an outcome.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TaskFailure {
    /// The agent returned an error.
    #[error("agent `{agent}` failed the task: {}", task_error_text(error))]
    Agent {
        agent: String,
        error: crate::bindings::TaskError,
    },
    /// The task hit one of its policy's limits.
    #[error("agent `{agent}` hit its {limit} ({detail})")]
    Limit {
        agent: String,
        limit: Limit,
        detail: String,
    },
    /// The guest trapped (a panic, an unreachable, an out-of-bounds access).
    #[error("agent `{agent}` trapped: {reason}")]
    Trap { agent: String, reason: String },
    /// The host refused to start the task.
    #[error("{}", error_text(.0))]
    Refused(Error),
    /// The task failed on every attempt and is in the dead-letter queue.
    #[error(
        "agent `{agent}` gave up on the task: {}",
        crate::text::clip(reason, 1024)
    )]
    DeadLetter { agent: String, reason: String },
}

impl TaskFailure {
    /// The kind of failure, as the host's counters label it: `agent`,
    /// `trap`, `refused`, `dead_letter`, or `limit:<which>` (`limit:memory`,
    /// `limit:cpu_time`, ...).
    pub fn kind(&self) -> String {
        match self {
            TaskFailure::Agent { .. } => "agent".into(),
            TaskFailure::Trap { .. } => "trap".into(),
            TaskFailure::Refused(_) => "refused".into(),
            TaskFailure::DeadLetter { .. } => "dead_letter".into(),
            TaskFailure::Limit { limit, .. } => format!(
                "limit:{}",
                match limit {
                    Limit::Memory => "memory",
                    Limit::CpuTime => "cpu_time",
                    Limit::WallTime => "wall_time",
                    Limit::HostCalls => "host_calls",
                    Limit::HostcallBytes => "hostcall_bytes",
                    Limit::Stack => "stack",
                }
            ),
        }
    }

    /// The error a bus requester sees for this failure.
    pub fn limit(&self) -> Option<Limit> {
        match self {
            TaskFailure::Limit { limit, .. } => Some(*limit),
            _ => None,
        }
    }
}

/// A task error in words, with the agent's text escaped and clipped.
pub fn task_error_text(e: &crate::bindings::TaskError) -> String {
    use crate::bindings::TaskError;
    let clip = |s: &str| crate::text::clip(s, 1024);
    match e {
        TaskError::Rejected(r) => format!("rejected: {}", clip(r)),
        TaskError::Unsupported(r) => format!("unsupported: {}", clip(r)),
        TaskError::Failed(r) => format!("failed: {}", clip(r)),
        TaskError::Capability(e) => format!("capability error: {}", error_text(e)),
    }
}

/// A host error in words, with any guest-supplied text escaped and clipped.
pub fn error_text(e: &Error) -> String {
    let clip = |s: &str| crate::text::clip(s, 1024);
    match e {
        Error::Denied(r) => format!("denied: {}", clip(r)),
        Error::QuotaExceeded(r) => format!("quota exceeded: {}", clip(r)),
        Error::NotFound(r) => format!("not found: {}", clip(r)),
        Error::Invalid(r) => format!("invalid: {}", clip(r)),
        Error::Timeout => "timed out".into(),
        Error::Busy => "busy: the receiver's mailbox is full".into(),
        Error::Unavailable(r) => format!("unavailable: {}", clip(r)),
        Error::Internal(r) => format!("internal error: {}", clip(r)),
    }
}

/// Meters for the CPU-time and host-call limits, updated by the call hook.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    /// Guest time accumulated before the current stretch.
    guest: Duration,
    /// Start of the current stretch of guest execution.
    running_since: Option<Instant>,
    pub(crate) host_calls: u64,
    /// Bytes of linear memory across the instance's memories.
    memory: u64,
    /// The limit that stopped the guest (CPU time, host calls), recorded
    /// where it is detected so the failure can be reported by name whatever
    /// error wasmtime raises.
    pub(crate) hit: Option<Limit>,
    /// A memory grow was refused. The guest may go on (and hit another
    /// limit), so this names the failure only when nothing else does.
    memory_refused: bool,
}

impl Meter {
    fn guest_time(&self, now: Instant) -> Duration {
        self.guest + self.running_since.map_or(Duration::ZERO, |s| now - s)
    }
}

/// The data of one task's `Store`.
pub struct TaskState {
    pub(crate) caller: Caller,
    pub(crate) policy: Arc<Policy>,
    pub(crate) project: Option<Arc<Project>>,
    pub(crate) runtime: Arc<Runtime>,
    /// Made at the task's first WASI call: most tasks never make one.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    pub(crate) meter: Meter,
    /// LLM tokens reserved or spent by this task.
    tokens_used: u64,
    /// Bus messages this task has sent.
    bus_sent: crate::bus::host::Sent,
}

/// Milliseconds per epoch tick; the ticker thread advances every engine's
/// epoch at this pace.
pub(crate) const TICK: Duration = Duration::from_millis(5);

impl TaskState {
    pub(crate) fn new(
        caller: Caller,
        policy: Arc<Policy>,
        project: Option<Arc<Project>>,
        runtime: Arc<Runtime>,
    ) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(policy.limits.handles as usize);
        TaskState {
            caller,
            policy,
            project,
            runtime,
            wasi: None,
            table,
            meter: Meter::default(),
            tokens_used: 0,
            bus_sent: Default::default(),
        }
    }

    /// Arms the limits of the policy on a fresh store.
    pub(crate) fn arm(store: &mut wasmtime::Store<TaskState>) {
        let limits = store.data().policy.limits.clone();
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        store.set_hostcall_fuel(limits.hostcall_bytes as usize);
        store.set_max_component_handles(limits.handles as usize);
        store.call_hook(|mut ctx: StoreContextMut<'_, TaskState>, hook| {
            let now = Instant::now();
            let state = ctx.data_mut();
            match hook {
                CallHook::CallingWasm | CallHook::ReturningFromHost => {
                    state.meter.running_since = Some(now);
                }
                CallHook::CallingHost | CallHook::ReturningFromWasm => {
                    if let Some(since) = state.meter.running_since.take() {
                        state.meter.guest += now - since;
                    }
                }
            }
            if matches!(hook, CallHook::CallingHost) {
                state.meter.host_calls += 1;
                if state.meter.host_calls > state.policy.limits.host_calls {
                    state.meter.hit.get_or_insert(Limit::HostCalls);
                    return Err(wasmtime::Error::msg(format!(
                        "more than {} host calls",
                        state.policy.limits.host_calls
                    )));
                }
            }
            Ok(())
        });
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            let used = state.meter.guest_time(Instant::now());
            let budget = state.policy.limits.cpu_time;
            if used >= budget {
                state.meter.hit.get_or_insert(Limit::CpuTime);
                return Ok(UpdateDeadline::Interrupt);
            }
            // Check again when the rest of the budget could be used up, and
            // give other tasks a turn meanwhile.
            let left = (budget - used).as_millis() as u64 / TICK.as_millis() as u64;
            Ok(UpdateDeadline::Yield(left.clamp(1, 20)))
        });
        store.set_epoch_deadline(1);
    }

    /// Classifies an error that ended a task.
    pub(crate) fn failure(&self, err: wasmtime::Error) -> TaskFailure {
        let agent = self.caller.agent.to_string();
        let limit = self
            .meter
            .hit
            .or_else(|| match err.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::StackOverflow) => Some(Limit::Stack),
                Some(wasmtime::Trap::Interrupt) => Some(Limit::CpuTime),
                _ => None,
            });
        // The root cause says what happened; the outer layers carry a wasm
        // backtrace that is noise to a user.
        let root = err.root_cause().to_string();
        // wasmtime reports hostcall-fuel exhaustion with a private error
        // type; its message is the only handle on it.
        let fuel = root.contains("fuel allocated for hostcalls");
        let detail = crate::text::clip(&root, 300);
        let limit = limit
            .or(fuel.then_some(Limit::HostcallBytes))
            .or(self.meter.memory_refused.then_some(Limit::Memory));
        match limit {
            Some(limit) => TaskFailure::Limit {
                agent,
                detail: match limit {
                    Limit::Memory => format!(
                        "more than {} of memory",
                        crate::policy::Size(self.policy.limits.memory)
                    ),
                    Limit::CpuTime => {
                        format!("more than {:?} of cpu time", self.policy.limits.cpu_time)
                    }
                    Limit::HostcallBytes => format!(
                        "a host call passed more than {}",
                        crate::policy::Size(self.policy.limits.hostcall_bytes)
                    ),
                    _ => detail,
                },
                limit,
            },
            None => TaskFailure::Trap {
                agent,
                reason: detail,
            },
        }
    }
}

/// Each capability's host impl sees the task through a view of its own
/// (its grant, the caller stamp, its backend), as WASI's does through
/// [`WasiCtxView`]; [`link`] hands each view to its interface.
impl TaskState {
    fn workspace(&mut self) -> WorkspaceView<'_> {
        WorkspaceView {
            grant: self.policy.workspace.as_ref(),
            files: self.project.as_ref().and_then(|p| p.workspace()),
        }
    }

    fn bus(&mut self) -> BusView<'_> {
        BusView {
            caller: &self.caller,
            grant: &self.policy.bus,
            project: self.project.as_ref(),
            sent: &mut self.bus_sent,
        }
    }

    fn llm(&mut self) -> LlmView<'_> {
        LlmView {
            caller: &self.caller,
            grant: self.policy.llm.as_ref(),
            in_task: self.project.is_some(),
            tokens_used: &mut self.tokens_used,
            llm: &self.runtime.services().llm,
        }
    }

    fn memory(&mut self) -> MemoryView<'_> {
        MemoryView {
            caller: &self.caller,
            grant: self.policy.memory.as_ref(),
            in_task: self.project.is_some(),
            store: &self.runtime.services().memory,
        }
    }

    fn metrics(&mut self) -> MetricsView<'_> {
        MetricsView {
            granted: self.policy.metrics,
            root: self.project.as_ref().map(|p| p.root()),
            sampler: self.runtime.services().metrics.as_ref(),
        }
    }

    pub(crate) fn log(&mut self) -> LogView<'_> {
        LogView {
            caller: &self.caller,
            grant: self.policy.log,
            sink: self.runtime.services().log.as_ref(),
        }
    }
}

/// Links WASI and every capability of the `nexus:agent` world, each to
/// its own view of the task.
pub(crate) fn link(linker: &mut Linker<TaskState>) -> wasmtime::Result<()> {
    use crate::bindings::nexus::agent as wit;
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wit::types::add_to_linker::<TaskState, HasSelf<TaskState>>(linker, |s| s)?;
    wit::workspace::add_to_linker::<TaskState, HasWorkspace>(linker, TaskState::workspace)?;
    wit::bus::add_to_linker::<TaskState, HasBus>(linker, TaskState::bus)?;
    wit::llm::add_to_linker::<TaskState, HasLlm>(linker, TaskState::llm)?;
    wit::memory::add_to_linker::<TaskState, HasMemory>(linker, TaskState::memory)?;
    wit::metrics::add_to_linker::<TaskState, HasMetrics>(linker, TaskState::metrics)?;
    wit::log::add_to_linker::<TaskState, HasLog>(linker, TaskState::log)?;
    Ok(())
}

impl WasiView for TaskState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: self.wasi.get_or_insert_with(|| {
                // WASI is linked because Rust guests import it, but nothing
                // is granted: no preopened directories, no environment, no
                // arguments, no inherited stdio, no network.
                wasmtime_wasi::WasiCtxBuilder::new()
                    .allow_tcp(false)
                    .allow_udp(false)
                    .allow_ip_name_lookup(false)
                    .build()
            }),
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for TaskState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Counted over all memories of the instance, initial sizes included.
        let total = self.meter.memory - current as u64 + desired as u64;
        if total > self.policy.limits.memory {
            self.meter.memory_refused = true;
            return Ok(false);
        }
        self.meter.memory = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
