//! The NATS JetStream [`Broker`], for hosts that share one JetStream
//! (`[cluster] nats = "nats://…"` or `NEXUS_NATS_URL`).
//!
//! - Every message goes to the stream `<NS>_BUS` on the subject
//!   `<ns>.bus.<project>.<agent>`, one subject per recipient, with its id
//!   and a mark of the enqueue as `Nats-Msg-Id` (JetStream keeps one copy of
//!   a publish tried again). A copy stored twice anyway (a host stopped
//!   between the message and its record) is read once.
//! - Its fate (pending, done with the reply, dead with the error, and the
//!   deliveries so far) is a record in the key-value bucket `<ns>-bus`,
//!   keyed by the message id. Creating that record is what decides whether
//!   a message is new: a message sent again gets the stored state back.
//! - Dead letters go to the stream `<NS>_DEAD` (`<ns>.dead.<project>.<agent>`).
//! - Settings are the bucket `<ns>-settings`.
//!
//! One connection and one task of its own run every operation in the order
//! it was given, each to its end (with the server's acknowledgement) before
//! the next: an acknowledgement given after an enqueue is never stored
//! without it. A publish that timed out may still have been stored, so it
//! is tried again with the same `Nats-Msg-Id` until the server answers, for
//! as long as 60 s (a server restarting comes back well within it).

use super::backend::{Broker, BrokerError, DeadLetter, Entry, Message, State};
use crate::sync::Recover as _;
use async_nats::jetstream::{self, kv, stream};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long an operation is tried again while the server does not answer.
const PATIENCE: Duration = Duration::from_secs(60);

/// Where the JetStream broker keeps its streams and buckets.
#[derive(Debug, Clone)]
pub struct JetStreamOptions {
    /// `nats://host:port`.
    pub url: String,
    /// Prefix of every stream, subject and bucket: hosts with the same one
    /// share their messages.
    pub namespace: String,
    /// Most bytes of payloads and replies one project keeps.
    pub max_project_bytes: u64,
}

pub struct JetStream {
    jobs: mpsc::UnboundedSender<Job>,
}

type Job = Box<dyn FnOnce(Arc<Shared>) -> BoxFuture<'static, ()> + Send>;

struct Shared {
    client: async_nats::Client,
    js: jetstream::Context,
    messages: stream::Stream,
    letters: stream::Stream,
    records: kv::Store,
    settings: kv::Store,
    namespace: String,
    /// Written into each record this broker creates: a create that timed
    /// out and was tried again finds its own record, not someone else's.
    writer: String,
    limit: u64,
    /// What each project keeps, read from the streams the first time the
    /// project is seen and then kept up to date.
    ledgers: Mutex<HashMap<String, Ledger>>,
}

/// A project's messages and dead letters by sequence, with their bytes:
/// what makes room when the project's share is used up, oldest first.
#[derive(Default)]
struct Ledger {
    used: u64,
    /// Sequence → (id, bytes, handled or dead).
    messages: BTreeMap<u64, (String, u64, bool)>,
    /// Sequence → bytes.
    letters: BTreeMap<u64, u64>,
}

/// A message's fate, in the bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    state: String,
    #[serde(default)]
    reply: Option<String>,
    #[serde(default)]
    error: Option<String>,
    attempt: u32,
    /// The message's sequence in the stream.
    seq: u64,
    project: String,
    created: i64,
    updated: i64,
    /// Bytes of payload and reply.
    bytes: u64,
    writer: String,
}

impl Record {
    fn state(&self) -> State {
        match self.state.as_str() {
            "done" => State::Done(self.reply.clone().unwrap_or_default()),
            "dead" => State::Dead(self.error.clone().unwrap_or_default()),
            _ => State::Pending,
        }
    }
}

/// A dead letter, in its stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Letter {
    id: String,
    recipient: String,
    kind: String,
    payload: String,
    attempts: u32,
    error: String,
    at: i64,
}

