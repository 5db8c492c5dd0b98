//! The SQLite [`Broker`]: the message journal. Every bus message is written here before it is
//! delivered and marked done when its handler returns, so a host that was
//! killed can deliver again what was not done.
//!
//! One thread owns a SQLite connection (WAL) and runs every operation.
//! Operations that queue up while a transaction commits are written
//! together in the next one (group commit). A second thread makes commits
//! durable: it fsyncs the write-ahead log after each commit, and only then
//! is any operation of that commit acknowledged. That is what
//! `synchronous = FULL` does, without the writer waiting for the disk: the
//! next batch is written while the last one is synced, and one fsync covers
//! every commit made meanwhile. The journal is also the history
//! (`nexus messages`) and the dead-letter queue.

use super::backend::{Broker, BrokerError, DeadLetter, Entry, Message, State};
use crate::sync::LINGER;
use futures_util::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;
use tokio::sync::oneshot;

type Reply<T> = oneshot::Sender<rusqlite::Result<T>>;

enum Op {
    /// Inserts unless a message with this id exists; returns the state of
    /// the existing one.
    Insert(Message, Reply<Option<State>>),
    Done(String, String, Reply<()>),
    Retry(String, u32, String, Reply<()>),
    Dead(String, String, bool, Reply<()>),
    Forget(String, Reply<()>),
    Pending(String, Reply<Vec<Message>>),
    History(String, u32, Reply<Vec<Entry>>),
    DeadLetters(String, Reply<Vec<DeadLetter>>),
    Setting(String, Option<String>, Reply<Option<String>>),
    State(String, Reply<Option<State>>),
    Abandon(String, String, Reply<usize>),
    /// (project, ids kept handled, as a JSON array).
    Reopen(String, String, Reply<usize>),
}

impl BrokerError {
    fn from_db(e: rusqlite::Error) -> BrokerError {
        match e {
            rusqlite::Error::SqliteFailure(f, msg) if f.code == rusqlite::ErrorCode::DiskFull => {
                BrokerError::Full(msg.unwrap_or_else(|| "the disk is full".into()))
            }
            e => BrokerError::Store(e.to_string()),
        }
    }
}

pub struct Journal {
    ops: mpsc::Sender<Op>,
}

use crate::db::now;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL,
    kind TEXT NOT NULL, payload TEXT NOT NULL, depth INTEGER NOT NULL, attempt INTEGER NOT NULL,
    state TEXT NOT NULL, reply TEXT, last_error TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS messages_project ON messages (project, state, created);
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, recipient TEXT NOT NULL, kind TEXT NOT NULL,
    payload TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// The journal's schema, step by step (see [`crate::db::migrate`]).
const STEPS: &[crate::db::Step] = &[
    |c| c.execute_batch(SCHEMA),
    // Journals written before messages kept their size get the column;
    // their rows are measured when first counted.
    |c| crate::db::add_column(c, "messages", "bytes", "INTEGER"),
    |c| crate::db::add_column(c, "dead_letters", "bytes", "INTEGER"),
];

