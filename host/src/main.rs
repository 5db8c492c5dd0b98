//! The `nexus` command line.

use clap::{Args, Parser, Subcommand};
use nexus::config::{HostConfig, ProcessEnv};
use nexus::failure::Failure;
use nexus::policy::Policy;
use nexus::project::Project;
use nexus::runtime::{Runtime, RuntimeOptions};
use nexus::setup::Setup;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Run AI agents as sandboxed WebAssembly components, each under its own
/// capability policy.
///
/// An agent is a `.wasm` component (wasm32-wasip2) that exports `describe`
/// and `handle` from the `nexus:agent` WIT package. It can touch nothing but
/// what its policy (a TOML file, deny by default) grants: files under the
/// project directory, other agents on the bus, model roles, memory, metrics
/// and log.
#[derive(Parser)]
#[command(name = "nexus", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 ok · 1 the task failed · 2 bad input (arguments, policy, task, component) \
· 3 denied by a policy · 4 trap or resource limit · 5 timed out";

#[derive(Args)]
struct Global {
    /// Where compiled components are cached (default: $XDG_CACHE_HOME/nexus).
    #[arg(long, global = true, env = "NEXUS_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every component afresh and cache nothing.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Where the host keeps its database (default: $XDG_DATA_HOME/nexus).
    #[arg(long, global = true, env = "NEXUS_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Host configuration (LLM backends, role → model map, fallbacks,
    /// timeouts). Default: ./nexus.toml when it exists. OLLAMA_HOST,
    /// OPENAI_BASE_URL, OPENAI_API_KEY and NEXUS_LLM_BACKEND override it.
    #[arg(long, global = true, env = "NEXUS_CONFIG")]
    config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
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
    Bench(nexus::bench::BenchArgs),
}

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
struct GenerateArgs {
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

#[derive(Args)]
/// Run one task of an agent in a project directory.
///
/// Example:
///   nexus run hello --policy policies/hello.toml --workspace ./demo \
///     --task '{"kind":"greet","payload":{"name":"Ada"}}'
///
/// Prints the outcome's summary, payload and written files. On failure
/// prints one line saying why and exits non-zero.
#[command(verbatim_doc_comment, after_help = EXIT_CODES)]
struct RunArgs {
    /// The agent: a path to a `.wasm` component or the name of a built-in
    /// agent (see `nexus agents list`).
    agent: String,
    /// The agent's policy file.
    #[arg(long, short)]
    policy: PathBuf,
    /// Project directory the agent works in (created if missing). Nothing
    /// outside it is written.
    #[arg(long, short)]
    workspace: PathBuf,
    /// The task as JSON, `{"kind": "...", "payload": {...}}`, or `@file` to
    /// read it from a file.
    #[arg(long, short)]
    task: String,
    /// Another agent the task may reach on the bus, as `AGENT=POLICY`
    /// (repeatable).
    #[arg(long = "peer", value_name = "AGENT=POLICY")]
    peers: Vec<String>,
    /// Project id (default: the workspace directory's name).
    #[arg(long)]
    project: Option<String>,
    /// Tenant the project belongs to.
    #[arg(long, default_value = "local")]
    tenant: String,
}

#[derive(Subcommand)]
enum AgentsCommand {
    /// Print an agent's describe(), its imports, size and SHA-256.
    Inspect {
        /// Path to a `.wasm` component or a built-in agent name.
        agent: String,
    },
    /// List the agents built into this binary.
    List,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Check policy files and summarise what each grants; every error names
    /// the file, the line and a fix.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
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
            ExitCode::from(f.code)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Run(args) => run(&cli.global, args).await,
        Command::Generate(args) if args.dry_run => {
            nexus::generate::dry_run(runtime(&cli.global)?, args.description, args.policies).await
        }
        Command::Generate(args) => {
            nexus::generate::generate(
                runtime(&cli.global)?,
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
        Command::Agents(AgentsCommand::List) => {
            for (name, bytes) in nexus::builtin::ROSTER {
                nexus::say!("{name:<14} {:>8} bytes", bytes.len());
            }
            Ok(())
        }
        Command::Agents(AgentsCommand::Inspect { agent }) => inspect(&cli.global, &agent).await,
        Command::Policy(PolicyCommand::Check { files }) => policy_check(&files),
        Command::Models => models(&cli.global).await,
        Command::Resume { project } => resume(&cli.global, &project).await,
        Command::Messages {
            project,
            limit,
            json,
        } => messages(&cli.global, &project, limit, json).await,
        Command::Bench(args) => nexus::bench::run(args).await.map_err(|e| Failure {
            code: 1,
            message: format!("{e:#}"),
        }),
    }
}

fn runtime(g: &Global) -> Result<std::sync::Arc<Runtime>, Failure> {
    let config = host_config(g)?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let xdg = |var: &str, fallback: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(fallback)))
            .map(|d| d.join("nexus"))
    };
    let cache_dir = if g.no_cache {
        None
    } else {
        g.cache_dir
            .clone()
            .or_else(|| xdg("XDG_CACHE_HOME", ".cache"))
    };
    let state_dir = g
        .state_dir
        .clone()
        .or_else(|| xdg("XDG_DATA_HOME", ".local/share"));
    Runtime::new(RuntimeOptions {
        cache_dir,
        database: state_dir.map(|d| d.join("nexus.db")),
        llm: config.llm,
        bus: config.bus,
        memory: config.memory,
        no_journal: false,
    })
    .map_err(|e| Failure {
        code: 2,
        message: format!("{e:#}"),
    })
}

