//! The bus's host impl: requests, fan-out, fire-and-forget and topics,
//! checked against the caller's [`BusGrant`] with the sender stamped by the
//! host. Addressing never leaves the project: ids and topics name agents of
//! the caller's project only, whatever wildcards a grant holds.

use super::backend::Message;
use super::grant::{topic_matches, valid_pattern};
use crate::bindings::Error;
use crate::bindings::nexus::agent::bus::{
    Host, Outgoing, Reply, RequestError, TaskFailure as WitTaskFailure,
};
use crate::policy::BusGrant;
use crate::project::Project;
use crate::task::{Caller, TaskFailure};
use futures_util::StreamExt as _;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Deepest chain of nested requests (A asks B asks C ...).
pub const MAX_DEPTH: u32 = 8;
/// Most requests in one fan-out.
pub const MAX_FANOUT: usize = 64;

/// A payload is JSON no bigger than bus.max_message and no deeper than
/// [`crate::text::MAX_JSON_DEPTH`]; both are checked before it is parsed.
fn check_payload(payload: &str, max: u64) -> Result<(), Error> {
    crate::text::check_json(payload, max, "bus.max_message")
        .map_err(|e| Error::Invalid(format!("payload refused: {e}")))?;
    serde_json::from_str::<serde::de::IgnoredAny>(payload)
        .map_err(|e| Error::Invalid(format!("payload is not JSON: {e}")))?;
    Ok(())
}

/// What the bus host impl sees of a task: who it is, its grant, its
/// project and how many messages it has sent.
pub struct BusView<'a> {
    pub caller: &'a Caller,
    pub grant: &'a BusGrant,
    /// `None` while the agent describes itself.
    pub project: Option<&'a Arc<Project>>,
    /// Messages this task has sent; with the task id it names each one,
    /// so a task that runs again sends the same ids.
    pub sent: &'a mut Sent,
}

/// What a task has sent on the bus: how many messages, and the prefix of
/// their ids (from the task's id, worked out at its first message).
#[derive(Default)]
pub struct Sent {
    count: u32,
    prefix: Option<String>,
}

/// Links the bus's host impl to a store's [`BusView`].
pub struct HasBus;

impl wasmtime::component::HasData for HasBus {
    type Data<'a> = BusView<'a>;
}

fn granted(list: &[String], to: &str) -> bool {
    list.iter().any(|g| g == "*" || g == to)
}

impl BusView<'_> {
    fn bus(&self) -> Result<(&Arc<Project>, &BusGrant), Error> {
        let project = self
            .project
            .ok_or_else(|| Error::Denied("describe() may not use the bus".into()))?;
        Ok((project, self.grant))
    }

    /// Checks one request against the grant and returns the project to run
    /// it in.
    fn check_request(
        &self,
        to: &str,
        kind: &str,
        payload: &str,
        list: &[String],
        what: &str,
    ) -> Result<Arc<Project>, Error> {
        let (project, grant) = self.bus()?;
        if !crate::policy::is_agent_id(to) {
            return Err(Error::Invalid(format!(
                "`{}` is not an agent id",
                crate::text::clip(to, 64)
            )));
        }
        if !granted(list, to) {
            return Err(Error::Denied(format!("bus.{what} does not include `{to}`")));
        }
        if kind.is_empty() || kind.len() > 128 {
            return Err(Error::Invalid("task kind must be 1 to 128 bytes".into()));
        }
        check_payload(payload, grant.max_message)?;
        if self.caller.depth + 1 > MAX_DEPTH {
            return Err(Error::QuotaExceeded(format!(
                "requests nest deeper than {MAX_DEPTH}"
            )));
        }
        if project.agent(to).is_none() {
            return Err(Error::NotFound(format!("no agent `{to}` in this project")));
        }
        project.take_token(&self.caller.agent, grant.rate)?;
        Ok(project.clone())
    }
}

fn to_request_error(f: TaskFailure) -> RequestError {
    match f {
        TaskFailure::Refused(e) => RequestError::Host(e),
        TaskFailure::Limit {
            limit: crate::task::Limit::WallTime,
            ..
        } => RequestError::Host(Error::Timeout),
        other => RequestError::Task(WitTaskFailure {
            agent: match &other {
                TaskFailure::Agent { agent, .. }
                | TaskFailure::Limit { agent, .. }
                | TaskFailure::Trap { agent, .. }
                | TaskFailure::DeadLetter { agent, .. } => agent.clone(),
                TaskFailure::Refused(_) => String::new(),
            },
            reason: other.to_string(),
        }),
    }
}

fn reply(to: String, outcome: crate::bindings::Outcome) -> Reply {
    Reply {
        sender: to,
        payload: outcome.payload,
        summary: outcome.summary,
        artifacts: outcome.artifacts,
    }
}

impl BusView<'_> {
    /// A message from this task. Its id follows from the task's id and the
    /// message's place among the task's messages, so a task that runs again
    /// (after a crash or a retry) sends the same ids and the journal answers
    /// what was already answered; a message whose content differs at that
    /// place gets an id of its own.
    ///
    /// The id begins with the task's own prefix and the place, so the
    /// messages of one task sit together in the journal's index: a burst of
    /// them writes a few of its pages, not one page each.
    fn message(&mut self, to: &str, kind: &str, payload: String) -> Message {
        self.sent.count += 1;
        let task_id = &self.caller.task_id;
        let prefix = self
            .sent
            .prefix
            .get_or_insert_with(|| crate::text::hex(&Sha256::digest(task_id.as_bytes())[..8]));
        let mut h = Sha256::new();
        for part in [to, kind, &payload] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let content = h.finalize();
        let id = format!(
            "{prefix}{:08x}{}",
            self.sent.count,
            crate::text::hex(&content[..8])
        );
        Message {
            id,
            project: self.caller.project.to_string(),
            sender: self.caller.agent.to_string(),
            recipient: to.to_string(),
            kind: kind.to_string(),
            payload,
            depth: self.caller.depth + 1,
            attempt: 0,
        }
    }

    fn timeout(&self, timeout_ms: u32, to: &str) -> Duration {
        let asked = Duration::from_millis(u64::from(timeout_ms));
        self.project
            .map_or(asked, |p| asked.min(p.message_timeout(to)))
    }
}