impl Journal {
    /// Opens (creating) the journal in the database at `path` (`None`: in
    /// memory). With `retention`, handled and dead messages older than it
    /// are deleted first, so a host that is only ever started for runs
    /// still keeps its journal bounded. Each project may keep at most
    /// `max_project_bytes` of payloads and replies: past it, its oldest
    /// handled messages make room, and when only undone ones are left, a
    /// new message is refused ([`BrokerError::Full`]).
    pub fn open(
        path: Option<&Path>,
        retention: Option<Duration>,
        max_project_bytes: u64,
    ) -> Result<Journal, BrokerError> {
        let open = || -> rusqlite::Result<Connection> {
            let conn = crate::db::connect(path)?;
            crate::db::migrate(&conn, "journal", STEPS)?;
            if let Some(age) = retention {
                let pruned = prune(&conn, now() - age.as_secs() as i64)?;
                if pruned > 0 {
                    tracing::info!(pruned, "pruned handled messages older than the retention");
                }
            }
            Ok(conn)
        };
        let conn = open().map_err(BrokerError::from_db)?;
        let wal: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .map_err(BrokerError::from_db)?;
        let durable = match path {
            // Commits are synced by the syncer thread instead (see above).
            Some(path) if wal.eq_ignore_ascii_case("wal") => {
                conn.pragma_update(None, "synchronous", "normal")
                    .map_err(BrokerError::from_db)?;
                // The log beside the file SQLite opened (its full path),
                // whatever path the database was named by.
                let db_file = conn
                    .path()
                    .map_or_else(|| path.to_path_buf(), PathBuf::from);
                let mut wal = db_file.into_os_string();
                wal.push("-wal");
                let wal = PathBuf::from(wal);
                let (tx, rx) = mpsc::channel::<Vec<Ack>>();
                let pending = Arc::new(AtomicUsize::new(0));
                let counted = pending.clone();
                std::thread::Builder::new()
                    .name("nexus-journal-sync".into())
                    .spawn(move || sync_commits(&wal, &rx, &counted))
                    .map_err(|_| BrokerError::Stopped)?;
                Durable::Synced {
                    syncer: tx,
                    pending,
                }
            }
            // In memory, or a file system without WAL: the commit itself
            // is as durable as it gets (`synchronous = FULL`).
            _ => Durable::AtCommit,
        };
        let (tx, rx) = mpsc::channel::<Op>();
        let budget = Budget {
            limit: max_project_bytes,
            used: HashMap::new(),
        };
        std::thread::Builder::new()
            .name("nexus-journal".into())
            .spawn(move || run(conn, rx, budget, durable))
            .map_err(|_| BrokerError::Stopped)?;
        Ok(Journal { ops: tx })
    }

    async fn call<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T, BrokerError> {
        let (tx, rx) = oneshot::channel();
        self.ops.send(op(tx)).map_err(|_| BrokerError::Stopped)?;
        let answer = crate::sync::answer(rx)
            .await
            .map_err(|_| BrokerError::Stopped);
        answer?.map_err(BrokerError::from_db)
    }
}

/// Runs a statement, prepared once per connection.
fn exec(c: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

/// Reads one row with a statement prepared once per connection.
fn row<T>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(params, f)
}

/// Most operations written in one transaction.
const BATCH: usize = 512;

/// Bytes of payloads and replies each project keeps in the journal,
/// counted as they change (read from the tables the first time a project
/// is seen), and the most it may keep.
struct Budget {
    limit: u64,
    used: HashMap<String, u64>,
}

/// A message's bytes: kept in its `bytes` column (rows written before the
/// column existed are measured).
const MESSAGE_BYTES: &str =
    "coalesce(bytes, length(CAST(payload AS BLOB)) + coalesce(length(CAST(reply AS BLOB)), 0))";
const LETTER_BYTES: &str = "coalesce(bytes, length(CAST(payload AS BLOB)))";

impl Budget {
    fn used(&mut self, c: &Connection, project: &str) -> rusqlite::Result<u64> {
        if let Some(n) = self.used.get(project) {
            return Ok(*n);
        }
        let messages: i64 = row(
            c,
            &format!("SELECT coalesce(sum({MESSAGE_BYTES}), 0) FROM messages WHERE project = ?1"),
            params![project],
            |r| r.get(0),
        )?;
        let letters: i64 = row(
            c,
            &format!(
                "SELECT coalesce(sum({LETTER_BYTES}), 0) FROM dead_letters WHERE project = ?1"
            ),
            params![project],
            |r| r.get(0),
        )?;
        let n = (messages + letters).max(0) as u64;
        self.used.insert(project.to_string(), n);
        Ok(n)
    }

    fn change(&mut self, project: &str, add: u64, sub: u64) {
        if let Some(n) = self.used.get_mut(project) {
            *n = n.saturating_add(add).saturating_sub(sub);
        }
    }

