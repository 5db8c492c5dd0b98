//! The metrics host impl: checks the grant, and reports the disk of the
//! caller's project.

use crate::bindings::Error;
use crate::bindings::nexus::agent::metrics::{Host, HostSample};
use crate::task::TaskState;

impl Host for TaskState {
    async fn sample(&mut self) -> Result<HostSample, Error> {
        if !self.policy.metrics {
            return Err(Error::Denied(
                "the policy has no [metrics] section with sample = true".into(),
            ));
        }
        let root = self.project.as_ref().map(|p| p.root().to_path_buf());
        Ok(self.services().metrics.sample(root.as_deref()))
    }
}
