//! `nexus generate`: the built-in agents turn a one-line request into a
//! project, with progress per agent and a summary at the end.

use crate::failure::Failure;
use crate::journal::State;
use crate::policy::Policy;
use crate::project::Project;
use crate::runtime::Runtime;
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
            .map_err(|e| Failure::new(2, e.to_string())),
        None => {
            let text = crate::builtin::POLICIES
                .iter()
                .find(|(n, _)| *n == agent)
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    Failure::new(
                        2,
                        format!("no shipped policy for `{agent}`; pass --policies DIR"),
                    )
                })?;
            Policy::parse(Path::new(&format!("policies/{agent}.toml")), text)
                .map_err(|e| Failure::new(2, e.to_string()))
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
    let Some(journal) = rt.journal() else { return };
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
                        crate::log::clip(err, 80)
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
    let reachable =
        llm.config().backend.is_some() && llm.list_models(Duration::from_secs(3)).await.is_ok();
    if !reachable {
        let line = format!(
            "No LLM reachable ({}): the request parser, the built-in planner and templates are used.",
            llm.backend_name()
        );
        if quiet_stdout {
            eprintln!("{line}");
        } else {
            crate::say!("{line}");
        }
        llm.trip_circuit(Duration::from_secs(24 * 3600));
    }
}

fn empty_description() -> Failure {
    Failure::new(
        2,
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
    let project = Project::open(rt.clone(), &id, "local", &scratch)
        .map_err(|e| Failure::new(2, format!("cannot open a scratch project: {e}")))?;
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
            1,
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
    let text = |v: &Value| crate::log::clip(v.as_str().unwrap_or(""), 4000);
    let mut out: Vec<String> = analysis["readable"]
        .as_str()
        .unwrap_or("")
        .lines()
        .take(200)
        .map(|line| crate::log::clip(line, 300))
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
            crate::log::clip(n.as_str().unwrap_or(""), 300)
        ));
    }
    if let Some(check) = analysis.get("check").filter(|c| c.is_object()) {
        out.push(format!("The model's spec was {}:", text(&check["verdict"])));
        for r in check["reasons"].as_array().into_iter().flatten().take(100) {
            out.push(format!(
                "  · {}",
                crate::log::clip(r.as_str().unwrap_or(""), 300)
            ));
        }
    }
    out
}

/// The spec in the analyst's answer.
pub fn spec_of(analysis: &Value) -> Result<nexus_spec::Spec, Failure> {
    serde_json::from_value::<nexus_spec::Spec>(analysis["spec"].clone())
        .map_err(|e| Failure::new(1, format!("the analyst's spec does not read: {e}")))
}

/// The project's name when none is given: what the analyst understood the
/// request as ("hotel booking" → hotel-booking).
pub fn project_name(analysis: &Value) -> String {
    nexus_spec::slug(analysis["spec"]["name"].as_str().unwrap_or("project"))
}

pub async fn generate(
    rt: Arc<Runtime>,
    description: String,
    name: Option<String>,
    out: Option<PathBuf>,
    policies: Option<PathBuf>,
) -> Result<(), Failure> {
    if description.trim().is_empty() {
        return Err(empty_description());
    }
    let started = Instant::now();
    check_llm(&rt, false).await;
    let llm = &rt.services().llm;
    // The default name is what the request was understood as ("hotel
    // booking" → hotel-booking), not the first words of the sentence.
    // That analysis is then the project's: the orchestrator does not ask
    // the analyst again.
    let (name, analysis) = match name {
        Some(n) => (nexus_spec::slug(&n), None),
        None => {
            let analysis = analyze(rt.clone(), &description, policies.as_deref()).await?;
            (project_name(&analysis.answer), Some(analysis))
        }
    };
    let out = out.unwrap_or_else(|| PathBuf::from("nexus-projects").join(&name));

    let project = Project::open(rt.clone(), &name, "local", &out).map_err(|e| {
        Failure::new(
            2,
            format!("cannot use {} for the project: {e}", out.display()),
        )
    })?;
    for agent in AGENTS {
        let bytes = Runtime::read_component(agent).map_err(Failure::load)?;
        let policy = policy_for(agent, policies.as_deref())?;
        let loaded = rt.load_agent(&bytes, policy).await.map_err(Failure::load)?;
        project.add_agent(loaded);
    }
    crate::say!("Generating `{name}` into {}", out.display());

    let bars = MultiProgress::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(watch(rt.clone(), name.clone(), bars.clone(), stop_rx));
    let result = project
        .run(
            "orchestrator",
            "generate",
            &json!({
                "description": description,
                "name": name,
                "analysis": analysis.as_ref().map(|a| &a.answer),
            })
            .to_string(),
        )
        .await;
    let _ = stop_tx.send(true);
    let _ = watcher.await;

    let outcome = result.map_err(|f| Failure::task(&f))?;
    let record: Value = serde_json::from_str(&outcome.payload).unwrap_or_default();
    let (files, lines) = count(project.root());
    // The analyst's model calls were charged to the analysis before the
    // project had its name.
    let mut usage = llm.usage(&name).unwrap_or_default();
    if let Some(a) = &analysis {
        usage.extend(llm.usage(&a.project).unwrap_or_default());
    }
    let calls: u64 = usage.iter().map(|u| u.calls).sum();
    let tokens: u64 = usage
        .iter()
        .map(|u| u.prompt_tokens + u.completion_tokens)
        .sum();
    crate::say!();
    // The record is the orchestrator's (a guest's) words: clipped and
    // escaped before they reach the terminal.
    let text = |v: &Value, max: usize| crate::log::clip(v.as_str().unwrap_or(""), max);
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
        "\n{files} files, {lines} lines in {:.1}s · spec from the {} · plan: {} · LLM: {calls} calls, {tokens} tokens · gates: {}",
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
            bodies["note"]
                .as_str()
                .map_or(String::new(), |n| format!("; {}", crate::log::clip(n, 300)))
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
            1,
            format!(
                "generation failed: {}",
                crate::log::clip(&outcome.summary, 300)
            ),
        ))
    }
}
