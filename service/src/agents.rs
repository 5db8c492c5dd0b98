//! Community agents: a tenant's own `.wasm` components, each run under its
//! policy exactly as confined as a built-in agent. An upload is checked, in
//! order: the file is a component of the `nexus:agent` world, its policy
//! parses, the policy stays inside the operator's [`Ceiling`], and the
//! component says it is the agent the policy is for. The server pins the
//! build's sha256: the agent runs only as uploaded.

use nexus::db::{Database, Step, now};
use nexus::policy::Policy;
use nexus::runtime::Runtime;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const STEPS: &[Step] = &[|c| {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS service_agents (
            id TEXT PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL,
            size INTEGER NOT NULL, policy TEXT NOT NULL, created INTEGER NOT NULL,
            version TEXT NOT NULL, description TEXT NOT NULL, handles TEXT NOT NULL,
            UNIQUE (tenant, name))",
    )
}];

/// Largest component a tenant may upload.
pub const MAX_COMPONENT: usize = 32 << 20;
/// Largest policy.
pub const MAX_POLICY: usize = 64 << 10;

/// What an uploaded agent's policy may grant at most: the operator's
/// setting for every tenant.
#[derive(Debug, Clone)]
pub struct Ceiling {
    pub memory: u64,
    pub cpu_time: Duration,
    pub wall_time: Duration,
    pub concurrent_tasks: u32,
    /// Bytes the agent may write into a project.
    pub workspace_bytes: u64,
    /// Model roles it may use (none unless the operator allows some).
    pub llm_roles: Vec<String>,
}

impl Default for Ceiling {
    fn default() -> Ceiling {
        Ceiling {
            memory: 64 << 20,
            cpu_time: Duration::from_secs(10),
            wall_time: Duration::from_secs(60),
            concurrent_tasks: 4,
            workspace_bytes: 64 << 20,
            llm_roles: Vec::new(),
        }
    }
}

impl Ceiling {
    /// Why `policy` goes beyond the ceiling, one reason per excess; empty
    /// when it stays inside.
    pub fn check(&self, policy: &Policy) -> Vec<String> {
        let mut over = Vec::new();
        let l = &policy.limits;
        let size = |b: u64| bytesize::ByteSize(b).to_string();
        if l.memory > self.memory {
            over.push(format!(
                "limits.memory is {}; the ceiling is {}",
                size(l.memory),
                size(self.memory)
            ));
        }
        if l.cpu_time > self.cpu_time {
            over.push(format!(
                "limits.cpu_time is {:?}; the ceiling is {:?}",
                l.cpu_time, self.cpu_time
            ));
        }
        if l.wall_time > self.wall_time {
            over.push(format!(
                "limits.wall_time is {:?}; the ceiling is {:?}",
                l.wall_time, self.wall_time
            ));
        }
        if l.concurrent_tasks > self.concurrent_tasks {
            over.push(format!(
                "limits.concurrent_tasks is {}; the ceiling is {}",
                l.concurrent_tasks, self.concurrent_tasks
            ));
        }
        if let Some(w) = &policy.workspace
            && w.max_bytes > self.workspace_bytes
        {
            over.push(format!(
                "workspace.max_bytes is {}; the ceiling is {}",
                size(w.max_bytes),
                size(self.workspace_bytes)
            ));
        }
        if let Some(llm) = &policy.llm {
            for role in llm.roles.iter().filter(|r| !self.llm_roles.contains(r)) {
                over.push(format!(
                    "llm role `{}` is not allowed to uploaded agents{}",
                    nexus::text::clip(role, 64),
                    if self.llm_roles.is_empty() {
                        String::new()
                    } else {
                        format!(" (allowed: {})", self.llm_roles.join(", "))
                    }
                ));
            }
        }
        // The built-in agents are the host's: an uploaded agent may not
        // call them, nor be called in their name.
        // A bus target is an agent id or `*` (every agent of the project).
        let builtin = |target: &str| target == "*" || nexus::builtin::agent(target).is_some();
        for (key, targets) in [("request", &policy.bus.request), ("send", &policy.bus.send)] {
            for t in targets.iter().filter(|t| builtin(t)) {
                over.push(format!(
                    "bus.{key} names the built-in agent(s) `{}`; uploaded agents may only reach each other",
                    nexus::text::clip(t, 64)
                ));
            }
        }
        if nexus::builtin::agent(&policy.agent).is_some() {
            over.push(format!(
                "`{}` is a built-in agent's name; choose another",
                policy.agent
            ));
        }
        over
    }
}