impl Host for BusView<'_> {
    async fn request(
        &mut self,
        to: String,
        kind: String,
        payload: String,
        timeout_ms: u32,
    ) -> Result<Reply, RequestError> {
        let project = self
            .check_request(&to, &kind, &payload, &self.grant.request, "request")
            .map_err(RequestError::Host)?;
        let message = self.message(&to, &kind, payload);
        let timeout = self.timeout(timeout_ms, &to);
        match project.request(message, timeout).await {
            Ok(outcome) => Ok(reply(to, outcome)),
            Err(f) => Err(to_request_error(f)),
        }
    }

    async fn request_all(
        &mut self,
        requests: Vec<Outgoing>,
        need: u32,
        timeout_ms: u32,
    ) -> Vec<Result<Reply, RequestError>> {
        if requests.len() > MAX_FANOUT {
            let e = Error::Invalid(format!("a fan-out may hold at most {MAX_FANOUT} requests"));
            return requests
                .iter()
                .map(|_| Err(RequestError::Host(e.clone())))
                .collect();
        }
        // The fan-out waits as long as its slowest recipient may take.
        let timeout = requests
            .iter()
            .map(|r| self.timeout(timeout_ms, &r.to))
            .max()
            .unwrap_or_default();
        let total = requests.len();
        let need = if need == 0 {
            total
        } else {
            (need as usize).min(total)
        };
        let mut results: Vec<Option<Result<Reply, RequestError>>> =
            (0..total).map(|_| None).collect();
        // The requests wait inside this host call (no task each): a reply
        // wakes the caller directly.
        let mut running = futures_util::stream::FuturesUnordered::new();
        for (i, r) in requests.into_iter().enumerate() {
            match self.check_request(&r.to, &r.kind, &r.payload, &self.grant.request, "request") {
                Err(e) => results[i] = Some(Err(RequestError::Host(e))),
                Ok(project) => {
                    let message = self.message(&r.to, &r.kind, r.payload);
                    let own = self.timeout(timeout_ms, &r.to);
                    running.push(async move {
                        // The fan-out's deadline bounds every request; one
                        // that may take less than that gets a timer of its own.
                        let answer = if own < timeout {
                            project.request(message, own).await
                        } else {
                            project.ask(message).await
                        };
                        let result = match answer {
                            Ok(outcome) => Ok(reply(r.to, outcome)),
                            Err(f) => Err(to_request_error(f)),
                        };
                        (i, result)
                    });
                }
            }
        }
        let mut replied = results.iter().filter(|r| matches!(r, Some(Ok(_)))).count();
        let deadline = tokio::time::Instant::now() + timeout;
        while replied < need {
            match tokio::time::timeout_at(deadline, running.next()).await {
                Ok(Some((i, result))) => {
                    replied += usize::from(result.is_ok());
                    results[i] = Some(result);
                }
                Ok(None) | Err(_) => break,
            }
        }
        // Requests still waiting stop waiting; their messages stay queued
        // and are still handled.
        drop(running);
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(RequestError::Host(Error::Timeout))))
            .collect()
    }

    async fn send(&mut self, to: String, kind: String, payload: String) -> Result<String, Error> {
        let project = self.check_request(&to, &kind, &payload, &self.grant.send, "send")?;
        let message = self.message(&to, &kind, payload);
        let id = message.id.clone();
        // Journaled and queued before `send` returns; the outcome is not awaited.
        project.dispatch(message).await.map_err(|f| match f {
            TaskFailure::Refused(e) => e,
            other => Error::Internal(other.to_string()),
        })?;
        Ok(id)
    }

    async fn publish(&mut self, topic: String, payload: String) -> Result<u32, Error> {
        let (project, grant) = self.bus()?;
        if !valid_pattern(&topic) || topic.contains('*') || topic.contains('>') {
            return Err(Error::Invalid(format!(
                "`{}` is not a topic; use dot-separated lowercase words",
                crate::text::clip(&topic, 64)
            )));
        }
        if !grant.publish.iter().any(|p| topic_matches(p, &topic)) {
            return Err(Error::Denied(format!(
                "bus.publish does not cover `{topic}`"
            )));
        }
        check_payload(&payload, grant.max_message)?;
        if self.caller.depth + 1 > MAX_DEPTH {
            return Err(Error::QuotaExceeded(format!(
                "events nest deeper than {MAX_DEPTH}"
            )));
        }
        let project = project.clone();
        project.take_token(&self.caller.agent, grant.rate)?;
        let subscribers = project.subscribers(&topic, &self.caller.agent);
        let kind = format!("event:{topic}");
        let mut delivered = 0;
        for to in &subscribers {
            let message = self.message(to, &kind, payload.clone());
            // A subscriber whose mailbox is full misses the event; the others
            // still get it.
            if project.dispatch(message).await.is_ok() {
                delivered += 1;
            }
        }
        Ok(delivered)
    }
}
