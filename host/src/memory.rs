//! The `memory` capability: a knowledge base per tenant with full-text
//! search.
//!
//! - grant: `[memory]` recall / remember and the largest entry ([`MemoryGrant`]).
//! - host impl: checks the grant; the tenant comes from the caller stamp.
//! - backend: [`MemoryStore`], SQLite with an FTS5 index.

use crate::bindings::Error;
use crate::bindings::nexus::agent::memory::{Hit, Host};
use crate::config::MemoryConfig;
use crate::db::Database;
use crate::policy::{MemoryGrant, Size};
use crate::task::TaskState;
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;

/// Most hits one recall returns.
pub const MAX_HITS: u32 = 100;

/// SQLite-backed knowledge base.
pub struct MemoryStore {
    db: Arc<Database>,
    bounds: MemoryConfig,
}

fn db_error(e: rusqlite::Error) -> Error {
    Error::Internal(format!("knowledge base: {e}"))
}

impl MemoryStore {
    /// Creates the store's tables when they are missing.
    pub fn open(db: Arc<Database>, bounds: MemoryConfig) -> rusqlite::Result<MemoryStore> {
        db.with(|c| c.execute_batch(
            "CREATE TABLE IF NOT EXISTS memory (
                 tenant TEXT NOT NULL, key TEXT NOT NULL, text TEXT NOT NULL, tags TEXT NOT NULL,
                 agent TEXT NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (tenant, key));
             CREATE VIRTUAL TABLE IF NOT EXISTS memory_fts USING fts5(
                 text, tags, content='memory', content_rowid='rowid');
             CREATE TRIGGER IF NOT EXISTS memory_ai AFTER INSERT ON memory BEGIN
                 INSERT INTO memory_fts(rowid, text, tags) VALUES (new.rowid, new.text, new.tags); END;
             CREATE TRIGGER IF NOT EXISTS memory_ad AFTER DELETE ON memory BEGIN
                 INSERT INTO memory_fts(memory_fts, rowid, text, tags) VALUES ('delete', old.rowid, old.text, old.tags); END;
             CREATE TRIGGER IF NOT EXISTS memory_au AFTER UPDATE ON memory BEGIN
                 INSERT INTO memory_fts(memory_fts, rowid, text, tags) VALUES ('delete', old.rowid, old.text, old.tags);
                 INSERT INTO memory_fts(rowid, text, tags) VALUES (new.rowid, new.text, new.tags); END;
             CREATE TABLE IF NOT EXISTS memory_usage (
                 tenant TEXT PRIMARY KEY, entries INTEGER NOT NULL, bytes INTEGER NOT NULL);",
        ))?;
        Ok(MemoryStore { db, bounds })
    }

    pub fn remember(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
        text: &str,
        tags: &[String],
    ) -> Result<(), Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let tags = tags.join(" ");
        let size = (text.len() + tags.len()) as i64;
        let bounds = self.bounds;
        self.db
            .with(|c| {
                let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
                let (entries, bytes) = usage(&tx, tenant)?;
                let old: Option<i64> = tx
                    .query_row(
                        "SELECT length(CAST(text AS BLOB)) + length(CAST(tags AS BLOB)) FROM memory
                         WHERE tenant = ?1 AND key = ?2",
                        params![tenant, key],
                        |r| r.get(0),
                    )
                    .optional()?;
                let entries = entries + i64::from(old.is_none());
                let bytes = bytes - old.unwrap_or(0) + size;
                if entries as u64 > bounds.max_entries || bytes.max(0) as u64 > bounds.max_bytes {
                    return Ok(Err(Error::QuotaExceeded(format!(
                        "the knowledge base would hold {entries} entries, {}; it holds at most {} entries, {} a tenant",
                        Size(bytes.max(0) as u64),
                        bounds.max_entries,
                        Size(bounds.max_bytes)
                    ))));
                }
                tx.execute(
                    "INSERT INTO memory (tenant, key, text, tags, agent, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (tenant, key) DO UPDATE SET text = ?3, tags = ?4, agent = ?5, updated = ?6",
                    params![tenant, key, text, tags, agent, now],
                )?;
                set_usage(&tx, tenant, entries, bytes)?;
                tx.commit()?;
                Ok(Ok(()))
            })
            .map_err(db_error)?
    }

    pub fn recall(&self, tenant: &str, query: &str, limit: u32) -> Result<Vec<Hit>, Error> {
        // Guest text never reaches FTS5's query syntax: each word becomes a
        // quoted phrase, OR-ed together.
        let terms: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| !w.is_empty())
            .take(32)
            .map(|w| format!("\"{w}\""))
            .collect();
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .with(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT m.key, m.text, m.tags, -bm25(memory_fts) FROM memory_fts
                     JOIN memory m ON m.rowid = memory_fts.rowid
                     WHERE memory_fts MATCH ?1 AND m.tenant = ?2 ORDER BY bm25(memory_fts) LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![terms.join(" OR "), tenant, limit.min(MAX_HITS)], |r| {
                    let tags: String = r.get(2)?;
                    Ok(Hit {
                        key: r.get(0)?,
                        text: r.get(1)?,
                        tags: tags.split_whitespace().map(str::to_string).collect(),
                        score: r.get(3)?,
                    })
                })?;
                rows.collect::<Result<_, _>>()
            })
            .map_err(db_error)
    }

    pub fn forget(&self, tenant: &str, key: &str) -> Result<(), Error> {
        let deleted = self
            .db
            .with(|c| {
                let tx = rusqlite::Transaction::new_unchecked(
                    c,
                    rusqlite::TransactionBehavior::Immediate,
                )?;
                let (entries, bytes) = usage(&tx, tenant)?;
                let gone: Option<i64> = tx
                    .query_row(
                        "DELETE FROM memory WHERE tenant = ?1 AND key = ?2
                         RETURNING length(CAST(text AS BLOB)) + length(CAST(tags AS BLOB))",
                        params![tenant, key],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(size) = gone {
                    set_usage(&tx, tenant, entries - 1, bytes - size)?;
                }
                tx.commit()?;
                Ok(usize::from(gone.is_some()))
            })
            .map_err(db_error)?;
        if deleted == 0 {
            return Err(Error::NotFound(format!(
                "no memory entry `{}`",
                crate::text::clip(key, 128)
            )));
        }
        Ok(())
    }
}

