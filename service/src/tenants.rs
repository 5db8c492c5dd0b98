//! Tenants of the service and their API tokens. A token is 32 random bytes,
//! shown once when the tenant is added; only its sha256 is kept, so the
//! database alone lets nobody in.

use nexus::db::{Database, Step};
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;
use std::time::Duration;

/// The tenants' table, step by step (see [`nexus::db::migrate`]).
const STEPS: &[Step] = &[
    |c| {
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS tenants (
            name TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE,
            max_projects INTEGER NOT NULL, created INTEGER NOT NULL, revoked INTEGER)",
        )
    },
    // The other quotas came later; tenants from before get the defaults.
    |c| {
        let d = Limits::default();
        nexus::db::add_column(
            c,
            "tenants",
            "max_queued",
            &format!("INTEGER NOT NULL DEFAULT {}", d.max_queued),
        )?;
        nexus::db::add_column(c, "tenants", "tokens_per_day", "INTEGER")?;
        nexus::db::add_column(
            c,
            "tenants",
            "disk_bytes",
            &format!("INTEGER DEFAULT {}", d.disk_bytes.unwrap_or(0)),
        )?;
        let rate = d.rate.unwrap_or(Rate {
            count: 0,
            per: Duration::ZERO,
        });
        nexus::db::add_column(
            c,
            "tenants",
            "rate_count",
            &format!("INTEGER DEFAULT {}", rate.count),
        )?;
        nexus::db::add_column(
            c,
            "tenants",
            "rate_per_ms",
            &format!("INTEGER DEFAULT {}", rate.per.as_millis()),
        )
    },
];

/// Concurrent projects a tenant may run when nothing else is said (the
/// original system's default).
pub const DEFAULT_MAX_PROJECTS: u32 = 5;

/// Requests a tenant may make: `count` per `per`, in bursts of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => return write!(f, "{}/{}", self.count, humantime::format_duration(self.per)),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl std::str::FromStr for Rate {
    type Err = String;

    /// `10/s`, `600/min`, `1000/h`.
    fn from_str(s: &str) -> Result<Rate, String> {
        let bad = || {
            format!(
                "`{s}` is not a rate; write requests per second, minute or hour: 10/s, 600/min, 1000/h"
            )
        };
        let (count, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(bad());
        }
        Ok(Rate {
            count,
            per: Duration::from_secs(per),
        })
    }
}

impl serde::Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a tenant may use. `None` is no limit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Limits {
    /// Projects it may run at once.
    pub max_projects: u32,
    /// Projects that wait for a place once `max_projects` run; more are
    /// refused.
    pub max_queued: u32,
    /// LLM tokens (prompt and completion) over the last 24 hours.
    pub tokens_per_day: Option<u64>,
    /// Bytes its projects may take on disk.
    pub disk_bytes: Option<u64>,
    /// Requests it may make.
    pub rate: Option<Rate>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_projects: DEFAULT_MAX_PROJECTS,
            max_queued: 10,
            tokens_per_day: None,
            disk_bytes: Some(5 << 30),
            rate: Some(Rate {
                count: 20,
                per: Duration::from_secs(1),
            }),
        }
    }
}

/// A tenant, as requests see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tenant {
    pub name: String,
    pub limits: Limits,
    /// Seconds since the epoch.
    pub created: i64,
    /// When its token was revoked; it is let in no more.
    pub revoked: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error(
        "`{0}` is not a tenant name; use 1 to 64 lowercase letters, digits and dashes, starting with a letter"
    )]
    BadName(String),
    #[error("tenant `{0}` exists already")]
    Exists(String),
    #[error("no tenant `{0}`")]
    Unknown(String),
    #[error("{0}")]
    BadLimit(String),
    #[error("the tenants' database: {0}")]
    Store(#[from] rusqlite::Error),
}

/// The tenants, kept in the host's database.
#[derive(Clone)]
pub struct Tenants {
    db: Arc<Database>,
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn digest(token: &str) -> String {
    nexus::runtime::sha256_hex(token.as_bytes())
}

use nexus::db::now;

const COLUMNS: &str = "name, max_projects, created, revoked, max_queued, tokens_per_day, disk_bytes, rate_count, rate_per_ms";

fn tenant(r: &rusqlite::Row<'_>) -> rusqlite::Result<Tenant> {
    let rate = match (r.get::<_, Option<u32>>(7)?, r.get::<_, Option<u64>>(8)?) {
        (Some(count), Some(ms)) if count > 0 && ms > 0 => Some(Rate {
            count,
            per: Duration::from_millis(ms),
        }),
        _ => None,
    };
    Ok(Tenant {
        name: r.get(0)?,
        limits: Limits {
            max_projects: r.get(1)?,
            max_queued: r.get(4)?,
            tokens_per_day: r.get(5)?,
            disk_bytes: r.get(6)?,
            rate,
        },
        created: r.get(2)?,
        revoked: r.get(3)?,
    })
}

impl Tenants {
    pub fn open(db: Arc<Database>) -> Result<Tenants, TenantError> {
        db.with(|c| nexus::db::migrate(c, "tenants", STEPS))?;
        Ok(Tenants { db })
    }

