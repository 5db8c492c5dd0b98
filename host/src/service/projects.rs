//! The service's projects: who asked for each, where it stands, and the
//! events of its generation. A project runs in a directory of its tenant's
//! (`projects/<tenant>/<id>`); its record and, once it ends, its events are
//! kept in the host's database, so both outlive the process.

use super::Service;
use crate::db::{Database, Step};
use crate::generate::{Event, Request};
use crate::sync::Recover;
use futures_util::FutureExt as _;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

const STEPS: &[Step] = &[|c| {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS service_projects (
            id TEXT PRIMARY KEY, tenant TEXT NOT NULL, name TEXT, description TEXT NOT NULL,
            status TEXT NOT NULL, created INTEGER NOT NULL, finished INTEGER,
            summary TEXT, passed INTEGER);
         CREATE INDEX IF NOT EXISTS service_projects_tenant ON service_projects (tenant, created);
         CREATE TABLE IF NOT EXISTS service_events (
            project TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
            PRIMARY KEY (project, seq))",
    )
}];

/// A project as its tenant sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectInfo {
    pub id: String,
    pub name: Option<String>,
    pub description: String,
    /// `running`, `done`, `failed`, or `interrupted` (the host stopped
    /// while it ran).
    pub status: String,
    /// Seconds since the epoch.
    pub created: i64,
    pub finished: Option<i64>,
    pub summary: Option<String>,
    /// Whether every phase and gate passed, once it ended.
    pub passed: Option<bool>,
}

/// One event of a project's stream: its number (from 1), its name, its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped {
    pub seq: u64,
    pub name: String,
    pub data: Value,
}

/// The events of a running project, for whoever follows it.
pub struct Live {
    events: Mutex<(Vec<Stamped>, bool)>,
    count: watch::Sender<usize>,
}

impl Live {
    fn new() -> Live {
        Live {
            events: Mutex::new((Vec::new(), false)),
            count: watch::channel(0).0,
        }
    }

    fn push(&self, name: &str, data: Value, last: bool) {
        let mut guard = self.events.lock().recover();
        let (events, ended) = &mut *guard;
        if *ended {
            return;
        }
        events.push(Stamped {
            seq: events.len() as u64 + 1,
            name: name.to_string(),
            data,
        });
        *ended = last;
        self.count.send_replace(events.len());
    }

    /// The events after `after`, and whether the stream has ended.
    pub fn since(&self, after: u64) -> (Vec<Stamped>, bool) {
        let guard = self.events.lock().recover();
        let from = (after as usize).min(guard.0.len());
        (guard.0[from..].to_vec(), guard.1)
    }

    /// Wakes when an event is added.
    pub fn watch(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }
}

pub struct Projects {
    db: Arc<Database>,
    dir: PathBuf,
    live: Mutex<HashMap<String, Arc<Live>>>,
}

use crate::db::now;

fn info(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProjectInfo> {
    Ok(ProjectInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        status: r.get(3)?,
        created: r.get(4)?,
        finished: r.get(5)?,
        summary: r.get(6)?,
        passed: r.get(7)?,
    })
}

fn running(c: &rusqlite::Connection, tenant: &str) -> rusqlite::Result<u32> {
    c.prepare_cached(
        "SELECT count(*) FROM service_projects WHERE tenant = ?1 AND status = 'running'",
    )?
    .query_row(params![tenant], |r| r.get(0))
}

const COLUMNS: &str = "id, name, description, status, created, finished, summary, passed";

/// Why a project was not started.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("{0}")]
    Invalid(String),
    #[error("tenant `{tenant}` runs {running} projects; its quota max_projects is {max}")]
    Quota {
        tenant: String,
        running: u32,
        max: u32,
    },
    #[error("the projects' database: {0}")]
    Store(String),
}

