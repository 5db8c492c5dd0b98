//! `nexus serve` and `nexus tenant`: the generation service and who may
//! call it.

use super::failure::Failure;
use super::{Global, runtime};
use clap::{Args, Subcommand};
use nexus_service::Service;
use nexus_service::agents::Ceiling;
use nexus_service::cluster::Cluster;
use nexus_service::cluster::worker::Worker;
use nexus_service::tenants::{DEFAULT_MAX_PROJECTS, Limits, Rate, Tenants};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args)]
/// Serve project generation over HTTP to tenants (see `nexus tenant`).
///
/// Every request under /v1 needs a tenant's token (Authorization: Bearer
/// <token>). POST /v1/projects {"description": "..."} starts a project (or
/// queues it behind the tenant's running ones); GET /v1/projects/{id}/events
/// follows it (Server-Sent Events); its files are at /v1/projects/{id}/files
/// and /archive once it ends; POST .../cancel and DELETE stop and remove it.
/// Beyond a tenant's quota a request gets 429 with Retry-After. /healthz and
/// /readyz need no token. Projects and the database live in --state-dir;
/// projects left running by a stopped server continue when it starts.
#[command(verbatim_doc_comment)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 takes a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Most linear memory an uploaded agent's policy may grant.
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    agent_memory: u64,
    /// Model roles an uploaded agent's policy may name (comma-separated;
    /// none by default).
    #[arg(long, value_delimiter = ',')]
    agent_llm_roles: Vec<String>,
    /// Web origins whose pages may call the API, e.g. https://app.example.com
    /// (comma-separated; none by default: the dashboard is the service's own).
    #[arg(long, value_delimiter = ',', env = "NEXUS_CORS_ORIGINS", value_parser = parse_origin)]
    cors_origin: Vec<axum::http::HeaderValue>,
    /// With a cluster ([cluster] nats): projects this node runs itself at
    /// once, besides serving the API (default: [cluster] capacity; 0 leaves
    /// them all to `nexus worker`s).
    #[arg(long)]
    capacity: Option<u32>,
}

fn parse_origin(s: &str) -> Result<axum::http::HeaderValue, String> {
    let origin = s.trim().trim_end_matches('/');
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    if !host.is_some_and(|h| !h.is_empty() && !h.contains('/')) {
        return Err(format!(
            "`{s}` is not a web origin; write scheme and host, e.g. https://app.example.com"
        ));
    }
    axum::http::HeaderValue::from_str(origin).map_err(|e| format!("`{s}`: {e}"))
}

fn parse_size(s: &str) -> Result<u64, String> {
    s.parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("`{s}` is not a size; write e.g. 64MiB, 5GiB"))
}

#[derive(Subcommand)]
pub(crate) enum TenantCommand {
    /// Add a tenant and print its API token (shown this once; only its hash
    /// is kept).
    Add {
        name: String,
        /// Projects it may run at once; more wait in its queue.
        #[arg(long, default_value_t = DEFAULT_MAX_PROJECTS)]
        max_projects: u32,
        /// Projects that may wait for a place; more are refused with 429.
        #[arg(long, default_value_t = Limits::default().max_queued)]
        max_queued: u32,
        /// LLM tokens it may use over any 24 hours (default: no limit).
        #[arg(long)]
        tokens_per_day: Option<u64>,
        /// Disk its projects may take, e.g. 5GiB, or `none`.
        #[arg(long, default_value = "5GiB", value_parser = parse_disk)]
        disk: Limit<u64>,
        /// Requests it may make: 10/s, 600/min, 1000/h, or `none`.
        #[arg(long, default_value = "20/s", value_parser = parse_rate)]
        rate: Limit<Rate>,
    },
    /// List the tenants.
    List,
    /// Revoke a tenant's token; its projects are kept.
    Revoke { name: String },
}

/// A limit, or `none`.
#[derive(Clone)]
pub(crate) struct Limit<T>(Option<T>);

fn parse_disk(s: &str) -> Result<Limit<u64>, String> {
    if s == "none" {
        return Ok(Limit(None));
    }
    parse_size(s).map(|b| Limit(Some(b)))
}

fn parse_rate(s: &str) -> Result<Limit<Rate>, String> {
    if s == "none" {
        return Ok(Limit(None));
    }
    s.parse().map(|r| Limit(Some(r)))
}

/// The state directory, created when missing.
fn state_dir(g: &Global) -> Result<PathBuf, Failure> {
    let dir = super::state_dir(g)
        .ok_or_else(|| Failure::bad_input("no state directory; pass --state-dir DIR"))?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::bad_input(format!("the state directory {}: {e}", dir.display())))?;
    Ok(dir)
}