/// An uploaded agent, as its tenant sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentRecord {
    pub id: String,
    /// The agent id its policy is for.
    pub name: String,
    pub sha256: String,
    pub size: u64,
    pub version: String,
    pub description: String,
    /// Task kinds it says it handles.
    pub handles: Vec<String>,
    /// Its policy, as uploaded.
    pub policy: String,
    /// Seconds since the epoch.
    pub created: i64,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is not a component of the nexus:agent world: {0}")]
    NotAnAgent(String),
    #[error("the policy does not parse: {0}")]
    BadPolicy(String),
    #[error("the policy goes beyond the ceiling: {}", .0.join("; "))]
    OverCeiling(Vec<String>),
    #[error("{0}")]
    Mismatch(String),
    #[error("you have an agent `{0}` already; delete it first")]
    Exists(String),
    #[error("storing the agent: {0}")]
    Store(String),
}

pub struct Agents {
    db: Arc<Database>,
    dir: PathBuf,
    pub ceiling: Ceiling,
}

const COLUMNS: &str = "id, name, sha256, size, version, description, handles, policy, created";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRecord> {
    let handles: String = r.get(6)?;
    Ok(AgentRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        sha256: r.get(2)?,
        size: r.get(3)?,
        version: r.get(4)?,
        description: r.get(5)?,
        handles: serde_json::from_str(&handles).unwrap_or_default(),
        policy: r.get(7)?,
        created: r.get(8)?,
    })
}

impl Agents {
    pub fn open(db: Arc<Database>, dir: PathBuf, ceiling: Ceiling) -> rusqlite::Result<Agents> {
        db.with(|c| nexus::db::migrate(c, "service_agents", STEPS))?;
        Ok(Agents { db, dir, ceiling })
    }

    fn file(&self, tenant: &str, id: &str) -> PathBuf {
        self.dir.join(tenant).join(format!("{id}.wasm"))
    }

