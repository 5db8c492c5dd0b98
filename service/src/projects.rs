//! The service's projects: who asked for each, where it stands, and the
//! events of its generation. A project runs in a directory of its tenant's
//! (`projects/<tenant>/<id>`). Its record and every event are written to
//! the host's database before anyone is shown them, so a follower that
//! reconnects after a restart resumes exactly where it was.
//!
//! A tenant runs up to `max_projects` at once; more wait, up to
//! `max_queued`, in the order they came, and start as places free up.
//! Projects that were queued or running when the host stopped are taken up
//! again when it starts: a running one continues from the journal.

use super::Service;
use super::quotas::Refusal;
use super::tenants::Tenant;
use futures_util::FutureExt as _;
use nexus::db::{Database, Step, now};
use nexus::generate::{Event, Request};
use nexus::sync::{Recover, Stop};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const STEPS: &[Step] = &[
    |c| {
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
    },
    |c| {
        c.execute_batch(
            "CREATE INDEX IF NOT EXISTS service_projects_status ON service_projects (status, tenant)",
        )?;
        nexus::db::add_column(c, "service_projects", "started", "INTEGER")
    },
    // How far an API node of a cluster has read the cluster's events.
    |c| {
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS service_cluster (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        )
    },
];

/// A project as its tenant sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProjectInfo {
    pub id: String,
    pub name: Option<String>,
    pub description: String,
    /// `queued`, `running`, `done`, `failed`, `cancelled`, or
    /// `interrupted` (the host stopped while it ran, before projects were
    /// taken up again).
    pub status: String,
    /// Seconds since the epoch.
    pub created: i64,
    pub started: Option<i64>,
    pub finished: Option<i64>,
    pub summary: Option<String>,
    /// Whether every phase and gate passed, once it ended.
    pub passed: Option<bool>,
}

impl ProjectInfo {
    /// Whether it is waiting or running.
    pub fn active(&self) -> bool {
        matches!(self.status.as_str(), "queued" | "running")
    }
}

/// One event of a project's stream: its number (from 1), its name, its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped {
    pub seq: u64,
    pub name: String,
    pub data: Value,
}

/// The recorded events of a project that is queued or running, for
/// whoever follows it.
pub struct Live {
    events: Mutex<(Vec<Stamped>, bool)>,
    count: watch::Sender<usize>,
}

impl Live {
    fn new(kept: Vec<Stamped>) -> Live {
        let n = kept.len();
        Live {
            events: Mutex::new((kept, false)),
            count: watch::channel(n).0,
        }
    }

    fn push(&self, new: Vec<Stamped>, last: bool) {
        let mut guard = self.events.lock().recover();
        let (events, ended) = &mut *guard;
        if *ended {
            return;
        }
        // An event read again (a cluster's stream, after a reconnect) is
        // shown once.
        let shown = events.last().map_or(0, |e| e.seq);
        events.extend(new.into_iter().filter(|e| e.seq > shown));
        *ended = last;
        self.count.send_replace(events.len());
    }

    /// The events after `after`, and whether the stream has ended.
    pub fn since(&self, after: u64) -> (Vec<Stamped>, bool) {
        let guard = self.events.lock().recover();
        let from = guard.0.partition_point(|e| e.seq <= after);
        (guard.0[from..].to_vec(), guard.1)
    }

    /// Wakes when an event is added.
    pub fn watch(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }

    fn ended(&self) -> bool {
        self.events.lock().recover().1
    }

