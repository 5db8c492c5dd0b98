//! The message journal: every bus message is written here before it is
//! delivered and marked done when its handler returns, so a host that was
//! killed can deliver again what was not done.
//!
//! One thread owns a SQLite connection (WAL, `synchronous = FULL`) and runs
//! every operation. Operations that queue up while a transaction commits are
//! written together in the next one (group commit), so durability costs one
//! fsync per batch rather than one per message. The journal is also the
//! history (`nexus messages`) and the dead-letter queue.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// A message as the journal keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub project: String,
    pub sender: String,
    pub recipient: String,
    pub kind: String,
    pub payload: String,
    /// Nesting of requests that led to it.
    pub depth: u32,
    /// Deliveries before this one.
    pub attempt: u32,
}

/// Where a message stands.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Pending,
    /// Handled; the reply (JSON of the outcome) is kept.
    Done(String),
    /// Given up on; the last error is kept.
    Dead(String),
}

/// A row of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub message: Message,
    pub state: State,
    pub created: i64,
    pub updated: i64,
    pub last_error: Option<String>,
}

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
    DeadLetters(String, Reply<Vec<(String, String, u32, String)>>),
    Setting(String, Option<String>, Reply<Option<String>>),
}

/// Why the journal failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("the journal database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("the journal thread has stopped")]
    Stopped,
}

pub struct Journal {
    ops: mpsc::Sender<Op>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

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

impl Journal {
    /// Opens the journal in the database at `path` (`None`: in memory).
    /// Opens (creating) the journal. With `retention`, handled and dead
    /// messages older than it are deleted first, so a host that is only
    /// ever started for runs still keeps its journal bounded.
    pub fn open(path: Option<&Path>, retention: Option<Duration>) -> Result<Journal, JournalError> {
        let conn = match path {
            Some(p) => Connection::open(p)?,
            None => Connection::open_in_memory()?,
        };
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        conn.pragma_update(None, "synchronous", "full")?;
        conn.execute_batch(SCHEMA)?;
        if let Some(age) = retention {
            let pruned = prune(&conn, now() - age.as_secs() as i64)?;
            if pruned > 0 {
                tracing::info!(pruned, "pruned handled messages older than the retention");
            }
        }
        let (tx, rx) = mpsc::channel::<Op>();
        std::thread::Builder::new()
            .name("nexus-journal".into())
            .spawn(move || run(conn, rx))
            .map_err(|_| JournalError::Stopped)?;
        Ok(Journal { ops: tx })
    }

    async fn call<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T, JournalError> {
        let (tx, rx) = oneshot::channel();
        self.ops.send(op(tx)).map_err(|_| JournalError::Stopped)?;
        Ok(rx.await.map_err(|_| JournalError::Stopped)??)
    }

    /// Writes a new message; when one with the same id exists, writes
    /// nothing and returns its state.
    pub async fn insert(&self, m: &Message) -> Result<Option<State>, JournalError> {
        self.call(|r| Op::Insert(m.clone(), r)).await
    }

    pub async fn done(&self, id: &str, reply: &str) -> Result<(), JournalError> {
        self.call(|r| Op::Done(id.into(), reply.into(), r)).await
    }

    /// Records a failed delivery that will be tried again.
    pub async fn retry(&self, id: &str, attempt: u32, error: &str) -> Result<(), JournalError> {
        self.call(|r| Op::Retry(id.into(), attempt, error.into(), r))
            .await
    }

    /// Marks a message failed for good and, with `keep`, copies it to the
    /// dead-letter queue.
    pub async fn dead(&self, id: &str, error: &str, keep: bool) -> Result<(), JournalError> {
        self.call(|r| Op::Dead(id.into(), error.into(), keep, r))
            .await
    }

    /// Removes a message that was never delivered (its mailbox was full).
    pub async fn forget(&self, id: &str) -> Result<(), JournalError> {
        self.call(|r| Op::Forget(id.into(), r)).await
    }

    /// Messages of `project` not yet done, oldest first.
    pub async fn pending(&self, project: &str) -> Result<Vec<Message>, JournalError> {
        self.call(|r| Op::Pending(project.into(), r)).await
    }

    /// The newest `limit` messages of `project`, oldest first.
    pub async fn history(&self, project: &str, limit: u32) -> Result<Vec<Entry>, JournalError> {
        self.call(|r| Op::History(project.into(), limit, r)).await
    }

    /// The dead letters of `project`: (id, recipient, attempts, error).
    pub async fn dead_letters(
        &self,
        project: &str,
    ) -> Result<Vec<(String, String, u32, String)>, JournalError> {
        self.call(|r| Op::DeadLetters(project.into(), r)).await
    }

