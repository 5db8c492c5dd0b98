//! Locks a panic cannot put out of use.
//!
//! A thread that panics while it holds a `std` lock poisons it, and every
//! later `lock().unwrap()` panics too: one bug would take a whole project
//! (or the host) down with it. The state behind the host's locks (maps of
//! agents, mailboxes and waiters, counters, the circuit) stays valid when
//! an update is cut short, so the guard is taken back instead.

use std::sync::{LockResult, PoisonError};

/// Takes the guard whether or not the lock was poisoned.
pub(crate) trait Recover<G> {
    fn recover(self) -> G;
}

impl<G> Recover<G> for LockResult<G> {
    fn recover(self) -> G {
        self.unwrap_or_else(PoisonError::into_inner)
    }
}
