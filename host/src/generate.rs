//! Generation: the built-in agents turn a one-line request into a project.
//! While it runs, a generation reports each agent's progress as [`Event`]s;
//! when it ends, it returns a [`Report`]. How either is shown (the command
//! line's progress lines, a service's event stream) is the caller's.

use crate::bus::{BrokerError, State};
use crate::policy::Policy;
use crate::project::Project;
use crate::runtime::{LoadError, Runtime};
use crate::setup::{self, Generation, Setup};
use crate::task::TaskFailure;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a generation could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request, the project's name or directory, or a policy will not do.
    #[error("{0}")]
    BadInput(String),
    /// An agent's component would not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// An agent's task failed.
    #[error(transparent)]
    Task(#[from] TaskFailure),
    /// The journal could not do what was asked.
    #[error("the journal: {0}")]
    Journal(#[from] BrokerError),
    /// An agent's answer, or the project's record, does not read.
    #[error("{0}")]
    Failed(String),
    /// The generation was asked to stop (see [`Request::stop`]).
    #[error("stopped before it ended")]
    Stopped,
}

/// What a generation reports while it runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// No model answers: the request parser, the built-in planner and
    /// templates are used. `line` says so in a sentence.
    NoLlm { line: String },
    /// An interrupted generation of this project is continued.
    Continuing { project: String },
    /// The project is set up and its agents are loaded.
    Started {
        project: String,
        name: String,
        /// Where the project is written: the host's path, never sent
        /// anywhere else (not serialized).
        #[serde(skip)]
        root: PathBuf,
    },
    /// An agent's task (the first message it was given) moved on.
    Agent {
        agent: String,
        kind: String,
        #[serde(flatten)]
        step: Step,
    },
}

/// Where an agent's task stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    Running,
    /// Tried again after a failure (`attempt` counts from 1).
    Retrying {
        attempt: u32,
    },
    Done {
        seconds: f64,
    },
    Failed {
        reason: String,
    },
}

/// Where a generation's events go. Called from the generation's tasks;
/// it should return quickly.
pub type Events = Arc<dyn Fn(Event) + Send + Sync>;

/// What a generation did.
#[derive(Debug, Clone)]
pub struct Report {
    pub project: String,
    pub root: PathBuf,
    /// The orchestrator's record of plan, phases, gates and findings (what
    /// `nexus-project.json` holds). It is a guest's words: clip and escape
    /// what is shown of it.
    pub record: Value,
    /// The orchestrator's summary.
    pub summary: String,
    /// Files and lines written, leaving out installed dependencies.
    pub files: usize,
    pub lines: usize,
    pub elapsed: Duration,
    /// The LLM calls and tokens of the project, in a line.
    pub llm_usage: String,
}

impl Report {
    /// Whether every phase and gate passed.
    pub fn passed(&self) -> bool {
        self.record["passed"].as_bool() == Some(true)
    }
}

fn bad_input(message: impl Into<String>) -> Error {
    Error::BadInput(message.into())
}

/// The agents `generate` runs, in the order they work.
pub const AGENTS: &[&str] = &[
    "orchestrator",
    "analyst",
    "backend",
    "frontend",
    "integration",
    "qa",
    "security",
    "devops",
];

fn policy_for(agent: &str, dir: Option<&Path>) -> Result<Policy, Error> {
    match dir {
        Some(d) => {
            Policy::load(&d.join(format!("{agent}.toml"))).map_err(|e| bad_input(e.to_string()))
        }
        None => {
            let text = crate::builtin::policy(agent).ok_or_else(|| {
                bad_input(format!(
                    "no shipped policy for `{agent}`; pass --policies DIR"
                ))
            })?;
            Policy::parse(Path::new(&format!("policies/{agent}.toml")), text)
                .map_err(|e| bad_input(e.to_string()))
        }
    }
}