    /// Waits until the stream has ended, at most `limit`.
    async fn wait_end(&self, limit: Duration) {
        let mut rx = self.watch();
        let _ = tokio::time::timeout(limit, async {
            while !self.ended() {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }
}

/// How a project ended.
#[derive(Debug, Clone)]
pub(super) struct End {
    pub status: &'static str,
    pub summary: String,
    pub passed: Option<bool>,
}

/// An event on its way to the database and then to the followers.
struct Note {
    name: String,
    data: Value,
    end: Option<End>,
}

/// A project that is queued or running.
pub struct Run {
    pub live: Live,
    stop: Stop,
    notes: mpsc::UnboundedSender<Note>,
    /// Whether its generation was started (it left the queue).
    started: std::sync::atomic::AtomicBool,
}

impl Run {
    fn note(&self, name: &str, data: Value, end: Option<End>) {
        let _ = self.notes.send(Note {
            name: name.to_string(),
            data,
            end,
        });
    }
}

pub struct Projects {
    db: Arc<Database>,
    dir: PathBuf,
    active: Mutex<HashMap<String, Arc<Run>>>,
}

const COLUMNS: &str =
    "id, name, description, status, created, started, finished, summary, passed, tenant";

fn info(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProjectInfo> {
    Ok(ProjectInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        status: r.get(3)?,
        created: r.get(4)?,
        started: r.get(5)?,
        finished: r.get(6)?,
        summary: r.get(7)?,
        passed: r.get(8)?,
    })
}

fn count(c: &rusqlite::Connection, tenant: &str, status: &str) -> rusqlite::Result<u32> {
    c.prepare_cached("SELECT count(*) FROM service_projects WHERE tenant = ?1 AND status = ?2")?
        .query_row(params![tenant, status], |r| r.get(0))
}

/// Starts the tenant's oldest queued projects while it has places free;
/// returns them.
fn promote(c: &rusqlite::Connection, tenant: &str, max: u32) -> rusqlite::Result<Vec<ProjectInfo>> {
    let free = max.saturating_sub(count(c, tenant, "running")?);
    let next: Vec<ProjectInfo> = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM service_projects WHERE tenant = ?1 AND status = 'queued'
             ORDER BY created, rowid LIMIT ?2"
        ))?
        .query_map(params![tenant, free], info)?
        .collect::<rusqlite::Result<_>>()?;
    let at = now();
    for p in &next {
        c.execute(
            "UPDATE service_projects SET status = 'running', started = ?2 WHERE id = ?1",
            params![p.id, at],
        )?;
    }
    Ok(next
        .into_iter()
        .map(|p| ProjectInfo {
            status: "running".into(),
            started: Some(at),
            ..p
        })
        .collect())
}

/// A cluster's event on its way into this node's database: `record` is the
/// project as the cluster has it, for one submitted through another node.
pub struct Mirrored {
    pub tenant: String,
    pub id: String,
    pub event: Stamped,
    pub record: Option<super::cluster::Record>,
}

/// Keeps one event of [`Projects::mirror`]'s batch: whether it ends its
/// project, or `None` when it was passed over (its project has ended).
fn mirror_one(
    tx: &rusqlite::Connection,
    tenant: &str,
    id: &str,
    e: &Stamped,
    record: Option<&super::cluster::Record>,
) -> rusqlite::Result<Option<bool>> {
    if let Some(r) = record {
        tx.execute(
                "INSERT OR IGNORE INTO service_projects (id, tenant, name, description, status, created)
                 VALUES (?1, ?2, ?3, ?4, 'queued', ?5)",
                params![id, tenant, r.name, r.description, r.created],
            )?;
    }
    let status: Option<String> = tx
        .query_row(
            "SELECT status FROM service_projects WHERE id = ?1 AND tenant = ?2",
            params![id, tenant],
            |r| r.get(0),
        )
        .optional()?;
    if !matches!(status.as_deref(), Some("queued" | "running")) {
        return Ok(None);
    }
    let mut ended = false;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO service_events (project, seq, name, data) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id, e.seq as i64, e.name, e.data.to_string()])?;
    let at = now();
    match e.name.as_str() {
        "started" => {
            let name = e.data["name"].as_str().map(|n| nexus::text::clip(n, 64));
            tx.execute(
                "UPDATE service_projects SET status = 'running', started = coalesce(started, ?2),
                         name = coalesce(name, ?3) WHERE id = ?1",
                params![id, at, name],
            )?;
        }
        "resumed" => {
            tx.execute(
                        "UPDATE service_projects SET status = 'running', started = coalesce(started, ?2) WHERE id = ?1",
                        params![id, at],
                    )?;
        }
        "done" | "failed" => {
            let (status, summary, passed) = if e.name == "done" {
                (
                    "done",
                    e.data["summary"].as_str(),
                    e.data["passed"].as_bool(),
                )
            } else if e.data["cancelled"] == true {
                ("cancelled", e.data["reason"].as_str(), None)
            } else {
                ("failed", e.data["reason"].as_str(), None)
            };
            tx.execute(
                "UPDATE service_projects SET status = ?2, finished = ?3, summary = ?4, passed = ?5
                         WHERE id = ?1",
                params![
                    id,
                    status,
                    at,
                    summary.map(|s| nexus::text::clip(s, 2000)),
                    passed
                ],
            )?;
            ended = true;
        }
        _ => {}
    }
    Ok(Some(ended))
}