    /// Adds a tenant with its limits and returns its token, which is not
    /// kept.
    pub fn add(&self, name: &str, limits: &Limits) -> Result<String, TenantError> {
        if !valid_name(name) {
            return Err(TenantError::BadName(nexus::text::clip(name, 64)));
        }
        if limits.max_projects == 0 {
            return Err(TenantError::BadLimit(
                "max_projects must be at least 1".into(),
            ));
        }
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let token = format!("nx_{}", nexus::text::hex(&bytes));
        let (rate_count, rate_ms) = limits.rate.map_or((None, None), |r| {
            (Some(r.count), Some(r.per.as_millis() as u64))
        });
        let added = self.db.with(|c| {
            c.execute(
                "INSERT INTO tenants (name, token_sha256, max_projects, created, max_queued,
                    tokens_per_day, disk_bytes, rate_count, rate_per_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (name) DO NOTHING",
                params![
                    name,
                    digest(&token),
                    limits.max_projects,
                    now(),
                    limits.max_queued,
                    limits.tokens_per_day,
                    limits.disk_bytes,
                    rate_count,
                    rate_ms
                ],
            )
        })?;
        if added == 0 {
            return Err(TenantError::Exists(name.to_string()));
        }
        Ok(token)
    }

    pub fn list(&self) -> Result<Vec<Tenant>, TenantError> {
        Ok(self.db.with(|c| {
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM tenants ORDER BY name"))?
                .query_map([], tenant)?
                .collect()
        })?)
    }

    /// Lets the tenant in no more. Its projects are kept.
    pub fn revoke(&self, name: &str) -> Result<(), TenantError> {
        let changed = self.db.with(|c| {
            c.execute(
                "UPDATE tenants SET revoked = coalesce(revoked, ?2) WHERE name = ?1",
                params![name, now()],
            )
        })?;
        if changed == 0 {
            return Err(TenantError::Unknown(nexus::text::clip(name, 64)));
        }
        Ok(())
    }

    /// The tenant's limits now (the defaults for a tenant that is gone).
    pub fn limits(&self, name: &str) -> rusqlite::Result<Limits> {
        Ok(self
            .db
            .with(|c| {
                c.prepare_cached(&format!("SELECT {COLUMNS} FROM tenants WHERE name = ?1"))?
                    .query_row(params![name], tenant)
                    .optional()
            })?
            .map(|t| t.limits)
            .unwrap_or_default())
    }

    /// The tenant whose token this is, unless it was revoked.
    pub fn authenticate(&self, token: &str) -> Result<Option<Tenant>, TenantError> {
        // Tokens are short; anything longer is no token of ours.
        if token.len() > 128 {
            return Ok(None);
        }
        Ok(self.db.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tenants WHERE token_sha256 = ?1 AND revoked IS NULL"
            ))?
            .query_row(params![digest(token)], tenant)
            .optional()
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenants() -> Tenants {
        Tenants::open(Database::open(None).unwrap()).unwrap()
    }

    #[test]
    fn a_token_lets_its_tenant_in_until_it_is_revoked() {
        let t = tenants();
        let token = t.add("acme", &Limits::default()).unwrap();
        assert_eq!(t.authenticate(&token).unwrap().unwrap().name, "acme");
        assert_eq!(t.authenticate("nx_wrong").unwrap(), None);
        t.revoke("acme").unwrap();
        assert_eq!(t.authenticate(&token).unwrap(), None);
        assert!(t.list().unwrap()[0].revoked.is_some());
    }

    #[test]
    fn only_the_tokens_digest_is_stored() {
        let t = tenants();
        let token = t.add("acme", &Limits::default()).unwrap();
        let stored: Vec<String> =
            t.db.with(|c| {
                c.prepare("SELECT * FROM tenants")?
                    .query_map([], |r| {
                        (0..9)
                            .map(|i| r.get::<_, Option<rusqlite::types::Value>>(i))
                            .collect::<rusqlite::Result<Vec<_>>>()
                            .map(|v| format!("{v:?}"))
                    })?
                    .collect()
            })
            .unwrap();
        assert!(!stored.iter().any(|row| row.contains(&token[3..])));
    }

    #[test]
    fn names_are_checked_and_unique() {
        let t = tenants();
        assert!(matches!(
            t.add("Acme Corp", &Limits::default()),
            Err(TenantError::BadName(_))
        ));
        assert!(matches!(
            t.add("", &Limits::default()),
            Err(TenantError::BadName(_))
        ));
        t.add("acme", &Limits::default()).unwrap();
        assert!(matches!(
            t.add("acme", &Limits::default()),
            Err(TenantError::Exists(_))
        ));
        assert!(matches!(t.revoke("nobody"), Err(TenantError::Unknown(_))));
    }

    #[test]
    fn rates_read_as_requests_per_second_minute_or_hour() {
        let r: Rate = "10/s".parse().unwrap();
        assert_eq!((r.count, r.per), (10, Duration::from_secs(1)));
        assert_eq!("600/min".parse::<Rate>().unwrap().to_string(), "600/min");
        assert_eq!(
            "5/h".parse::<Rate>().unwrap().per,
            Duration::from_secs(3600)
        );
        for bad in ["10", "0/s", "x/s", "10/fortnight", ""] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_tenant_keeps_its_limits() {
        let t = tenants();
        let limits = Limits {
            max_projects: 2,
            max_queued: 0,
            tokens_per_day: Some(1000),
            disk_bytes: None,
            rate: Some("3/min".parse().unwrap()),
        };
        let token = t.add("acme", &limits).unwrap();
        assert_eq!(t.authenticate(&token).unwrap().unwrap().limits, limits);
        let zero = Limits {
            max_projects: 0,
            ..Limits::default()
        };
        assert!(matches!(
            t.add("other", &zero),
            Err(TenantError::BadLimit(_))
        ));
    }
}
