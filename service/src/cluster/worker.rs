//! A worker: takes projects from the work queue while it has room, runs
//! each to its end, and tells the cluster it is alive while it does.

use super::{Cluster, ClusterError, Published, Record, Submission, archive_name};
use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt as _;
use nexus::generate::{Event, Request};
use nexus::runtime::Runtime;
use nexus::sync::{Recover as _, Stop};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// A project this worker runs.
#[derive(Clone)]
struct Held {
    tenant: String,
    attempt: u32,
    /// The delivery to acknowledge (the latest, should it come again).
    message: jetstream::Message,
    stop: Stop,
}

/// What this worker knows of a tenant's daily LLM tokens.
#[derive(Debug, Default, Clone, Copy)]
struct TokenQuota {
    /// Its `tokens_per_day`, as its last project here was submitted with.
    limit: Option<u64>,
    /// What the other workers last reported it used.
    others: u64,
}

type TokenQuotas = Arc<Mutex<HashMap<String, TokenQuota>>>;

pub struct Worker {
    cluster: Arc<Cluster>,
    tokens: TokenQuotas,
    rt: Arc<Runtime>,
    /// Where projects run: `<dir>/<tenant>/<id>`, removed once stored.
    dir: PathBuf,
    /// Where generations run.
    spawn: tokio::runtime::Handle,
    held: Mutex<HashMap<String, Held>>,
}

/// The shortest time between two checkpoints of a project.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// What a worker's log says of it.
pub type Say = Arc<dyn Fn(String) + Send + Sync>;

