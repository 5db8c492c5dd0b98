//! A project: one sandbox directory, the agents loaded for it, their
//! mailboxes, and the tasks they run.
//!
//! Every task reaches an agent as a message: written to the journal, put in
//! the agent's bounded mailbox, taken by one of the agent's workers (as many
//! as its policy's `concurrent_tasks`), run in a fresh store, and marked done
//! with its reply. A failed task is tried again with backoff up to
//! `retry_attempts`, then moved to the dead-letter queue. Requests derive
//! their message id from the requesting task and their place in it, so a task
//! that runs again after a crash finds the replies its earlier run already
//! got instead of doing the work twice.

use crate::bindings::{Error, Outcome, Task, TaskError};
use crate::bus::{Broker, BrokerError, Message, State};
use crate::config::BusConfig;
use crate::policy::Size;
use crate::runtime::{Agent, Runtime};
use crate::sync::Recover;
use crate::task::{Caller, Limit, TaskFailure, TaskState};
use crate::workspace::{FileStore, Usage, Workspace};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;
use wasmtime::Store;

/// Largest task payload accepted from outside the project (the command
/// line, a service request), checked before it is parsed.
pub const MAX_TASK: u64 = 1 << 20;

/// Most artifacts an outcome may list.
const MAX_ARTIFACTS: usize = 10_000;

type Waiter = oneshot::Sender<Result<Outcome, TaskFailure>>;

struct Mailbox {
    tx: mpsc::Sender<Message>,
}

/// A token bucket: `rate` messages a second, bursts up to `rate`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct Project {
    pub id: String,
    pub tenant: String,
    root: PathBuf,
    workspace: Arc<dyn FileStore>,
    runtime: Arc<Runtime>,
    agents: RwLock<HashMap<String, Arc<Agent>>>,
    mailboxes: RwLock<HashMap<String, Mailbox>>,
    waiters: Mutex<HashMap<String, Vec<Waiter>>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Once stopped, nothing more is delivered and running tasks are
    /// dropped.
    halted: crate::sync::Stop,
    me: Weak<Project>,
}

/// What `resume` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resumed {
    /// Messages found undone and delivered again.
    pub redelivered: usize,
    /// Of those, how many ended handled.
    pub handled: usize,
    /// And how many failed for good.
    pub failed: Vec<String>,
}

fn outcome_json(o: &Outcome) -> String {
    serde_json::json!({ "payload": o.payload, "summary": o.summary, "artifacts": o.artifacts })
        .to_string()
}

