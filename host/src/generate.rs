//! `nexus generate`: the built-in agents turn a one-line request into a
//! project, with progress per agent and a summary at the end.

use crate::bus::State;
use crate::failure::{Exit, Failure};
use crate::policy::Policy;
use crate::project::Project;
use crate::runtime::Runtime;
use crate::setup::{self, Generation, Setup};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

fn policy_for(agent: &str, dir: Option<&Path>) -> Result<Policy, Failure> {
    match dir {
        Some(d) => Policy::load(&d.join(format!("{agent}.toml")))
            .map_err(|e| Failure::new(Exit::BadInput, e.to_string())),
        None => {
            let text = crate::builtin::POLICIES
                .iter()
                .find(|(n, _)| *n == agent)
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    Failure::new(
                        Exit::BadInput,
                        format!("no shipped policy for `{agent}`; pass --policies DIR"),
                    )
                })?;
            Policy::parse(Path::new(&format!("policies/{agent}.toml")), text)
                .map_err(|e| Failure::new(Exit::BadInput, e.to_string()))
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

/// Shows one line per agent while the journal shows its messages.
async fn watch(
    rt: Arc<Runtime>,
    project: String,
    bars: MultiProgress,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let style = ProgressStyle::with_template("{spinner} {prefix:<13} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut lines: HashMap<String, (ProgressBar, Instant, bool)> = HashMap::new();
    let Some(journal) = rt.broker() else { return };
    loop {
        if let Ok(history) = journal.history(&project, 500).await {
            for e in history {
                let agent = e.message.recipient.clone();
                let entry = lines.entry(agent.clone()).or_insert_with(|| {
                    let bar = bars.add(ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(agent.clone());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar.set_message(format!("{} …", e.message.kind));
                    (bar, Instant::now(), false)
                });
                if entry.2 {
                    continue;
                }
                let finished = match &e.state {
                    State::Done(_) => Some(format!(
                        "✓ {} ({:.1}s)",
                        e.message.kind,
                        entry.1.elapsed().as_secs_f64()
                    )),
                    State::Dead(err) => Some(format!(
                        "✗ {} ({})",
                        e.message.kind,
                        crate::text::clip(err, 80)
                    )),
                    State::Pending if e.message.attempt > 0 => {
                        entry.0.set_message(format!(
                            "{} (attempt {})",
                            e.message.kind,
                            e.message.attempt + 1
                        ));
                        None
                    }
                    State::Pending => None,
                };
                if let Some(line) = finished {
                    entry.2 = true;
                    if bars.is_hidden() {
                        // Not a terminal: one plain line per finished agent.
                        crate::say!("  {agent:<13} {line}");
                    }
                    entry.0.finish_with_message(line);
                }
            }
        }
        if *stop.borrow() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    for (bar, _, done) in lines.values() {
        if !done {
            bar.abandon();
        }
    }
}

/// Says once when no model answers, and keeps the LLM capability from
/// trying again during this run.
async fn check_llm(rt: &Runtime, quiet_stdout: bool) {
    let llm = &rt.services().llm;
    let probe = match llm.config().backend {
        None => Err(None),
        Some(_) => llm
            .list_models(Duration::from_secs(3))
            .await
            .map_err(|e| Some(e.to_string())),
    };
    if let Err(why) = probe {
        let line = format!(
            "No LLM reachable ({}{}): the request parser, the built-in planner and templates are used.",
            llm.backend_name(),
            why.as_deref().map_or(String::new(), |w| format!(": {w}"))
        );
        if quiet_stdout {
            eprintln!("{line}");
        } else {
            crate::say!("{line}");
        }
        llm.trip_circuit(
            Duration::from_secs(24 * 3600),
            &format!(
                "no answer when this run began ({})",
                why.as_deref().unwrap_or("no backend is configured")
            ),
        );
    }
}

fn empty_description() -> Failure {
    Failure::new(
        Exit::BadInput,
        "the description is empty; say what to build, such as \"a todo app\"",
    )
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
pub async fn analyze(
    rt: Arc<Runtime>,
    description: &str,
    policies: Option<&Path>,
) -> Result<Analysis, Failure> {
    let id = format!("analysis-{}", uuid::Uuid::new_v4());
    let scratch = std::env::temp_dir().join(format!("nexus-{id}"));
    let project = Project::open(rt.clone(), &id, "local", &scratch).map_err(|e| {
        Failure::new(
            Exit::BadInput,
            format!("cannot open a scratch project: {e}"),
        )
    })?;
    let bytes = Runtime::read_component("analyst").map_err(Failure::load)?;
    let policy = policy_for("analyst", policies)?;
    project.add_agent(rt.load_agent(&bytes, policy).await.map_err(Failure::load)?);
    let result = project
        .run(
            "analyst",
            "analyze",
            &json!({ "description": description }).to_string(),
        )
        .await;
    let _ = std::fs::remove_dir_all(&scratch);
    let outcome = result.map_err(|f| Failure::task(&f))?;
    let answer = serde_json::from_str(&outcome.payload).map_err(|e| {
        Failure::new(
            Exit::TaskFailed,
            format!("the analyst answered something that is not JSON: {e}"),
        )
    })?;
    Ok(Analysis {
        answer,
        project: id,
    })
}

/// `nexus generate --dry-run`: what the request was understood as, and
/// why — the readable summary and the reasons on stderr, the spec as JSON
/// on stdout. No project is written.
pub async fn dry_run(
    rt: Arc<Runtime>,
    description: String,
    policies: Option<PathBuf>,
) -> Result<(), Failure> {
    if description.trim().is_empty() {
        return Err(empty_description());
    }
    check_llm(&rt, true).await;
    let analysis = analyze(rt, &description, policies.as_deref()).await?.answer;
    let mut err = std::io::stderr().lock();
    use std::io::Write as _;
    for line in explain(&analysis) {
        let _ = writeln!(err, "{line}");
    }
    // In the spec's own order (name, title, auth, entities, relations).
    let spec = spec_of(&analysis)?;
    crate::say!(
        "{}",
        serde_json::to_string_pretty(&spec).unwrap_or_default()
    );
    Ok(())
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
pub fn spec_of(analysis: &Value) -> Result<nexus_spec::Spec, Failure> {
    serde_json::from_value::<nexus_spec::Spec>(analysis["spec"].clone()).map_err(|e| {
        Failure::new(
            Exit::TaskFailed,
            format!("the analyst's spec does not read: {e}"),
        )
    })
}

/// The project's name when none is given: what the analyst understood the
/// request as ("hotel booking" → hotel-booking).
pub fn project_name(analysis: &Value) -> String {
    nexus_spec::slug(analysis["spec"]["name"].as_str().unwrap_or("project"))
}

/// What `nexus generate` was asked.
pub struct Request {
    pub description: String,
    /// `--name`: also the project's id.
    pub name: Option<String>,
    pub out: Option<PathBuf>,
    pub policies: Option<PathBuf>,
    /// Start over even when an earlier run of this project was interrupted.
    pub restart: bool,
}

/// `nexus generate`: analyses the request (unless named), records the
/// project's setup, and runs the orchestrator. An earlier run of the same
/// project that was interrupted is continued rather than repeated, unless
/// `restart` says otherwise.
pub async fn generate(rt: Arc<Runtime>, request: Request) -> Result<(), Failure> {
    let Request {
        description,
        name,
        out,
        policies,
        restart,
    } = request;
    if description.trim().is_empty() {
        return Err(empty_description());
    }
    let started = Instant::now();
    check_llm(&rt, false).await;
    // The default name is what the request was understood as ("hotel
    // booking" → hotel-booking), not the first words of the sentence.
    // That analysis is then the project's: the orchestrator does not ask
    // the analyst again.
    let explicit = name.is_some();
    let (name, analysis) = match name {
        Some(n) => (nexus_spec::slug(&n), None),
        None => {
            let analysis = analyze(rt.clone(), &description, policies.as_deref()).await?;
            (project_name(&analysis.answer), Some(analysis))
        }
    };
    let out = out.unwrap_or_else(|| PathBuf::from("nexus-projects").join(&name));
    let workspace = std::fs::create_dir_all(&out)
        .and_then(|()| out.canonicalize())
        .map_err(|e| {
            Failure::new(
                Exit::BadInput,
                format!("cannot use {} for the project: {e}", out.display()),
            )
        })?;
    let policies = match policies {
        Some(p) => Some(p.canonicalize().map_err(|e| {
            Failure::new(
                Exit::BadInput,
                format!("the policy directory {}: {e}", p.display()),
            )
        })?),
        None => None,
    };

    let mut id = name.clone();
    let mut continuing = None;
    if let Some(journal) = rt.broker() {
        let previous = if explicit {
            setup::claim(journal, &name, &workspace)
                .await
                .map_err(|e| match e {
                    setup::SetupError::Taken { owner, .. } => Failure::new(Exit::BadInput,
                        format!(
                            "project `{name}` is generated in {}; pass another --name, or --out {} to generate it there again",
                            owner.display(),
                            owner.display()
                        ),
                    ),
                    e => Failure::new(Exit::BadInput, e.to_string()),
                })?
        } else {
            id = setup::default_id(journal, &name, &workspace)
                .await
                .map_err(|e| Failure::new(Exit::BadInput, e.to_string()))?;
            setup::Setup::load(journal, &id)
                .await
                .map_err(|e| Failure::new(Exit::BadInput, e.to_string()))?
        };
        if let Some(g) = previous.and_then(|s| s.generation) {
            let state = journal.state(&g.root).await?;
            if !restart && state == Some(State::Pending) {
                if g.description != description {
                    return Err(Failure::new(
                        Exit::BadInput,
                        format!(
                            "project `{id}` has an interrupted generation of \"{}\"; `nexus resume {id}` finishes it, --restart starts over with this request",
                            crate::text::clip(&g.description, 200)
                        ),
                    ));
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
        root: continuing.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };
    let setup = Setup {
        tenant: "local".into(),
        workspace,
        agents: Vec::new(),
        generation: Some(generation),
    };
    if let Some(journal) = rt.broker() {
        setup
            .save(journal, &id)
            .await
            .map_err(|e| Failure::new(Exit::TaskFailed, e.to_string()))?;
    }
    if resuming {
        crate::say!("Continuing the interrupted generation of `{id}` (--restart starts over)");
    }
    run_generation(
        rt,
        &id,
        &setup,
        resuming,
        &payload,
        analysis.map(|a| a.project),
        started,
    )
    .await
}

/// `nexus resume` of a generated project: delivers again what the killed
/// host left undone, then reports as `generate` does.
pub async fn resume(rt: Arc<Runtime>, id: &str, setup: &Setup) -> Result<(), Failure> {
    check_llm(&rt, false).await;
    run_generation(rt, id, setup, true, "{}", None, Instant::now()).await
}

/// Opens the project with its agents, runs (or, `resuming`, finishes) the
/// orchestrator's message and prints the summary.
async fn run_generation(
    rt: Arc<Runtime>,
    id: &str,
    setup: &Setup,
    resuming: bool,
    payload: &str,
    analysis_project: Option<String>,
    started: Instant,
) -> Result<(), Failure> {
    let generation = setup.generation.as_ref().ok_or_else(|| {
        Failure::new(
            Exit::BadInput,
            format!("project `{id}` is not a generation"),
        )
    })?;
    let llm = &rt.services().llm;
    let out = &setup.workspace;
    let project = Project::open(rt.clone(), id, &setup.tenant, out).map_err(|e| {
        Failure::new(
            Exit::BadInput,
            format!("cannot use {} for the project: {e}", out.display()),
        )
    })?;
    for agent in AGENTS {
        let bytes = Runtime::read_component(agent).map_err(Failure::load)?;
        let policy = policy_for(agent, generation.policies.as_deref())?;
        let loaded = rt.load_agent(&bytes, policy).await.map_err(Failure::load)?;
        project.add_agent(loaded);
    }
    crate::say!("Generating `{}` into {}", generation.name, out.display());

    let bars = MultiProgress::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(watch(rt.clone(), id.to_string(), bars.clone(), stop_rx));
    let result = async {
        if resuming {
            project.resume().await?;
        }
        project
            .run_as(&generation.root, "orchestrator", "generate", payload)
            .await
    }
    .await;
    let _ = stop_tx.send(true);
    let _ = watcher.await;

    let outcome = result.map_err(|f| Failure::task(&f))?;
    let record: Value = serde_json::from_str(&outcome.payload).unwrap_or_default();
    let (files, lines) = count(project.root());
    // The analyst's model calls were charged to the analysis before the
    // project had its name.
    let mut usage = llm.usage(id).unwrap_or_default();
    if let Some(a) = &analysis_project {
        usage.extend(llm.usage(a).unwrap_or_default());
    }
    let llm_usage = crate::llm::usage_line(&usage);
    crate::say!();
    // The record is the orchestrator's (a guest's) words: clipped and
    // escaped before they reach the terminal.
    let text = |v: &Value, max: usize| crate::text::clip(v.as_str().unwrap_or(""), max);
    for phase in record["phases"].as_array().into_iter().flatten() {
        crate::say!(
            "  {:<12} {:<7} {:>7.1}s  {}",
            text(&phase["name"], 12),
            text(&phase["status"], 7),
            phase["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
            phase["findings"].as_array().map_or(String::new(), |f| f
                .iter()
                .map(|s| text(s, 200))
                .collect::<Vec<_>>()
                .join("; "))
        );
    }
    let gates: Vec<String> = record["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| format!("{} {}", text(&g["phase"], 40), text(&g["status"], 20)))
        .collect();
    crate::say!(
        "\n{files} files, {lines} lines in {:.1}s · spec from the {} · plan: {} · LLM: {llm_usage} · gates: {}",
        started.elapsed().as_secs_f64(),
        text(&record["spec_source"], 40),
        text(&record["plan"]["source"], 200),
        if gates.is_empty() {
            "none".into()
        } else {
            gates.join(", ")
        },
    );
    let warnings: usize = record["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| g["warnings"].as_array().map_or(0, Vec::len))
        .sum();
    if warnings > 0 {
        crate::say!(
            "{warnings} warning{} from the gates (see reports/ and nexus-project.json)",
            if warnings == 1 { "" } else { "s" }
        );
    }
    let bodies = &record["llm_bodies"];
    if bodies["source"] == "llm" {
        let kept = bodies["kept"].as_array().map_or(0, Vec::len);
        let rejected = bodies["rejected"].as_array().map_or(0, Vec::len);
        crate::say!(
            "Validation rules from the LLM: {kept} kept, {rejected} rejected (the template's validation stays for those){}",
            bodies["note"].as_str().map_or(String::new(), |n| format!(
                "; {}",
                crate::text::clip(n, 300)
            ))
        );
        for r in bodies["rejected"].as_array().into_iter().flatten() {
            crate::say!(
                "  rejected {}: {}",
                text(&r["target"], 80),
                text(&r["reason"], 200)
            );
        }
    }
    crate::say!(
        "Project: {} (nexus-project.json records plan, phases and findings)",
        project.root().display()
    );
    if record["passed"].as_bool() == Some(true) {
        Ok(())
    } else {
        Err(Failure::new(
            Exit::TaskFailed,
            format!(
                "generation failed: {}",
                crate::text::clip(&outcome.summary, 300)
            ),
        ))
    }
}
