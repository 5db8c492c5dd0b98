//! Tenants of the service and their API tokens. A token is 32 random bytes,
//! shown once when the tenant is added; only its sha256 is kept, so the
//! database alone lets nobody in.

use crate::db::{Database, Step};
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;

/// The tenants' table, step by step (see [`crate::db::migrate`]).
const STEPS: &[Step] = &[|c| {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS tenants (
            name TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE,
            max_projects INTEGER NOT NULL, created INTEGER NOT NULL, revoked INTEGER)",
    )
}];

/// Concurrent projects a tenant may run when nothing else is said (the
/// original system's default).
pub const DEFAULT_MAX_PROJECTS: u32 = 5;

/// A tenant, as requests see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tenant {
    pub name: String,
    /// Projects it may run at once.
    pub max_projects: u32,
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
    crate::runtime::sha256_hex(token.as_bytes())
}

use crate::db::now;

fn tenant(r: &rusqlite::Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        name: r.get(0)?,
        max_projects: r.get(1)?,
        created: r.get(2)?,
        revoked: r.get(3)?,
    })
}

impl Tenants {
    pub fn open(db: Arc<Database>) -> Result<Tenants, TenantError> {
        db.with(|c| crate::db::migrate(c, "tenants", STEPS))?;
        Ok(Tenants { db })
    }

    /// Adds a tenant and returns its token, which is not kept.
    pub fn add(&self, name: &str, max_projects: u32) -> Result<String, TenantError> {
        if !valid_name(name) {
            return Err(TenantError::BadName(crate::text::clip(name, 64)));
        }
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let token = format!("nx_{}", crate::text::hex(&bytes));
        let added = self.db.with(|c| {
            c.execute(
                "INSERT INTO tenants (name, token_sha256, max_projects, created) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO NOTHING",
                params![name, digest(&token), max_projects, now()],
            )
        })?;
        if added == 0 {
            return Err(TenantError::Exists(name.to_string()));
        }
        Ok(token)
    }

    pub fn list(&self) -> Result<Vec<Tenant>, TenantError> {
        Ok(self.db.with(|c| {
            c.prepare_cached(
                "SELECT name, max_projects, created, revoked FROM tenants ORDER BY name",
            )?
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
            return Err(TenantError::Unknown(crate::text::clip(name, 64)));
        }
        Ok(())
    }

    /// The tenant whose token this is, unless it was revoked.
    pub fn authenticate(&self, token: &str) -> Result<Option<Tenant>, TenantError> {
        // Tokens are short; anything longer is no token of ours.
        if token.len() > 128 {
            return Ok(None);
        }
        Ok(self.db.with(|c| {
            c.prepare_cached(
                "SELECT name, max_projects, created, revoked FROM tenants
                 WHERE token_sha256 = ?1 AND revoked IS NULL",
            )?
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
        let token = t.add("acme", 3).unwrap();
        assert_eq!(t.authenticate(&token).unwrap().unwrap().name, "acme");
        assert_eq!(t.authenticate("nx_wrong").unwrap(), None);
        t.revoke("acme").unwrap();
        assert_eq!(t.authenticate(&token).unwrap(), None);
        assert!(t.list().unwrap()[0].revoked.is_some());
    }

    #[test]
    fn only_the_tokens_digest_is_stored() {
        let t = tenants();
        let token = t.add("acme", 3).unwrap();
        let stored: Vec<String> =
            t.db.with(|c| {
                c.prepare("SELECT * FROM tenants")?
                    .query_map([], |r| {
                        (0..5)
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
            t.add("Acme Corp", 1),
            Err(TenantError::BadName(_))
        ));
        assert!(matches!(t.add("", 1), Err(TenantError::BadName(_))));
        t.add("acme", 1).unwrap();
        assert!(matches!(t.add("acme", 1), Err(TenantError::Exists(_))));
        assert!(matches!(t.revoke("nobody"), Err(TenantError::Unknown(_))));
    }
}