impl Worker {
    pub fn new(
        cluster: Arc<Cluster>,
        rt: Arc<Runtime>,
        dir: PathBuf,
        spawn: tokio::runtime::Handle,
    ) -> Arc<Worker> {
        // A model call stops at its tenant's daily tokens, counted on every
        // worker: the others' as they last reported, this one's as of now.
        let tokens: TokenQuotas = Arc::default();
        let (quotas, db) = (tokens.clone(), rt.services().db.clone());
        rt.services().llm.check_tenants(Arc::new(move |tenant: &str| {
            let Some(q) = quotas.lock().recover().get(tenant).copied() else {
                return Ok(());
            };
            let Some(max) = q.limit else { return Ok(()) };
            let internal = |e: rusqlite::Error| nexus::bindings::Error::Internal(e.to_string());
            let since = nexus::db::now() - crate::quotas::DAY;
            let (here, _) = db
                .with(|c| nexus::llm::tenant_tokens(c, tenant, since))
                .map_err(internal)?;
            let used = here.saturating_add(q.others);
            if used >= max {
                return Err(nexus::bindings::Error::QuotaExceeded(format!(
                    "tenant `{tenant}` used {used} LLM tokens over the last 24 hours across the cluster; its quota tokens_per_day is {max}"
                )));
            }
            Ok(())
        }));
        Arc::new(Worker {
            cluster,
            tokens,
            rt,
            dir,
            spawn,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// Takes projects, up to `capacity` at once, until `stop`; then puts
    /// back the ones it runs, for other workers.
    ///
    /// The future is boxed: see [`nexus::BoxFuture`].
    pub fn run(
        self: Arc<Self>,
        capacity: u32,
        stop: Stop,
        say: Say,
    ) -> nexus::BoxFuture<'static, Result<(), ClusterError>> {
        Box::pin(async move {
            let consumer = self.cluster.work_consumer().await?;
            let room = Arc::new(Semaphore::new(capacity as usize));
            let beat = tokio::spawn(self.clone().heartbeat());
            loop {
                let permit = tokio::select! {
                    p = room.clone().acquire_owned() => p.map_err(|_| ClusterError("closed".into()))?,
                    () = stop.stopped() => break,
                };
                let next = async {
                    let mut batch = consumer
                        .fetch()
                        .max_messages(1)
                        .expires(Duration::from_secs(2))
                        .messages()
                        .await
                        .map_err(|e| e.to_string())?;
                    match batch.next().await {
                        Some(m) => m.map(Some).map_err(|e| e.to_string()),
                        None => Ok(None),
                    }
                };
                let message = tokio::select! {
                    m = next => m,
                    () = stop.stopped() => break,
                };
                match message {
                    Ok(Some(m)) => {
                        let (w, say) = (self.clone(), say.clone());
                        tokio::spawn(async move {
                            if let Err(e) = w.take(m, &say).await {
                                tracing::error!(error = %e, "a project could not be taken");
                            }
                            drop(permit);
                        });
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "the work queue did not answer; trying again");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
            beat.abort();
            // What runs here goes back to the queue at once, and its slot with
            // it, not after the lease.
            let held = self.holding();
            for (id, h) in held {
                h.stop.stop();
                let _ = h.message.ack_with(AckKind::Nak(None)).await;
                let _ = self.cluster.free_slot(&h.tenant, &id).await;
                say(format!("put back project {id}"));
            }
            Ok(())
        })
    }

    /// The projects it runs now.
    fn holding(&self) -> Vec<(String, Held)> {
        self.held
            .lock()
            .recover()
            .iter()
            .map(|(id, h)| (id.clone(), h.clone()))
            .collect()
    }

    /// Every third of the lease: tells JetStream each project is still at
    /// work, renews the tenants' slots, and stops a project that was
    /// cancelled or taken by another worker meanwhile.
    async fn heartbeat(self: Arc<Self>) {
        let every = self.cluster.options.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let held = self.holding();
            let mut by_tenant: HashMap<String, Vec<String>> = HashMap::new();
            for (id, h) in held {
                if let Err(e) = h.message.ack_with(AckKind::Progress).await {
                    tracing::warn!(project = %id, error = %e, "a heartbeat was not sent");
                }
                match self.cluster.record(&id).await {
                    Ok(Some(r))
                        if !r.ended()
                            && r.attempt == h.attempt
                            && r.worker.as_deref() == Some(&self.cluster.node) =>
                    {
                        by_tenant.entry(h.tenant).or_default().push(id);
                    }
                    Ok(_) => {
                        tracing::info!(project = %id, "stopping a project cancelled or taken elsewhere");
                        h.stop.stop();
                    }
                    Err(e) => {
                        tracing::warn!(project = %id, error = %e, "a project's record did not read")
                    }
                }
            }
            for (tenant, ids) in by_tenant {
                if let Err(e) = self.cluster.renew_slots(&tenant, &ids).await {
                    tracing::warn!(tenant = %tenant, error = %e, "the tenant's slots were not renewed");
                }
            }
            self.share_tokens().await;
        }
    }

    /// Reports this worker's LLM tokens of each tenant it has run, and
    /// learns what the other workers report.
    async fn share_tokens(&self) {
        let tenants: Vec<String> = self
            .tokens
            .lock()
            .recover()
            .iter()
            .filter(|(_, q)| q.limit.is_some())
            .map(|(t, _)| t.clone())
            .collect();
        for tenant in tenants {
            self.share_tokens_of(&tenant).await;
        }
    }

    /// [`Worker::share_tokens`] for one tenant.
    async fn share_tokens_of(&self, tenant: &str) {
        let (db, t) = (self.rt.services().db.clone(), tenant.to_string());
        let since = nexus::db::now() - crate::quotas::DAY;
        let here = tokio::task::spawn_blocking(move || {
            db.with(|c| nexus::llm::tenant_tokens(c, &t, since))
        })
        .await;
        let Ok(Ok((used, earliest))) = here else {
            return;
        };
        let shared = match self.cluster.report_tokens(tenant, used, earliest).await {
            Ok(()) => self.cluster.tokens(tenant).await,
            Err(e) => Err(e),
        };
        match shared {
            Ok((all, _, mine)) => {
                if let Some(q) = self.tokens.lock().recover().get_mut(tenant) {
                    q.others = all.saturating_sub(mine);
                }
            }
            Err(e) => tracing::warn!(tenant = %tenant, error = %e, "token counts were not shared"),
        }
    }

    /// Takes the delivered project: runs it unless it has ended, is run
    /// here already, has been taken too often, or its tenant has no slot
    /// free (then it goes back to the queue for a moment).
    async fn take(
        self: &Arc<Self>,
        message: jetstream::Message,
        say: &Say,
    ) -> Result<(), ClusterError> {
        let cluster = &self.cluster;
        let Ok(s) = serde_json::from_slice::<Submission>(&message.payload) else {
            tracing::error!("a submission that does not read was dropped");
            let _ = message.ack_with(AckKind::Term).await;
            return Ok(());
        };
        let id = s.id.clone();
        // Ids and tenant names become paths and subjects: only what the API
        // node makes is taken.
        if !(plain(&id) && plain(&s.tenant)) {
            tracing::error!("a submission with an id or tenant no API node makes was dropped");
            let _ = message.ack_with(AckKind::Term).await;
            return Ok(());
        }
        self.tokens
            .lock()
            .recover()
            .entry(s.tenant.clone())
            .or_default()
            .limit = s.tokens_per_day;
        let Some(r) = cluster.record(&id).await? else {
            // Removed meanwhile.
            return ack(&message).await;
        };
        if r.ended() {
            cluster.publish_end(&id, &r).await?;
            return ack(&message).await;
        }
        if r.tenant != s.tenant {
            tracing::error!(project = %id, "a submission whose tenant is not its project's was dropped");
            let _ = message.ack_with(AckKind::Term).await;
            return Ok(());
        }
        if let Some(h) = self.held.lock().recover().get_mut(&id) {
            // Delivered again while it runs here (a heartbeat came late).
            h.message = message;
            return Ok(());
        }
        let max = cluster.options.max_attempts;
        if r.attempt >= max {
            let reason = format!(
                "the project was taken {} times and its worker stopped each time before it ended",
                r.attempt
            );
            let (after, wrote) = cluster
                .change(&id, |r| {
                    if r.ended() {
                        return false;
                    }
                    r.status = "failed".into();
                    r.finished = Some(nexus::db::now());
                    r.summary = Some(reason.clone());
                    r.end = Some(("failed".into(), serde_json::json!({ "reason": reason })));
                    true
                })
                .await?;
            if let (Some(after), true) = (after, wrote) {
                cluster.publish_end(&id, &after).await?;
            }
            return ack(&message).await;
        }
        if !cluster.take_slot(&s.tenant, &id, s.max_projects).await? {
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
                .await;
            return Ok(());
        }
        let node = cluster.node.clone();
        let (taken, wrote) = cluster
            .change(&id, |r| {
                if r.ended() {
                    return false;
                }
                r.status = "running".into();
                r.attempt += 1;
                r.worker = Some(node.clone());
                r.started.get_or_insert(nexus::db::now());
                true
            })
            .await?;
        let Some(r) = taken.filter(|_| wrote) else {
            cluster.free_slot(&s.tenant, &id).await?;
            return ack(&message).await;
        };
        // What the tenant's other projects spent, up to now.
        if s.tokens_per_day.is_some() {
            self.share_tokens_of(&r.tenant).await;
        }
        say(format!(
            "took project {id} of tenant {} (attempt {})",
            r.tenant, r.attempt
        ));
        let stop = Stop::default();
        self.held.lock().recover().insert(
            id.clone(),
            Held {
                tenant: r.tenant.clone(),
                attempt: r.attempt,
                message,
                stop: stop.clone(),
            },
        );
        let outcome = self.generate(&id, &r, stop).await;
        let held = self.held.lock().recover().remove(&id);
        if let Err(e) = &outcome {
            tracing::error!(project = %id, error = %e, "a project's run did not end cleanly");
        }
        let root = self.dir.join(&r.tenant).join(&id);
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(root)).await;
        // Its tokens are reported before its slot is given back: the
        // tenant's next project, wherever it runs, counts them.
        if s.tokens_per_day.is_some() {
            self.share_tokens_of(&r.tenant).await;
        }
        // Said before the slot is given back: while this worker says it
        // runs a project, the project holds its tenant's slot.
        let after = cluster.record(&id).await;
        match &after {
            Ok(Some(after)) if after.ended() => {
                say(format!("ended project {id}: {}", after.status));
            }
            _ => say(format!("let go of project {id}")),
        }
        cluster.free_slot(&r.tenant, &id).await?;
        // Acknowledged only once its end is recorded; a project taken
        // elsewhere meanwhile is that worker's to acknowledge.
        if let (Some(h), Ok(Some(after))) = (held, after)
            && after.ended()
        {
            ack(&h.message).await?;
        }
        outcome
    }

    /// Runs the project's generation here, publishing its events, and
    /// records how it ended unless it was cancelled or taken elsewhere.
    async fn generate(
        self: &Arc<Self>,
        id: &str,
        r: &Record,
        stop: Stop,
    ) -> Result<(), ClusterError> {
        let cluster = self.cluster.clone();
        let root = self.dir.join(&r.tenant).join(id);
        let fresh = root.clone();
        tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(&fresh);
            crate::project_dir(&fresh)
        })
        .await
        .map_err(|e| ClusterError(e.to_string()))?
        .map_err(|e| ClusterError(format!("the project's directory: {e}")))?;
        // The events, in order, each numbered after the last published.
        let first = cluster.last_seq(&r.tenant, id).await?;
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, serde_json::Value)>();
        let publisher = {
            let (cluster, tenant, id, attempt) =
                (cluster.clone(), r.tenant.clone(), id.to_string(), r.attempt);
            tokio::spawn(async move {
                let mut seq = first;
                while let Some((name, data)) = rx.recv().await {
                    seq += 1;
                    let e = Published { seq, name, data };
                    let msg_id = format!("{id}-{attempt}-{seq}");
                    if let Err(err) = cluster.event(&tenant, &id, &msg_id, &e).await {
                        tracing::error!(project = %id, error = %err, "an event was not published");
                    }
                }
            })
        };
        let restored = if r.attempt > 1 {
            self.restore(id, &root).await
        } else {
            false
        };
        if r.attempt > 1 {
            let reason = if restored {
                "its worker stopped; it continues from its last checkpoint"
            } else {
                "its worker stopped; it starts again from the beginning"
            };
            let _ = tx.send((
                "resumed".into(),
                serde_json::json!({ "attempt": r.attempt, "checkpoint": restored, "reason": reason }),
            ));
        }
        let request = Request {
            description: r.description.clone(),
            name: r.name.clone(),
            id: Some(id.to_string()),
            tenant: Some(r.tenant.clone()),
            out: Some(root.clone()),
            policies: None,
            // Without a checkpoint, what an earlier attempt left in the
            // journal is not this one's.
            restart: r.attempt > 1 && !restored,
            adopt: true,
            stop: stop.clone(),
        };
        // A step that ends asks for a checkpoint; one is taken at a time,
        // and asks that came meanwhile make one more.
        let step = Arc::new(tokio::sync::Notify::new());
        let sink = (tx.clone(), step.clone());
        let events: nexus::generate::Events = Arc::new(move |e: Event| {
            if matches!(
                &e,
                Event::Agent {
                    step: nexus::generate::Step::Done { .. },
                    ..
                }
            ) {
                sink.1.notify_one();
            }
            let _ = sink.0.send(super::super::projects::shown(e));
        });
        let checkpoints =
            tokio::spawn(self.clone().checkpoints(id.to_string(), root.clone(), step));
        let rt = self.rt.clone();
        let result = self
            .spawn
            .spawn(super::super::projects::generation(rt, request, events))
            .await
            .unwrap_or_else(|_| {
                Err(nexus::generate::Error::Failed(
                    "the generation stopped on an internal error".into(),
                ))
            });
        checkpoints.abort();
        let _ = checkpoints.await;
        drop(tx);
        let _ = publisher.await;
        if stop.is_stopped() {
            // Cancelled, or taken by another worker: not this run's to end.
            return Ok(());
        }
        let (name, data, end) = super::super::projects::ending(id, result);
        if end.status == "done" {
            let files = root.clone();
            let bytes = tokio::task::spawn_blocking(move || {
                super::super::archive::pack_dir(&files, "project")
            })
            .await
            .map_err(|e| ClusterError(e.to_string()))?
            .map_err(|e| ClusterError(format!("archiving the project: {e}")))?;
            cluster
                .put_object(&archive_name(id), &bytes, Default::default())
                .await?;
        }
        let (node, attempt) = (cluster.node.clone(), r.attempt);
        let (after, wrote) = cluster
            .change(id, |r| {
                if r.ended() || r.attempt != attempt || r.worker.as_deref() != Some(&node) {
                    return false;
                }
                r.status = end.status.into();
                r.finished = Some(nexus::db::now());
                r.summary = Some(end.summary.clone());
                r.passed = end.passed;
                r.end = Some((name.into(), data.clone()));
                true
            })
            .await?;
        if let (Some(after), true) = (after, wrote) {
            cluster.publish_end(id, &after).await?;
            cluster.drop_checkpoint(id).await;
        }
        Ok(())
    }

    /// Puts the project's last checkpoint in `root` and hands what was
    /// handled after it back to the bus, to be done again. Whether there
    /// was one that could be used.
    async fn restore(&self, id: &str, root: &std::path::Path) -> bool {
        let (bytes, handled) = match self.cluster.checkpoint(id).await {
            Ok(Some(c)) => c,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(project = %id, error = %e, "the checkpoint did not read; starting over");
                return false;
            }
        };
        let into = root.to_path_buf();
        let unpacked =
            tokio::task::spawn_blocking(move || super::super::archive::unpack(&bytes, &into)).await;
        if !matches!(unpacked, Ok(Ok(_))) {
            tracing::warn!(project = %id, "the checkpoint did not unpack; starting over");
            let clear = root.to_path_buf();
            let _ = tokio::task::spawn_blocking(move || {
                let _ = std::fs::remove_dir_all(&clear);
                std::fs::create_dir_all(&clear)
            })
            .await;
            return false;
        }
        let Some(broker) = self.rt.broker() else {
            return false;
        };
        match broker.reopen(id, &handled).await {
            Ok(n) => {
                tracing::info!(project = %id, again = n, "continuing from the checkpoint");
                true
            }
            Err(e) => {
                tracing::warn!(project = %id, error = %e, "the bus could not go back to the checkpoint; starting over");
                false
            }
        }
    }

    /// Takes a checkpoint of the project each time `step` is notified: the
    /// bus messages handled so far, then the files (which hold at least
    /// what those messages wrote).
    async fn checkpoints(
        self: Arc<Self>,
        id: String,
        root: PathBuf,
        step: Arc<tokio::sync::Notify>,
    ) {
        let Some(broker) = self.rt.broker() else {
            return;
        };
        loop {
            step.notified().await;
            // At most one a second: steps that end meanwhile are in the next.
            let next = tokio::time::Instant::now() + CHECKPOINT_EVERY;
            let handled: Vec<String> = match broker.history(&id, u32::MAX).await {
                Ok(entries) => entries
                    .into_iter()
                    .filter(|e| matches!(e.state, nexus::bus::State::Done(_)))
                    .map(|e| e.message.id)
                    .collect(),
                Err(e) => {
                    tracing::warn!(project = %id, error = %e, "no checkpoint: the bus did not answer");
                    continue;
                }
            };
            let files = root.clone();
            let packed = tokio::task::spawn_blocking(move || {
                super::super::archive::pack_dir(&files, "project")
            })
            .await;
            let Ok(Ok(bytes)) = packed else {
                tracing::warn!(project = %id, "no checkpoint: the files did not pack");
                continue;
            };
            // A project taken elsewhere meanwhile is no longer this
            // worker's to checkpoint.
            let mine = self.held.lock().recover().get(&id).map(|h| h.attempt);
            let current = self.cluster.record(&id).await.ok().flatten();
            if mine.is_none()
                || current.is_none_or(|r| {
                    Some(r.attempt) != mine || r.worker.as_deref() != Some(&self.cluster.node)
                })
            {
                return;
            }
            if let Err(e) = self.cluster.put_checkpoint(&id, &bytes, &handled).await {
                tracing::warn!(project = %id, error = %e, "a checkpoint was not stored");
            }
            tokio::time::sleep_until(next).await;
        }
    }
}

/// Letters, digits and `-`, 1 to 64 of them.
fn plain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

async fn ack(message: &jetstream::Message) -> Result<(), ClusterError> {
    message
        .double_ack()
        .await
        .map_err(|e| ClusterError(format!("NATS JetStream, acknowledging a project: {e}")))
}