fn outcome_from_json(text: &str) -> Outcome {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    Outcome {
        payload: v["payload"].as_str().unwrap_or("null").to_string(),
        summary: v["summary"].as_str().unwrap_or("").to_string(),
        artifacts: v["artifacts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Whether trying the task again could help: `Err` says why not. Only
/// what may pass (a busy or slow peer, a backend that is down for now, an
/// agent's own failure) is tried again; a denial, a quota, a limit or a
/// trap would only repeat, side effects included.
fn retryable(f: &TaskFailure) -> Result<(), &'static str> {
    let transient = |e: &Error| match e {
        Error::Busy | Error::Timeout | Error::Unavailable(_) | Error::Internal(_) => Ok(()),
        Error::Denied(_) => Err("a policy denial is the same on every attempt"),
        Error::QuotaExceeded(_) => Err("the quota is still exceeded on a second attempt"),
        Error::NotFound(_) | Error::Invalid(_) => Err("the same request fails the same way"),
    };
    match f {
        TaskFailure::Agent { error, .. } => match error {
            TaskError::Failed(_) => Ok(()),
            TaskError::Capability(e) => transient(e),
            TaskError::Rejected(_) | TaskError::Unsupported(_) => {
                Err("the agent turned the task down")
            }
        },
        TaskFailure::Limit { .. } => Err("the limit would be hit again"),
        TaskFailure::Trap { .. } => Err("the trap would happen again"),
        TaskFailure::Refused(e) => transient(e),
        TaskFailure::DeadLetter { .. } => Err("it is in the dead letters"),
    }
}

impl Project {
    /// Opens a project whose files live in `root` (created if missing).
    pub fn open(
        runtime: Arc<Runtime>,
        id: &str,
        tenant: &str,
        root: &Path,
    ) -> std::io::Result<Arc<Project>> {
        let workspace: Arc<dyn FileStore> = Arc::new(Workspace::open(root)?);
        let root = root.canonicalize()?;
        Ok(Arc::new_cyclic(|me| Project {
            id: id.to_string(),
            tenant: tenant.to_string(),
            root,
            workspace,
            runtime,
            agents: RwLock::new(HashMap::new()),
            mailboxes: RwLock::new(HashMap::new()),
            waiters: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            halted: crate::sync::Stop::default(),
            me: me.clone(),
        }))
    }

    fn bus_config(&self) -> &BusConfig {
        &self.runtime.bus
    }

    /// Longest a request to `to` may wait for its reply: the bus's
    /// `message_timeout`, or the recipient's own `wall_time` when its policy
    /// lets it run longer (a generator waiting on a model).
    pub(crate) fn message_timeout(&self, to: &str) -> Duration {
        let wall = self
            .agent(to)
            .map_or(Duration::ZERO, |a| a.policy.limits.wall_time);
        self.bus_config().message_timeout.max(wall)
    }

    fn broker(&self) -> Option<&dyn Broker> {
        self.runtime.broker.as_deref()
    }

    /// Adds an agent and starts its workers; it replaces an earlier agent
    /// with the same id. Must be called inside a tokio runtime.
    pub fn add_agent(&self, agent: Arc<Agent>) {
        let id = agent.id().to_string();
        let workers = agent.policy.limits.concurrent_tasks.max(1);
        self.agents.write().recover().insert(id.clone(), agent);
        let (tx, rx) = mpsc::channel(self.bus_config().max_queue_size.max(1));
        tokio::spawn(deliver(self.me.clone(), rx, workers as usize));
        self.mailboxes.write().recover().insert(id, Mailbox { tx });
    }

    /// Stops the project's work: no message is delivered any more, and
    /// the tasks running now are dropped where they stand (their messages
    /// stay undone in the journal). Whoever waits on a reply gets
    /// `unavailable`.
    pub fn halt(&self) {
        self.halted.stop();
        self.mailboxes.write().recover().clear();
        let waiting = std::mem::take(&mut *self.waiters.lock().recover());
        let stopped = TaskFailure::Refused(Error::Unavailable("the project was stopped".into()));
        for w in waiting.into_values().flatten() {
            let _ = w.send(Err(stopped.clone()));
        }
    }

    pub fn agent(&self, id: &str) -> Option<Arc<Agent>> {
        self.agents.read().recover().get(id).cloned()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn workspace(&self) -> Option<&Arc<dyn FileStore>> {
        Some(&self.workspace)
    }

    /// Bytes, files and directories in the sandbox.
    pub fn usage(&self) -> Usage {
        self.workspace.usage()
    }

    /// Agents (other than `except`) subscribed to `topic`.
    pub(crate) fn subscribers(&self, topic: &str, except: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .agents
            .read()
            .recover()
            .values()
            .filter(|a| a.id() != except)
            .filter(|a| {
                a.policy
                    .bus
                    .subscribe
                    .iter()
                    .any(|p| crate::bus::topic_matches(p, topic))
            })
            .map(|a| a.id().to_string())
            .collect();
        ids.sort();
        ids
    }

    /// Takes one message from `sender`'s allowance of `rate` a second.
    pub(crate) fn take_token(&self, sender: &str, rate: u32) -> Result<(), Error> {
        let mut buckets = self.buckets.lock().recover();
        let now = Instant::now();
        let b = buckets.entry(sender.to_string()).or_insert(Bucket {
            tokens: f64::from(rate),
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * f64::from(rate))
            .min(f64::from(rate));
        b.at = now;
        if b.tokens < 1.0 {
            return Err(Error::Busy);
        }
        b.tokens -= 1.0;
        Ok(())
    }

    /// Runs a task from outside the project (the command line, a service
    /// request) and waits for its outcome: `payload` must be JSON.
    ///
    /// The future is boxed: see [`crate::BoxFuture`].
    pub fn run<'a>(
        self: &'a Arc<Self>,
        agent: &'a str,
        kind: &'a str,
        payload: &'a str,
    ) -> crate::BoxFuture<'a, Result<Outcome, TaskFailure>> {
        Box::pin(async move {
            self.run_as(&crate::text::uuid().to_string(), agent, kind, payload)
                .await
        })
    }

    /// [`Project::run`] with the message id chosen by the caller. When the
    /// journal already holds that message, nothing is delivered again: a
    /// handled one answers with its stored outcome, a pending one is waited
    /// for (after [`Project::resume`] delivered it again).
    pub async fn run_as(
        self: &Arc<Self>,
        id: &str,
        agent: &str,
        kind: &str,
        payload: &str,
    ) -> Result<Outcome, TaskFailure> {
        crate::text::check_json(payload, MAX_TASK, "the task limit").map_err(|e| {
            TaskFailure::Refused(Error::QuotaExceeded(format!(
                "the task payload is refused: {e}"
            )))
        })?;
        serde_json::from_str::<serde::de::IgnoredAny>(payload).map_err(|e| {
            TaskFailure::Refused(Error::Invalid(format!("the task payload is not JSON: {e}")))
        })?;
        let message = Message {
            id: id.to_string(),
            project: self.id.clone(),
            sender: "user".into(),
            recipient: agent.to_string(),
            kind: kind.to_string(),
            payload: payload.to_string(),
            depth: 0,
            attempt: 0,
        };
        self.ask(message).await
    }

    /// Delivers a message and waits at most `timeout` for its outcome. On
    /// timeout the message stays queued and is still handled.
    pub(crate) async fn request(
        self: &Arc<Self>,
        message: Message,
        timeout: Duration,
    ) -> Result<Outcome, TaskFailure> {
        tokio::time::timeout(timeout, self.ask(message))
            .await
            .unwrap_or(Err(TaskFailure::Refused(Error::Timeout)))
    }

    /// Delivers a message and waits for its outcome, however long it takes.
    pub(crate) async fn ask(self: &Arc<Self>, message: Message) -> Result<Outcome, TaskFailure> {
        let rx = self.dispatch(message).await?;
        rx.await.unwrap_or_else(|_| {
            Err(TaskFailure::Refused(Error::Unavailable(
                "the project was closed".into(),
            )))
        })
    }

    /// Journals a message and puts it in its recipient's mailbox; the
    /// receiver yields the outcome. A message whose id is already journaled
    /// is not delivered again: a done one answers with its stored reply, a
    /// pending one is waited for.
    pub(crate) async fn dispatch(
        self: &Arc<Self>,
        message: Message,
    ) -> Result<oneshot::Receiver<Result<Outcome, TaskFailure>>, TaskFailure> {
        let refused = TaskFailure::Refused;
        let tx = {
            let mailboxes = self.mailboxes.read().recover();
            let mailbox = mailboxes.get(&message.recipient).ok_or_else(|| {
                refused(Error::NotFound(format!(
                    "no agent `{}` in this project",
                    message.recipient
                )))
            })?;
            mailbox.tx.clone()
        };
        let done_rx = self.wait_for(&message.id);
        if let Some(journal) = self.broker() {
            let existing = journal.enqueue(&message).await.map_err(|e| {
                let error = match e {
                    BrokerError::Full(why) => Error::QuotaExceeded(why),
                    e => Error::Internal(e.to_string()),
                };
                self.resolve(&message.id, Err(refused(error.clone())));
                refused(error)
            })?;
            match existing {
                None => {}
                Some(State::Done(reply)) => {
                    self.resolve(&message.id, Ok(outcome_from_json(&reply)));
                    return Ok(done_rx);
                }
                Some(State::Dead(error)) => {
                    self.resolve(
                        &message.id,
                        Err(TaskFailure::DeadLetter {
                            agent: message.recipient.clone(),
                            reason: error,
                        }),
                    );
                    return Ok(done_rx);
                }
                Some(State::Pending) => return Ok(done_rx),
            }
        }
        let id = message.id.clone();
        if tx.try_send(message).is_err() {
            if let Some(journal) = self.broker() {
                let _ = journal.forget(&id).await;
            }
            self.waiters.lock().recover().remove(&id);
            return Err(refused(Error::Busy));
        }
        Ok(done_rx)
    }

    /// Registers a wait for the outcome of message `id`: [`Project::resolve`]
    /// answers it.
    fn wait_for(&self, id: &str) -> oneshot::Receiver<Result<Outcome, TaskFailure>> {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .recover()
            .entry(id.to_string())
            .or_default()
            .push(tx);
        rx
    }

    fn resolve(&self, id: &str, result: Result<Outcome, TaskFailure>) {
        let mut waiters = self.waiters.lock().recover().remove(id).unwrap_or_default();
        // Nearly always one waiter: it takes the outcome itself, uncopied.
        let Some(last) = waiters.pop() else { return };
        for w in waiters {
            let _ = w.send(result.clone());
        }
        let _ = last.send(result);
    }

    /// Delivers again every message of this project the journal holds as
    /// not done (after the host was killed), and waits until each is handled
    /// or has failed for good.
    ///
    /// The future is boxed: see [`crate::BoxFuture`].
    pub fn resume(self: &Arc<Self>) -> crate::BoxFuture<'_, Result<Resumed, TaskFailure>> {
        Box::pin(async move {
            let Some(journal) = self.broker() else {
                return Ok(Resumed::default());
            };
            let pending = journal
                .undelivered(&self.id)
                .await
                .map_err(|e| TaskFailure::Refused(Error::Internal(e.to_string())))?;
            let mut report = Resumed {
                redelivered: pending.len(),
                ..Resumed::default()
            };
            let mut waiting = Vec::new();
            for mut m in pending {
                let rx = self.wait_for(&m.id);
                // The interrupted delivery counts as an attempt, so a message
                // that kills the host each time still ends in the dead letters:
                // recorded now, before it can kill the host again.
                m.attempt += 1;
                let _ = journal
                    .nack(
                        &m.id,
                        m.attempt,
                        "interrupted: the host stopped while it ran",
                    )
                    .await;
                let mailbox = self
                    .mailboxes
                    .read()
                    .recover()
                    .get(&m.recipient)
                    .map(|mb| mb.tx.clone());
                let id = m.id.clone();
                let attempts = m.attempt;
                let killed_too_often = attempts >= self.bus_config().retry_attempts;
                match mailbox {
                    Some(tx) if !killed_too_often && tx.send(m).await.is_ok() => {
                        waiting.push((id, rx))
                    }
                    _ => {
                        let why = if killed_too_often {
                            format!("the host stopped while it ran, {attempts} times")
                        } else {
                            "its agent is no longer part of the project".to_string()
                        };
                        let _ = journal
                            .dead(&id, &why, self.bus_config().dead_letter_queue)
                            .await;
                        self.waiters.lock().recover().remove(&id);
                        report.failed.push(id);
                    }
                }
            }
            for (id, rx) in waiting {
                match rx.await {
                    Ok(Ok(_)) => report.handled += 1,
                    _ => report.failed.push(id),
                }
            }
            Ok(report)
        })
    }

    /// Records how a message taken from a mailbox was handled (done, tried
    /// again, dead) and answers whoever waits for it. Runs after the
    /// agent's worker slot is free, so journal writes of finished tasks
    /// commit together while the next tasks run.
    async fn finish(self: &Arc<Self>, message: Message, result: Result<Outcome, TaskFailure>) {
        let journal = self.broker();
        match result {
            Ok(outcome) => {
                if let Some(j) = journal {
                    // A reply leaving the project (depth 0) is committed
                    // first; one to another task is committed in order
                    // ahead of anything that task does with it.
                    let recorded = if message.depth == 0 {
                        j.ack(&message.id, &outcome_json(&outcome)).await
                    } else {
                        j.ack_in_order(&message.id, outcome_json(&outcome))
                    };
                    if let Err(e) = recorded {
                        tracing::error!(message = %message.id, error = %e, "could not mark the message done");
                    }
                }
                self.resolve(&message.id, Ok(outcome));
            }
            Err(failure)
                if retryable(&failure).is_ok()
                    && message.attempt + 1 < self.bus_config().retry_attempts =>
            {
                let attempt = message.attempt + 1;
                if let Some(j) = journal {
                    let _ = j.nack(&message.id, attempt, &failure.to_string()).await;
                }
                let pause = self
                    .bus_config()
                    .retry_backoff
                    .saturating_mul(1 << message.attempt.min(10));
                tracing::info!(message = %message.id, agent = %message.recipient, attempt, ?pause, failure = %failure, "retrying the task");
                let tx = self
                    .mailboxes
                    .read()
                    .recover()
                    .get(&message.recipient)
                    .map(|m| m.tx.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    if let Some(tx) = tx {
                        let _ = tx.send(Message { attempt, ..message }).await;
                    }
                });
            }
            Err(failure) => {
                let reason = match retryable(&failure) {
                    Err(why) => format!("{failure} (not retried: {why})"),
                    Ok(()) => failure.to_string(),
                };
                if let Some(j) = journal {
                    let recorded = j
                        .dead(&message.id, &reason, self.bus_config().dead_letter_queue)
                        .await;
                    if let Err(e) = recorded {
                        tracing::error!(message = %message.id, error = %e, "could not record the failed message");
                    }
                }
                tracing::info!(message = %message.id, agent = %message.recipient, attempts = message.attempt + 1, failure = %reason, "task failed for good");
                self.resolve(&message.id, Err(failure));
            }
        }
    }

    /// Runs one task of the message's recipient in a fresh store under its
    /// policy's limits.
    async fn execute(self: &Arc<Self>, m: &Message) -> Result<Outcome, TaskFailure> {
        let agent_id = m.recipient.as_str();
        let agent = self.agent(agent_id).ok_or_else(|| {
            TaskFailure::Refused(Error::NotFound(format!(
                "no agent `{agent_id}` in this project"
            )))
        })?;
        let wall = agent.policy.limits.wall_time;
        let span = tracing::info_span!("task", project = %self.id, agent = %agent_id, task = %m.id, kind = %crate::text::clip(&m.kind, 64));
        let caller = Caller {
            agent: agent_id.into(),
            project: self.id.as_str().into(),
            tenant: self.tenant.as_str().into(),
            task_id: m.id.clone(),
            depth: m.depth,
        };
        let state = TaskState::new(
            caller,
            agent.policy.clone(),
            Some(self.clone()),
            self.runtime.clone(),
        );
        let mut store = Store::new(&agent.engine, state);
        TaskState::arm(&mut store);
        let task = Task {
            id: m.id.clone(),
            kind: m.kind.clone(),
            payload: m.payload.clone(),
            sender: m.sender.clone(),
            project: self.id.clone(),
            tenant: self.tenant.clone(),
            attempt: m.attempt,
        };
        let run = async {
            let instance = agent.pre.instantiate_async(&mut store).await?;
            instance.call_handle(&mut store, &task).await
        };
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(wall, run.instrument(span)).await;
        agent.timer.observe(started.elapsed().as_secs_f64());
        let result = match result {
            Err(_) => Err(TaskFailure::Limit {
                agent: agent_id.to_string(),
                limit: Limit::WallTime,
                detail: format!("no reply within {wall:?}"),
            }),
            Ok(Err(e)) => Err(store.data().failure(e)),
            Ok(Ok(Err(error))) => Err(TaskFailure::Agent {
                agent: agent_id.to_string(),
                error,
            }),
            Ok(Ok(Ok(outcome))) => {
                check_outcome(agent_id, outcome, agent.policy.bus.max_message.max(1 << 20))
            }
        };
        if let Err(f) = &result {
            self.runtime
                .services()
                .telemetry
                .task_failed(agent_id, f.kind());
        }
        result
    }
}

