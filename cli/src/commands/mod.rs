//! The commands of the `nexus` binary, one file each, and what they share:
//! the global options, the runtime they build, the host configuration,
//! and a project opened from its recorded setup.

use clap::Args;
use failure::Failure;
use nexus::config::{HostConfig, ProcessEnv};
use nexus::policy::Policy;
use nexus::project::Project;
use nexus::runtime::{Runtime, RuntimeOptions};
use nexus::setup::Setup;
use std::path::{Path, PathBuf};

pub mod agents;
pub mod bench;
pub mod failure;
pub mod generate;
pub mod messages;
pub mod models;
pub mod policy;
pub mod resume;
pub mod run;
pub mod serve;

/// What `--help` says about exit codes.
pub(crate) const EXIT_CODES: &str = "Exit codes: 0 ok · 1 the task failed · 2 bad input (arguments, policy, task, component) \
· 3 denied by a policy · 4 trap or resource limit · 5 timed out";

#[derive(Args)]
pub(crate) struct Global {
    /// Where compiled components are cached (default: $XDG_CACHE_HOME/nexus).
    #[arg(long, global = true, env = "NEXUS_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Compile every component afresh and cache nothing.
    #[arg(long, global = true)]
    pub(crate) no_cache: bool,
    /// Where the host keeps its database (default: $XDG_DATA_HOME/nexus).
    #[arg(long, global = true, env = "NEXUS_STATE_DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Host configuration (LLM backends, role → model map, fallbacks,
    /// timeouts). Default: ./nexus.toml when it exists. OLLAMA_HOST,
    /// OPENAI_BASE_URL, OPENAI_API_KEY and NEXUS_LLM_BACKEND override it.
    #[arg(long, global = true, env = "NEXUS_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// `$<var>/nexus`, or `$HOME/<fallback>/nexus`.
fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))
        .map(|d| d.join("nexus"))
}

/// Where the host keeps its database (and the service its projects).
pub(crate) fn state_dir(g: &Global) -> Option<PathBuf> {
    g.state_dir
        .clone()
        .or_else(|| xdg("XDG_DATA_HOME", ".local/share"))
}

pub(crate) fn runtime(g: &Global) -> Result<std::sync::Arc<Runtime>, Failure> {
    let config = host_config(g)?;
    let cache_dir = if g.no_cache {
        None
    } else {
        g.cache_dir
            .clone()
            .or_else(|| xdg("XDG_CACHE_HOME", ".cache"))
    };
    let state_dir = state_dir(g);
    Runtime::new(RuntimeOptions {
        cache_dir,
        database: state_dir.map(|d| d.join("nexus.db")),
        llm: config.llm,
        bus: config.bus,
        memory: config.memory,
        no_journal: false,
        cluster: config.cluster,
    })
    .map_err(|e| Failure::bad_input(format!("{e:#}")))
}

pub(crate) fn host_config(g: &Global) -> Result<HostConfig, Failure> {
    let default = Path::new("nexus.toml");
    let path = g.config.as_deref().or(default.exists().then_some(default));
    Ok(HostConfig::load(path, &ProcessEnv)?)
}

pub(crate) fn journal_of(rt: &Runtime) -> Result<&dyn nexus::bus::Broker, Failure> {
    rt.broker()
        .ok_or_else(|| Failure::bad_input("this host keeps no journal"))
}

pub(crate) async fn open_project(
    rt: &std::sync::Arc<Runtime>,
    id: &str,
    setup: &Setup,
) -> Result<(std::sync::Arc<Project>, String), Failure> {
    let project = Project::open(rt.clone(), id, &setup.tenant, &setup.workspace).map_err(|e| {
        Failure::bad_input(format!(
            "opening the workspace {}: {e}",
            setup.workspace.display()
        ))
    })?;
    let mut first = None;
    for (component, policy) in &setup.agents {
        let agent = load(rt, component, policy).await?;
        first.get_or_insert_with(|| agent.id().to_string());
        project.add_agent(agent);
    }
    Ok((project, first.unwrap_or_default()))
}

pub(crate) async fn load(
    rt: &std::sync::Arc<Runtime>,
    agent: &str,
    policy: &Path,
) -> Result<std::sync::Arc<nexus::runtime::Agent>, Failure> {
    let policy = Policy::load(policy)?;
    let bytes = Runtime::read_component(agent).map_err(Failure::load)?;
    rt.load_agent(&bytes, policy).await.map_err(Failure::load)
}
