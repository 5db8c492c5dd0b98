//! The `memory` capability: a knowledge base per tenant with full-text
//! search.
//!
//! - [`grant`]: the `[memory]` section (recall, remember, largest entry).
//! - [`host`]: the host impl; the tenant comes from the caller stamp.
//! - [`backend`]: the [`MemoryStore`] trait; [`sqlite`] is its
//!   implementation (SQLite with an FTS5 index).

pub mod backend;
pub mod grant;
pub mod host;
pub mod sqlite;

pub use backend::MemoryStore;
pub use sqlite::{MAX_HITS, SqliteMemory};