    /// Reads (`value: None`) or writes a setting; returns the stored value.
    pub async fn setting(
        &self,
        key: &str,
        value: Option<&str>,
    ) -> Result<Option<String>, JournalError> {
        self.call(|r| Op::Setting(key.into(), value.map(str::to_string), r))
            .await
    }
}

/// Most operations written in one transaction.
const BATCH: usize = 512;

fn run(mut conn: Connection, rx: mpsc::Receiver<Op>) {
    while let Ok(first) = rx.recv() {
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
            done.push(apply(&tx, op));
        }
        // Acknowledge only after the batch is durable.
        match tx.commit() {
            Ok(()) => done.into_iter().for_each(|ack| ack(None)),
            Err(e) => {
                let msg = e.to_string();
                done.into_iter().for_each(|ack| ack(Some(msg.clone())));
            }
        }
    }
}

type Ack = Box<dyn FnOnce(Option<String>) + Send>;

fn ack<T: Send + 'static>(reply: Reply<T>, result: rusqlite::Result<T>) -> Ack {
    Box::new(move |commit_error: Option<String>| {
        let result = match commit_error {
            Some(e) => Err(rusqlite::Error::ToSqlConversionFailure(e.into())),
            None => result,
        };
        let _ = reply.send(result);
    })
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
        }
    }
}

/// Deletes handled and dead messages last touched before `before`.
fn prune(c: &Connection, before: i64) -> rusqlite::Result<usize> {
    let n = c.execute(
        "DELETE FROM messages WHERE state IN ('done', 'dead') AND updated < ?1",
        params![before],
    )?;
    c.execute("DELETE FROM dead_letters WHERE at < ?1", params![before])?;
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

fn state(kind: &str, reply: Option<String>, error: Option<String>) -> State {
    match kind {
        "done" => State::Done(reply.unwrap_or_default()),
        "dead" => State::Dead(error.unwrap_or_default()),
        _ => State::Pending,
    }
}

const COLUMNS: &str = "id, project, sender, recipient, kind, payload, depth, attempt";

fn apply(c: &Connection, op: Op) -> Ack {
    match op {
        Op::Insert(m, r) => {
            let result = (|| {
                let existing = c
                    .query_row(
                        "SELECT state, reply, last_error FROM messages WHERE id = ?1",
                        params![m.id],
                        |r| Ok(state(&r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?;
                if existing.is_none() {
                    let t = now();
                    c.execute(
                        "INSERT INTO messages (id, project, sender, recipient, kind, payload, depth, attempt, state, created, updated)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?9)",
                        params![m.id, m.project, m.sender, m.recipient, m.kind, m.payload, m.depth, m.attempt, t],
                    )?;
                }
                Ok(existing)
            })();
            ack(r, result)
        }
        Op::Done(id, reply, r) => {
            let result = c
                .execute(
                    "UPDATE messages SET state = 'done', reply = ?2, updated = ?3 WHERE id = ?1",
                    params![id, reply, now()],
                )
                .map(drop);
            ack(r, result)
        }
        Op::Retry(id, attempt, error, r) => {
            let result = c
                .execute(
                    "UPDATE messages SET attempt = ?2, last_error = ?3, updated = ?4 WHERE id = ?1",
                    params![id, attempt, error, now()],
                )
                .map(drop);
            ack(r, result)
        }
        Op::Dead(id, error, keep, r) => {
            let result = (|| {
                let t = now();
                c.execute(
                    "UPDATE messages SET state = 'dead', last_error = ?2, updated = ?3 WHERE id = ?1",
                    params![id, error, t],
                )?;
                if !keep {
                    return Ok(());
                }
                c.execute(
                    "INSERT OR REPLACE INTO dead_letters (id, project, recipient, kind, payload, attempts, error, at)
                     SELECT id, project, recipient, kind, payload, attempt + 1, ?2, ?3 FROM messages WHERE id = ?1",
                    params![id, error, t],
                )?;
                Ok(())
            })();
            ack(r, result)
        }
        Op::Forget(id, r) => ack(
            r,
            c.execute("DELETE FROM messages WHERE id = ?1", params![id])
                .map(drop),
        ),
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
        Op::Setting(key, value, r) => {
            let result = (|| {
                if let Some(v) = &value {
                    c.execute(
                        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                        params![key, v],
                    )?;
                }
                c.query_row(
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

#[cfg(test)]
mod tests {
    use super::*;

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
            let j = Journal::open(Some(&db), None).unwrap();
            for id in ["old-done", "new-done", "old-pending"] {
                j.insert(&message(id)).await.unwrap();
            }
            j.done("old-done", "{}").await.unwrap();
            j.done("new-done", "{}").await.unwrap();
        }
        let c = Connection::open(&db).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        c.execute(
            "UPDATE messages SET updated = updated - 172800 WHERE id LIKE 'old-%'",
            [],
        )
        .unwrap();
        drop(c);

        let j = Journal::open(Some(&db), Some(Duration::from_secs(86_400))).unwrap();
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
}
