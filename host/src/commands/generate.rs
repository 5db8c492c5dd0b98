//! `nexus generate`: a project from a one-line description.

use super::{EXIT_CODES, Global, runtime};
use clap::Args;
use nexus::failure::Failure;
use std::path::PathBuf;

#[derive(Args)]
/// Generate a project (FastAPI backend, React frontend, tests, Docker,
/// Kubernetes, CI) from a one-line description.
///
/// Example:
///   nexus generate "a todo app with users and tags"
///
/// The orchestrator, analyst, backend, frontend, integration and devops
/// agents each run in their own sandbox under their policy; the project
/// directory is the only place anything is written. With no LLM reachable,
/// the built-in planner and templates are used. Exits 0 only when every
/// phase and gate passed; nexus-project.json in the project records the plan,
/// phases, timings and findings.
#[command(verbatim_doc_comment, after_help = EXIT_CODES)]
pub(crate) struct GenerateArgs {
    /// What to build, in a sentence.
    description: String,
    /// Project name (default: the name of what the request was understood
    /// as, such as `hotel-booking`).
    #[arg(long)]
    name: Option<String>,
    /// Where to write the project (default: ./nexus-projects/<name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Directory with <agent>.toml policies to use instead of the shipped ones.
    #[arg(long)]
    policies: Option<PathBuf>,
    /// Only say what the request was understood as, and why: the spec as
    /// JSON on stdout, a summary and the reasons on stderr. Writes nothing.
    #[arg(long)]
    dry_run: bool,
    /// Start over even when an earlier run of this project was interrupted
    /// (without it, that run is continued: what it finished, and the model
    /// answers it paid for, are kept).
    #[arg(long)]
    restart: bool,
}

pub(crate) async fn generate(g: &Global, args: GenerateArgs) -> Result<(), Failure> {
    if args.dry_run {
        return nexus::generate::dry_run(runtime(g)?, args.description, args.policies).await;
    }
    nexus::generate::generate(
        runtime(g)?,
        nexus::generate::Request {
            description: args.description,
            name: args.name,
            out: args.out,
            policies: args.policies,
            restart: args.restart,
        },
    )
    .await
}