    pub fn list(&self, tenant: &str) -> rusqlite::Result<Vec<AgentRecord>> {
        self.db.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM service_agents WHERE tenant = ?1 ORDER BY name"
            ))?
            .query_map(params![tenant], record)?
            .collect()
        })
    }

    /// The tenant's agent, by id or by name.
    pub fn get(&self, tenant: &str, key: &str) -> rusqlite::Result<Option<AgentRecord>> {
        self.db.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM service_agents WHERE tenant = ?1 AND (id = ?2 OR name = ?2)"
            ))?
            .query_row(params![tenant, key], record)
            .optional()
        })
    }

    /// Removes the tenant's agent; whether there was one.
    pub fn delete(&self, tenant: &str, id: &str) -> rusqlite::Result<bool> {
        let gone = self.db.with(|c| {
            c.execute(
                "DELETE FROM service_agents WHERE tenant = ?1 AND id = ?2",
                params![tenant, id],
            )
        })? > 0;
        if gone {
            let _ = std::fs::remove_file(self.file(tenant, id));
        }
        Ok(gone)
    }

    /// Checks and keeps an upload (see the module's doc for the order).
    pub async fn upload(
        &self,
        rt: &Arc<Runtime>,
        tenant: &str,
        wasm: Vec<u8>,
        policy_text: String,
    ) -> Result<AgentRecord, UploadError> {
        let inspected = rt
            .inspect(&wasm)
            .await
            .map_err(|e| UploadError::NotAnAgent(nexus::text::clip(&e.to_string(), 500)))?;
        let policy = Policy::parse(std::path::Path::new("(uploaded policy)"), &policy_text)
            .map_err(|e| UploadError::BadPolicy(nexus::text::clip(&e.to_string(), 1000)))?;
        let over = self.ceiling.check(&policy);
        if !over.is_empty() {
            return Err(UploadError::OverCeiling(over));
        }
        if inspected.info.id != policy.agent {
            return Err(UploadError::Mismatch(format!(
                "the component says it is `{}`, the policy is for `{}`",
                nexus::text::clip(&inspected.info.id, 64),
                policy.agent
            )));
        }
        if let Some(pin) = &policy.sha256
            && *pin != inspected.sha256
        {
            return Err(UploadError::Mismatch(format!(
                "the policy pins sha256 {pin}; the file's is {}",
                inspected.sha256
            )));
        }
        let record = AgentRecord {
            id: nexus::text::uuid().simple().to_string(),
            name: policy.agent.clone(),
            sha256: inspected.sha256.clone(),
            size: wasm.len() as u64,
            version: nexus::text::clip(&inspected.info.version, 64),
            description: nexus::text::clip(&inspected.info.description, 500),
            handles: inspected
                .info
                .handles
                .iter()
                .take(100)
                .map(|h| nexus::text::clip(h, 100))
                .collect(),
            policy: policy_text,
            created: now(),
        };
        let file = self.file(tenant, &record.id);
        let (db, r, t) = (self.db.clone(), record.clone(), tenant.to_string());
        nexus::sync::blocking("storing an agent", move || {
            let store = |e: String| nexus::bindings::Error::Internal(e);
            let dir = file.parent().unwrap_or(std::path::Path::new("."));
            std::fs::create_dir_all(dir).map_err(|e| store(e.to_string()))?;
            let partial = file.with_extension("wasm.partial");
            std::fs::write(&partial, &wasm)
                .and_then(|()| std::fs::rename(&partial, &file))
                .map_err(|e| store(e.to_string()))?;
            let inserted = db
                .with(|c| {
                    c.execute(
                        "INSERT INTO service_agents (id, tenant, name, sha256, size, policy, created,
                            version, description, handles)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                         ON CONFLICT (tenant, name) DO NOTHING",
                        params![
                            r.id,
                            t,
                            r.name,
                            r.sha256,
                            r.size,
                            r.policy,
                            r.created,
                            r.version,
                            r.description,
                            serde_json::to_string(&r.handles).unwrap_or_default()
                        ],
                    )
                })
                .map_err(|e| store(e.to_string()))?;
            if inserted == 0 {
                let _ = std::fs::remove_file(&file);
            }
            Ok(inserted > 0)
        })
        .await
        .map_err(|e| UploadError::Store(e.to_string()))?
        .then_some(record.clone())
        .ok_or(UploadError::Exists(record.name))
    }

    /// The agent, loaded under its policy with its build pinned, ready to
    /// be added to a project.
    pub async fn load(
        &self,
        rt: &Arc<Runtime>,
        tenant: &str,
        record: &AgentRecord,
    ) -> Result<Arc<nexus::runtime::Agent>, String> {
        let file = self.file(tenant, &record.id);
        let wasm = nexus::sync::blocking("reading an agent", move || {
            std::fs::read(&file).map_err(|e| nexus::bindings::Error::Internal(e.to_string()))
        })
        .await
        .map_err(|e| e.to_string())?;
        let mut policy = Policy::parse(
            std::path::Path::new(&format!("(policy of {})", record.name)),
            &record.policy,
        )
        .map_err(|e| e.to_string())?;
        policy.sha256 = Some(record.sha256.clone());
        rt.load_agent(&wasm, policy)
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        // The ceiling reserves the built-in agents' names, so every test
        // here needs them, installed before the first lookup of any test
        // (that lookup fixes the set for the process).
        nexus::builtin::install(nexus::embedded!());
        Policy::parse(std::path::Path::new("p.toml"), text).unwrap()
    }

    #[test]
    fn a_modest_policy_stays_inside_the_ceiling() {
        let p = policy(
            "agent = \"mine\"\n[limits]\nmemory = \"32MiB\"\n[workspace]\nread = [\"**\"]\nwrite = [\"out/**\"]\n[bus]\nrequest = [\"helper\"]\n",
        );
        assert_eq!(Ceiling::default().check(&p), Vec::<String>::new());
    }

    #[test]
    fn each_excess_is_named() {
        let p = policy(
            "agent = \"backend\"\n[limits]\nmemory = \"1GiB\"\nwall_time = \"10m\"\n[llm]\nroles = [\"backend\"]\n[bus]\nrequest = [\"*\"]\nsend = [\"qa\"]\n",
        );
        let over = Ceiling::default().check(&p).join("\n");
        for part in [
            "limits.memory",
            "limits.wall_time",
            "llm role `backend`",
            "bus.request names the built-in agent(s) `*`",
            "bus.send names the built-in agent(s) `qa`",
            "`backend` is a built-in agent's name",
        ] {
            assert!(over.contains(part), "{part} not in {over}");
        }
        let allowed = Ceiling {
            llm_roles: vec!["backend".into()],
            ..Ceiling::default()
        };
        assert!(!allowed.check(&p).join("\n").contains("llm role"));
    }
}