fn store<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> BrokerError + '_ {
    move |e| BrokerError::Store(format!("NATS JetStream, {what}: {e}"))
}

/// A subject token or key for any id: itself when it is made of letters,
/// digits, `-` and `_`, else a digest of it (the record keeps the id).
pub fn token(id: &str) -> String {
    let plain = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        id.to_string()
    } else {
        use sha2::{Digest, Sha256};
        format!(
            "x{}",
            crate::text::hex(&Sha256::digest(id.as_bytes())[..16])
        )
    }
}

/// Whether a namespace can prefix streams, subjects and buckets.
pub fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 32
        && ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Tries `op` again while it fails, for up to [`PATIENCE`]; `permanent`
/// names the failures that trying again cannot mend.
pub async fn patiently<T, E, F>(
    what: &str,
    mut op: impl FnMut() -> F,
    permanent: impl Fn(&E) -> bool,
) -> Result<T, BrokerError>
where
    F: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut pause = Duration::from_millis(20);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if permanent(&e) || tokio::time::Instant::now() + pause > deadline => {
                return Err(store(what)(e));
            }
            Err(e) => {
                tracing::warn!(error = %e, what, "NATS JetStream did not answer; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

fn oversize(e: &impl std::fmt::Display) -> bool {
    e.to_string().contains("maximum payload")
}

impl JetStream {
    /// Connects to the server and makes the streams and buckets the broker
    /// needs (the ones that exist are used as they are).
    pub fn open(options: JetStreamOptions) -> Result<JetStream, BrokerError> {
        if !valid_namespace(&options.namespace) {
            return Err(BrokerError::Store(format!(
                "`{}` is not a cluster namespace: use up to 32 letters, digits, `-` or `_`",
                crate::text::clip(&options.namespace, 64)
            )));
        }
        let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), BrokerError>>();
        std::thread::Builder::new()
            .name("nexus-jetstream".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(store("its runtime")(e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    let shared = match connect(options).await {
                        Ok(s) => Arc::new(s),
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    while let Some(job) = rx.recv().await {
                        job(shared.clone()).await;
                    }
                });
            })
            .map_err(|_| BrokerError::Stopped)?;
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| BrokerError::Store("NATS JetStream: no answer within 30 s".into()))??;
        Ok(JetStream { jobs })
    }

    /// Runs `work` after every operation given before it.
    fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(Arc<Shared>) -> BoxFuture<'static, Result<T, BrokerError>> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, BrokerError>> {
        let (tx, rx) = oneshot::channel();
        let sent = self.jobs.send(Box::new(move |shared| {
            Box::pin(async move {
                let _ = tx.send(work(shared).await);
            })
        }));
        Box::pin(async move {
            sent.map_err(|_| BrokerError::Stopped)?;
            rx.await.map_err(|_| BrokerError::Stopped)?
        })
    }
}

/// A server address as it may be shown: without a user or password.
pub fn shown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://…@{host}"),
            None => url.to_string(),
        },
        None => crate::text::clip(url, 128),
    }
}

/// A connection to the server at `url`.
pub async fn dial(url: &str) -> Result<async_nats::Client, BrokerError> {
    async_nats::ConnectOptions::new()
        .name("nexus")
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| {
            BrokerError::Store(format!(
                "could not reach NATS at {}: {e}; start nats-server with -js, or fix [cluster] nats / NEXUS_NATS_URL",
                shown(url)
            ))
        })
}

/// Publishes `body` on `subject` with `msg_id` as its `Nats-Msg-Id`,
/// tried again with the same id (so it is stored once) until the server
/// acknowledges it, unless `permanent` says trying again cannot help.
pub async fn publish_once(
    js: &jetstream::Context,
    what: &str,
    subject: String,
    msg_id: &str,
    body: bytes::Bytes,
    permanent: impl Fn(&async_nats::Error) -> bool,
) -> Result<jetstream::publish::PublishAck, BrokerError> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", msg_id);
    patiently(
        what,
        || async {
            js.publish_with_headers(subject.clone(), headers.clone(), body.clone())
                .await?
                .await
                .map_err(async_nats::Error::from)
        },
        permanent,
    )
    .await
}

