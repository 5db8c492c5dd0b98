//! The metrics backend: samples of the machine the host runs on.

use crate::bindings::nexus::agent::metrics::HostSample;
use std::path::Path;

/// Takes samples of the host machine.
pub trait Sampler: Send + Sync {
    /// A sample; disk figures are for the disk holding `path` (zero
    /// without one).
    fn sample(&self, path: Option<&Path>) -> HostSample;
}
