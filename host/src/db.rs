//! The host's SQLite layer: how every connection is opened (WAL,
//! `synchronous = FULL`, a busy timeout) and how each component's tables
//! are brought up to date ([`migrate`]). The knowledge base, LLM usage and
//! cache share one connection ([`Database`]); the message journal has its
//! own on its writer thread, opened the same way, whose commits a second
//! thread makes durable (see [`crate::bus::journal`]).

use crate::sync::Recover;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Opens (or creates) a database; `None` keeps it in memory.
pub fn connect(path: Option<&Path>) -> rusqlite::Result<Connection> {
    let conn = match path {
        Some(p) => Connection::open(p)?,
        None => Connection::open_in_memory()?,
    };
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.pragma_update(None, "synchronous", "full")?;
    Ok(conn)
}

/// Seconds since the epoch: how the host's tables keep time.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// One step of a component's schema.
pub type Step = fn(&Connection) -> rusqlite::Result<()>;

/// Brings `component`'s tables up to date: runs, in order, the steps it
/// has not run yet, each in its own transaction with the version it
/// reaches, so a step runs once per database. Steps also hold on a
/// database from before versions were kept (`CREATE ... IF NOT EXISTS`,
/// [`add_column`]).
pub fn migrate(c: &Connection, component: &str, steps: &[Step]) -> rusqlite::Result<()> {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    )?;
    for (i, step) in steps.iter().enumerate() {
        let version = i as i64 + 1;
        let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
        let done: i64 = tx
            .query_row(
                "SELECT version FROM schema_versions WHERE component = ?1",
                params![component],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if done >= version {
            continue;
        }
        step(&tx)?;
        tx.execute(
            "INSERT INTO schema_versions (component, version) VALUES (?1, ?2)
             ON CONFLICT (component) DO UPDATE SET version = ?2",
            params![component, version],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// Adds a column unless the table has it.
pub fn add_column(
    c: &Connection,
    table: &str,
    column: &str,
    declaration: &str,
) -> rusqlite::Result<()> {
    let present: bool = c.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
        params![table, column],
        |r| r.get(0),
    )?;
    if present {
        return Ok(());
    }
    c.execute_batch(&format!(
        "ALTER TABLE {table} ADD COLUMN {column} {declaration}"
    ))
}

/// The connection the knowledge base and the LLM records share. Statements
/// are short; callers run them on the blocking pool.
pub struct Database {
    conn: Mutex<Connection>,
}

impl Database {
    /// Opens (or creates) the database; `None` keeps it in memory.
    pub fn open(path: Option<&Path>) -> rusqlite::Result<Arc<Database>> {
        Ok(Arc::new(Database {
            conn: Mutex::new(connect(path)?),
        }))
    }

    /// Runs `f` with the connection.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let conn = self.conn.lock().recover();
        f(&conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(c: &Connection) -> rusqlite::Result<()> {
        c.execute_batch("CREATE TABLE IF NOT EXISTS t (a INTEGER); INSERT INTO t (a) VALUES (1)")
    }

    fn widen(c: &Connection) -> rusqlite::Result<()> {
        add_column(c, "t", "b", "INTEGER NOT NULL DEFAULT 0")
    }

    fn broken(c: &Connection) -> rusqlite::Result<()> {
        c.execute_batch("INSERT INTO t (a) VALUES (2); SELECT * FROM missing_table")
    }

    #[test]
    fn each_step_runs_once_and_a_failed_step_leaves_nothing() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("db");
        let c = connect(Some(&path)).unwrap();
        migrate(&c, "t", &[create, widen]).unwrap();
        migrate(&c, "t", &[create, widen]).unwrap();
        // The insert of the first step ran once.
        let rows: i64 = c
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        // A failing step is rolled back whole and not recorded.
        assert!(migrate(&c, "t", &[create, widen, broken]).is_err());
        let rows: i64 = c
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        let version: i64 = c
            .query_row(
                "SELECT version FROM schema_versions WHERE component = 't'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, 2);
    }

    #[test]
    fn a_database_from_before_versions_catches_up() {
        let c = connect(None).unwrap();
        // Tables written by a host that kept no versions, column included.
        c.execute_batch("CREATE TABLE t (a INTEGER, b INTEGER NOT NULL DEFAULT 0)")
            .unwrap();
        migrate(&c, "t", &[create, widen]).unwrap();
        let columns: i64 = c
            .query_row("SELECT COUNT(*) FROM pragma_table_info('t')", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(columns, 2);
    }
}