/// Entries and bytes `tenant` holds: from `memory_usage`, counted from the
/// entries themselves the first time.
fn usage(c: &rusqlite::Connection, tenant: &str) -> rusqlite::Result<(i64, i64)> {
    let kept = c
        .query_row(
            "SELECT entries, bytes FROM memory_usage WHERE tenant = ?1",
            params![tenant],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match kept {
        Some(u) => Ok(u),
        None => c.query_row(
            "SELECT count(*), coalesce(sum(length(CAST(text AS BLOB)) + length(CAST(tags AS BLOB))), 0)
             FROM memory WHERE tenant = ?1",
            params![tenant],
            |r| Ok((r.get(0)?, r.get(1)?)),
        ),
    }
}

fn set_usage(
    c: &rusqlite::Connection,
    tenant: &str,
    entries: i64,
    bytes: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO memory_usage (tenant, entries, bytes) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant) DO UPDATE SET entries = ?2, bytes = ?3",
        params![tenant, entries.max(0), bytes.max(0)],
    )?;
    Ok(())
}

/// Runs `f` on the knowledge base on tokio's blocking pool: SQLite waits
/// for the disk and for the connection, and neither may hold up the async
/// threads other tasks run on.
async fn off_the_reactor<T: Send + 'static>(
    runtime: std::sync::Arc<crate::runtime::Runtime>,
    f: impl FnOnce(&MemoryStore) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(move || f(&runtime.services().memory))
        .await
        .map_err(|e| Error::Internal(format!("knowledge base: {e}")))?
}

impl TaskState {
    fn memory_grant(&self) -> Result<&MemoryGrant, Error> {
        if self.project.is_none() {
            return Err(Error::Denied("describe() may not use memory".into()));
        }
        self.policy
            .memory
            .as_ref()
            .ok_or_else(|| Error::Denied("the policy has no [memory] section".into()))
    }
}

impl Host for TaskState {
    async fn remember(
        &mut self,
        key: String,
        text: String,
        tags: Vec<String>,
    ) -> Result<(), Error> {
        let grant = self.memory_grant()?;
        if !grant.remember {
            return Err(Error::Denied("memory.remember is not granted".into()));
        }
        if key.is_empty() || key.len() > 256 {
            return Err(Error::Invalid("key must be 1 to 256 bytes".into()));
        }
        let size = (text.len() + tags.iter().map(String::len).sum::<usize>()) as u64;
        if size > grant.max_entry {
            return Err(Error::QuotaExceeded(format!(
                "the entry is {}; memory.max_entry is {}",
                Size(size),
                Size(grant.max_entry)
            )));
        }
        if tags.len() > 32
            || tags
                .iter()
                .any(|t| t.is_empty() || t.contains(char::is_whitespace))
        {
            return Err(Error::Invalid(
                "tags must be at most 32 words without spaces".into(),
            ));
        }
        let (tenant, agent) = (self.caller.tenant.clone(), self.caller.agent.clone());
        off_the_reactor(self.runtime.clone(), move |m| {
            m.remember(&tenant, &agent, &key, &text, &tags)
        })
        .await
    }

    async fn recall(&mut self, query: String, limit: u32) -> Result<Vec<Hit>, Error> {
        let grant = self.memory_grant()?;
        if !grant.recall {
            return Err(Error::Denied("memory.recall is not granted".into()));
        }
        if query.len() > 4096 {
            return Err(Error::Invalid("query is longer than 4096 bytes".into()));
        }
        let tenant = self.caller.tenant.clone();
        off_the_reactor(self.runtime.clone(), move |m| {
            m.recall(&tenant, &query, limit)
        })
        .await
    }

    async fn forget(&mut self, key: String) -> Result<(), Error> {
        let grant = self.memory_grant()?;
        if !grant.remember {
            return Err(Error::Denied("memory.remember is not granted".into()));
        }
        let tenant = self.caller.tenant.clone();
        off_the_reactor(self.runtime.clone(), move |m| m.forget(&tenant, &key)).await
    }
}
