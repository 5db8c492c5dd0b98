//! The SQLite [`MemoryStore`]: entries in a table, an FTS5 index over
//! them, and each tenant's count and bytes.

use super::backend::MemoryStore;
use crate::bindings::Error;
use crate::bindings::nexus::agent::memory::Hit;
use crate::config::MemoryConfig;
use crate::db::Database;
use crate::policy::Size;
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;

/// Most hits one recall returns.
pub const MAX_HITS: u32 = 100;

/// The knowledge base's schema, step by step (see [`crate::db::migrate`]).
const STEPS: &[crate::db::Step] = &[|c| {
    c.execute_batch(
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
    )
}];

/// SQLite-backed knowledge base.
pub struct SqliteMemory {
    db: Arc<Database>,
    bounds: MemoryConfig,
}

fn db_error(e: rusqlite::Error) -> Error {
    Error::Internal(format!("knowledge base: {e}"))
}

impl SqliteMemory {
    /// Creates the store's tables when they are missing.
    pub fn open(db: Arc<Database>, bounds: MemoryConfig) -> rusqlite::Result<SqliteMemory> {
        db.with(|c| crate::db::migrate(c, "memory", STEPS))?;
        Ok(SqliteMemory { db, bounds })
    }
}

impl MemoryStore for SqliteMemory {
    fn remember(
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

    fn recall(&self, tenant: &str, query: &str, limit: u32) -> Result<Vec<Hit>, Error> {
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

    fn forget(&self, tenant: &str, key: &str) -> Result<(), Error> {
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