/// Files and lines under `dir`, leaving out installed dependencies and
/// build output.
fn count(dir: &Path) -> (usize, usize) {
    let mut files = 0;
    let mut lines = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if !matches!(
                name.as_ref(),
                "node_modules" | ".venv" | "dist" | "__pycache__" | ".pytest_cache"
            ) {
                let (f, l) = count(&e.path());
                files += f;
                lines += l;
            }
        } else if ft.is_file() {
            files += 1;
            lines += std::fs::read_to_string(e.path()).map_or(0, |t| t.lines().count());
        }
    }
    (files, lines)
}

/// Reports each agent's progress while the journal shows its messages:
/// its first message taken, tried again, done or failed.
async fn watch(
    rt: Arc<Runtime>,
    project: String,
    events: Events,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    // Per agent: when it was first seen, its last attempt, whether it ended.
    let mut seen: HashMap<String, (Instant, u32, bool)> = HashMap::new();
    let Some(journal) = rt.broker() else { return };
    loop {
        if let Ok(history) = journal.history(&project, 500).await {
            for e in history {
                let agent = e.message.recipient.clone();
                let kind = e.message.kind.clone();
                let entry = seen.entry(agent.clone()).or_insert_with(|| {
                    events(Event::Agent {
                        agent: agent.clone(),
                        kind: kind.clone(),
                        step: Step::Running,
                    });
                    (Instant::now(), 0, false)
                });
                if entry.2 {
                    continue;
                }
                let step = match &e.state {
                    State::Done(_) => Step::Done {
                        seconds: entry.0.elapsed().as_secs_f64(),
                    },
                    State::Dead(err) => Step::Failed {
                        reason: crate::text::clip(err, 80),
                    },
                    State::Pending if e.message.attempt > entry.1 => {
                        entry.1 = e.message.attempt;
                        Step::Retrying {
                            attempt: e.message.attempt + 1,
                        }
                    }
                    State::Pending => continue,
                };
                entry.2 = matches!(step, Step::Done { .. } | Step::Failed { .. });
                events(Event::Agent { agent, kind, step });
            }
        }
        if *stop.borrow() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Probes the LLM backend once. When no model answers, returns the
/// sentence that says so, and keeps the LLM capability from trying again
/// during this run.
pub async fn check_llm(rt: &Runtime) -> Option<String> {
    let llm = &rt.services().llm;
    let probe = match llm.config().backend {
        None => Err(None),
        Some(_) => llm
            .list_models(Duration::from_secs(3))
            .await
            .map_err(|e| Some(e.to_string())),
    };
    let why = probe.err()?;
    llm.trip_circuit(
        Duration::from_secs(24 * 3600),
        &format!(
            "no answer when this run began ({})",
            why.as_deref().unwrap_or("no backend is configured")
        ),
    );
    Some(format!(
        "No LLM reachable ({}{}): the request parser, the built-in planner and templates are used.",
        llm.backend_name(),
        why.as_deref().map_or(String::new(), |w| format!(": {w}"))
    ))
}

/// Longest description taken, in bytes.
pub const MAX_DESCRIPTION: usize = 4096;

/// A request must say what to build, in at most [`MAX_DESCRIPTION`] bytes.
pub fn check_description(description: &str) -> Result<(), Error> {
    if description.trim().is_empty() {
        return Err(bad_input(
            "the description is empty; say what to build, such as \"a todo app\"",
        ));
    }
    if description.len() > MAX_DESCRIPTION {
        return Err(bad_input(format!(
            "the description is {} bytes; the limit is {MAX_DESCRIPTION}",
            description.len()
        )));
    }
    Ok(())
}

/// The analyst's answer, and the scratch project its model calls are
/// charged to.
pub struct Analysis {
    /// `spec`, `source`, `check`, `understood`, `readable`.
    pub answer: Value,
    pub project: String,
}

/// Runs the analyst alone, under its policy, on `description`. Nothing is
/// written: the analyst's grant has no workspace.
/// The future is boxed: see [`crate::BoxFuture`].
pub fn analyze<'a>(
    rt: Arc<Runtime>,
    tenant: &'a str,
    description: &'a str,
    policies: Option<&'a Path>,
) -> crate::BoxFuture<'a, Result<Analysis, Error>> {
    Box::pin(async move {
        let id = format!("analysis-{}", crate::text::uuid());
        let scratch = std::env::temp_dir().join(format!("nexus-{id}"));
        let project = Project::open(rt.clone(), &id, tenant, &scratch)
            .map_err(|e| bad_input(format!("cannot open a scratch project: {e}")))?;
        let bytes = Runtime::read_component("analyst")?;
        let policy = policy_for("analyst", policies)?;
        project.add_agent(rt.load_agent(&bytes, policy).await?);
        let result = project
            .run(
                "analyst",
                "analyze",
                &json!({ "description": description }).to_string(),
            )
            .await;
        let _ = std::fs::remove_dir_all(&scratch);
        let outcome = result?;
        let answer = serde_json::from_str(&outcome.payload).map_err(|e| {
            Error::Failed(format!(
                "the analyst answered something that is not JSON: {e}"
            ))
        })?;
        Ok(Analysis {
            answer,
            project: id,
        })
    })
}

