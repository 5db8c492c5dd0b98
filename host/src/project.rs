//! A project: one sandbox directory, the agents loaded for it, and the
//! tasks they run.

use crate::bindings::{Error, Outcome, Task};
use crate::policy::Size;
use crate::runtime::{Agent, Runtime};
use crate::task::{Caller, Limit, TaskFailure, TaskState};
use crate::workspace::Workspace;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tracing::Instrument;
use wasmtime::Store;

/// Most artifacts an outcome may list.
const MAX_ARTIFACTS: usize = 10_000;

pub struct Project {
    pub id: String,
    pub tenant: String,
    root: PathBuf,
    workspace: Workspace,
    runtime: Arc<Runtime>,
    agents: RwLock<HashMap<String, Arc<Agent>>>,
}

impl Project {
    /// Opens a project whose files live in `root` (created if missing).
    pub fn open(
        runtime: Arc<Runtime>,
        id: &str,
        tenant: &str,
        root: &Path,
    ) -> std::io::Result<Arc<Project>> {
        let workspace = Workspace::open(root)?;
        Ok(Arc::new(Project {
            id: id.to_string(),
            tenant: tenant.to_string(),
            root: root.canonicalize()?,
            workspace,
            runtime,
            agents: RwLock::new(HashMap::new()),
        }))
    }

    /// Adds an agent; it replaces an earlier one with the same id.
    pub fn add_agent(&self, agent: Arc<Agent>) {
        self.agents
            .write()
            .unwrap()
            .insert(agent.id().to_string(), agent);
    }

    pub fn agent(&self, id: &str) -> Option<Arc<Agent>> {
        self.agents.read().unwrap().get(id).cloned()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn workspace(&self) -> Option<&Workspace> {
        Some(&self.workspace)
    }

    /// Bytes and files in the sandbox.
    pub fn usage(&self) -> (u64, u64) {
        self.workspace.usage()
    }

    /// Agents (other than `except`) subscribed to `topic`.
    pub(crate) fn subscribers(&self, topic: &str, except: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .agents
            .read()
            .unwrap()
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

    /// Runs a task from outside the project (the command line, a service
    /// request): `payload` must be JSON.
    pub async fn run(
        self: &Arc<Self>,
        agent: &str,
        kind: &str,
        payload: &str,
    ) -> Result<Outcome, TaskFailure> {
        serde_json::from_str::<serde::de::IgnoredAny>(payload).map_err(|e| {
            TaskFailure::Refused(Error::Invalid(format!("the task payload is not JSON: {e}")))
        })?;
        self.run_nested(agent, kind, payload.to_string(), "user", 0)
            .await
    }

    /// Runs one task of `agent` in a fresh store under its policy's limits.
    pub(crate) async fn run_nested(
        self: &Arc<Self>,
        agent_id: &str,
        kind: &str,
        payload: String,
        sender: &str,
        depth: u32,
    ) -> Result<Outcome, TaskFailure> {
        let agent = self.agent(agent_id).ok_or_else(|| {
            TaskFailure::Refused(Error::NotFound(format!(
                "no agent `{agent_id}` in this project"
            )))
        })?;
        let limits = &agent.policy.limits;
        let wall = limits.wall_time;
        let started = tokio::time::Instant::now();
        let _slot = tokio::time::timeout(wall, agent.slots.clone().acquire_owned())
            .await
            .map_err(|_| TaskFailure::Refused(Error::Busy))?
            .map_err(|_| {
                TaskFailure::Refused(Error::Unavailable("the agent was unloaded".into()))
            })?;
        let task_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!("task", project = %self.id, agent = %agent_id, task = %task_id, kind = %crate::log::clip(kind, 64));
        let caller = Caller {
            agent: agent_id.into(),
            project: self.id.as_str().into(),
            tenant: self.tenant.as_str().into(),
            task_id: task_id.clone(),
            depth,
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
            id: task_id,
            kind: kind.to_string(),
            payload,
            sender: sender.to_string(),
            project: self.id.clone(),
            tenant: self.tenant.clone(),
            attempt: 0,
        };
        let run = async {
            let instance = agent.pre.instantiate_async(&mut store).await?;
            instance.call_handle(&mut store, &task).await
        };
        let result = tokio::time::timeout_at(started + wall, run.instrument(span)).await;
        match result {
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
        }
    }
}

/// The outcome is guest data: bounded and well-formed, or the task failed.
fn check_outcome(agent: &str, mut outcome: Outcome, max: u64) -> Result<Outcome, TaskFailure> {
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
    outcome.summary = crate::log::clip(&outcome.summary, 1024);
    Ok(outcome)
}