    /// Whether `project` may keep `need` more bytes.
    fn has_room(&mut self, c: &Connection, project: &str, need: u64) -> rusqlite::Result<bool> {
        Ok(self.used(c, project)?.saturating_add(need) <= self.limit)
    }

    /// Makes room for `need` more bytes of `project`, deleting its oldest
    /// handled and dead messages (then its oldest dead letters) as far as
    /// needed. Returns whether the room is there.
    fn make_room(&mut self, c: &Connection, project: &str, need: u64) -> rusqlite::Result<bool> {
        // Nearly always: there is room, and no statement is put together.
        if self.has_room(c, project, need)? {
            return Ok(true);
        }
        for (select, delete) in [
            (
                format!(
                    "SELECT id, {MESSAGE_BYTES} FROM messages WHERE project = ?1 AND state IN ('done', 'dead')
                     ORDER BY rowid LIMIT 32"
                ),
                "DELETE FROM messages WHERE id = ?1",
            ),
            (
                format!(
                    "SELECT id, {LETTER_BYTES} FROM dead_letters WHERE project = ?1 ORDER BY rowid LIMIT 32"
                ),
                "DELETE FROM dead_letters WHERE id = ?1",
            ),
        ] {
            loop {
                if self.has_room(c, project, need)? {
                    return Ok(true);
                }
                let oldest: Vec<(String, i64)> = c
                    .prepare_cached(&select)?
                    .query_map(params![project], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                if oldest.is_empty() {
                    break;
                }
                for (id, bytes) in oldest {
                    exec(c, delete, params![id])?;
                    self.change(project, 0, bytes.max(0) as u64);
                    if self.has_room(c, project, need)? {
                        return Ok(true);
                    }
                }
            }
        }
        self.has_room(c, project, need)
    }
}

/// The next operation: taken at once when one is waiting or arrives within
/// [`LINGER`] (operations come in bursts: a task's insert, then its done a
/// few microseconds later), else after sleeping until one comes.
fn next(rx: &mpsc::Receiver<Op>) -> Option<Op> {
    let since = std::time::Instant::now();
    loop {
        match rx.try_recv() {
            Ok(op) => return Some(op),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) if since.elapsed() < LINGER => {
                std::hint::spin_loop();
            }
            Err(mpsc::TryRecvError::Empty) => return rx.recv().ok(),
        }
    }
}

/// Where a committed batch's acknowledgements go.
enum Durable {
    /// To the syncer thread, which acknowledges them once the write-ahead
    /// log is on disk. `pending` counts the batches it has not synced yet.
    Synced {
        syncer: mpsc::Sender<Vec<Ack>>,
        pending: Arc<AtomicUsize>,
    },
    /// Acknowledged when the commit returns.
    AtCommit,
}

impl Durable {
    /// Whether the syncer is still writing an earlier commit to disk.
    fn syncing(&self) -> bool {
        match self {
            Durable::Synced { pending, .. } => pending.load(Ordering::Acquire) > 0,
            Durable::AtCommit => false,
        }
    }

    fn hand_over(&self, done: Vec<Ack>) {
        match self {
            Durable::Synced { syncer, pending } => {
                pending.fetch_add(1, Ordering::AcqRel);
                if let Err(mpsc::SendError(done)) = syncer.send(done) {
                    pending.fetch_sub(1, Ordering::AcqRel);
                    done.into_iter()
                        .for_each(|ack| ack(Some("the journal's syncer stopped".into())));
                }
            }
            Durable::AtCommit => done.into_iter().for_each(|ack| ack(None)),
        }
    }
}

