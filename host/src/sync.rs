//! Locks a panic cannot put out of use, and waiting for an answer that is
//! usually microseconds away.
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

/// How long [`answer`] keeps its thread busy before it sleeps.
pub(crate) const LINGER: std::time::Duration = std::time::Duration::from_micros(50);

/// Waits for `rx`. An answer that comes within [`LINGER`] is taken
/// without the thread going to sleep (it yields to other tasks meanwhile);
/// waking a sleeping thread costs tens of microseconds, more than the work
/// behind most answers (a journal write, a short task).
pub(crate) async fn answer<T>(
    mut rx: tokio::sync::oneshot::Receiver<T>,
) -> Result<T, tokio::sync::oneshot::error::RecvError> {
    use tokio::sync::oneshot::error::TryRecvError;
    let since = std::time::Instant::now();
    loop {
        match rx.try_recv() {
            Ok(answer) => return Ok(answer),
            Err(TryRecvError::Empty) if since.elapsed() < LINGER => tokio::task::yield_now().await,
            Err(_) => return rx.await,
        }
    }
}
