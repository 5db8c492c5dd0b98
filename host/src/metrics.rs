//! The `metrics` capability: samples of the host machine.
//!
//! - grant: `[metrics] sample = true`.
//! - host impl: checks the grant.
//! - backend: [`Metrics`], a shared sysinfo `System`.

use crate::bindings::Error;
use crate::bindings::nexus::agent::metrics::{Host, HostSample};
use crate::task::TaskState;
use std::path::Path;
use std::sync::Mutex;
use sysinfo::{Disks, System};

pub struct Metrics {
    system: Mutex<System>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut system = System::new();
        system.refresh_cpu_usage();
        system.refresh_memory();
        Metrics {
            system: Mutex::new(system),
        }
    }
}

impl Metrics {
    /// A sample; disk figures are for the disk holding `path`.
    pub fn sample(&self, path: Option<&Path>) -> HostSample {
        let mut sys = self.system.lock().unwrap();
        sys.refresh_cpu_usage();
        sys.refresh_memory();
        let (disk_free, disk_total) = path
            .and_then(|p| {
                let disks = Disks::new_with_refreshed_list();
                disks
                    .list()
                    .iter()
                    .filter(|d| p.starts_with(d.mount_point()))
                    .max_by_key(|d| d.mount_point().as_os_str().len())
                    .map(|d| (d.available_space(), d.total_space()))
            })
            .unwrap_or((0, 0));
        HostSample {
            cpu_percent: sys.global_cpu_usage(),
            cpus: sys.cpus().len() as u32,
            memory_used_bytes: sys.used_memory(),
            memory_total_bytes: sys.total_memory(),
            disk_free_bytes: disk_free,
            disk_total_bytes: disk_total,
            load_one: System::load_average().one,
        }
    }
}

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