/// A file-backed stream `name` of `subject`, read directly by key.
pub fn stream_config(name: String, subject: String) -> stream::Config {
    stream::Config {
        name,
        subjects: vec![subject],
        storage: stream::StorageType::File,
        allow_direct: true,
        ..Default::default()
    }
}

/// The stream `config` names, made when it is missing (one that exists is
/// used as it is).
pub async fn make_stream(
    js: &jetstream::Context,
    config: stream::Config,
) -> Result<stream::Stream, BrokerError> {
    patiently(
        "creating a stream",
        || js.get_or_create_stream(config.clone()),
        |_| false,
    )
    .await
}

/// The key-value bucket `name` (one version a key), made when missing.
pub async fn bucket(js: &jetstream::Context, name: String) -> Result<kv::Store, BrokerError> {
    if let Ok(kv) = js.get_key_value(name.as_str()).await {
        return Ok(kv);
    }
    patiently(
        "creating a bucket",
        || {
            js.create_key_value(kv::Config {
                bucket: name.clone(),
                history: 1,
                storage: stream::StorageType::File,
                ..Default::default()
            })
        },
        |_| false,
    )
    .await
}

async fn connect(o: JetStreamOptions) -> Result<Shared, BrokerError> {
    let client = dial(&o.url).await?;
    let js = jetstream::new(client.clone());
    let ns = o.namespace;
    let upper = ns.to_ascii_uppercase();
    let messages = make_stream(
        &js,
        stream_config(format!("{upper}_BUS"), format!("{ns}.bus.>")),
    )
    .await?;
    let letters = make_stream(
        &js,
        stream_config(format!("{upper}_DEAD"), format!("{ns}.dead.>")),
    )
    .await?;
    let records = bucket(&js, format!("{ns}-bus")).await?;
    let settings = bucket(&js, format!("{ns}-settings")).await?;
    Ok(Shared {
        client,
        js,
        messages,
        letters,
        records,
        settings,
        namespace: ns,
        writer: crate::text::uuid().to_string(),
        limit: o.max_project_bytes,
        ledgers: Mutex::new(HashMap::new()),
    })
}

impl Shared {
    /// Refuses what the server would refuse as one message: it is too big
    /// to be kept, not a failure of the server.
    fn fits(&self, bytes: usize, what: &str) -> Result<(), BrokerError> {
        let max = self.client.server_info().max_payload;
        // Room for the headers and the subject.
        if max > 0 && bytes + 1024 > max {
            return Err(BrokerError::Full(format!(
                "{what} of {} is more than the NATS server takes in one message ({}); raise max_payload in its configuration",
                crate::policy::Size(bytes as u64),
                crate::policy::Size(max as u64)
            )));
        }
        Ok(())
    }

    fn subject(&self, kind: &str, project: &str, agent: &str) -> String {
        format!(
            "{}.{kind}.{}.{}",
            self.namespace,
            token(project),
            token(agent)
        )
    }

    async fn record(&self, id: &str) -> Result<Option<Record>, BrokerError> {
        let key = token(id);
        let entry = patiently(
            "reading a record",
            || self.records.entry(key.as_str()),
            |_| false,
        )
        .await?;
        match entry {
            // Never written, or deleted (the entry is then a marker).
            None => Ok(None),
            Some(e) if e.operation != kv::Operation::Put => Ok(None),
            Some(e) => serde_json::from_slice::<Record>(&e.value)
                .map(Some)
                .map_err(store("a record it cannot read")),
        }
    }

