//! `nexus generate`: a project from a one-line description.

use super::failure::{Exit, Failure};
use super::{EXIT_CODES, Global, runtime};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use nexus::generate::{Event, Events, Report, Step};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
        return dry_run(g, args).await;
    }
    let progress = Progress::new();
    let report = nexus::generate::generate(
        runtime(g)?,
        nexus::generate::Request {
            description: args.description,
            name: args.name,
            out: args.out,
            policies: args.policies,
            restart: args.restart,
            ..Default::default()
        },
        progress.events(),
    )
    .await;
    progress.finish();
    summarize(&report?)
}

/// `--dry-run`: what the request was understood as, and why (the readable
/// summary and the reasons on stderr, the spec as JSON on stdout). No
/// project is written.
async fn dry_run(g: &Global, args: GenerateArgs) -> Result<(), Failure> {
    nexus::generate::check_description(&args.description)?;
    let rt = runtime(g)?;
    if let Some(line) = nexus::generate::check_llm(&rt).await {
        eprintln!("{line}");
    }
    let analysis =
        nexus::generate::analyze(rt, "local", &args.description, args.policies.as_deref())
            .await?
            .answer;
    let mut err = std::io::stderr().lock();
    use std::io::Write as _;
    for line in nexus::generate::explain(&analysis) {
        let _ = writeln!(err, "{line}");
    }
    // In the spec's own order (name, title, auth, entities, relations).
    let spec = nexus::generate::spec_of(&analysis)?;
    nexus::say!(
        "{}",
        serde_json::to_string_pretty(&spec).unwrap_or_default()
    );
    Ok(())
}

/// Shows a generation's events: a line per agent, a spinner on a terminal.
pub(crate) struct Progress {
    bars: MultiProgress,
    lines: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    pub(crate) fn new() -> Arc<Progress> {
        Arc::new(Progress {
            bars: MultiProgress::new(),
            lines: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn events(self: &Arc<Self>) -> Events {
        let me = self.clone();
        Arc::new(move |e| me.show(e))
    }

    fn show(&self, event: Event) {
        match event {
            Event::NoLlm { line } => nexus::say!("{line}"),
            Event::Continuing { project } => nexus::say!(
                "Continuing the interrupted generation of `{project}` (--restart starts over)"
            ),
            Event::Started { name, root, .. } => {
                nexus::say!("Generating `{name}` into {}", root.display());
            }
            Event::Agent { agent, kind, step } => {
                let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
                let bar = lines.entry(agent.clone()).or_insert_with(|| {
                    let style = ProgressStyle::with_template("{spinner} {prefix:<13} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner());
                    let bar = self.bars.add(ProgressBar::new_spinner());
                    bar.set_style(style);
                    bar.set_prefix(agent.clone());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                let finished = match step {
                    Step::Running => {
                        bar.set_message(format!("{kind} …"));
                        None
                    }
                    Step::Retrying { attempt } => {
                        bar.set_message(format!("{kind} (attempt {attempt})"));
                        None
                    }
                    Step::Done { seconds } => Some(format!("✓ {kind} ({seconds:.1}s)")),
                    Step::Failed { reason } => Some(format!("✗ {kind} ({reason})")),
                };
                if let Some(line) = finished {
                    if self.bars.is_hidden() {
                        // Not a terminal: one plain line per finished agent.
                        nexus::say!("  {agent:<13} {line}");
                    }
                    bar.finish_with_message(line);
                }
            }
        }
    }

    /// Stops the spinners of agents that did not finish.
    pub(crate) fn finish(&self) {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        for bar in lines.values().filter(|b| !b.is_finished()) {
            bar.abandon();
        }
    }
}

/// Prints what a generation made: its phases, gates and totals. Fails
/// unless every phase and gate passed.
pub(crate) fn summarize(report: &Report) -> Result<(), Failure> {
    let record = &report.record;
    nexus::say!();
    // The record is the orchestrator's (a guest's) words: clipped and
    // escaped before they reach the terminal.
    let text = |v: &Value, max: usize| nexus::text::clip(v.as_str().unwrap_or(""), max);
    for phase in record["phases"].as_array().into_iter().flatten() {
        nexus::say!(
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
    nexus::say!(
        "\n{} files, {} lines in {:.1}s · spec from the {} · plan: {} · LLM: {} · gates: {}",
        report.files,
        report.lines,
        report.elapsed.as_secs_f64(),
        text(&record["spec_source"], 40),
        text(&record["plan"]["source"], 200),
        report.llm_usage,
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
        nexus::say!(
            "{warnings} warning{} from the gates (see reports/ and nexus-project.json)",
            if warnings == 1 { "" } else { "s" }
        );
    }
    let bodies = &record["llm_bodies"];
    if bodies["source"] == "llm" {
        let kept = bodies["kept"].as_array().map_or(0, Vec::len);
        let rejected = bodies["rejected"].as_array().map_or(0, Vec::len);
        nexus::say!(
            "Validation rules from the LLM: {kept} kept, {rejected} rejected (the template's validation stays for those){}",
            bodies["note"].as_str().map_or(String::new(), |n| format!(
                "; {}",
                nexus::text::clip(n, 300)
            ))
        );
        for r in bodies["rejected"].as_array().into_iter().flatten() {
            nexus::say!(
                "  rejected {}: {}",
                text(&r["target"], 80),
                text(&r["reason"], 200)
            );
        }
    }
    nexus::say!(
        "Project: {} (nexus-project.json records plan, phases and findings)",
        report.root.display()
    );
    if report.passed() {
        Ok(())
    } else {
        Err(Failure::new(
            Exit::TaskFailed,
            format!(
                "generation failed: {}",
                nexus::text::clip(&report.summary, 300)
            ),
        ))
    }
}
