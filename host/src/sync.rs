//! Locks a panic cannot put out of use, waiting for an answer that is
//! usually microseconds away, and blocking work kept off the async threads.
//!
//! A thread that panics while it holds a `std` lock poisons it, and every
//! later `lock().unwrap()` panics too: one bug would take a whole project
//! (or the host) down with it. The state behind the host's locks (maps of
//! agents, mailboxes and waiters, counters, the circuit) stays valid when
//! an update is cut short, so the guard is taken back instead.

use std::sync::{LockResult, PoisonError};

/// Takes the guard whether or not the lock was poisoned.
pub trait Recover<G> {
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

/// Runs `work` (file or database calls) on tokio's blocking pool: a slow
/// disk or a busy connection never holds up the async threads other tasks
/// run on, nor a task's wall-time deadline. A task that ends meanwhile
/// leaves the work to finish on its own. `what` names it in the error when
/// the work panicked.
pub async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, crate::bindings::Error> + Send + 'static,
) -> Result<T, crate::bindings::Error> {
    off_thread(work, |e| {
        crate::bindings::Error::Internal(format!("{what}: {e}"))
    })
    .await
}

/// [`blocking`] with the caller's own error; `panicked` makes one of the
/// work's panic.
pub async fn off_thread<T: Send + 'static, E: Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
    panicked: impl FnOnce(tokio::task::JoinError) -> E,
) -> Result<T, E> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(panicked(e)))
}

/// Asks long work (a generation, a project's tasks) to stop. Clones share
/// one flag; stopping is for good.
#[derive(Clone, Debug)]
pub struct Stop(std::sync::Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Stop {
    fn default() -> Stop {
        Stop(std::sync::Arc::new(tokio::sync::watch::channel(false).0))
    }
}

impl Stop {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once [`Stop::stop`] is called.
    pub async fn stopped(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so this only ends when stopped.
        let _ = rx.wait_for(|s| *s).await;
    }
}