fn host_config(g: &Global) -> Result<HostConfig, Failure> {
    let default = Path::new("nexus.toml");
    let path = g.config.as_deref().or(default.exists().then_some(default));
    Ok(HostConfig::load(path, &ProcessEnv)?)
}

fn journal_of(rt: &Runtime) -> Result<&dyn nexus::bus::Broker, Failure> {
    rt.broker().ok_or_else(|| Failure {
        code: 2,
        message: "this host keeps no journal".into(),
    })
}

async fn open_project(
    rt: &std::sync::Arc<Runtime>,
    id: &str,
    setup: &Setup,
) -> Result<(std::sync::Arc<Project>, String), Failure> {
    let project =
        Project::open(rt.clone(), id, &setup.tenant, &setup.workspace).map_err(|e| Failure {
            code: 2,
            message: format!("opening the workspace {}: {e}", setup.workspace.display()),
        })?;
    let mut first = None;
    for (component, policy) in &setup.agents {
        let agent = load(rt, component, policy).await?;
        first.get_or_insert_with(|| agent.id().to_string());
        project.add_agent(agent);
    }
    Ok((project, first.unwrap_or_default()))
}

async fn resume(g: &Global, id: &str) -> Result<(), Failure> {
    let rt = runtime(g)?;
    let journal = journal_of(&rt)?;
    let setup = Setup::load(journal, id).await?.ok_or_else(|| Failure {
        code: 2,
        message: format!(
            "no project `{id}` in the journal; `nexus generate --name {id}` or `nexus run --project {id}` creates one"
        ),
    })?;
    if setup.generation.is_some() {
        return nexus::generate::resume(rt.clone(), id, &setup).await;
    }
    let (project, _) = open_project(&rt, id, &setup).await?;
    let report = project.resume().await.map_err(|f| Failure::task(&f))?;
    nexus::say!(
        "resumed `{id}`: {} messages delivered again, {} handled, {} failed",
        report.redelivered,
        report.handled,
        report.failed.len()
    );
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            code: 1,
            message: format!(
                "{} messages failed for good (see `nexus messages {id}`)",
                report.failed.len()
            ),
        })
    }
}

