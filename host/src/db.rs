//! The host's SQLite database: knowledge base, LLM usage and response
//! cache (and, later, the message journal). WAL mode, one connection behind
//! a mutex; statements are short.

use crate::sync::Recover;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub struct Database {
    conn: Mutex<Connection>,
}

impl Database {
    /// Opens (or creates) the database; `None` keeps it in memory.
    pub fn open(path: Option<&Path>) -> rusqlite::Result<Arc<Database>> {
        let conn = match path {
            Some(p) => Connection::open(p)?,
            None => Connection::open_in_memory()?,
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        conn.pragma_update(None, "synchronous", "normal")?;
        Ok(Arc::new(Database {
            conn: Mutex::new(conn),
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
