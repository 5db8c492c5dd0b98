//! Many hosts, one NATS JetStream (`[cluster] nats`): `nexus serve` takes
//! projects in and shows them, and any worker (`nexus worker`, or a `serve`
//! with capacity) runs them.
//!
//! What is kept where, under the namespace `<ns>`:
//!
//! | what | where |
//! |---|---|
//! | a submitted project, until a worker ends it | work-queue stream `<NS>_WORK`, subject `<ns>.work.<tenant>`, `Nats-Msg-Id` = project id |
//! | a project's state (status, attempt, worker, how it ended) | key-value bucket `<ns>-projects`, keyed by project id |
//! | the projects each tenant runs now, with their leases | bucket `<ns>-slots`, keyed by tenant |
//! | a project's events | stream `<NS>_EVENTS`, subject `<ns>.events.<tenant>.<project>` |
//! | checkpoints and finished projects (`.tar.gz`) | object store `<ns>-archives` |
//! | each worker's LLM tokens of the last 24 hours, by tenant | bucket `<ns>-tokens`, keyed `<tenant>.<worker>` |
//! | the bus's messages | the JetStream broker's stream and buckets |
//!
//! A project runs wholly on the worker that took it, which tells JetStream
//! it is still at work (an in-progress ack) and renews its tenant's slot
//! every third of the lease. When a worker stops answering, its project is
//! delivered again after the lease, to whichever worker has room: it
//! continues from the checkpoint stored after its last finished steps, or
//! starts over when there is none. A project is taken at most
//! `max_attempts` times. Its end is written once, by a compare-and-set on
//! its record, so it never ends twice.

pub mod mirror;
pub mod worker;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};
use nexus::bus::BrokerError;
use nexus::bus::jetstream::{
    bucket, dial, make_stream, patiently, publish_once, stream_config, token,
};
use nexus::config::ClusterConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The shared streams and buckets, and this process's name in them.
pub struct Cluster {
    js: jetstream::Context,
    namespace: String,
    work: stream::Stream,
    events: stream::Stream,
    records: kv::Store,
    slots: kv::Store,
    tokens: kv::Store,
    archives: object_store::ObjectStore,
    pub options: ClusterConfig,
    /// This process, in the records it writes.
    pub node: String,
}

/// Why the cluster could not do something.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClusterError(pub String);

impl From<BrokerError> for ClusterError {
    fn from(e: BrokerError) -> Self {
        ClusterError(e.to_string())
    }
}

fn failed<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> ClusterError + '_ {
    move |e| ClusterError(format!("NATS JetStream, {what}: {e}"))
}

/// A project's state, shared by every host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub tenant: String,
    pub description: String,
    pub name: Option<String>,
    pub created: i64,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// Times a worker took it.
    pub attempt: u32,
    /// The worker that took it last.
    pub worker: Option<String>,
    pub started: Option<i64>,
    pub finished: Option<i64>,
    pub summary: Option<String>,
    pub passed: Option<bool>,
    /// The event that ended it (name and data), to be published again
    /// should its writer stop before it was.
    pub end: Option<(String, Value)>,
    /// The change that wrote this version: a write whose answer was lost
    /// finds itself.
    #[serde(default)]
    pub change: String,
}

impl Record {
    pub fn ended(&self) -> bool {
        !matches!(self.status.as_str(), "queued" | "running")
    }
}

/// A project on the work queue: who it is, and how many its tenant may
/// run at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Submission {
    id: String,
    tenant: String,
    max_projects: u32,
    /// The tenant's daily LLM tokens, when it has a limit.
    #[serde(default)]
    tokens_per_day: Option<u64>,
}

/// A worker's report of a tenant's LLM tokens over the last 24 hours.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Tokens {
    used: u64,
    /// When the earliest of those calls was made.
    earliest: Option<i64>,
    /// When this was reported, in seconds since the epoch.
    at: i64,
}

/// An event on a project's subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    pub seq: u64,
    pub name: String,
    pub data: Value,
}

/// The projects a tenant runs now: project → (worker, lease end in ms
/// since the epoch).
type Slots = BTreeMap<String, (String, i64)>;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// How long a change of a shared value keeps trying while the server does
/// not answer.
const PATIENCE: Duration = Duration::from_secs(60);

