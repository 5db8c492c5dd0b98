//! The `log` capability: structured lines from agents, attributed by the
//! host and escaped before they reach any output.
//!
//! - [`grant`]: the `[log]` section (the most detailed level allowed).
//! - [`host`]: the host impl, checking the grant and bounding the line.
//! - [`backend`]: the [`LogSink`] trait; [`backend::Tracing`] sends lines to
//!   the host's `tracing` subscriber.

pub mod backend;
pub mod grant;
pub mod host;

pub use backend::LogSink;
pub use host::{MAX_FIELDS, MAX_MESSAGE};