fn set_cursor(c: &rusqlite::Connection, seq: u64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO service_cluster (name, value) VALUES ('events', ?1)
         ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
    )?
    .execute(params![seq as i64])
    .map(drop)
}

fn immediate(c: &rusqlite::Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)
}

/// Why a project was not started.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("{0}")]
    Invalid(String),
    #[error("{}", .0.message)]
    Quota(Refusal),
    #[error("the projects' database: {0}")]
    Store(String),
}

/// Projects a tenant has, by status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub queued: u32,
    pub running: u32,
    pub done: u32,
    pub failed: u32,
    pub cancelled: u32,
    pub total: u32,
}

impl Projects {
    /// Opens the projects' records. Projects left queued or running by a
    /// host that stopped are taken up by [`restore`] when the service starts.
    pub fn open(db: Arc<Database>, dir: PathBuf) -> rusqlite::Result<Projects> {
        db.with(|c| nexus::db::migrate(c, "service", STEPS))?;
        Ok(Projects {
            db,
            dir,
            active: Mutex::new(HashMap::new()),
        })
    }

    /// Where the tenant's project keeps its files.
    pub fn root(&self, tenant: &str, id: &str) -> PathBuf {
        self.dir.join(tenant).join(id)
    }

    /// Where the tenant's projects are.
    pub fn tenant_dir(&self, tenant: &str) -> PathBuf {
        self.dir.join(tenant)
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

    /// The tenant's projects by status.
    pub fn counts(&self, tenant: &str) -> rusqlite::Result<Counts> {
        self.db.with(|c| {
            let mut counts = Counts::default();
            let mut stmt = c.prepare_cached(
                "SELECT status, count(*) FROM service_projects WHERE tenant = ?1 GROUP BY status",
            )?;
            let rows = stmt.query_map(params![tenant], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
            })?;
            for row in rows {
                let (status, n) = row?;
                counts.total += n;
                match status.as_str() {
                    "queued" => counts.queued = n,
                    "running" => counts.running = n,
                    "done" => counts.done = n,
                    "cancelled" => counts.cancelled = n,
                    _ => counts.failed += n,
                }
            }
            Ok(counts)
        })
    }

    /// Every tenant's projects by status: (tenant, status, count).
    pub fn all_counts(&self) -> rusqlite::Result<Vec<(String, String, u64)>> {
        self.db.with(|c| {
            c.prepare_cached(
                "SELECT tenant, status, count(*) FROM service_projects GROUP BY tenant, status
                 ORDER BY tenant, status",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
        })
    }

    /// The project, while it is queued or running.
    pub fn run(&self, id: &str) -> Option<Arc<Run>> {
        self.active.lock().recover().get(id).cloned()
    }

    /// The kept events of a project, after `after`.
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

    /// Writes `events`, and how the project ended if it did (with the
    /// tenant's `max_projects` now), in one transaction. An ended project's
    /// place goes to the tenant's next queued ones, which are returned to
    /// be started.
    fn record(
        &self,
        id: &str,
        tenant: &str,
        events: &[Stamped],
        end: Option<(&End, u32)>,
    ) -> rusqlite::Result<Vec<ProjectInfo>> {
        self.db.with(|c| {
            let tx = immediate(c)?;
            for e in events {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO service_events (project, seq, name, data) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![id, e.seq as i64, e.name, e.data.to_string()])?;
                // A project asked for without a name is called what the
                // request was understood as.
                if let ("started", Some(name)) = (e.name.as_str(), e.data["name"].as_str()) {
                    tx.execute(
                        "UPDATE service_projects SET name = coalesce(name, ?2) WHERE id = ?1",
                        params![id, nexus::text::clip(name, 64)],
                    )?;
                }
            }
            let mut next = Vec::new();
            if let Some((end, max_running)) = end {
                // Only the first end counts (a cancel and a finish can
                // cross).
                let ended = tx.execute(
                    "UPDATE service_projects SET status = ?2, finished = ?3, summary = ?4, passed = ?5
                     WHERE id = ?1 AND status IN ('queued', 'running')",
                    params![id, end.status, now(), end.summary, end.passed],
                )?;
                if ended > 0 {
                    next = promote(&tx, tenant, max_running)?;
                }
            }
            tx.commit()?;
            Ok(next)
        })
    }