/// Takes an agent's messages from its mailbox, each once one of its
/// `workers` slots is free, and handles each in a task of its own. A message
/// stays in the mailbox (and counts toward its bound) until a slot takes it.
async fn deliver(project: Weak<Project>, mut rx: mpsc::Receiver<Message>, workers: usize) {
    let slots = Arc::new(tokio::sync::Semaphore::new(workers));
    let Some(halted) = project.upgrade().map(|p| p.halted.clone()) else {
        return;
    };
    // One wait on the stop for the whole loop, and an abort handle per
    // running task: nothing per message beyond the spawn.
    let stopped = halted.stopped();
    tokio::pin!(stopped);
    let mut running: Vec<tokio::task::AbortHandle> = Vec::new();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.ok(),
            () = &mut stopped => None,
        };
        let Some(slot) = slot else {
            break;
        };
        let message = tokio::select! {
            m = rx.recv() => m,
            () = &mut stopped => None,
        };
        let Some(message) = message else {
            break;
        };
        let Some(project) = project.upgrade() else {
            break;
        };
        if running.len() > workers {
            running.retain(|task| !task.is_finished());
        }
        // Boxed once here: a task's future holds a whole store and its
        // instantiation, kilobytes that `spawn` would otherwise copy at
        // every step of handing it to the scheduler.
        let task = tokio::spawn(Box::pin(async move {
            let result = project.execute(&message).await;
            drop(slot);
            project.finish(message, result).await;
        }));
        running.push(task.abort_handle());
    }
    // Halted: the tasks running now are dropped where they stand. A
    // mailbox that closed lets its tasks finish.
    if halted.is_stopped() {
        for task in running {
            task.abort();
        }
    }
}

