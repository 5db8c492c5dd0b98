//! `nexus serve` and `nexus tenant`: the generation service and who may
//! call it.

use super::failure::Failure;
use super::{Global, runtime};
use clap::{Args, Subcommand};
use nexus::service::Service;
use nexus::service::tenants::{DEFAULT_MAX_PROJECTS, Tenants};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args)]
/// Serve project generation over HTTP to tenants (see `nexus tenant`).
///
/// Every request under /v1 needs a tenant's token (Authorization: Bearer
/// <token>). POST /v1/projects {"description": "..."} starts a project;
/// GET /v1/projects/{id}/events follows it (Server-Sent Events); its files
/// are at /v1/projects/{id}/files once it ends. /healthz and /readyz need no
/// token. Projects and the database live in --state-dir.
#[command(verbatim_doc_comment)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 takes a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

#[derive(Subcommand)]
pub(crate) enum TenantCommand {
    /// Add a tenant and print its API token (shown this once; only its hash
    /// is kept).
    Add {
        name: String,
        /// Projects it may run at once; more are refused with 429.
        #[arg(long, default_value_t = DEFAULT_MAX_PROJECTS)]
        max_projects: u32,
    },
    /// List the tenants.
    List,
    /// Revoke a tenant's token; its projects are kept.
    Revoke { name: String },
}

/// The state directory, created when missing.
fn state_dir(g: &Global) -> Result<PathBuf, Failure> {
    let dir = super::state_dir(g)
        .ok_or_else(|| Failure::bad_input("no state directory; pass --state-dir DIR"))?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::bad_input(format!("the state directory {}: {e}", dir.display())))?;
    Ok(dir)
}

fn open(g: &Global) -> Result<std::sync::Arc<Service>, Failure> {
    let dir = state_dir(g)?;
    Service::open(runtime(g)?, dir).map_err(Failure::bad_input)
}

pub(crate) async fn serve(g: &Global, args: ServeArgs) -> Result<(), Failure> {
    let service = open(g)?;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    nexus::service::serve(
        service,
        args.listen,
        |addr| nexus::say!("nexus serve: listening on http://{addr}"),
        shutdown,
    )
    .await
    .map_err(Failure::bad_input)
}

pub(crate) async fn tenant(g: &Global, command: TenantCommand) -> Result<(), Failure> {
    // Only the tenants: a server may be running on the same state.
    state_dir(g)?;
    let tenants = Tenants::open(runtime(g)?.services().db.clone()).map_err(Failure::bad_input)?;
    match command {
        TenantCommand::Add { name, max_projects } => {
            let token = tenants
                .add(&name, max_projects)
                .map_err(Failure::bad_input)?;
            nexus::say!("tenant `{name}` added; its token (shown only now):");
            nexus::say!("{token}");
        }
        TenantCommand::List => {
            let all = tenants.list().map_err(Failure::bad_input)?;
            nexus::say!("{:<24} {:>12}  {}", "tenant", "max_projects", "state");
            for t in all {
                nexus::say!(
                    "{:<24} {:>12}  {}",
                    t.name,
                    t.max_projects,
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