    /// How far this node has read the cluster's events.
    pub fn cursor(&self) -> rusqlite::Result<u64> {
        self.db.with(|c| {
            c.query_row(
                "SELECT value FROM service_cluster WHERE name = 'events'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(0) as u64)
        })
    }

    pub fn set_cursor(&self, seq: u64) -> rusqlite::Result<()> {
        self.db.with(|c| set_cursor(c, seq))
    }

    /// Keeps a batch of a cluster's events, the last read at stream
    /// sequence `seq`, in one transaction, with what each says of its
    /// project's status. An event of a project that has ended is passed
    /// over (`None`). Returns, for each, whether it ends its project.
    pub fn mirror(&self, batch: &[Mirrored], seq: u64) -> rusqlite::Result<Vec<Option<bool>>> {
        self.db.with(|c| {
            let tx = immediate(c)?;
            let ends = batch
                .iter()
                .map(|m| mirror_one(&tx, &m.tenant, &m.id, &m.event, m.record.as_ref()))
                .collect::<rusqlite::Result<Vec<Option<bool>>>>()?;
            set_cursor(&tx, seq)?;
            tx.commit()?;
            Ok(ends)
        })
    }

    /// Forgets the project: its record, its events and its files.
    fn remove(&self, tenant: &str, id: &str) -> rusqlite::Result<()> {
        self.db.with(|c| {
            let tx = immediate(c)?;
            tx.execute("DELETE FROM service_events WHERE project = ?1", params![id])?;
            tx.execute(
                "DELETE FROM service_projects WHERE id = ?1 AND tenant = ?2",
                params![id, tenant],
            )?;
            tx.commit()
        })?;
        let root = self.root(tenant, id);
        if let Err(e) = std::fs::remove_dir_all(&root)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!(project = %id, error = %e, "could not remove the project's files");
        }
        Ok(())
    }
}

async fn off<T: Send + 'static>(
    work: impl FnOnce() -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, String> {
    nexus::sync::off_thread(
        move || work().map_err(|e| e.to_string()),
        |e| format!("the projects' database: {e}"),
    )
    .await
}