    async fn put(&self, id: &str, record: &Record) -> Result<(), BrokerError> {
        let key = token(id);
        let value: bytes::Bytes = serde_json::to_vec(record)
            .map_err(store("writing a record"))?
            .into();
        self.fits(value.len(), "a reply")?;
        patiently(
            "writing a record",
            || self.records.put(key.as_str(), value.clone()),
            oversize,
        )
        .await
        .map(drop)
    }

    /// Every message of a stream under `filter`, oldest first: (sequence,
    /// body).
    async fn scan(
        &self,
        stream: &stream::Stream,
        filter: &str,
    ) -> Result<Vec<(u64, bytes::Bytes)>, BrokerError> {
        let mut out = Vec::new();
        let mut seq = 1;
        loop {
            let next = patiently(
                "reading a stream",
                || async {
                    match stream.direct_get_next_for_subject(filter, Some(seq)).await {
                        Ok(m) => Ok(Some(m)),
                        Err(e) if matches!(e.kind(), stream::DirectGetErrorKind::NotFound) => {
                            Ok(None)
                        }
                        Err(e) => Err(e),
                    }
                },
                |e: &stream::DirectGetError| {
                    matches!(e.kind(), stream::DirectGetErrorKind::InvalidSubject)
                },
            )
            .await?;
            let Some(m) = next else { break };
            seq = m.sequence + 1;
            out.push((m.sequence, m.payload));
        }
        Ok(out)
    }

    /// The messages of `project`, oldest first, each id once.
    async fn messages(&self, project: &str) -> Result<Vec<(u64, Message)>, BrokerError> {
        let filter = format!("{}.bus.{}.*", self.namespace, token(project));
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (seq, body) in self.scan(&self.messages, &filter).await? {
            let m: Message =
                serde_json::from_slice(&body).map_err(store("a message it cannot read"))?;
            if m.project == project && seen.insert(m.id.clone()) {
                out.push((seq, m));
            }
        }
        Ok(out)
    }

    /// The dead letters of `project`, oldest first, each id once (the last).
    async fn letters(&self, project: &str) -> Result<Vec<(u64, Letter)>, BrokerError> {
        let filter = format!("{}.dead.{}.*", self.namespace, token(project));
        let mut out: Vec<(u64, Letter)> = Vec::new();
        for (seq, body) in self.scan(&self.letters, &filter).await? {
            let l: Letter =
                serde_json::from_slice(&body).map_err(store("a dead letter it cannot read"))?;
            out.retain(|(_, o)| o.id != l.id);
            out.push((seq, l));
        }
        Ok(out)
    }

    /// Reads what `project` keeps, unless that is known.
    async fn load(&self, project: &str) -> Result<(), BrokerError> {
        if self.ledgers.lock().recover().contains_key(project) {
            return Ok(());
        }
        let mut ledger = Ledger::default();
        for (seq, m) in self.messages(project).await? {
            let (bytes, settled) = match self.record(&m.id).await? {
                Some(r) => (r.bytes, r.state != "pending"),
                None => (m.payload.len() as u64, false),
            };
            ledger.used += bytes;
            ledger.messages.insert(seq, (m.id, bytes, settled));
        }
        for (seq, l) in self.letters(project).await? {
            ledger.used += l.payload.len() as u64;
            ledger.letters.insert(seq, l.payload.len() as u64);
        }
        self.ledgers
            .lock()
            .recover()
            .insert(project.to_string(), ledger);
        Ok(())
    }

    /// Changes what `project` keeps (when it is known).
    fn ledger<T>(&self, project: &str, f: impl FnOnce(&mut Ledger) -> T) -> Option<T> {
        self.ledgers.lock().recover().get_mut(project).map(f)
    }

    fn used(&self, project: &str) -> u64 {
        self.ledger(project, |l| l.used).unwrap_or(0)
    }

    /// Marks a message of `project` handled or dead: it may make room.
    fn settled(&self, project: &str, seq: u64) {
        self.ledger(project, |l| {
            if let Some(item) = l.messages.get_mut(&seq) {
                item.2 = true;
            }
        });
    }

