//! `nexus run`: one task of an agent in a project directory.

use super::failure::Failure;
use super::{EXIT_CODES, Global, open_project, runtime};
use clap::Args;
use nexus::setup::Setup;
use std::path::{Path, PathBuf};

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
pub(crate) struct RunArgs {
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

/// Reads at most `max` bytes of `path` as UTF-8; a bigger file is refused
/// before it is read.
pub(crate) fn read_bounded(path: &str, max: u64) -> Result<String, String> {
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

pub(crate) fn read_task(arg: &str) -> Result<(String, String), Failure> {
    let max = nexus::project::MAX_TASK;
    let text = match arg.strip_prefix('@') {
        Some(file) => read_bounded(file, max)
            .map_err(|e| Failure::bad_input(format!("reading the task file {file}: {e}")))?,
        None => arg.to_string(),
    };
    nexus::task::parse_task(&text).map_err(Failure::bad_input)
}

pub(crate) async fn run(g: &Global, args: RunArgs) -> Result<(), Failure> {
    let (kind, payload) = read_task(&args.task)?;
    let rt = runtime(g)?;
    std::fs::create_dir_all(&args.workspace).map_err(|e| {
        Failure::bad_input(format!(
            "creating the workspace {}: {e}",
            args.workspace.display()
        ))
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
        let (agent, policy) = peer
            .split_once('=')
            .ok_or_else(|| Failure::bad_input(format!("--peer `{peer}` is not AGENT=POLICY")))?;
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