/// Admits a project of `tenant`'s: started at once within its
/// `max_projects`, else queued within its `max_queued`, else refused; also
/// refused when its tokens of the day or its disk are used up.
pub async fn submit(
    service: &Arc<Service>,
    tenant: &Tenant,
    description: String,
    name: Option<String>,
) -> Result<ProjectInfo, SubmitError> {
    nexus::generate::check_description(&description)
        .map_err(|e| SubmitError::Invalid(e.to_string()))?;
    if let Some(n) = &name
        && (n.is_empty() || n.len() > 64 || nexus_spec::slug(n).is_empty())
    {
        return Err(SubmitError::Invalid(
            "name must be 1 to 64 bytes with at least one letter or digit".into(),
        ));
    }
    let id = nexus::text::uuid().simple().to_string();
    let created = now();
    let (db, dir) = (
        service.projects.db.clone(),
        service.projects.tenant_dir(&tenant.name),
    );
    let (t, row) = (
        tenant.clone(),
        (id.clone(), name.clone(), description.clone()),
    );
    let clustered = service.cluster.is_some();
    // In a cluster, the tenant's tokens are every worker's.
    let shared_tokens = match &service.cluster {
        Some(c) => Some(
            c.tokens(&tenant.name)
                .await
                .map(|(used, earliest, _)| (used, earliest))
                .map_err(|e| SubmitError::Store(e.to_string()))?,
        ),
        None => None,
    };
    // The counts and the insert are one transaction: two submissions at
    // once cannot both take the last place.
    let admitted = off(move || {
        let disk = super::quotas::disk_usage(&dir);
        db.with(|c| {
            let (tokens, earliest) = match shared_tokens {
                Some(shared) => shared,
                None => nexus::llm::tenant_tokens(c, &t.name, now() - super::quotas::DAY)?,
            };
            if let Err(r) =
                super::quotas::check_usage(&t.name, &t.limits, tokens, earliest, disk, now())
            {
                return Ok(Err(r));
            }
            let tx = immediate(c)?;
            let running = count(&tx, &t.name, "running")?;
            let queued = count(&tx, &t.name, "queued")?;
            // In a cluster, every project waits on the shared queue until a
            // worker with room and a slot of its tenant's takes it.
            let fits = running + queued < t.limits.max_projects + t.limits.max_queued;
            let status = if clustered && fits {
                "queued"
            } else if clustered {
                "refused"
            } else if running < t.limits.max_projects && queued == 0 {
                "running"
            } else if queued < t.limits.max_queued {
                "queued"
            } else {
                "refused"
            };
            if status == "refused" {
                return Ok(Err(Refusal {
                    quota: "max_projects",
                    message: format!(
                        "tenant `{}` runs {running} projects and has {queued} waiting; its quotas are max_projects {} and max_queued {}",
                        t.name, t.limits.max_projects, t.limits.max_queued
                    ),
                    retry_after: Duration::from_secs(30),
                }));
            }
            tx.execute(
                "INSERT INTO service_projects (id, tenant, name, description, status, created, started)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    row.0,
                    t.name,
                    row.1,
                    row.2,
                    status,
                    created,
                    (status == "running").then_some(created)
                ],
            )?;
            tx.commit()?;
            Ok(Ok((status, queued)))
        })
    })
    .await
    .map_err(SubmitError::Store)?;
    let (status, ahead) = match admitted {
        Ok(admitted) => admitted,
        Err(refusal) => {
            service.quotas.refused(&tenant.name, refusal.quota);
            return Err(SubmitError::Quota(refusal));
        }
    };
    let p = ProjectInfo {
        id,
        name,
        description,
        status: status.into(),
        created,
        started: (status == "running").then_some(created),
        finished: None,
        summary: None,
        passed: None,
    };
    if let Some(cluster) = &service.cluster {
        let record = super::cluster::Record {
            tenant: tenant.name.clone(),
            description: p.description.clone(),
            name: p.name.clone(),
            created,
            status: "queued".into(),
            attempt: 0,
            worker: None,
            started: None,
            finished: None,
            summary: None,
            passed: None,
            end: None,
            change: String::new(),
        };
        follow(service, &p.id, Vec::new());
        if let Err(e) = cluster.submit(&p.id, &record, &tenant.limits).await {
            service.projects.active.lock().recover().remove(&p.id);
            let (s, t, i) = (service.clone(), tenant.name.clone(), p.id.clone());
            let _ = off(move || s.projects.remove(&t, &i)).await;
            return Err(SubmitError::Store(e.to_string()));
        }
        return Ok(p);
    }
    let run = track(service, &tenant.name, &p.id, Vec::new());
    if status == "running" {
        start(service, tenant.name.clone(), p.clone(), run);
    } else {
        run.note("queued", json!({ "ahead": ahead }), None);
    }
    Ok(p)
}