/// What the request was understood as, and why, from the analyst's
/// answer: the lines `--dry-run` shows on stderr. The analyst's words are
/// clipped and escaped before they reach the terminal.
pub fn explain(analysis: &Value) -> Vec<String> {
    let text = |v: &Value| crate::text::clip(v.as_str().unwrap_or(""), 4000);
    let mut out: Vec<String> = analysis["readable"]
        .as_str()
        .unwrap_or("")
        .lines()
        .take(200)
        .map(|line| crate::text::clip(line, 300))
        .collect();
    out.push(format!("From the {}. Why:", text(&analysis["source"])));
    for n in analysis["understood"]
        .as_array()
        .into_iter()
        .flatten()
        .take(200)
    {
        out.push(format!(
            "  · {}",
            crate::text::clip(n.as_str().unwrap_or(""), 300)
        ));
    }
    if let Some(check) = analysis.get("check").filter(|c| c.is_object()) {
        out.push(format!("The model's spec was {}:", text(&check["verdict"])));
        for r in check["reasons"].as_array().into_iter().flatten().take(100) {
            out.push(format!(
                "  · {}",
                crate::text::clip(r.as_str().unwrap_or(""), 300)
            ));
        }
    }
    out
}

/// The spec in the analyst's answer.
pub fn spec_of(analysis: &Value) -> Result<nexus_spec::Spec, Error> {
    serde_json::from_value::<nexus_spec::Spec>(analysis["spec"].clone())
        .map_err(|e| Error::Failed(format!("the analyst's spec does not read: {e}")))
}

/// The project's name when none is given: what the analyst understood the
/// request as ("hotel booking" → hotel-booking).
pub fn project_name(analysis: &Value) -> String {
    nexus_spec::slug(analysis["spec"]["name"].as_str().unwrap_or("project"))
}

/// What a generation is asked.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub description: String,
    /// `--name`: also the project's id, unless `id` is given.
    pub name: Option<String>,
    /// The project's id in the journal (default: from the name).
    pub id: Option<String>,
    /// Whom the project belongs to (default: `local`).
    pub tenant: Option<String>,
    pub out: Option<PathBuf>,
    pub policies: Option<PathBuf>,
    /// Start over even when an earlier run of this project was interrupted.
    pub restart: bool,
    /// The project moved here from another host (a worker that stopped):
    /// `out` becomes its directory, though the journal names another.
    pub adopt: bool,
    /// Stops the generation: its agents' work is dropped, what it left
    /// undone is given up, and it ends with [`Error::Stopped`].
    pub stop: crate::sync::Stop,
}