    /// Counts a new message of `project`.
    fn kept(&self, project: &str, seq: u64, id: &str, bytes: u64) {
        self.ledger(project, |l| {
            if l.messages
                .insert(seq, (id.to_string(), bytes, false))
                .is_none()
            {
                l.used += bytes;
            }
        });
    }

    /// Makes room for `need` more bytes of `project`: its oldest handled
    /// and dead messages go first, then its oldest dead letters.
    async fn make_room(&self, project: &str, need: u64) -> Result<bool, BrokerError> {
        self.load(project).await?;
        let fits = |s: &Self| s.used(project).saturating_add(need) <= s.limit;
        while !fits(self) {
            let oldest = self.ledger(project, |l| {
                l.messages
                    .iter()
                    .find(|(_, (_, _, settled))| *settled)
                    .map(|(seq, (id, _, _))| (*seq, id.clone()))
            });
            let Some(Some((seq, id))) = oldest else { break };
            self.remove(project, &id, seq).await?;
        }
        while !fits(self) {
            let oldest = self.ledger(project, |l| l.letters.keys().next().copied());
            let Some(Some(seq)) = oldest else { break };
            patiently(
                "deleting a dead letter",
                || self.letters.delete_message(seq),
                |_| false,
            )
            .await?;
            self.ledger(project, |l| {
                if let Some(bytes) = l.letters.remove(&seq) {
                    l.used = l.used.saturating_sub(bytes);
                }
            });
        }
        Ok(fits(self))
    }

    /// Deletes a message and its record.
    async fn remove(&self, project: &str, id: &str, seq: u64) -> Result<(), BrokerError> {
        // Gone already is as good as deleted.
        let _ = patiently(
            "deleting a message",
            || self.messages.delete_message(seq),
            |_| true,
        )
        .await;
        let key = token(id);
        patiently(
            "deleting a record",
            || self.records.purge(key.as_str()),
            |_| false,
        )
        .await?;
        self.ledger(project, |l| {
            if let Some((_, bytes, _)) = l.messages.remove(&seq) {
                l.used = l.used.saturating_sub(bytes);
            }
        });
        Ok(())
    }

    async fn enqueue(&self, m: Message) -> Result<Option<State>, BrokerError> {
        if let Some(r) = self.record(&m.id).await? {
            return Ok(Some(r.state()));
        }
        let need = m.payload.len() as u64;
        if !self.make_room(&m.project, need).await? {
            return Err(BrokerError::Full(format!(
                "project `{}` keeps {} of messages not yet handled; the journal holds at most {} a project",
                crate::text::clip(&m.project, 64),
                crate::policy::Size(self.used(&m.project)),
                crate::policy::Size(self.limit)
            )));
        }
        let subject = self.subject("bus", &m.project, &m.recipient);
        let body: bytes::Bytes = serde_json::to_vec(&m)
            .map_err(store("writing a message"))?
            .into();
        // Its record will hold the reply too; the message is what is known now.
        self.fits(body.len(), "a message")?;
        // The id and this enqueue's own mark: a publish tried again is
        // stored once, while a message forgotten and then sent anew (its
        // first copy deleted) is stored again. Whether the message itself
        // is new is the record's to decide.
        let publish_id = format!("{}:{}", m.id, crate::text::uuid().simple());
        let ack = publish_once(
            &self.js,
            "storing a message",
            subject,
            &publish_id,
            body.clone(),
            oversize,
        )
        .await?;
        let t = crate::db::now();
        let record = Record {
            state: "pending".into(),
            reply: None,
            error: None,
            attempt: m.attempt,
            seq: ack.sequence,
            project: m.project.clone(),
            created: t,
            updated: t,
            bytes: need,
            writer: self.writer.clone(),
        };
        let value: bytes::Bytes = serde_json::to_vec(&record)
            .map_err(store("writing a record"))?
            .into();
        let key = token(&m.id);
        let created = patiently(
            "creating a record",
            || self.records.create(key.as_str(), value.clone()),
            |e: &kv::CreateError| matches!(e.kind(), kv::CreateErrorKind::AlreadyExists),
        )
        .await;
        match created {
            Ok(_) => {
                self.kept(&m.project, ack.sequence, &m.id, need);
                Ok(None)
            }
            Err(e) => match self.record(&m.id).await? {
                // Its own create, answered late.
                Some(r) if r.writer == self.writer && r.seq == ack.sequence => {
                    self.kept(&m.project, ack.sequence, &m.id, need);
                    Ok(None)
                }
                // Another host's: the copy just stored goes.
                Some(r) => {
                    if !ack.duplicate {
                        let _ = self.messages.delete_message(ack.sequence).await;
                    }
                    Ok(Some(r.state()))
                }
                None => Err(e),
            },
        }
    }

