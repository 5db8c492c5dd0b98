//! The metrics host impl: checks the grant, and reports the disk of the
//! caller's project.

use super::backend::Sampler;
use crate::bindings::Error;
use crate::bindings::nexus::agent::metrics::{Host, HostSample};
use std::path::Path;

/// What the metrics host impl sees of a task: its grant, its project's
/// directory and the sampler.
pub struct MetricsView<'a> {
    pub granted: bool,
    /// `None` while the agent describes itself.
    pub root: Option<&'a Path>,
    pub sampler: &'a dyn Sampler,
}

/// Links the metrics host impl to a store's [`MetricsView`].
pub struct HasMetrics;

impl wasmtime::component::HasData for HasMetrics {
    type Data<'a> = MetricsView<'a>;
}

impl Host for MetricsView<'_> {
    async fn sample(&mut self) -> Result<HostSample, Error> {
        if !self.granted {
            return Err(Error::Denied(
                "the policy has no [metrics] section with sample = true".into(),
            ));
        }
        Ok(self.sampler.sample(self.root))
    }
}