/// Follows a queued or running project: its events, recorded in order,
/// then shown. `kept` are the events it already has.
fn track(service: &Arc<Service>, tenant: &str, id: &str, kept: Vec<Stamped>) -> Arc<Run> {
    let (tx, rx) = mpsc::unbounded_channel();
    let seq = kept.last().map_or(0, |e| e.seq);
    let run = Arc::new(Run {
        live: Live::new(kept),
        stop: Stop::default(),
        notes: tx,
        started: std::sync::atomic::AtomicBool::new(false),
    });
    service
        .projects
        .active
        .lock()
        .recover()
        .insert(id.to_string(), run.clone());
    tokio::spawn(recorder(
        service.clone(),
        tenant.to_string(),
        id.to_string(),
        run.clone(),
        rx,
        seq,
    ));
    run
}

/// Follows a project a cluster runs: its events come from the cluster's
/// stream, through [`shown_to_followers`]. `kept` are the events it
/// already has.
fn follow(service: &Arc<Service>, id: &str, kept: Vec<Stamped>) -> Arc<Run> {
    let (notes, _) = mpsc::unbounded_channel();
    let run = Arc::new(Run {
        live: Live::new(kept),
        stop: Stop::default(),
        notes,
        started: std::sync::atomic::AtomicBool::new(true),
    });
    service
        .projects
        .active
        .lock()
        .recover()
        .entry(id.to_string())
        .or_insert(run)
        .clone()
}

/// Shows a cluster's project's event, kept already, to whoever follows
/// the project.
pub(super) async fn shown_to_followers(service: &Arc<Service>, id: &str, e: Stamped, ended: bool) {
    let run = match service.projects.run(id) {
        Some(run) => run,
        None if ended => return,
        None => {
            let (s, i) = (service.clone(), id.to_string());
            let kept = off(move || s.projects.events(&i, 0))
                .await
                .unwrap_or_default();
            follow(service, id, kept)
        }
    };
    run.live.push(vec![e], ended);
    if ended {
        service.projects.active.lock().recover().remove(id);
    }
}

/// Writes a project's events as they come, then hands them to its
/// followers; on its end, starts what waited for its place.
async fn recorder(
    service: Arc<Service>,
    tenant: String,
    id: String,
    run: Arc<Run>,
    mut rx: mpsc::UnboundedReceiver<Note>,
    mut seq: u64,
) {
    let mut batch = Vec::new();
    loop {
        batch.clear();
        if rx.recv_many(&mut batch, 64).await == 0 {
            return;
        }
        if let Some(i) = batch.iter().position(|n| n.end.is_some()) {
            batch.truncate(i + 1);
        }
        let end = batch.last().and_then(|n| n.end.clone());
        let events: Vec<Stamped> = batch
            .drain(..)
            .map(|n| {
                seq += 1;
                Stamped {
                    seq,
                    name: n.name,
                    data: n.data,
                }
            })
            .collect();
        let (s, t, i, kept, e) = (
            service.clone(),
            tenant.clone(),
            id.clone(),
            events.clone(),
            end.clone(),
        );
        let next = off(move || {
            // The tenant's limit matters only to the batch that ends it.
            let end = match &e {
                Some(end) => Some((end, s.tenants.limits(&t)?.max_projects)),
                None => None,
            };
            s.projects.record(&i, &t, &kept, end)
        })
        .await
        .unwrap_or_else(|e| {
            tracing::error!(project = %id, error = %e, "could not record the project's events");
            Vec::new()
        });
        let ended = end.is_some();
        run.live.push(events, ended);
        if ended {
            service.projects.active.lock().recover().remove(&id);
            for p in next {
                let run = service.projects.run(&p.id).unwrap_or_else(|| {
                    let kept = Vec::new();
                    track(&service, &tenant, &p.id, kept)
                });
                start(&service, tenant.clone(), p, run);
            }
            return;
        }
    }
}