/// The syncer: fsyncs the write-ahead log, then acknowledges every batch
/// committed before the fsync began. SQLite (at `synchronous = NORMAL`)
/// syncs the log itself before a checkpoint copies it into the database,
/// and the database after; a commit that is acknowledged is on disk either
/// way. The log's frames carry a running checksum, so a crash keeps a
/// prefix of the commits: operations stay in the order they were given.
fn sync_commits(wal: &Path, rx: &mpsc::Receiver<Vec<Ack>>, pending: &AtomicUsize) {
    let mut file: Option<std::fs::File> = None;
    // A failed fsync may have dropped the pages it could not write, and a
    // later fsync would then succeed without them: after one failure no
    // commit of this journal is acknowledged as durable again.
    let mut failed: Option<String> = None;
    while let Ok(mut acks) = rx.recv() {
        let mut batches = 1;
        while let Ok(more) = rx.try_recv() {
            acks.extend(more);
            batches += 1;
        }
        if failed.is_none() {
            let synced = (|| {
                if file.is_none() {
                    file = Some(std::fs::OpenOptions::new().write(true).open(wal)?);
                }
                file.as_ref().map_or(Ok(()), std::fs::File::sync_data)
            })();
            if let Err(e) = synced {
                tracing::error!(error = %e, wal = %wal.display(), "the journal could not be synced to disk; it acknowledges nothing from now on");
                failed = Some(format!(
                    "could not sync the journal to disk ({e}); restart the host once the disk is healthy"
                ));
            }
        }
        for ack in acks {
            ack(failed.clone());
        }
        pending.fetch_sub(batches, Ordering::AcqRel);
    }
}

fn run(mut conn: Connection, rx: mpsc::Receiver<Op>, mut budget: Budget, durable: Durable) {
    while let Some(first) = next(&rx) {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        // IMMEDIATE takes the write lock up front (waiting through the busy
        // timeout): a deferred transaction that reads first and then writes
        // fails at once when another connection wrote in between.
        let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                fail(batch, &e);
                continue;
            }
        };
        let mut done = Vec::with_capacity(batch.len());
        for op in batch {
            done.push(apply(&tx, op, &mut budget));
        }
        // While the syncer is still on the last commit, this one could not
        // be acknowledged any sooner: it takes in what arrives meanwhile,
        // so fewer, larger commits write the same pages fewer times.
        while done.len() < BATCH && durable.syncing() {
            match rx.recv_timeout(SYNC_POLL) {
                Ok(op) => done.push(apply(&tx, op, &mut budget)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // Acknowledge only after the batch is durable.
        match tx.commit() {
            Ok(()) => durable.hand_over(done),
            Err(e) => {
                // What was counted for the batch did not happen: count anew.
                budget.used.clear();
                let msg = e.to_string();
                done.into_iter().for_each(|ack| ack(Some(msg.clone())));
            }
        }
    }
}

/// How often a transaction kept open for the syncer looks whether the
/// syncer is done.
const SYNC_POLL: Duration = Duration::from_micros(100);

type Ack = Box<dyn FnOnce(Option<String>) + Send>;

fn ack<T: Send + 'static>(reply: Reply<T>, result: rusqlite::Result<T>) -> Ack {
    Box::new(move |commit_error: Option<String>| {
        let result = match commit_error {
            Some(e) => Err(rusqlite::Error::ToSqlConversionFailure(e.into())),
            None => result,
        };
        // Nobody waits for an operation given in order only; its failure
        // is still reported.
        if let Err(Err(e)) = reply.send(result) {
            tracing::error!(error = %e, "the journal could not record an operation");
        }
    })
}

/// Answers at once, before the commit (see [`Journal::insert`]).
fn answer_now<T: Send + 'static>(reply: Reply<T>, result: rusqlite::Result<T>) -> Ack {
    let _ = reply.send(result);
    Box::new(|_| {})
}