impl Projects {
    /// Opens the projects' records. Projects that were running when the
    /// host stopped are marked `interrupted`.
    pub fn open(db: Arc<Database>, dir: PathBuf) -> rusqlite::Result<Projects> {
        db.with(|c| {
            crate::db::migrate(c, "service", STEPS)?;
            c.execute(
                "UPDATE service_projects SET status = 'interrupted', finished = ?1
                 WHERE status = 'running'",
                params![now()],
            )
        })?;
        Ok(Projects {
            db,
            dir,
            live: Mutex::new(HashMap::new()),
        })
    }

    /// Where the tenant's project keeps its files.
    pub fn root(&self, tenant: &str, id: &str) -> PathBuf {
        self.dir.join(tenant).join(id)
    }

    /// The tenant's project `id`; `None` when there is none, or it is
    /// another tenant's.
    pub fn get(&self, tenant: &str, id: &str) -> rusqlite::Result<Option<ProjectInfo>> {
        self.db.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM service_projects WHERE id = ?1 AND tenant = ?2"
            ))?
            .query_row(params![id, tenant], info)
            .optional()
        })
    }

    /// The tenant's projects, newest first.
    pub fn list(
        &self,
        tenant: &str,
        limit: u32,
        offset: u32,
    ) -> rusqlite::Result<Vec<ProjectInfo>> {
        self.db.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM service_projects WHERE tenant = ?1
                 ORDER BY created DESC, rowid DESC LIMIT ?2 OFFSET ?3"
            ))?
            .query_map(params![tenant, limit, offset], info)?
            .collect()
        })
    }

    /// Projects the tenant runs now.
    pub fn running(&self, tenant: &str) -> rusqlite::Result<u32> {
        self.db.with(|c| running(c, tenant))
    }

    /// The events of a running project.
    pub fn live(&self, id: &str) -> Option<Arc<Live>> {
        self.live.lock().recover().get(id).cloned()
    }

    /// The kept events of an ended project, after `after`.
    pub fn events(&self, id: &str, after: u64) -> rusqlite::Result<Vec<Stamped>> {
        self.db.with(|c| {
            c.prepare_cached(
                "SELECT seq, name, data FROM service_events WHERE project = ?1 AND seq > ?2 ORDER BY seq",
            )?
            .query_map(params![id, after as i64], |r| {
                let data: String = r.get(2)?;
                Ok(Stamped {
                    seq: r.get::<_, i64>(0)? as u64,
                    name: r.get(1)?,
                    data: serde_json::from_str(&data).unwrap_or(Value::Null),
                })
            })?
            .collect()
        })
    }

    /// Records what the project ended as, with its events.
    fn finish(
        &self,
        id: &str,
        status: &str,
        summary: &str,
        passed: Option<bool>,
        events: &[Stamped],
    ) -> rusqlite::Result<()> {
        self.db.with(|c| {
            let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE service_projects SET status = ?2, finished = ?3, summary = ?4, passed = ?5 WHERE id = ?1",
                params![id, status, now(), summary, passed],
            )?;
            for e in events {
                tx.execute(
                    "INSERT OR REPLACE INTO service_events (project, seq, name, data) VALUES (?1, ?2, ?3, ?4)",
                    params![id, e.seq as i64, e.name, e.data.to_string()],
                )?;
            }
            tx.commit()
        })
    }
}

