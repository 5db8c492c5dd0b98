//! The memory backend: a knowledge base per tenant with full-text search.
//! Calls block (a database waits for the disk); the host impl makes them
//! on the blocking pool.

use crate::bindings::Error;
use crate::bindings::nexus::agent::memory::Hit;

/// A knowledge base of entries (key, text, tags), kept per tenant.
pub trait MemoryStore: Send + Sync {
    /// Adds or replaces the entry `key` of `tenant`, within the tenant's
    /// bounds (`quota-exceeded` past them).
    fn remember(
        &self,
        tenant: &str,
        agent: &str,
        key: &str,
        text: &str,
        tags: &[String],
    ) -> Result<(), Error>;
    /// The best `limit` entries of `tenant` for the words of `query`.
    fn recall(&self, tenant: &str, query: &str, limit: u32) -> Result<Vec<Hit>, Error>;
    /// Removes the entry `key` of `tenant`.
    fn forget(&self, tenant: &str, key: &str) -> Result<(), Error>;
}
