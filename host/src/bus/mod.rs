//! The `bus` capability: requests, fan-out, fire-and-forget and topics
//! between the agents of one project.
//!
//! - [`grant`]: the `[bus]` section (request/send lists of agent ids,
//!   publish/subscribe topic patterns, message size, rate).
//! - [`host`]: the host impl, checking the grant with the sender stamped by
//!   the host.
//! - [`backend`]: the [`Broker`] trait that keeps messages between sending and
//!   handling; [`journal`] is its SQLite implementation and [`jetstream`]
//!   its NATS JetStream one (`[cluster] nats`). The project's mailboxes and
//!   workers (`project.rs`) deliver what the broker keeps.

pub mod backend;
pub mod grant;
pub mod host;
pub mod jetstream;
pub mod journal;

pub use backend::{Broker, BrokerError, Entry, Message, State};
pub use grant::{BusGrant, topic_matches, valid_pattern};
pub use host::{MAX_DEPTH, MAX_FANOUT};