fn fail(batch: Vec<Op>, e: &rusqlite::Error) {
    let msg = e.to_string();
    for op in batch {
        let err = || rusqlite::Error::ToSqlConversionFailure(msg.clone().into());
        match op {
            Op::Insert(_, r) => drop(r.send(Err(err()))),
            Op::Done(_, _, r) | Op::Retry(_, _, _, r) | Op::Dead(_, _, _, r) | Op::Forget(_, r) => {
                drop(r.send(Err(err())))
            }
            Op::Pending(_, r) => drop(r.send(Err(err()))),
            Op::History(_, _, r) => drop(r.send(Err(err()))),
            Op::DeadLetters(_, r) => drop(r.send(Err(err()))),
            Op::Setting(_, _, r) => drop(r.send(Err(err()))),
            Op::State(_, r) => drop(r.send(Err(err()))),
            Op::Abandon(_, _, r) | Op::Reopen(_, _, r) => drop(r.send(Err(err()))),
        }
    }
}

/// Deletes handled and dead messages last touched before `before`.
fn prune(c: &Connection, before: i64) -> rusqlite::Result<usize> {
    let n = exec(
        c,
        "DELETE FROM messages WHERE state IN ('done', 'dead') AND updated < ?1",
        params![before],
    )?;
    exec(c, "DELETE FROM dead_letters WHERE at < ?1", params![before])?;
    Ok(n)
}

fn message(r: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(0)?,
        project: r.get(1)?,
        sender: r.get(2)?,
        recipient: r.get(3)?,
        kind: r.get(4)?,
        payload: r.get(5)?,
        depth: r.get(6)?,
        attempt: r.get(7)?,
    })
}

/// Messages waiting to be handled, and dead letters, over every project:
/// read on a connection of its own (in WAL mode a reader never holds up
/// the writer).
pub fn depth(c: &rusqlite::Connection) -> rusqlite::Result<(u64, u64)> {
    let has = |table: &str| -> rusqlite::Result<bool> {
        c.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            params![table],
            |r| r.get(0),
        )
    };
    // A host with no journal has neither table.
    if !has("messages")? || !has("dead_letters")? {
        return Ok((0, 0));
    }
    c.query_row(
        "SELECT (SELECT count(*) FROM messages WHERE state = 'pending'),
                (SELECT count(*) FROM dead_letters)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

fn state(kind: &str, reply: Option<String>, error: Option<String>) -> State {
    match kind {
        "done" => State::Done(reply.unwrap_or_default()),
        "dead" => State::Dead(error.unwrap_or_default()),
        _ => State::Pending,
    }
}

const COLUMNS: &str = "id, project, sender, recipient, kind, payload, depth, attempt";

fn full(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        Some(message),
    )
}