pub(crate) async fn serve(g: &Global, args: ServeArgs) -> Result<(), Failure> {
    let ceiling = Ceiling {
        memory: args.agent_memory,
        llm_roles: args.agent_llm_roles,
        ..Ceiling::default()
    };
    let config = super::host_config(g)?.cluster;
    let dir = state_dir(g)?;
    let rt = runtime(g)?;
    let cluster = match config.nats {
        Some(_) => Some(
            Cluster::connect(config.clone())
                .await
                .map_err(Failure::bad_input)?,
        ),
        None => None,
    };
    let service = Service::open(rt.clone(), dir.clone(), ceiling, cluster.clone())
        .map_err(Failure::bad_input)?;
    let stop = nexus::sync::Stop::default();
    let capacity = args.capacity.unwrap_or(config.capacity);
    if let (Some(cluster), true) = (cluster, capacity > 0) {
        let worker = Worker::new(cluster, rt, dir.join("work"), service.work.handle().clone());
        let stop = stop.clone();
        tokio::spawn(async move {
            if let Err(e) = worker.run(capacity, stop, say()).await {
                tracing::error!(error = %e, "this node's worker stopped");
            }
        });
    }
    let shutdown = async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.stop();
    };
    nexus_service::serve(
        service,
        args.listen,
        args.cors_origin,
        Box::new(|addr| nexus::say!("nexus serve: listening on http://{addr}")),
        Box::pin(shutdown),
    )
    .await
    .map_err(Failure::bad_input)
}

/// What a worker does, on stderr.
fn say() -> nexus_service::cluster::worker::Say {
    std::sync::Arc::new(|line: String| {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        eprintln!(
            "nexus worker [{}.{:03}]: {line}",
            at.as_secs(),
            at.subsec_millis()
        )
    })
}

#[derive(Args)]
/// Run projects of a cluster's service ([cluster] nats in nexus.toml, or
/// NEXUS_NATS_URL): take them from the shared queue while there is room,
/// each to its end, alongside any number of other workers. A worker that
/// stops has its projects taken by another after the lease. Projects run in
/// --state-dir/work while they run; their files then go to the cluster.
#[command(verbatim_doc_comment)]
pub(crate) struct WorkerArgs {
    /// Projects run at once (default: [cluster] capacity, 4).
    #[arg(long)]
    capacity: Option<u32>,
}

pub(crate) async fn worker(g: &Global, args: WorkerArgs) -> Result<(), Failure> {
    let config = super::host_config(g)?.cluster;
    if config.nats.is_none() {
        return Err(Failure::bad_input(
            "a worker needs a cluster; set [cluster] nats = \"nats://host:4222\" in nexus.toml or NEXUS_NATS_URL",
        ));
    }
    let capacity = args.capacity.unwrap_or(config.capacity);
    if capacity == 0 {
        return Err(Failure::bad_input("--capacity must be at least 1"));
    }
    let dir = state_dir(g)?;
    let rt = runtime(g)?;
    let cluster = Cluster::connect(config).await.map_err(Failure::bad_input)?;
    // Generations on threads of their own: agents busy on the CPU never
    // hold up the heartbeats that keep this worker's projects its own.
    let work = nexus_service::Work::new()
        .map_err(|e| Failure::bad_input(format!("cannot start the work threads: {e}")))?;
    let worker = Worker::new(cluster.clone(), rt, dir.join("work"), work.handle().clone());
    let stop = nexus::sync::Stop::default();
    let signal = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        signal.stop();
    });
    nexus::say!(
        "nexus worker {}: taking up to {capacity} projects at once",
        cluster.node
    );
    worker
        .run(capacity, stop, say())
        .await
        .map_err(Failure::bad_input)
}

pub(crate) async fn tenant(g: &Global, command: TenantCommand) -> Result<(), Failure> {
    // Only the tenants: a server may be running on the same state.
    state_dir(g)?;
    let tenants = Tenants::open(runtime(g)?.services().db.clone()).map_err(Failure::bad_input)?;
    match command {
        TenantCommand::Add {
            name,
            max_projects,
            max_queued,
            tokens_per_day,
            disk,
            rate,
        } => {
            let limits = Limits {
                max_projects,
                max_queued,
                tokens_per_day,
                disk_bytes: disk.0,
                rate: rate.0,
            };
            let token = tenants.add(&name, &limits).map_err(Failure::bad_input)?;
            nexus::say!("tenant `{name}` added; its token (shown only now):");
            nexus::say!("{token}");
        }
        TenantCommand::List => {
            let all = tenants.list().map_err(Failure::bad_input)?;
            let none = || "-".to_string();
            nexus::say!(
                "{:<24} {:>8} {:>7} {:>14} {:>10} {:>9}  state",
                "tenant",
                "projects",
                "queued",
                "tokens/day",
                "disk",
                "rate"
            );
            for t in all {
                let l = &t.limits;
                nexus::say!(
                    "{:<24} {:>8} {:>7} {:>14} {:>10} {:>9}  {}",
                    t.name,
                    l.max_projects,
                    l.max_queued,
                    l.tokens_per_day.map_or_else(none, |n| n.to_string()),
                    l.disk_bytes
                        .map_or_else(none, |b| bytesize::ByteSize(b).to_string()),
                    l.rate.map_or_else(none, |r| r.to_string()),
                    if t.revoked.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
        }
        TenantCommand::Revoke { name } => {
            tenants.revoke(&name).map_err(Failure::bad_input)?;
            nexus::say!("tenant `{name}` revoked");
        }
    }
    Ok(())
}