/// Runs the project's generation; `resumed` when an earlier host began it.
fn start(service: &Arc<Service>, tenant: String, p: ProjectInfo, run: Arc<Run>) {
    run.started
        .store(true, std::sync::atomic::Ordering::Release);
    let root = service.projects.root(&tenant, &p.id);
    let request = Request {
        description: p.description.clone(),
        name: p.name.clone(),
        id: Some(p.id.clone()),
        tenant: Some(tenant.clone()),
        out: Some(root.clone()),
        policies: None,
        restart: false,
        adopt: false,
        stop: run.stop.clone(),
    };
    let sink = run.clone();
    let events: nexus::generate::Events = Arc::new(move |e: Event| {
        let (name, data) = shown(e);
        sink.note(&name, data, None);
    });
    let service = service.clone();
    let work = service.work.handle().clone();
    work.spawn(async move {
        let id = p.id.clone();
        // Placed by the service; the generation reports a directory that
        // could not be made.
        let _ = tokio::task::spawn_blocking(move || super::project_dir(&root)).await;
        let result = generation(service.rt.clone(), request, events).await;
        let (name, data, end) = ending(&id, result);
        run.note(name, data, Some(end));
    });
}

/// A generation's event as its tenant is shown it: its name and data.
pub(super) fn shown(e: Event) -> (String, Value) {
    // How the host reaches its models is the operator's, not the tenant's
    // (and a project's path is never serialized).
    let e = match e {
        Event::NoLlm { .. } => Event::NoLlm {
            line:
                "No LLM reachable: the request parser, the built-in planner and templates are used."
                    .into(),
        },
        e => e,
    };
    let data = serde_json::to_value(&e).unwrap_or(Value::Null);
    let name = data["event"].as_str().unwrap_or("event").to_string();
    (name, data)
}

/// Runs a generation; one that panics still ends, as a failure.
pub(super) async fn generation(
    rt: Arc<nexus::runtime::Runtime>,
    request: Request,
    events: nexus::generate::Events,
) -> Result<nexus::generate::Report, nexus::generate::Error> {
    std::panic::AssertUnwindSafe(nexus::generate::generate(rt, request, events))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            Err(nexus::generate::Error::Failed(
                "the generation stopped on an internal error".into(),
            ))
        })
}

/// How a generation's outcome ends project `id`: the last event's name and
/// data, and the record's end.
pub(super) fn ending(
    id: &str,
    result: Result<nexus::generate::Report, nexus::generate::Error>,
) -> (&'static str, Value, End) {
    match result {
        Ok(report) => {
            let passed = report.passed();
            let data = json!({
                "passed": passed,
                "summary": report.summary,
                "files": report.files,
                "lines": report.lines,
                "seconds": report.elapsed.as_secs_f64(),
            });
            let summary = nexus::text::clip(&report.summary, 2000);
            (
                "done",
                data,
                End {
                    status: "done",
                    summary,
                    passed: Some(passed),
                },
            )
        }
        Err(nexus::generate::Error::Stopped) => cancelled(),
        Err(e) => {
            // The full error is the operator's (it may name the host's
            // paths); the tenant gets what it can act on.
            tracing::error!(project = %id, error = %e, "a project failed");
            let reason = match &e {
                nexus::generate::Error::Task(f) => nexus::text::clip(&f.to_string(), 1000),
                nexus::generate::Error::BadInput(_) => {
                    "the request could not be set up; the operator's log says why".into()
                }
                _ => "the generation failed inside the host; the operator's log says why".into(),
            };
            (
                "failed",
                json!({ "reason": reason }),
                End {
                    status: "failed",
                    summary: reason,
                    passed: None,
                },
            )
        }
    }
}

pub(super) fn cancelled() -> (&'static str, Value, End) {
    let reason = "cancelled by the tenant";
    (
        "failed",
        json!({ "reason": reason, "cancelled": true }),
        End {
            status: "cancelled",
            summary: reason.into(),
            passed: None,
        },
    )
}

