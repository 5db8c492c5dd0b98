//! `nexus serve`: generation as a multi-tenant service over HTTP.
//!
//! The tenancy boundary: every request carries a tenant's token, and every
//! project is recorded with the tenant that asked for it. A project that is
//! not the caller's answers exactly as one that does not exist (404). Each
//! tenant's projects live in a directory of their own under the state
//! directory, and their agents run under the same policies, in the same
//! sandboxes, as on the command line.
//!
//! - [`tenants`]: who may call, by hashed token.
//! - [`agents`]: the tenants' own agents, inside the operator's ceiling.
//! - [`projects`]: the projects, their queue, their state and their
//!   events.
//! - [`quotas`]: what a tenant may still do (rate, tokens, disk).
//! - [`api`]: the HTTP routes.

pub mod agents;
pub mod api;
pub mod archive;
pub mod cluster;
pub mod projects;
pub mod quotas;
pub mod tenants;

use nexus::runtime::Runtime;
use projects::Projects;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tenants::Tenants;

/// The service's shared state.
pub struct Service {
    pub rt: Arc<Runtime>,
    pub tenants: Tenants,
    pub projects: Projects,
    pub agents: agents::Agents,
    pub quotas: quotas::Quotas,
    /// Where generations run: threads of their own, so agents busy on the
    /// CPU never hold up the API's answers (the OS shares the cores).
    pub work: Work,
    /// The NATS JetStream this node shares with workers, if any: projects
    /// then go to the cluster's queue, and their events come back from it.
    pub cluster: Option<Arc<cluster::Cluster>>,
}

/// A tokio runtime for the projects' work.
pub struct Work(Option<tokio::runtime::Runtime>);

impl Work {
    pub fn new() -> std::io::Result<Work> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("nexus-work")
            .enable_all()
            .build()
            .map(|rt| Work(Some(rt)))
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .map(tokio::runtime::Runtime::handle)
            .expect("the work runtime lives as long as the service")
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        // The service may be dropped on an async thread, where a runtime
        // may not block to shut down.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Service {
    /// The service on `rt`, keeping projects under `dir/projects` and
    /// uploaded agents, within `ceiling`, under `dir/agents`; with a
    /// `cluster`, its projects run on the cluster's workers.
    pub fn open(
        rt: Arc<Runtime>,
        dir: PathBuf,
        ceiling: agents::Ceiling,
        cluster: Option<Arc<cluster::Cluster>>,
    ) -> Result<Arc<Service>, ServeError> {
        let db = rt.services().db.clone();
        let tenants = Tenants::open(db.clone())?;
        let projects = Projects::open(db.clone(), dir.join("projects"))?;
        let agents = agents::Agents::open(db.clone(), dir.join("agents"), ceiling)?;
        // A running project's model calls stop at its tenant's daily
        // tokens too, not only its admission. (In a cluster, the workers
        // check them, counted on every worker.)
        let limits = tenants.clone();
        let local = cluster.is_none();
        rt.services().llm.check_tenants(Arc::new(move |tenant: &str| {
            if !local {
                return Ok(());
            }
            let internal = |e: rusqlite::Error| nexus::bindings::Error::Internal(e.to_string());
            let Some(max) = limits.limits(tenant).map_err(internal)?.tokens_per_day else {
                return Ok(());
            };
            let since = nexus::db::now() - quotas::DAY;
            let (used, _) = db
                .with(|c| nexus::llm::tenant_tokens(c, tenant, since))
                .map_err(internal)?;
            if used >= max {
                return Err(nexus::bindings::Error::QuotaExceeded(format!(
                    "tenant `{tenant}` used {used} LLM tokens over the last 24 hours; its quota tokens_per_day is {max}"
                )));
            }
            Ok(())
        }));
        Ok(Arc::new(Service {
            rt,
            tenants,
            projects,
            agents,
            quotas: quotas::Quotas::default(),
            work: Work::new().map_err(ServeError::Server)?,
            cluster,
        }))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tenants(#[from] tenants::TenantError),
    #[error("the projects' database: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("the server stopped: {0}")]
    Server(std::io::Error),
}

/// Takes up the projects an earlier run left queued or running, then
/// serves until `shutdown` resolves. `ready` learns the address the server
/// listens on (a port of 0 takes a free one). Pages from `origins` may
/// call the API (CORS).
///
/// The future is boxed: see [`nexus::BoxFuture`].
pub fn serve(
    service: Arc<Service>,
    addr: SocketAddr,
    origins: Vec<axum::http::HeaderValue>,
    ready: Box<dyn FnOnce(SocketAddr) + Send>,
    shutdown: nexus::BoxFuture<'static, ()>,
) -> nexus::BoxFuture<'static, Result<(), ServeError>> {
    Box::pin(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|error| ServeError::Listen { addr, error })?;
        let local = listener
            .local_addr()
            .map_err(|error| ServeError::Listen { addr, error })?;
        let taken = projects::restore(&service).await?;
        if taken > 0 {
            tracing::info!(
                projects = taken,
                "took up the projects left queued or running"
            );
        }
        let stop = nexus::sync::Stop::default();
        if let Some(cluster) = &service.cluster {
            tokio::spawn(cluster::mirror::mirror(
                service.clone(),
                cluster.clone(),
                stop.clone(),
            ));
        }
        ready(local);
        let served = axum::serve(listener, api::router(service, origins))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServeError::Server);
        stop.stop();
        served
    })
}

/// Creates a project's directory `root` and its tenant's, its parent.
///
/// The parent is marked as the top of a directory hierarchy (`chattr +T`)
/// where the filesystem keeps that flag: ext4 then spreads the projects'
/// directories over its block groups instead of crowding them into their
/// parent's. Projects come and go, and on ext4 without a journal, creating a
/// file scans past every inode of its group deleted within the last minute:
/// crowded into one group, each finished project made every later file
/// slower (a third of a worker's CPU time in the cluster bench).
pub(crate) fn project_dir(root: &std::path::Path) -> std::io::Result<()> {
    if let Some(parent) = root.parent() {
        std::fs::create_dir_all(parent)?;
        spread(parent);
    }
    std::fs::create_dir_all(root)
}

/// Sets the top-of-hierarchy flag on `dir`, if it can be had; a filesystem
/// without it loses nothing but the placement.
fn spread(dir: &std::path::Path) {
    use rustix::fs::{IFlags, ioctl_getflags, ioctl_setflags};
    let Ok(d) = std::fs::File::open(dir) else {
        return;
    };
    if let Ok(flags) = ioctl_getflags(&d)
        && !flags.contains(IFlags::TOPDIR)
    {
        let _ = ioctl_setflags(&d, flags | IFlags::TOPDIR);
    }
}

#[cfg(test)]
mod tests {
    use rustix::fs::{IFlags, ioctl_getflags};

    #[test]
    fn a_project_directory_is_made_below_a_parent_that_spreads_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tenant").join("p1");
        super::project_dir(&root).unwrap();
        assert!(root.is_dir());
        let parent = std::fs::File::open(dir.path().join("tenant")).unwrap();
        // A filesystem without inode flags (tmpfs) keeps only the directory.
        if let Ok(flags) = ioctl_getflags(&parent) {
            assert!(flags.contains(IFlags::TOPDIR), "{flags:?}");
        }
        // Again, for a project that runs again: nothing changes.
        super::project_dir(&root).unwrap();
        assert!(root.is_dir());
    }
}