    /// Changes the record of `id` with `f` and stores it, unless it has
    /// none or `f` leaves it as it is (returns false).
    async fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut Record) -> bool,
    ) -> Result<Option<Record>, BrokerError> {
        let Some(mut r) = self.record(id).await? else {
            return Ok(None);
        };
        if !f(&mut r) {
            return Ok(None);
        }
        r.updated = crate::db::now();
        self.put(id, &r).await?;
        Ok(Some(r))
    }

    async fn ack(&self, id: &str, reply: String) -> Result<(), BrokerError> {
        let grows = reply.len() as u64;
        // A message is marked done once.
        let r = self
            .update(id, |r| {
                if r.state == "done" {
                    return false;
                }
                r.state = "done".into();
                r.bytes += grows;
                r.reply = Some(reply);
                true
            })
            .await?;
        if let Some(r) = r {
            self.ledger(&r.project, |l| {
                if let Some(item) = l.messages.get_mut(&r.seq) {
                    item.1 += grows;
                    item.2 = true;
                    l.used += grows;
                }
            });
            // The reply is kept whatever it costs; older handled messages
            // make room for it.
            self.make_room(&r.project, 0).await?;
        }
        Ok(())
    }

    async fn dead(&self, id: &str, error: String, keep: bool) -> Result<(), BrokerError> {
        let r = self
            .update(id, |r| {
                r.state = "dead".into();
                r.error = Some(error.clone());
                true
            })
            .await?;
        if let Some(r) = &r {
            self.settled(&r.project, r.seq);
        }
        let Some(r) = r.filter(|_| keep) else {
            return Ok(());
        };
        let Ok(stored) = self.messages.get_raw_message(r.seq).await else {
            return Ok(());
        };
        let m: Message =
            serde_json::from_slice(&stored.payload).map_err(store("a message it cannot read"))?;
        let letter = Letter {
            id: m.id.clone(),
            recipient: m.recipient.clone(),
            kind: m.kind,
            payload: m.payload,
            attempts: r.attempt + 1,
            error,
            at: crate::db::now(),
        };
        let bytes = letter.payload.len() as u64;
        let body: bytes::Bytes = serde_json::to_vec(&letter)
            .map_err(store("writing a dead letter"))?
            .into();
        self.fits(body.len(), "a dead letter")?;
        let subject = self.subject("dead", &m.project, &m.recipient);
        let stored = patiently(
            "storing a dead letter",
            || async {
                self.js
                    .publish(subject.clone(), body.clone())
                    .await?
                    .await
                    .map_err(async_nats::Error::from)
            },
            oversize,
        )
        .await?;
        self.ledger(&m.project, |l| {
            l.letters.insert(stored.sequence, bytes);
            l.used += bytes;
        });
        self.make_room(&m.project, 0).await?;
        Ok(())
    }
}

impl Broker for JetStream {
    fn enqueue<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<Option<State>, BrokerError>> {
        let m = m.clone();
        self.call(move |s| Box::pin(async move { s.enqueue(m).await }))
    }