fn stored_state(c: &Connection, id: &str) -> rusqlite::Result<Option<State>> {
    row(
        c,
        "SELECT state, reply, last_error FROM messages WHERE id = ?1",
        params![id],
        |r| Ok(state(&r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}

fn apply(c: &Connection, op: Op, budget: &mut Budget) -> Ack {
    match op {
        Op::Insert(m, r) => {
            let result = (|| {
                let need = m.payload.len() as u64;
                if !budget.make_room(c, &m.project, need)? {
                    // Full, unless the message is already there.
                    if let Some(existing) = stored_state(c, &m.id)? {
                        return Ok(Some(existing));
                    }
                    return Err(full(format!(
                        "project `{}` keeps {} of messages not yet handled; the journal holds at most {} a project",
                        crate::text::clip(&m.project, 64),
                        crate::policy::Size(budget.used(c, &m.project)?),
                        crate::policy::Size(budget.limit)
                    )));
                }
                let t = now();
                let inserted = exec(
                    c,
                    "INSERT INTO messages (id, project, sender, recipient, kind, payload, depth, attempt, state, created, updated, bytes)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?9, ?10)
                     ON CONFLICT (id) DO NOTHING",
                    params![m.id, m.project, m.sender, m.recipient, m.kind, m.payload, m.depth, m.attempt, t, need as i64],
                )?;
                if inserted == 1 {
                    budget.change(&m.project, need, 0);
                    return Ok(None);
                }
                // Only a message sent again (after a crash, a retry) looks up
                // how it stands.
                stored_state(c, &m.id)
            })();
            answer_now(r, result)
        }
        Op::Done(id, reply, r) => {
            let result = (|| {
                // A message is marked done once; its size grows by the reply.
                // No RETURNING: SQLite gathers returned rows in a
                // temporary table of its own, which costs more than the
                // update; the project is read by key once the row changed.
                let changed = exec(
                    c,
                    "UPDATE messages SET state = 'done', reply = ?2, updated = ?3,
                         bytes = coalesce(bytes, length(CAST(payload AS BLOB))) + ?4
                         WHERE id = ?1 AND state != 'done'",
                    params![id, reply, now(), reply.len() as i64],
                )?;
                if changed == 1 {
                    let p: String = row(
                        c,
                        "SELECT project FROM messages WHERE id = ?1",
                        params![id],
                        |r| r.get(0),
                    )?;
                    budget.change(&p, reply.len() as u64, 0);
                    // The reply is kept whatever it costs; older handled
                    // messages make room for it.
                    budget.make_room(c, &p, 0)?;
                }
                Ok(())
            })();
            ack(r, result)
        }
        Op::Retry(id, attempt, error, r) => {
            let result = exec(
                c,
                "UPDATE messages SET attempt = ?2, last_error = ?3, updated = ?4 WHERE id = ?1",
                params![id, attempt, error, now()],
            )
            .map(drop);
            ack(r, result)
        }
        Op::Dead(id, error, keep, r) => {
            let result = (|| {
                let t = now();
                exec(
                    c,
                    "UPDATE messages SET state = 'dead', last_error = ?2, updated = ?3 WHERE id = ?1",
                    params![id, error, t],
                )?;
                if !keep {
                    return Ok(());
                }
                let copied: Option<(String, i64)> = row(c,
                        "INSERT OR REPLACE INTO dead_letters (id, project, recipient, kind, payload, attempts, error, at, bytes)
                         SELECT id, project, recipient, kind, payload, attempt + 1, ?2, ?3, length(CAST(payload AS BLOB))
                         FROM messages WHERE id = ?1
                         RETURNING project, bytes",
                        params![id, error, t],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if let Some((p, bytes)) = copied {
                    budget.change(&p, bytes.max(0) as u64, 0);
                    budget.make_room(c, &p, 0)?;
                }
                Ok(())
            })();
            ack(r, result)
        }
        Op::Forget(id, r) => {
            let result = row(
                c,
                &format!("DELETE FROM messages WHERE id = ?1 RETURNING project, {MESSAGE_BYTES}"),
                params![id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()
            .map(|gone| {
                if let Some((p, bytes)) = gone {
                    budget.change(&p, 0, bytes.max(0) as u64);
                }
            });
            ack(r, result)
        }
        Op::Pending(project, r) => {
            let result = (|| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM messages WHERE project = ?1 AND state = 'pending' ORDER BY created, rowid"
                ))?;
                let rows = stmt.query_map(params![project], message)?;
                rows.collect()
            })();
            ack(r, result)
        }
        Op::History(project, limit, r) => {
            let result = (|| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT * FROM (SELECT {COLUMNS}, state, reply, last_error, created, updated, rowid FROM messages
                     WHERE project = ?1 ORDER BY rowid DESC LIMIT ?2) ORDER BY rowid"
                ))?;
                let rows = stmt.query_map(params![project, limit], |r| {
                    Ok(Entry {
                        message: message(r)?,
                        state: state(&r.get::<_, String>(8)?, r.get(9)?, r.get(10)?),
                        last_error: r.get(10)?,
                        created: r.get(11)?,
                        updated: r.get(12)?,
                    })
                })?;
                rows.collect()
            })();
            ack(r, result)
        }
        Op::DeadLetters(project, r) => {
            let result = (|| {
                let mut stmt = c.prepare_cached(
                    "SELECT id, recipient, attempts, error FROM dead_letters WHERE project = ?1 ORDER BY at, rowid",
                )?;
                let rows = stmt.query_map(params![project], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?;
                rows.collect()
            })();
            ack(r, result)
        }
        Op::State(id, r) => ack(
            r,
            row(
                c,
                "SELECT state, reply, last_error FROM messages WHERE id = ?1",
                params![id],
                |r| Ok(state(&r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional(),
        ),
        Op::Abandon(project, reason, r) => ack(
            r,
            exec(
                c,
                "UPDATE messages SET state = 'dead', last_error = ?2, updated = ?3 WHERE project = ?1 AND state = 'pending'",
                params![project, reason, now()],
            ),
        ),
        Op::Reopen(project, keep, r) => {
            let result = exec(
                c,
                "UPDATE messages SET state = 'pending', updated = ?3,
                     bytes = coalesce(bytes, length(CAST(payload AS BLOB)) + coalesce(length(CAST(reply AS BLOB)), 0))
                         - coalesce(length(CAST(reply AS BLOB)), 0),
                     reply = NULL
                 WHERE project = ?1 AND state = 'done' AND id NOT IN (SELECT value FROM json_each(?2))",
                params![project, keep, now()],
            );
            // Counted afresh when next needed.
            budget.used.remove(&project);
            ack(r, result)
        }
        Op::Setting(key, value, r) => {
            let result = (|| {
                if let Some(v) = &value {
                    exec(
                        c,
                        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                        params![key, v],
                    )?;
                }
                row(
                    c,
                    "SELECT value FROM settings WHERE key = ?1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()
            })();
            ack(r, result)
        }
    }
}

impl Broker for Journal {
    /// Answers as soon as the row is written in the open transaction,
    /// before it commits: delivery need not wait for the disk. Operations
    /// commit in the order they are given, so the message's ack (and
    /// everything that follows from it) commits with it or after it; a
    /// message lost with a failed commit is sent again by its sender, which
    /// then has not finished either.
    fn enqueue<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<Option<State>, BrokerError>> {
        Box::pin(self.call(|r| Op::Insert(m.clone(), r)))
    }
    fn ack<'a>(&'a self, id: &'a str, reply: &'a str) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(self.call(|r| Op::Done(id.into(), reply.into(), r)))
    }
    /// Nobody waits for the answer; a failure to write is logged by the
    /// journal thread.
    fn ack_in_order(&self, id: &str, reply: String) -> Result<(), BrokerError> {
        let (tx, _) = oneshot::channel();
        self.ops
            .send(Op::Done(id.into(), reply, tx))
            .map_err(|_| BrokerError::Stopped)
    }
    fn nack<'a>(
        &'a self,
        id: &'a str,
        attempt: u32,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(self.call(move |r| Op::Retry(id.into(), attempt, error.into(), r)))
    }
    fn dead<'a>(
        &'a self,
        id: &'a str,
        error: &'a str,
        keep: bool,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(self.call(move |r| Op::Dead(id.into(), error.into(), keep, r)))
    }
    fn forget<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(self.call(|r| Op::Forget(id.into(), r)))
    }
    fn undelivered<'a>(
        &'a self,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Message>, BrokerError>> {
        Box::pin(self.call(|r| Op::Pending(project.into(), r)))
    }
    fn history<'a>(
        &'a self,
        project: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Entry>, BrokerError>> {
        Box::pin(self.call(move |r| Op::History(project.into(), limit, r)))
    }
    fn dead_letters<'a>(
        &'a self,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, BrokerError>> {
        Box::pin(self.call(|r| Op::DeadLetters(project.into(), r)))
    }
    fn state<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<State>, BrokerError>> {
        Box::pin(self.call(|r| Op::State(id.into(), r)))
    }
    fn abandon<'a>(
        &'a self,
        project: &'a str,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<usize, BrokerError>> {
        Box::pin(self.call(|r| Op::Abandon(project.into(), reason.into(), r)))
    }
    fn reopen<'a>(
        &'a self,
        project: &'a str,
        keep: &'a [String],
    ) -> BoxFuture<'a, Result<usize, BrokerError>> {
        let keep = serde_json::to_string(keep).unwrap_or_else(|_| "[]".into());
        Box::pin(self.call(|r| Op::Reopen(project.into(), keep, r)))
    }
    fn setting<'a>(
        &'a self,
        key: &'a str,
        value: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, BrokerError>> {
        Box::pin(self.call(move |r| Op::Setting(key.into(), value.map(str::to_string), r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Broker;

    fn message(id: &str) -> Message {
        Message {
            id: id.into(),
            project: "p".into(),
            sender: "user".into(),
            recipient: "worker".into(),
            kind: "work".into(),
            payload: "{}".into(),
            depth: 0,
            attempt: 0,
        }
    }

    #[tokio::test]
    async fn opening_prunes_handled_messages_older_than_the_retention() {
        let dir = tempfile::TempDir::new().unwrap();
        let db = dir.path().join("nexus.db");
        {
            let j = Journal::open(Some(&db), None, u64::MAX).unwrap();
            for id in ["old-done", "new-done", "old-pending"] {
                j.enqueue(&message(id)).await.unwrap();
            }
            j.ack("old-done", "{}").await.unwrap();
            j.ack("new-done", "{}").await.unwrap();
        }
        let c = Connection::open(&db).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        c.execute(
            "UPDATE messages SET updated = updated - 172800 WHERE id LIKE 'old-%'",
            [],
        )
        .unwrap();
        drop(c);

        let j = Journal::open(Some(&db), Some(Duration::from_secs(86_400)), u64::MAX).unwrap();
        let left: Vec<String> = j
            .history("p", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.message.id)
            .collect();
        // Undone work is never pruned, however old.
        assert_eq!(left, ["new-done", "old-pending"]);
    }

    fn sized(id: &str, bytes: usize) -> Message {
        Message {
            payload: format!("\"{}\"", "x".repeat(bytes - 2)),
            ..message(id)
        }
    }

    #[tokio::test]
    async fn a_flood_keeps_each_project_within_its_share() {
        let j = Journal::open(None, None, 10_000).unwrap();
        // Handled messages make room for new ones, oldest first.
        for i in 0..100 {
            let id = format!("m{i}");
            j.enqueue(&sized(&id, 1000)).await.unwrap();
            j.ack(&id, "{}").await.unwrap();
        }
        let left = j.history("p", 1000).await.unwrap();
        assert!(left.len() <= 10 && left.len() >= 8, "{}", left.len());
        assert_eq!(left.last().unwrap().message.id, "m99");

        // Undone messages are never dropped: once they fill the share, a new
        // one is refused.
        let mut accepted = 0;
        let err = loop {
            match j.enqueue(&sized(&format!("p{accepted}"), 1000)).await {
                Ok(_) => accepted += 1,
                Err(e) => break e,
            }
            assert!(accepted <= 10, "the share was never full");
        };
        assert!(matches!(err, BrokerError::Full(_)), "{err}");
        assert!(err.to_string().contains("holds at most"), "{err}");
        assert!(accepted >= 9, "{accepted}");
        assert_eq!(j.undelivered("p").await.unwrap().len(), accepted);
        // Another project has its own share.
        let mut other = sized("q0", 1000);
        other.project = "q".into();
        j.enqueue(&other).await.unwrap();
    }

    #[tokio::test]
    async fn the_count_survives_a_reopen() {
        let dir = tempfile::TempDir::new().unwrap();
        let db = dir.path().join("nexus.db");
        {
            let j = Journal::open(Some(&db), None, 5_000).unwrap();
            for i in 0..4 {
                j.enqueue(&sized(&format!("a{i}"), 1000)).await.unwrap();
            }
        }
        let j = Journal::open(Some(&db), None, 5_000).unwrap();
        j.enqueue(&sized("a4", 1000)).await.unwrap();
        assert!(matches!(
            j.enqueue(&sized("a5", 1000)).await,
            Err(BrokerError::Full(_))
        ));
    }
}
