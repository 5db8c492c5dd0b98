//! The sysinfo [`Sampler`]: one `System` and the disks, listed once; a
//! sample refreshes only the space of the disk it reports.

use super::backend::Sampler;
use crate::bindings::nexus::agent::metrics::HostSample;
use crate::sync::Recover;
use std::path::Path;
use std::sync::Mutex;
use sysinfo::{DiskRefreshKind, Disks, System};

pub struct Metrics {
    system: Mutex<System>,
    disks: Mutex<Disks>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut system = System::new();
        system.refresh_cpu_usage();
        system.refresh_memory();
        Metrics {
            system: Mutex::new(system),
            disks: Mutex::new(Disks::new_with_refreshed_list()),
        }
    }
}

impl Sampler for Metrics {
    fn sample(&self, path: Option<&Path>) -> HostSample {
        let mut sys = self.system.lock().recover();
        sys.refresh_cpu_usage();
        sys.refresh_memory();
        let (disk_free, disk_total) = path
            .and_then(|p| {
                let mut disks = self.disks.lock().recover();
                let disk = disks
                    .list_mut()
                    .iter_mut()
                    .filter(|d| p.starts_with(d.mount_point()))
                    .max_by_key(|d| d.mount_point().as_os_str().len())?;
                disk.refresh_specifics(DiskRefreshKind::nothing().with_storage());
                Some((disk.available_space(), disk.total_space()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_reports_the_disk_holding_the_path() {
        let m = Metrics::default();
        let dir = std::env::temp_dir();
        for _ in 0..2 {
            let s = m.sample(Some(&dir));
            assert!(s.disk_total_bytes > 0, "{s:?}");
            assert!(s.disk_free_bytes <= s.disk_total_bytes, "{s:?}");
            assert!(s.memory_total_bytes > 0 && s.cpus > 0, "{s:?}");
        }
        let none = m.sample(None);
        assert_eq!((none.disk_free_bytes, none.disk_total_bytes), (0, 0));
    }
}