async fn messages(g: &Global, id: &str, limit: u32, json: bool) -> Result<(), Failure> {
    let rt = runtime(g)?;
    let journal = journal_of(&rt)?;
    for e in journal.history(id, limit).await? {
        let m = &e.message;
        let state = match &e.state {
            nexus::bus::State::Pending => "pending",
            nexus::bus::State::Done(_) => "done",
            nexus::bus::State::Dead(_) => "dead",
        };
        if json {
            nexus::say!(
                "{}",
                nexus::text::json_line(&serde_json::json!({
                    "id": m.id, "from": m.sender, "to": m.recipient, "kind": m.kind, "state": state,
                    "attempt": m.attempt, "created": e.created, "updated": e.updated, "error": e.last_error,
                }))
            );
        } else {
            let clip = |s: &str, n| nexus::text::clip(s, n);
            nexus::say!(
                "{} {:<8} {:>12} -> {:<12} {:<20} attempt {} {}",
                clip(&m.id, 12),
                state,
                clip(&m.sender, 12),
                clip(&m.recipient, 12),
                clip(&m.kind, 20),
                m.attempt,
                e.last_error
                    .as_deref()
                    .map(|s| clip(s, 120))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

async fn models(g: &Global) -> Result<(), Failure> {
    let rt = runtime(g)?;
    let llm = &rt.services().llm;
    let Some(backend) = &llm.config().backend else {
        nexus::say!(
            "no LLM backend is configured (NEXUS_LLM_BACKEND=none); agents use built-in planning and templates"
        );
        return Ok(());
    };
    let started = std::time::Instant::now();
    let listed = llm.list_models(std::time::Duration::from_secs(5)).await;
    let took = started.elapsed().as_millis();
    let available = match listed {
        Ok(models) => {
            nexus::say!(
                "{}: ok, {} models ({took} ms)",
                llm.backend_name(),
                models.len()
            );
            for m in &models {
                nexus::say!("  {m}");
            }
            models
        }
        Err(e) => {
            nexus::say!(
                "no LLM backend answers: {} ({e}); agents will use built-in planning and templates",
                llm.backend_name()
            );
            Vec::new()
        }
    };
    nexus::say!("roles ({}):", backend.kind.name());
    let mut roles: Vec<&String> = llm.config().models.keys().collect();
    roles.sort();
    for role in roles {
        let chain = llm.config().chain(role);
        match llm.resolve(role, &available) {
            Some(m) if Some(&m) == chain.first() => nexus::say!("  {role:<13} -> {m}"),
            Some(m) => nexus::say!("  {role:<13} -> {m} (fallback; {} is missing)", chain[0]),
            None => nexus::say!("  {role:<13} -> none of {chain:?} is available"),
        }
    }
    Ok(())
}

/// Reads at most `max` bytes of `path` as UTF-8; a bigger file is refused
/// before it is read.
fn read_bounded(path: &str, max: u64) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        return Err(format!("it is larger than {}", nexus::policy::Size(max)));
    }
    String::from_utf8(bytes).map_err(|e| format!("it is not UTF-8 ({e})"))
}

fn read_task(arg: &str) -> Result<(String, String), Failure> {
    let max = nexus::project::MAX_TASK;
    let text = match arg.strip_prefix('@') {
        Some(file) => read_bounded(file, max).map_err(|e| Failure {
            code: 2,
            message: format!("reading the task file {file}: {e}"),
        })?,
        None => arg.to_string(),
    };
    nexus::task::parse_task(&text)
}

async fn load(
    rt: &std::sync::Arc<Runtime>,
    agent: &str,
    policy: &Path,
) -> Result<std::sync::Arc<nexus::runtime::Agent>, Failure> {
    let policy = Policy::load(policy)?;
    let bytes = Runtime::read_component(agent).map_err(Failure::load)?;
    rt.load_agent(&bytes, policy).await.map_err(Failure::load)
}

async fn run(g: &Global, args: RunArgs) -> Result<(), Failure> {
    let (kind, payload) = read_task(&args.task)?;
    let rt = runtime(g)?;
    std::fs::create_dir_all(&args.workspace).map_err(|e| Failure {
        code: 2,
        message: format!("creating the workspace {}: {e}", args.workspace.display()),
    })?;
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    // Paths are stored absolute so `resume` works from any directory; a
    // built-in agent's name stays a name.
    let spec = |agent: &str| {
        if Path::new(agent).exists() {
            absolute(Path::new(agent)).display().to_string()
        } else {
            agent.to_string()
        }
    };
    let mut agents = vec![(spec(&args.agent), absolute(&args.policy))];
    for peer in &args.peers {
        let (agent, policy) = peer.split_once('=').ok_or_else(|| Failure {
            code: 2,
            message: format!("--peer `{peer}` is not AGENT=POLICY"),
        })?;
        agents.push((spec(agent), absolute(Path::new(policy))));
    }
    let setup = Setup {
        tenant: args.tenant.clone(),
        workspace: absolute(&args.workspace),
        agents,
        generation: None,
    };
    // One id, one directory: an id recorded for another directory is
    // refused, and the default id is made unique.
    let name = setup
        .workspace
        .file_name()
        .map_or("project".into(), |n| n.to_string_lossy().into_owned());
    let project_id = match (rt.broker(), args.project.clone()) {
        (Some(journal), Some(id)) => {
            nexus::setup::claim(journal, &id, &setup.workspace).await?;
            id
        }
        (Some(journal), None) => {
            let id = nexus::setup::default_id(journal, &name, &setup.workspace).await?;
            if id != name {
                eprintln!("nexus: project id `{id}` (`{name}` belongs to another directory)");
            }
            id
        }
        // No journal: nothing else can hold the id.
        (None, id) => id.unwrap_or(name),
    };
    let (project, id) = open_project(&rt, &project_id, &setup).await?;
    if let Some(journal) = rt.broker() {
        setup.save(journal, &project_id).await?;
    }
    match project.run(&id, &kind, &payload).await {
        Ok(outcome) => {
            // The agent's words: escaped before they reach the terminal.
            nexus::say!("ok: {}", nexus::text::clip(&outcome.summary, 1024));
            let pretty = serde_json::from_str::<serde_json::Value>(&outcome.payload)
                .map(|v| nexus::text::json_pretty(&v))
                .unwrap_or_else(|_| nexus::text::escape(&outcome.payload));
            nexus::say!("{pretty}");
            for a in &outcome.artifacts {
                nexus::say!("wrote {}", nexus::text::clip(a, 1024));
            }
            Ok(())
        }
        Err(f) => Err(Failure::task(&f)),
    }
}

async fn inspect(g: &Global, agent: &str) -> Result<(), Failure> {
    let rt = runtime(g)?;
    let bytes = Runtime::read_component(agent).map_err(Failure::load)?;
    let i = rt.inspect(&bytes).await.map_err(Failure::load)?;
    let clip = |s: &str| nexus::text::clip(s, 256);
    nexus::say!("id:           {}", clip(&i.info.id));
    nexus::say!("name:         {}", clip(&i.info.name));
    nexus::say!("version:      {}", clip(&i.info.version));
    nexus::say!("description:  {}", clip(&i.info.description));
    nexus::say!(
        "handles:      {}",
        i.info
            .handles
            .iter()
            .map(|h| clip(h))
            .collect::<Vec<_>>()
            .join(", ")
    );
    nexus::say!(
        "capabilities: {}",
        i.info
            .capabilities
            .iter()
            .map(|h| clip(h))
            .collect::<Vec<_>>()
            .join(", ")
    );
    nexus::say!("size:         {} bytes", i.size);
    nexus::say!("sha256:       {}", i.sha256);
    nexus::say!("imports:");
    for imp in &i.imports {
        nexus::say!("  {imp}");
    }
    Ok(())
}

fn policy_check(files: &[PathBuf]) -> Result<(), Failure> {
    let mut bad = 0;
    for f in files {
        match Policy::load(f) {
            Ok(p) => nexus::say!("ok    {}: {}", f.display(), p.summary()),
            Err(e) => {
                bad += 1;
                nexus::say!("error {e}");
            }
        }
    }
    if bad > 0 {
        return Err(Failure {
            code: 2,
            message: format!("{bad} of {} policies have errors", files.len()),
        });
    }
    Ok(())
}
