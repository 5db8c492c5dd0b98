//! The `nexus` command line.

mod commands;

use crate::commands::failure::Failure;
use clap::{Parser, Subcommand};
use commands::Global;
use commands::agents::AgentsCommand;
use commands::bench::BenchArgs;
use commands::generate::GenerateArgs;
use commands::policy::PolicyCommand;
use commands::run::RunArgs;
use commands::serve::{ServeArgs, TenantCommand, WorkerArgs};
use std::process::ExitCode;

// Every bus message allocates its strings and a task's store; mimalloc's
// thread-local free lists make that measurably cheaper than glibc's malloc
// (`cargo bench --bench bus` uses the same allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Run AI agents as sandboxed WebAssembly components, each under its own
/// capability policy.
///
/// An agent is a `.wasm` component (wasm32-wasip2) that exports `describe`
/// and `handle` from the `nexus:agent` WIT package. It can touch nothing but
/// what its policy (a TOML file, deny by default) grants: files under the
/// project directory, other agents on the bus, model roles, memory, metrics
/// and log.
#[derive(Parser)]
#[command(name = "nexus", version, after_help = commands::EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Generate(GenerateArgs),
    Run(RunArgs),
    /// Inspect and list agents.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Check policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Show each LLM backend's health, its models, and which model each
    /// role resolves to right now.
    Models,
    /// Continue a project whose host was killed: deliver again every message
    /// the journal holds as not done, and wait until each is handled. A
    /// generation ends with the summary `nexus generate` prints.
    Resume {
        /// The project's id: the name given to `nexus generate` or `nexus run
        /// --project`, or the id they printed.
        project: String,
    },
    /// Show a project's message history from the journal.
    Messages {
        project: String,
        /// Most messages shown (the newest).
        #[arg(long, default_value_t = 200)]
        limit: u32,
        /// One JSON object a line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Measure task start, host calls and cold start (release builds only give
    /// meaningful numbers).
    Bench(BenchArgs),
    Serve(ServeArgs),
    Worker(WorkerArgs),
    /// Add, list and revoke the service's tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
}

fn main() -> ExitCode {
    nexus::alloc::tune();
    // The agents built with this binary (the library names none of its own).
    nexus::builtin::install(nexus::embedded!());
    let cli = Cli::parse();
    let filter = match cli.global.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NEXUS_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nexus: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("nexus: {}", nexus::text::escape(&f.message));
            ExitCode::from(f.exit.code())
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let g = &cli.global;
    match cli.command {
        Command::Generate(args) => commands::generate::generate(g, args).await,
        Command::Run(args) => commands::run::run(g, args).await,
        Command::Agents(command) => commands::agents::agents(g, command).await,
        Command::Policy(command) => commands::policy::policy(command),
        Command::Models => commands::models::models(g).await,
        Command::Resume { project } => commands::resume::resume(g, &project).await,
        Command::Messages {
            project,
            limit,
            json,
        } => commands::messages::messages(g, &project, limit, json).await,
        Command::Bench(args) => commands::bench::bench(args).await,
        Command::Serve(args) => commands::serve::serve(g, args).await,
        Command::Worker(args) => commands::serve::worker(g, args).await,
        Command::Tenant(command) => commands::serve::tenant(g, command).await,
    }
}