/// How long a cancel waits for the project's work to stop.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// Cancels the project if it is queued or running, and waits until it has
/// stopped. Returns whether it was.
pub async fn cancel(service: &Arc<Service>, id: &str) -> bool {
    let Some(run) = service.projects.run(id) else {
        return false;
    };
    if let Some(cluster) = &service.cluster {
        // Its record says so at once; its worker stops it at its next
        // heartbeat, and the end reaches this node through the events.
        if let Err(e) = cluster.cancel(id).await {
            tracing::error!(project = %id, error = %e, "a project could not be cancelled");
            return false;
        }
        run.live.wait_end(STOP_WAIT).await;
        return true;
    }
    run.stop.stop();
    // A queued project has no generation to stop: it ends here. A running
    // one ends when its generation returns. Should both end it (it left
    // the queue just now, or ended on its own), the first end counts.
    if !run.started.load(std::sync::atomic::Ordering::Acquire) {
        let (name, data, end) = cancelled();
        run.note(name, data, Some(end));
    }
    run.live.wait_end(STOP_WAIT).await;
    true
}

/// Cancels the project if need be, then removes it and its files.
pub async fn delete(service: &Arc<Service>, tenant: &str, id: &str) -> Result<(), String> {
    cancel(service, id).await;
    if let Some(cluster) = &service.cluster {
        cluster
            .remove(tenant, id)
            .await
            .map_err(|e| e.to_string())?;
    }
    let (s, t, i) = (service.clone(), tenant.to_string(), id.to_string());
    off(move || s.projects.remove(&t, &i)).await
}

/// Takes up the projects a stopped host left queued or running: a running
/// one continues from the journal, and its followers, reconnecting with
/// `Last-Event-ID`, get what they missed.
pub async fn restore(service: &Arc<Service>) -> rusqlite::Result<usize> {
    let s = service.clone();
    let left: Vec<(String, ProjectInfo, Vec<Stamped>)> = off(move || {
        let left: Vec<(String, ProjectInfo)> = s.projects.db.with(|c| {
            c.prepare(&format!(
                "SELECT {COLUMNS} FROM service_projects WHERE status IN ('queued', 'running')
                 ORDER BY created, rowid"
            ))?
            .query_map([], |r| Ok((r.get::<_, String>(9)?, info(r)?)))?
            .collect()
        })?;
        left.into_iter()
            .map(|(t, p)| {
                let kept = s.projects.events(&p.id, 0)?;
                Ok((t, p, kept))
            })
            .collect()
    })
    .await
    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    let n = left.len();
    if let Some(cluster) = &service.cluster {
        // The cluster's workers run them; this node follows their events.
        // A queued one goes on the work queue again: this node may have
        // stopped between recording it and queueing it (a copy queued
        // twice is run once).
        for (tenant, p, kept) in left {
            follow(service, &p.id, kept);
            if p.status == "queued" {
                let (s, t) = (service.clone(), tenant.clone());
                let limits = off(move || s.tenants.limits(&t))
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!(tenant = %tenant, error = %e, "the tenant's limits did not read");
                        super::tenants::Limits::default()
                    });
                if let Err(e) = cluster.enqueue(&p.id, &tenant, &limits).await {
                    tracing::error!(project = %p.id, error = %e, "a queued project could not be queued again");
                }
            }
        }
        return Ok(n);
    }
    let mut waiting = std::collections::BTreeSet::new();
    for (tenant, p, kept) in left {
        let run = track(service, &tenant, &p.id, kept);
        if p.status == "running" {
            run.note("resumed", json!({}), None);
            tracing::info!(project = %p.id, tenant = %tenant, "taking up a project the host left running");
            start(service, tenant, p, run);
        } else {
            waiting.insert(tenant);
        }
    }
    // Places may have freed (or limits grown) while the host was down.
    for tenant in waiting {
        let (s, t) = (service.clone(), tenant.clone());
        let next = off(move || {
            let max = s.tenants.limits(&t)?.max_projects;
            s.projects.db.with(|c| {
                let tx = immediate(c)?;
                let next = promote(&tx, &t, max)?;
                tx.commit()?;
                Ok(next)
            })
        })
        .await
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
        for p in next {
            if let Some(run) = service.projects.run(&p.id) {
                start(service, tenant.clone(), p, run);
            }
        }
    }
    Ok(n)
}