    fn ack<'a>(&'a self, id: &'a str, reply: &'a str) -> BoxFuture<'a, Result<(), BrokerError>> {
        let (id, reply) = (id.to_string(), reply.to_string());
        self.call(move |s| Box::pin(async move { s.ack(&id, reply).await }))
    }

    fn ack_in_order(&self, id: &str, reply: String) -> Result<(), BrokerError> {
        let id = id.to_string();
        let done = self.call(move |s| Box::pin(async move { s.ack(&id, reply).await }));
        // Given in order now; nobody waits for it, its failure is logged.
        tokio::spawn(async move {
            if let Err(e) = done.await {
                tracing::error!(error = %e, "the broker could not record an operation");
            }
        });
        Ok(())
    }

    fn nack<'a>(
        &'a self,
        id: &'a str,
        attempt: u32,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        let (id, error) = (id.to_string(), error.to_string());
        self.call(move |s| {
            Box::pin(async move {
                s.update(&id, |r| {
                    r.attempt = attempt;
                    r.error = Some(error);
                    true
                })
                .await
                .map(drop)
            })
        })
    }

    fn dead<'a>(
        &'a self,
        id: &'a str,
        error: &'a str,
        keep: bool,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        let (id, error) = (id.to_string(), error.to_string());
        self.call(move |s| Box::pin(async move { s.dead(&id, error, keep).await }))
    }

    fn forget<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), BrokerError>> {
        let id = id.to_string();
        self.call(move |s| {
            Box::pin(async move {
                match s.record(&id).await? {
                    Some(r) => s.remove(&r.project, &id, r.seq).await,
                    None => Ok(()),
                }
            })
        })
    }

    fn undelivered<'a>(
        &'a self,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Message>, BrokerError>> {
        let project = project.to_string();
        self.call(move |s| {
            Box::pin(async move {
                let mut out = Vec::new();
                for (_, mut m) in s.messages(&project).await? {
                    match s.record(&m.id).await? {
                        Some(r) if r.state != "pending" => {}
                        Some(r) => {
                            m.attempt = r.attempt;
                            out.push(m);
                        }
                        // Stored, but the host stopped before its record.
                        None => out.push(m),
                    }
                }
                Ok(out)
            })
        })
    }

    fn history<'a>(
        &'a self,
        project: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Entry>, BrokerError>> {
        let project = project.to_string();
        self.call(move |s| {
            Box::pin(async move {
                let all = s.messages(&project).await?;
                let skip = all.len().saturating_sub(limit as usize);
                let mut out = Vec::new();
                for (_, m) in all.into_iter().skip(skip) {
                    let entry = match s.record(&m.id).await? {
                        Some(r) => Entry {
                            state: r.state(),
                            created: r.created,
                            updated: r.updated,
                            last_error: r.error.clone(),
                            message: Message {
                                attempt: r.attempt,
                                ..m
                            },
                        },
                        None => Entry {
                            message: m,
                            state: State::Pending,
                            created: 0,
                            updated: 0,
                            last_error: None,
                        },
                    };
                    out.push(entry);
                }
                Ok(out)
            })
        })
    }

    fn dead_letters<'a>(
        &'a self,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, BrokerError>> {
        let project = project.to_string();
        self.call(move |s| {
            Box::pin(async move {
                Ok(s.letters(&project)
                    .await?
                    .into_iter()
                    .map(|(_, l)| (l.id, l.recipient, l.attempts, l.error))
                    .collect())
            })
        })
    }

    fn state<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<State>, BrokerError>> {
        let id = id.to_string();
        self.call(move |s| Box::pin(async move { Ok(s.record(&id).await?.map(|r| r.state())) }))
    }

    fn abandon<'a>(
        &'a self,
        project: &'a str,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<usize, BrokerError>> {
        let (project, reason) = (project.to_string(), reason.to_string());
        self.call(move |s| {
            Box::pin(async move {
                let mut n = 0;
                for (seq, m) in s.messages(&project).await? {
                    match s.record(&m.id).await? {
                        Some(r) if r.state != "pending" => {}
                        Some(_) => {
                            s.update(&m.id, |r| {
                                r.state = "dead".into();
                                r.error = Some(reason.clone());
                                true
                            })
                            .await?;
                            s.settled(&project, seq);
                            n += 1;
                        }
                        None => {
                            let t = crate::db::now();
                            s.put(
                                &m.id,
                                &Record {
                                    state: "dead".into(),
                                    reply: None,
                                    error: Some(reason.clone()),
                                    attempt: m.attempt,
                                    seq,
                                    project: project.clone(),
                                    created: t,
                                    updated: t,
                                    bytes: m.payload.len() as u64,
                                    writer: s.writer.clone(),
                                },
                            )
                            .await?;
                            s.settled(&project, seq);
                            n += 1;
                        }
                    }
                }
                Ok(n)
            })
        })
    }

    fn reopen<'a>(
        &'a self,
        project: &'a str,
        keep: &'a [String],
    ) -> BoxFuture<'a, Result<usize, BrokerError>> {
        let project = project.to_string();
        let keep: HashSet<String> = keep.iter().cloned().collect();
        self.call(move |s| {
            Box::pin(async move {
                s.load(&project).await?;
                let mut n = 0;
                for (seq, m) in s.messages(&project).await? {
                    if keep.contains(&m.id) {
                        continue;
                    }
                    let mut shrinks = 0;
                    let reopened = s
                        .update(&m.id, |r| {
                            if r.state != "done" {
                                return false;
                            }
                            shrinks = r.reply.take().map_or(0, |x| x.len() as u64);
                            r.state = "pending".into();
                            r.bytes = r.bytes.saturating_sub(shrinks);
                            true
                        })
                        .await?;
                    if reopened.is_some() {
                        s.ledger(&project, |l| {
                            if let Some(item) = l.messages.get_mut(&seq) {
                                item.1 = item.1.saturating_sub(shrinks);
                                item.2 = false;
                                l.used = l.used.saturating_sub(shrinks);
                            }
                        });
                        n += 1;
                    }
                }
                Ok(n)
            })
        })
    }
    fn setting<'a>(
        &'a self,
        key: &'a str,
        value: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, BrokerError>> {
        let key = token(key);
        let value = value.map(str::to_string);
        self.call(move |s| {
            Box::pin(async move {
                if let Some(v) = &value {
                    s.fits(v.len(), "a setting")?;
                    let v: bytes::Bytes = v.clone().into_bytes().into();
                    patiently(
                        "writing a setting",
                        || s.settings.put(key.as_str(), v.clone()),
                        oversize,
                    )
                    .await?;
                }
                let entry = patiently(
                    "reading a setting",
                    || s.settings.entry(key.as_str()),
                    |_| false,
                )
                .await?;
                entry
                    .filter(|e| e.operation == kv::Operation::Put)
                    .map(|e| String::from_utf8(e.value.to_vec()).map_err(store("a setting")))
                    .transpose()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_shown_without_its_credentials() {
        assert_eq!(shown("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(
            shown("nats://ops:s3cret@nats.internal:4222"),
            "nats://…@nats.internal:4222"
        );
        assert_eq!(shown("tls://token@host:4443"), "tls://…@host:4443");
    }

    #[test]
    fn any_id_becomes_a_token_a_subject_can_hold() {
        assert_eq!(token("worker"), "worker");
        assert_eq!(token("a-b_c9"), "a-b_c9");
        for odd in ["a.b", "x*", "y>", "with space", "", "ü"] {
            let t = token(odd);
            assert!(t.starts_with('x') && t.len() == 33, "{odd} -> {t}");
            assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()), "{t}");
        }
        assert_ne!(token("a.b"), token("a*b"));
    }
}