/// Generates a project: analyses the request (unless named), records the
/// project's setup, and runs the orchestrator. An earlier run of the same
/// project that was interrupted is continued rather than repeated, unless
/// `restart` says otherwise.
/// The future is boxed: see [`crate::BoxFuture`].
pub fn generate(
    rt: Arc<Runtime>,
    request: Request,
    events: Events,
) -> crate::BoxFuture<'static, Result<Report, Error>> {
    Box::pin(async move {
        let Request {
            description,
            name,
            id: given_id,
            tenant,
            out,
            policies,
            restart,
            adopt,
            stop,
        } = request;
        check_description(&description)?;
        let tenant = tenant.unwrap_or_else(|| "local".into());
        let started = Instant::now();
        if let Some(line) = check_llm(&rt).await {
            events(Event::NoLlm { line });
        }
        // The default name is what the request was understood as ("hotel
        // booking" → hotel-booking), not the first words of the sentence.
        // That analysis is then the project's: the orchestrator does not ask
        // the analyst again.
        let explicit = name.is_some();
        let (name, analysis) = match name {
            Some(n) => (nexus_spec::slug(&n), None),
            None => {
                let analysis = tokio::select! {
                    a = analyze(rt.clone(), &tenant, &description, policies.as_deref()) => a?,
                    () = stop.stopped() => return Err(Error::Stopped),
                };
                (project_name(&analysis.answer), Some(analysis))
            }
        };
        let out = out.unwrap_or_else(|| PathBuf::from("nexus-projects").join(&name));
        let workspace = std::fs::create_dir_all(&out)
            .and_then(|()| out.canonicalize())
            .map_err(|e| bad_input(format!("cannot use {} for the project: {e}", out.display())))?;
        let policies = match policies {
            Some(p) => Some(
                p.canonicalize()
                    .map_err(|e| bad_input(format!("the policy directory {}: {e}", p.display())))?,
            ),
            None => None,
        };

        let mut id = given_id.clone().unwrap_or_else(|| name.clone());
        let mut continuing = None;
        if let Some(journal) = rt.broker() {
            let previous = if adopt {
                setup::Setup::load(journal, &id)
                    .await
                    .map_err(|e| bad_input(e.to_string()))?
            } else if explicit || given_id.is_some() {
                setup::claim(journal, &id, &workspace)
                    .await
                    .map_err(|e| match e {
                        setup::SetupError::Taken { owner, .. } => bad_input(format!(
                            "project `{id}` is generated in {}; pass another --name, or --out {} to generate it there again",
                            owner.display(),
                            owner.display()
                        )),
                        e => bad_input(e.to_string()),
                    })?
            } else {
                id = setup::default_id(journal, &name, &workspace)
                    .await
                    .map_err(|e| bad_input(e.to_string()))?;
                setup::Setup::load(journal, &id)
                    .await
                    .map_err(|e| bad_input(e.to_string()))?
            };
            if let Some(g) = previous.and_then(|s| s.generation) {
                let state = journal.state(&g.root).await?;
                if !restart && state == Some(State::Pending) {
                    if g.description != description {
                        return Err(bad_input(format!(
                            "project `{id}` has an interrupted generation of \"{}\"; `nexus resume {id}` finishes it, --restart starts over with this request",
                            crate::text::clip(&g.description, 200)
                        )));
                    }
                    continuing = Some(g.root);
                }
            }
            if continuing.is_none() {
                // What an earlier, interrupted run left undone is not delivered
                // into this one.
                let left = journal
                    .abandon(&id, "abandoned: the project was generated again")
                    .await?;
                if left > 0 {
                    tracing::info!(project = %id, left, "gave up the undone messages of an earlier run");
                }
            }
        }
        let resuming = continuing.is_some();
        let payload = json!({
            "description": description,
            "name": name,
            "analysis": analysis.as_ref().map(|a| &a.answer),
        })
        .to_string();
        let generation = Generation {
            description,
            name,
            policies,
            root: continuing.unwrap_or_else(|| crate::text::uuid().to_string()),
        };
        let setup = Setup {
            tenant,
            workspace,
            agents: Vec::new(),
            generation: Some(generation),
        };
        if let Some(journal) = rt.broker() {
            setup
                .save(journal, &id)
                .await
                .map_err(|e| Error::Failed(e.to_string()))?;
        }
        if resuming {
            events(Event::Continuing {
                project: id.clone(),
            });
        }
        run_generation(
            rt,
            &id,
            &setup,
            resuming,
            &payload,
            analysis.map(|a| a.project),
            started,
            events,
            &stop,
        )
        .await
    })
}

