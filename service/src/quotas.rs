//! What a tenant may do now: its request rate, LLM tokens over the last
//! day, the disk its projects take, and the count of what was refused.
//! The projects a tenant runs and queues are counted where they are
//! admitted ([`super::projects`]), in the same transaction.

use super::tenants::{Limits, Rate};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nexus::sync::Recover;

/// The window `tokens_per_day` counts over.
pub const DAY: i64 = 24 * 3600;

/// A quota a request went beyond: which one, why, and when to try again.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// `max_projects`, `tokens_per_day`, `disk_bytes` or `rate`.
    pub quota: &'static str,
    pub message: String,
    pub retry_after: Duration,
}

/// Each tenant's request rate, and the refusals of every quota since the
/// service started.
#[derive(Default)]
pub struct Quotas {
    limiters: Mutex<HashMap<String, (Rate, Arc<DefaultDirectRateLimiter>)>>,
    refusals: Mutex<HashMap<(String, &'static str), u64>>,
    clock: DefaultClock,
}

impl Quotas {
    /// Takes one request of `tenant` at `rate`, or says when it may come.
    pub fn take(&self, tenant: &str, rate: Option<Rate>) -> Result<(), Refusal> {
        let Some(rate) = rate else {
            return Ok(());
        };
        let limiter = {
            let mut limiters = self.limiters.lock().recover();
            match limiters.get(tenant) {
                // A changed rate starts a fresh limiter.
                Some((r, l)) if *r == rate => l.clone(),
                _ => {
                    let l = Arc::new(DefaultDirectRateLimiter::direct(quota(rate)));
                    limiters.insert(tenant.to_string(), (rate, l.clone()));
                    l
                }
            }
        };
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            self.refused(tenant, "rate");
            Refusal {
                quota: "rate",
                message: format!("tenant `{tenant}` may make {rate} requests; slow down"),
                retry_after: wait,
            }
        })
    }

    /// Counts a refusal of `quota` for `tenant`.
    pub fn refused(&self, tenant: &str, quota: &'static str) {
        *self
            .refusals
            .lock()
            .recover()
            .entry((tenant.to_string(), quota))
            .or_default() += 1;
    }

    /// The tenant's refusals by quota.
    pub fn refusals_of(&self, tenant: &str) -> HashMap<&'static str, u64> {
        self.refusals
            .lock()
            .recover()
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, q), n)| (*q, *n))
            .collect()
    }

    /// Every tenant's refusals: (tenant, quota, count).
    pub fn refusals(&self) -> Vec<(String, &'static str, u64)> {
        let mut all: Vec<_> = self
            .refusals
            .lock()
            .recover()
            .iter()
            .map(|((t, q), n)| (t.clone(), *q, *n))
            .collect();
        all.sort();
        all
    }
}

fn quota(rate: Rate) -> Quota {
    let count = NonZeroU32::new(rate.count.max(1)).unwrap_or(NonZeroU32::MIN);
    let period = (rate.per / count.get()).max(Duration::from_nanos(1));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(count))
        .allow_burst(count)
}

/// Whether a new project fits the tenant's daily tokens and disk, given
/// `tokens` used over the last day (the earliest at `earliest`) and `disk`
/// bytes its projects take.
pub fn check_usage(
    tenant: &str,
    limits: &Limits,
    tokens: u64,
    earliest: Option<i64>,
    disk: u64,
    now: i64,
) -> Result<(), Refusal> {
    if let Some(max) = limits.tokens_per_day
        && tokens >= max
    {
        // Room comes back as the earliest call of the window ages out.
        let back = earliest.map_or(3600, |at| (at + DAY - now).clamp(1, DAY));
        return Err(Refusal {
            quota: "tokens_per_day",
            message: format!(
                "tenant `{tenant}` used {tokens} LLM tokens over the last 24 hours; its quota tokens_per_day is {max}"
            ),
            retry_after: Duration::from_secs(back as u64),
        });
    }
    if let Some(max) = limits.disk_bytes
        && disk >= max
    {
        return Err(Refusal {
            quota: "disk_bytes",
            message: format!(
                "tenant `{tenant}`'s projects take {}; its quota disk_bytes is {}; delete projects to make room",
                bytesize::ByteSize(disk),
                bytesize::ByteSize(max)
            ),
            retry_after: Duration::from_secs(3600),
        });
    }
    Ok(())
}

/// Bytes of the files under `dir` (links are not followed; a missing
/// directory is empty).
pub fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_lets_its_burst_through_then_says_when() {
        let q = Quotas::default();
        let rate: Rate = "3/min".parse().unwrap();
        for _ in 0..3 {
            q.take("acme", Some(rate)).unwrap();
        }
        let refused = q.take("acme", Some(rate)).unwrap_err();
        assert_eq!(refused.quota, "rate");
        assert!(refused.retry_after > Duration::from_secs(10));
        assert!(refused.retry_after <= Duration::from_secs(20));
        // Another tenant has its own.
        q.take("other", Some(rate)).unwrap();
        assert_eq!(q.refusals_of("acme").get("rate"), Some(&1));
        assert!(q.refusals_of("other").is_empty());
    }

    #[test]
    fn tokens_and_disk_are_checked_against_the_limits() {
        let limits = Limits {
            tokens_per_day: Some(100),
            disk_bytes: Some(1000),
            ..Limits::default()
        };
        check_usage("a", &limits, 99, Some(0), 999, 10).unwrap();
        let t = check_usage("a", &limits, 100, Some(1000), 0, 2000).unwrap_err();
        assert_eq!(t.quota, "tokens_per_day");
        assert_eq!(t.retry_after, Duration::from_secs((DAY - 1000) as u64));
        let d = check_usage("a", &limits, 0, None, 1000, 0).unwrap_err();
        assert_eq!(d.quota, "disk_bytes");
        let none = Limits {
            tokens_per_day: None,
            disk_bytes: None,
            ..Limits::default()
        };
        check_usage("a", &none, u64::MAX, None, u64::MAX, 0).unwrap();
    }

    #[test]
    fn disk_usage_counts_files_below() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/x"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join("a/b/y"), [0u8; 5]).unwrap();
        assert_eq!(disk_usage(dir.path()), 15);
        assert_eq!(disk_usage(&dir.path().join("missing")), 0);
    }
}
