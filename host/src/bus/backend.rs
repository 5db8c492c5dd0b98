//! The bus's backend: a [`Broker`] keeps a project's messages and their
//! fate. The host hands every message to it before delivery, acknowledges
//! it with its reply when its handler returns, asks for it again after a
//! failure (`nack`), gives up on it (`dead`), and after a restart takes
//! back what was never acknowledged (`undelivered`). It is also the
//! project's message history, its dead-letter queue and its settings.
//!
//! [`super::journal::Journal`] (SQLite) and [`super::jetstream::JetStream`]
//! (NATS JetStream) implement it.

use futures_util::future::BoxFuture;

/// A message as the broker keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// Why the broker failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The store behind the broker failed.
    #[error("the message store: {0}")]
    Store(String),
    #[error("the message store has stopped")]
    Stopped,
    /// The project's share of the store is used up by messages not yet
    /// handled (or the disk is full).
    #[error("{0}")]
    Full(String),
}

/// A dead letter: (message id, recipient, attempts, last error).
pub type DeadLetter = (String, String, u32, String);

/// Where a project's messages are kept between sending and handling.
///
/// Every operation on one broker takes effect in the order it was given:
/// an acknowledgement given after an enqueue is never kept without it.
pub trait Broker: Send + Sync {
    /// Keeps a new message; when one with the same id exists, keeps nothing
    /// and returns its state (so a message sent again is not delivered
    /// twice). [`BrokerError::Full`] when the project's share is used up.
    fn enqueue<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<Option<State>, BrokerError>>;
    /// Marks a message handled with its reply, once that is durable.
    fn ack<'a>(&'a self, id: &'a str, reply: &'a str) -> BoxFuture<'a, Result<(), BrokerError>>;
    /// [`Broker::ack`] without waiting: durable no later than anything
    /// given to the broker after it.
    fn ack_in_order(&self, id: &str, reply: String) -> Result<(), BrokerError>;
    /// Records a failed delivery (`attempt` so far) that will be tried again.
    fn nack<'a>(
        &'a self,
        id: &'a str,
        attempt: u32,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;
    /// Gives up on a message; with `keep`, copies it to the dead letters.
    fn dead<'a>(
        &'a self,
        id: &'a str,
        error: &'a str,
        keep: bool,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;
    /// Drops a message that was never delivered.
    fn forget<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), BrokerError>>;
    /// Messages of `project` not yet handled, oldest first: to deliver again
    /// after a restart.
    fn undelivered<'a>(
        &'a self,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Message>, BrokerError>>;
    /// The newest `limit` messages of `project`, oldest first.
    fn history<'a>(
        &'a self,
        project: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Entry>, BrokerError>>;
    /// The dead letters of `project`: (id, recipient, attempts, error).
    fn dead_letters<'a>(
        &'a self,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, BrokerError>>;
    /// Where the message `id` stands, if the broker has it.
    fn state<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<State>, BrokerError>>;
    /// Gives up on every message of `project` not yet handled; returns how
    /// many there were.
    fn abandon<'a>(
        &'a self,
        project: &'a str,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<usize, BrokerError>>;
    /// Marks every handled message of `project` whose id is not in `keep`
    /// as not handled, its reply dropped, so it is delivered again: what a
    /// project restored to an earlier checkpoint did after it is done
    /// again. Returns how many.
    fn reopen<'a>(
        &'a self,
        project: &'a str,
        keep: &'a [String],
    ) -> BoxFuture<'a, Result<usize, BrokerError>>;
    /// Reads (`value: None`) or writes a setting; returns the stored value.
    fn setting<'a>(
        &'a self,
        key: &'a str,
        value: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, BrokerError>>;
}
