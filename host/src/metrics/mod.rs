//! The `metrics` capability: samples of the host machine.
//!
//! - [`grant`]: the `[metrics]` section (`sample = true`).
//! - [`host`]: the host impl, checking the grant.
//! - [`backend`]: the [`Sampler`] trait; [`machine`] is its sysinfo
//!   implementation.

pub mod backend;
pub mod grant;
pub mod host;
pub mod machine;

pub use backend::Sampler;
pub use machine::Metrics;