/// The outcome is guest data: bounded and well-formed, or the task failed.
pub fn check_outcome(agent: &str, mut outcome: Outcome, max: u64) -> Result<Outcome, TaskFailure> {
    let bad = |reason: String| TaskFailure::Trap {
        agent: agent.to_string(),
        reason,
    };
    if outcome.payload.len() as u64 > max {
        return Err(bad(format!(
            "its outcome is {}; the limit is {}",
            Size(outcome.payload.len() as u64),
            Size(max)
        )));
    }
    if serde_json::from_str::<serde::de::IgnoredAny>(&outcome.payload).is_err() {
        return Err(bad("its outcome payload is not JSON".into()));
    }
    if outcome.artifacts.len() > MAX_ARTIFACTS {
        return Err(bad(format!(
            "its outcome lists more than {MAX_ARTIFACTS} artifacts"
        )));
    }
    outcome.summary = crate::text::clip(&outcome.summary, 1024);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::runtime::RuntimeOptions;

    /// A panic on a thread holding the project's locks (a bug, or a
    /// panicking host call) poisons them; the project still delivers.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_panic_while_a_lock_is_held_leaves_the_project_usable() {
        let dir = tempfile::TempDir::new().unwrap();
        let rt = Runtime::new(RuntimeOptions::default()).unwrap();
        let project = Project::open(rt.clone(), "p", "t", &dir.path().join("ws")).unwrap();
        let worker = crate::builtin::test_agent("worker").unwrap();
        let bytes = Runtime::read_component(worker).unwrap();
        let policy = Policy::parse(Path::new("worker.toml"), "agent = \"worker\"\n").unwrap();
        project.add_agent(rt.load_agent(&bytes, policy).await.unwrap());

        let held = project.clone();
        let panicked = std::thread::spawn(move || {
            let _waiters = held.waiters.lock();
            let _agents = held.agents.write();
            let _mailboxes = held.mailboxes.write();
            let _buckets = held.buckets.lock();
            panic!("a bug while the locks are held");
        })
        .join();
        assert!(panicked.is_err());
        assert!(project.waiters.is_poisoned() && project.agents.is_poisoned());

        let out = project
            .run("worker", "echo", r#"{"still": 1}"#)
            .await
            .unwrap();
        assert!(out.payload.contains("still"), "{}", out.payload);
        project.take_token("worker", 10).unwrap();
    }
}