/// Finishes a generation whose host was killed: delivers again what was
/// left undone, then reports as [`generate`] does.
/// The future is boxed: see [`crate::BoxFuture`].
pub fn resume<'a>(
    rt: Arc<Runtime>,
    id: &'a str,
    setup: &'a Setup,
    events: Events,
) -> crate::BoxFuture<'a, Result<Report, Error>> {
    Box::pin(async move {
        if let Some(line) = check_llm(&rt).await {
            events(Event::NoLlm { line });
        }
        run_generation(
            rt,
            id,
            setup,
            true,
            "{}",
            None,
            Instant::now(),
            events,
            &crate::sync::Stop::default(),
        )
        .await
    })
}

/// Opens the project with its agents, runs (or, `resuming`, finishes) the
/// orchestrator's message, and reports what was made.
#[allow(clippy::too_many_arguments)]
async fn run_generation(
    rt: Arc<Runtime>,
    id: &str,
    setup: &Setup,
    resuming: bool,
    payload: &str,
    analysis_project: Option<String>,
    started: Instant,
    events: Events,
    stop: &crate::sync::Stop,
) -> Result<Report, Error> {
    let generation = setup
        .generation
        .as_ref()
        .ok_or_else(|| bad_input(format!("project `{id}` is not a generation")))?;
    let llm = &rt.services().llm;
    let out = &setup.workspace;
    let project = Project::open(rt.clone(), id, &setup.tenant, out)
        .map_err(|e| bad_input(format!("cannot use {} for the project: {e}", out.display())))?;
    for agent in AGENTS {
        let bytes = Runtime::read_component(agent)?;
        let policy = policy_for(agent, generation.policies.as_deref())?;
        project.add_agent(rt.load_agent(&bytes, policy).await?);
    }
    events(Event::Started {
        project: id.to_string(),
        name: generation.name.clone(),
        root: out.clone(),
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(watch(rt.clone(), id.to_string(), events, stop_rx));
    let work = async {
        if resuming {
            project.resume().await?;
        }
        project
            .run_as(&generation.root, "orchestrator", "generate", payload)
            .await
    };
    let result = tokio::select! {
        r = work => Some(r),
        () = stop.stopped() => None,
    };
    let _ = stop_tx.send(true);
    let _ = watcher.await;

    let Some(result) = result else {
        project.halt();
        if let Some(journal) = rt.broker() {
            journal
                .abandon(id, "abandoned: the generation was stopped")
                .await?;
        }
        return Err(Error::Stopped);
    };
    let outcome = result?;
    let record: Value = serde_json::from_str(&outcome.payload).unwrap_or_default();
    let (files, lines) = count(project.root());
    // The analyst's model calls were charged to the analysis before the
    // project had its name.
    let mut usage = llm.usage(id).unwrap_or_default();
    if let Some(a) = &analysis_project {
        usage.extend(llm.usage(a).unwrap_or_default());
    }
    Ok(Report {
        project: id.to_string(),
        root: project.root().to_path_buf(),
        record,
        summary: outcome.summary,
        files,
        lines,
        elapsed: started.elapsed(),
        llm_usage: crate::llm::usage_line(&usage),
    })
}