/// Starts generating `description` for `tenant`, within its quota of
/// projects running at once.
pub async fn submit(
    service: &Arc<Service>,
    tenant: &super::tenants::Tenant,
    description: String,
    name: Option<String>,
) -> Result<ProjectInfo, SubmitError> {
    crate::generate::check_description(&description)
        .map_err(|e| SubmitError::Invalid(e.to_string()))?;
    if let Some(n) = &name
        && (n.is_empty() || n.len() > 64 || nexus_spec::slug(n).is_empty())
    {
        return Err(SubmitError::Invalid(
            "name must be 1 to 64 bytes with at least one letter or digit".into(),
        ));
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let projects = &service.projects;
    let created = now();
    let tenant_name = tenant.name.clone();
    let max = tenant.max_projects;
    let (db, row) = (
        projects.db.clone(),
        (id.clone(), name.clone(), description.clone()),
    );
    // The count and the insert are one transaction: two submissions at
    // once cannot both take the last place.
    let admitted = crate::sync::blocking("the projects' database", move || {
        db.with(|c| {
            let tx =
                rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
            let running = running(&tx, &tenant_name)?;
            if running >= max {
                return Ok(Err(running));
            }
            tx.execute(
                "INSERT INTO service_projects (id, tenant, name, description, status, created)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
                params![row.0, tenant_name, row.1, row.2, created],
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })
        .map_err(|e| crate::bindings::Error::Internal(e.to_string()))
    })
    .await
    .map_err(|e| SubmitError::Store(e.to_string()))?;
    if let Err(running) = admitted {
        return Err(SubmitError::Quota {
            tenant: tenant.name.clone(),
            running,
            max,
        });
    }
    let live = Arc::new(Live::new());
    projects
        .live
        .lock()
        .recover()
        .insert(id.clone(), live.clone());
    let request = Request {
        description: description.clone(),
        name: name.clone(),
        id: Some(id.clone()),
        tenant: Some(tenant.name.clone()),
        out: Some(projects.root(&tenant.name, &id)),
        policies: None,
        restart: false,
    };
    let sink = live.clone();
    let events: crate::generate::Events = Arc::new(move |e: Event| {
        // How the host reaches its models is the operator's, not the
        // tenant's (and a project's path is never serialized).
        let e = match e {
            Event::NoLlm { .. } => Event::NoLlm {
                line: "No LLM reachable: the request parser, the built-in planner and templates are used."
                    .into(),
            },
            e => e,
        };
        let data = serde_json::to_value(&e).unwrap_or(Value::Null);
        let name = data["event"].as_str().unwrap_or("event").to_string();
        sink.push(&name, data, false);
    });
    let service = service.clone();
    let task_id = id.clone();
    tokio::spawn(async move {
        // A generation that panics still ends: its followers get `failed`
        // and its place in the quota is given back.
        let result = std::panic::AssertUnwindSafe(crate::generate::generate(
            service.rt.clone(),
            request,
            events,
        ))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            Err(crate::generate::Error::Failed(
                "the generation stopped on an internal error".into(),
            ))
        });
        let (status, summary, passed, end) = match result {
            Ok(report) => {
                let passed = report.passed();
                let end = json!({
                    "passed": passed,
                    "summary": report.summary,
                    "files": report.files,
                    "lines": report.lines,
                    "seconds": report.elapsed.as_secs_f64(),
                });
                ("done", report.summary, Some(passed), end)
            }
            Err(e) => {
                // The full error is the operator's (it may name the host's
                // paths); the tenant gets what it can act on.
                tracing::error!(project = %task_id, error = %e, "a project failed");
                let reason = match &e {
                    crate::generate::Error::Task(f) => crate::text::clip(&f.to_string(), 1000),
                    crate::generate::Error::BadInput(_) => {
                        "the request could not be set up; the operator's log says why".into()
                    }
                    _ => {
                        "the generation failed inside the host; the operator's log says why".into()
                    }
                };
                ("failed", reason.clone(), None, json!({ "reason": reason }))
            }
        };
        live.push(status, end, true);
        let (events, _) = live.since(0);
        let projects = service.clone();
        let id = task_id.clone();
        let summary = crate::text::clip(&summary, 2000);
        let recorded = crate::sync::blocking("the projects' database", move || {
            projects
                .projects
                .finish(&id, status, &summary, passed, &events)
                .map_err(|e| crate::bindings::Error::Internal(e.to_string()))
        })
        .await;
        if let Err(e) = recorded {
            tracing::error!(project = %task_id, error = %e, "could not record how the project ended");
        }
        service.projects.live.lock().recover().remove(&task_id);
    });
    Ok(ProjectInfo {
        id,
        name,
        description,
        status: "running".into(),
        created,
        finished: None,
        summary: None,
        passed: None,
    })
}