impl Cluster {
    /// Connects to the server and makes the streams and buckets (the ones
    /// that exist are used as they are).
    ///
    /// The future is boxed: see [`nexus::BoxFuture`].
    pub fn connect(
        options: ClusterConfig,
    ) -> nexus::BoxFuture<'static, Result<Arc<Cluster>, ClusterError>> {
        Box::pin(async move {
            let url = options.nats.clone().ok_or_else(|| {
                ClusterError(
                    "no NATS server is named; set [cluster] nats in nexus.toml or NEXUS_NATS_URL"
                        .into(),
                )
            })?;
            let client = dial(&url).await?;
            let js = jetstream::new(client);
            let ns = options.namespace.clone();
            let upper = ns.to_ascii_uppercase();
            let work = make_stream(
                &js,
                stream::Config {
                    retention: stream::RetentionPolicy::WorkQueue,
                    ..stream_config(format!("{upper}_WORK"), format!("{ns}.work.>"))
                },
            )
            .await?;
            let events = make_stream(
                &js,
                stream_config(format!("{upper}_EVENTS"), format!("{ns}.events.>")),
            )
            .await?;
            let records = bucket(&js, format!("{ns}-projects")).await?;
            let slots = bucket(&js, format!("{ns}-slots")).await?;
            let tokens = bucket(&js, format!("{ns}-tokens")).await?;
            let name = format!("{ns}-archives");
            let archives = match js.get_object_store(&name).await {
                Ok(store) => store,
                Err(_) => {
                    patiently(
                        "creating the archives' store",
                        || {
                            js.create_object_store(object_store::Config {
                                bucket: name.clone(),
                                storage: stream::StorageType::File,
                                ..Default::default()
                            })
                        },
                        |_| false,
                    )
                    .await?
                }
            };
            Ok(Arc::new(Cluster {
                js,
                namespace: ns,
                work,
                events,
                records,
                slots,
                tokens,
                archives,
                options,
                node: nexus::text::uuid().simple().to_string(),
            }))
        })
    }

    fn events_subject(&self, tenant: &str, id: &str) -> String {
        format!("{}.events.{}.{}", self.namespace, token(tenant), token(id))
    }

    /// The workers' shared consumer of the work queue: a project not
    /// acknowledged within the lease goes to another worker. Its lease is
    /// set to this host's.
    async fn work_consumer(&self) -> Result<consumer::PullConsumer, ClusterError> {
        let config = consumer::pull::Config {
            durable_name: Some("workers".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: self.options.lease,
            // Attempts are counted in the project's record: a delivery put
            // back for want of a slot is not one.
            max_deliver: -1,
            max_ack_pending: 100_000,
            ..Default::default()
        };
        patiently(
            "making the workers' consumer",
            || {
                self.work
                    .get_or_create_consumer::<consumer::pull::Config>("workers", config.clone())
            },
            |_| false,
        )
        .await?;
        // An existing consumer keeps its settings unless told.
        patiently(
            "setting the workers' lease",
            || self.work.update_consumer(config.clone()),
            |_| false,
        )
        .await
        .map_err(ClusterError::from)
    }

    /// Publishes `body` on `subject` with `msg_id`, tried again with the
    /// same id until the server stores it (once).
    async fn publish(
        &self,
        subject: String,
        msg_id: &str,
        body: Vec<u8>,
    ) -> Result<u64, ClusterError> {
        let ack = publish_once(&self.js, "publishing", subject, msg_id, body.into(), |_| {
            false
        })
        .await?;
        Ok(ack.sequence)
    }

    /// The project's record and its revision.
    pub async fn record(&self, id: &str) -> Result<Option<Record>, ClusterError> {
        Ok(read(&self.records, &token(id)).await?.map(|(r, _)| r))
    }

    /// Changes the project's record with `f` (which returns whether it
    /// changed anything), by compare-and-set. Returns the record after, and
    /// whether this change was written.
    pub async fn change(
        &self,
        id: &str,
        mut f: impl FnMut(&mut Record) -> bool,
    ) -> Result<(Option<Record>, bool), ClusterError> {
        let mark = nexus::text::uuid().simple().to_string();
        let (r, wrote) = cas(&self.records, &token(id), |r: &mut Option<Record>| {
            let Some(r) = r else { return false };
            if r.change == mark {
                return false;
            }
            let changed = f(r);
            if changed {
                r.change = mark.clone();
            }
            changed
        })
        .await?;
        // A write whose answer was lost, then found as it was made.
        let mine = r.as_ref().is_some_and(|r| r.change == mark);
        Ok((r, wrote || mine))
    }

    /// The last event number of the project.
    async fn last_seq(&self, tenant: &str, id: &str) -> Result<u64, ClusterError> {
        let subject = self.events_subject(tenant, id);
        // No event yet is an answer, not a failure to try again.
        let last = patiently(
            "reading a project's last event",
            || async {
                match self
                    .events
                    .get_last_raw_message_by_subject(subject.as_str())
                    .await
                {
                    Ok(m) => Ok(Some(m)),
                    Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            },
            |_| false,
        )
        .await?;
        Ok(last
            .and_then(|m| serde_json::from_slice::<Published>(&m.payload).ok())
            .map_or(0, |p| p.seq))
    }

    /// Publishes an event of the project with number `seq`; `msg_id` makes
    /// a publish tried again (or by a writer that stopped) stored once.
    async fn event(
        &self,
        tenant: &str,
        id: &str,
        msg_id: &str,
        e: &Published,
    ) -> Result<(), ClusterError> {
        let body = serde_json::to_vec(e).map_err(failed("writing an event"))?;
        self.publish(self.events_subject(tenant, id), msg_id, body)
            .await
            .map(drop)
    }

    /// Publishes the event that ends the project, as its record holds it,
    /// once however often it is called.
    pub async fn publish_end(&self, id: &str, r: &Record) -> Result<(), ClusterError> {
        let Some((name, data)) = &r.end else {
            return Ok(());
        };
        let seq = self.last_seq(&r.tenant, id).await? + 1;
        let e = Published {
            seq,
            name: name.clone(),
            data: data.clone(),
        };
        self.event(&r.tenant, id, &format!("{id}-end"), &e).await
    }

    /// Takes a project in: its record, its first event (`queued`), then its
    /// place on the work queue.
    pub async fn submit(
        &self,
        id: &str,
        record: &Record,
        limits: &crate::tenants::Limits,
    ) -> Result<(), ClusterError> {
        let value = serde_json::to_vec(record).map_err(failed("writing a record"))?;
        patiently(
            "creating a project's record",
            || self.records.create(token(id), value.clone().into()),
            |e: &kv::CreateError| matches!(e.kind(), kv::CreateErrorKind::AlreadyExists),
        )
        .await?;
        let queued = Published {
            seq: 1,
            name: "queued".into(),
            data: serde_json::json!({ "ahead": 0 }),
        };
        self.event(&record.tenant, id, &format!("{id}-queued"), &queued)
            .await?;
        self.enqueue(id, &record.tenant, limits).await
    }

    /// Puts the project on the work queue, with the tenant's `limits` (once:
    /// its id is the message's).
    pub async fn enqueue(
        &self,
        id: &str,
        tenant: &str,
        limits: &crate::tenants::Limits,
    ) -> Result<(), ClusterError> {
        let s = Submission {
            id: id.to_string(),
            tenant: tenant.to_string(),
            max_projects: limits.max_projects,
            tokens_per_day: limits.tokens_per_day,
        };
        let body = serde_json::to_vec(&s).map_err(failed("writing a submission"))?;
        self.publish(
            format!("{}.work.{}", self.namespace, token(tenant)),
            id,
            body,
        )
        .await
        .map(drop)
    }

    /// Cancels the project if it has not ended: its record says so at
    /// once, and its worker stops it at its next heartbeat. Returns whether
    /// it was cancelled here.
    pub async fn cancel(&self, id: &str) -> Result<bool, ClusterError> {
        let (ended, wrote) = self
            .change(id, |r| {
                if r.ended() {
                    return false;
                }
                let (name, data, end) = super::projects::cancelled();
                r.status = end.status.into();
                r.finished = Some(nexus::db::now());
                r.summary = Some(end.summary);
                r.end = Some((name.into(), data));
                true
            })
            .await?;
        if let (Some(r), true) = (&ended, wrote) {
            self.publish_end(id, r).await?;
        }
        Ok(wrote)
    }

    /// Forgets the project everywhere: its record, its events, its
    /// archives.
    pub async fn remove(&self, tenant: &str, id: &str) -> Result<(), ClusterError> {
        let subject = self.events_subject(tenant, id);
        patiently(
            "removing a project's events",
            || std::future::IntoFuture::into_future(self.events.purge().filter(subject.clone())),
            |_| false,
        )
        .await?;
        for name in [checkpoint_name(id), archive_name(id)] {
            let _ = self.archives.delete(&name).await;
        }
        patiently(
            "removing a project's record",
            || self.records.purge(token(id)),
            |_| false,
        )
        .await?;
        Ok(())
    }

    /// Stores `bytes` as the object `name`, with `metadata`.
    async fn put_object(
        &self,
        name: &str,
        bytes: &[u8],
        metadata: std::collections::HashMap<String, String>,
    ) -> Result<(), ClusterError> {
        patiently(
            "storing an archive",
            || async {
                let mut reader = bytes;
                let meta = object_store::ObjectMetadata {
                    name: name.to_string(),
                    metadata: metadata.clone(),
                    ..Default::default()
                };
                self.archives.put(meta, &mut reader).await
            },
            |_| false,
        )
        .await
        .map(drop)
        .map_err(ClusterError::from)
    }

    /// The object `name` and its metadata, if there is one.
    async fn get_object(
        &self,
        name: &str,
    ) -> Result<Option<(Vec<u8>, std::collections::HashMap<String, String>)>, ClusterError> {
        use tokio::io::AsyncReadExt as _;
        // No such object is an answer, not a failure to try again.
        let got = patiently(
            "reading an archive",
            || async {
                let mut object = match self.archives.get(name).await {
                    Ok(object) => object,
                    Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(async_nats::Error::from(e)),
                };
                let metadata = object.info().metadata.clone();
                let mut bytes = Vec::new();
                object
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(async_nats::Error::from)?;
                Ok(Some((bytes, metadata)))
            },
            |_| false,
        )
        .await?;
        Ok(got)
    }

    /// The finished project's files, as a `.tar.gz`.
    pub async fn archive(&self, id: &str) -> Result<Option<Vec<u8>>, ClusterError> {
        Ok(self
            .get_object(&archive_name(id))
            .await?
            .map(|(bytes, _)| bytes))
    }

    /// The project's last checkpoint: its files as a `.tar.gz`, and the
    /// bus messages that were handled when it was taken.
    async fn checkpoint(&self, id: &str) -> Result<Option<(Vec<u8>, Vec<String>)>, ClusterError> {
        Ok(self
            .get_object(&checkpoint_name(id))
            .await?
            .map(|(bytes, meta)| {
                let handled = meta
                    .get("handled")
                    .and_then(|h| serde_json::from_str(h).ok())
                    .unwrap_or_default();
                (bytes, handled)
            }))
    }

    /// Stores a checkpoint of the project (see [`Cluster::checkpoint`]).
    async fn put_checkpoint(
        &self,
        id: &str,
        bytes: &[u8],
        handled: &[String],
    ) -> Result<(), ClusterError> {
        let list = serde_json::to_string(handled).map_err(failed("writing a checkpoint"))?;
        let meta = [("handled".to_string(), list)].into();
        self.put_object(&checkpoint_name(id), bytes, meta).await
    }

    async fn drop_checkpoint(&self, id: &str) {
        let _ = self.archives.delete(checkpoint_name(id)).await;
    }

    /// Takes a slot of the tenant's `max` for the project, unless they are
    /// all held (by live leases). A slot the project holds already is
    /// taken over.
    async fn take_slot(&self, tenant: &str, id: &str, max: u32) -> Result<bool, ClusterError> {
        let (node, lease) = (self.node.clone(), self.options.lease.as_millis() as i64);
        let (slots, _) = cas(&self.slots, &token(tenant), |s: &mut Slots| {
            let now = now_ms();
            s.retain(|_, (_, until)| *until > now);
            // Still leased to another worker, which may yet be alive.
            if s.get(id).is_some_and(|(w, _)| *w != node) {
                return false;
            }
            if s.len() as u32 >= max && !s.contains_key(id) {
                return false;
            }
            s.insert(id.to_string(), (node.clone(), now + lease));
            true
        })
        .await?;
        Ok(slots.get(id).is_some_and(|(w, _)| *w == self.node))
    }

    /// Renews this worker's leases on the tenant's slots of `ids`.
    async fn renew_slots(&self, tenant: &str, ids: &[String]) -> Result<(), ClusterError> {
        let (node, lease) = (self.node.clone(), self.options.lease.as_millis() as i64);
        cas(&self.slots, &token(tenant), |s: &mut Slots| {
            let until = now_ms() + lease;
            for id in ids {
                s.insert(id.clone(), (node.clone(), until));
            }
            !ids.is_empty()
        })
        .await
        .map(drop)
    }

    /// Gives the project's slot back, if this worker holds it.
    async fn free_slot(&self, tenant: &str, id: &str) -> Result<(), ClusterError> {
        let node = self.node.clone();
        cas(&self.slots, &token(tenant), |s: &mut Slots| {
            let mine = s.get(id).is_some_and(|(w, _)| *w == node);
            if mine {
                s.remove(id);
            }
            mine
        })
        .await
        .map(drop)
    }

    /// Reports this worker's LLM tokens of `tenant` over the last 24 hours.
    async fn report_tokens(
        &self,
        tenant: &str,
        used: u64,
        earliest: Option<i64>,
    ) -> Result<(), ClusterError> {
        let t = Tokens {
            used,
            earliest,
            at: nexus::db::now(),
        };
        let value = serde_json::to_vec(&t).map_err(failed("writing a token count"))?;
        let key = format!("{}.{}", token(tenant), self.node);
        patiently(
            "reporting tokens",
            || self.tokens.put(key.as_str(), value.clone().into()),
            |_| false,
        )
        .await
        .map(drop)
        .map_err(ClusterError::from)
    }

    /// The tenant's LLM tokens over the last 24 hours on every worker
    /// (each as it last reported them), the earliest call's time, and this
    /// worker's own share of them.
    pub async fn tokens(&self, tenant: &str) -> Result<(u64, Option<i64>, u64), ClusterError> {
        use futures_util::TryStreamExt as _;
        let prefix = format!("{}.", token(tenant));
        let keys: Vec<String> = patiently(
            "listing token counts",
            || async {
                self.tokens
                    .keys()
                    .await?
                    .try_collect::<Vec<String>>()
                    .await
                    .map_err(async_nats::Error::from)
            },
            |_| false,
        )
        .await?;
        let since = nexus::db::now() - super::quotas::DAY;
        let (mut used, mut earliest, mut mine) = (0u64, None::<i64>, 0u64);
        for key in keys.iter().filter(|k| k.starts_with(&prefix)) {
            let Some((t, _)) = read::<Tokens>(&self.tokens, key).await? else {
                continue;
            };
            if t.at < since {
                continue;
            }
            used = used.saturating_add(t.used);
            if key.ends_with(&format!(".{}", self.node)) {
                mine = t.used;
            }
            earliest = match (earliest, t.earliest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok((used, earliest, mine))
    }

    /// The projects each tenant runs now (live leases only).
    pub async fn running(&self, tenant: &str) -> Result<usize, ClusterError> {
        let now = now_ms();
        Ok(read::<Slots>(&self.slots, &token(tenant))
            .await?
            .map_or(0, |(s, _)| {
                s.values().filter(|(_, until)| *until > now).count()
            }))
    }
}

fn checkpoint_name(id: &str) -> String {
    format!("{id}.checkpoint.tar.gz")
}

fn archive_name(id: &str) -> String {
    format!("{id}.tar.gz")
}

/// The JSON value at `key`, and its revision.
async fn read<T: DeserializeOwned>(
    store: &kv::Store,
    key: &str,
) -> Result<Option<(T, u64)>, ClusterError> {
    let entry = patiently("reading a record", || store.entry(key), |_| false).await?;
    match entry {
        Some(e) if e.operation == kv::Operation::Put => serde_json::from_slice(&e.value)
            .map(|v| Some((v, e.revision)))
            .map_err(failed("reading a record")),
        _ => Ok(None),
    }
}

/// Changes the JSON value at `key` with `f` (a missing one is the default),
/// by compare-and-set, until a write holds or `f` changes nothing. Returns
/// the value after and whether it was written.
async fn cas<T: Serialize + DeserializeOwned + Default + Clone>(
    store: &kv::Store,
    key: &str,
    mut f: impl FnMut(&mut T) -> bool,
) -> Result<(T, bool), ClusterError> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut pause = Duration::from_millis(5);
    loop {
        let current = read::<T>(store, key).await?;
        let mut value = current.as_ref().map(|(v, _)| v.clone()).unwrap_or_default();
        if !f(&mut value) {
            return Ok((value, false));
        }
        let bytes: bytes::Bytes = serde_json::to_vec(&value)
            .map_err(failed("writing a record"))?
            .into();
        let wrote = match &current {
            Some((_, revision)) => store
                .update(key, bytes, *revision)
                .await
                .map_err(|e| e.to_string()),
            None => store.create(key, bytes).await.map_err(|e| e.to_string()),
        };
        match wrote {
            Ok(_) => return Ok((value, true)),
            Err(e) if tokio::time::Instant::now() > deadline => {
                return Err(ClusterError(format!(
                    "NATS JetStream, changing `{key}`: {e}"
                )));
            }
            // Another writer was first, or the server did not answer: read
            // again and decide again.
            Err(e) => {
                tracing::debug!(key, error = %e, "a compare-and-set is tried again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    }
}
