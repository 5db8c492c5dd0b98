//! The orchestrator: plans the project, runs its phases through the bus —
//! analysis, backend and frontend at once, the integration gate, the QA and
//! security gate, deployment — and records status, artifacts, timings,
//! metrics and findings per phase in `nexus-project.json`. A failed gate
//! sends the build back once with the findings; a second failure fails the
//! project with its report.

use nexus_sdk::bindings::nexus::agent::bus;
use nexus_sdk::{Agent, AgentInfo, Outcome, Task, TaskError, log, workspace};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

struct Orchestrator;

#[derive(Deserialize)]
struct Request {
    description: String,
    #[serde(default)]
    name: Option<String>,
    /// The analyst's answer when the host already asked it (to name the
    /// project): used as the analysis phase instead of asking again.
    #[serde(default)]
    analysis: Option<Value>,
}

#[derive(Serialize, Deserialize, Clone)]
struct PlannedPhase {
    name: String,
    agents: Vec<String>,
    #[serde(default)]
    gate: bool,
}

#[derive(Serialize)]
struct PhaseReport {
    name: String,
    agents: Vec<String>,
    status: String,
    attempts: u32,
    duration_ms: u64,
    artifacts: Vec<String>,
    findings: Vec<String>,
    /// What a gate reported without failing.
    warnings: Vec<String>,
    /// Per agent, what it measured.
    metrics: serde_json::Map<String, Value>,
    summaries: Vec<String>,
}

/// The phases every project goes through, in order.
fn built_in_plan() -> Vec<PlannedPhase> {
    let phase = |name: &str, agents: &[&str], gate: bool| PlannedPhase {
        name: name.into(),
        agents: agents.iter().map(|a| a.to_string()).collect(),
        gate,
    };
    vec![
        phase("analysis", &["analyst"], false),
        phase("build", &["backend", "frontend"], false),
        phase("integration", &["integration"], true),
        phase("quality", &["qa", "security"], true),
        phase("deployment", &["devops"], false),
    ]
}

fn reason(e: &bus::RequestError) -> String {
    match e {
        bus::RequestError::Host(e) => e.to_string(),
        bus::RequestError::Task(f) => f.reason.clone(),
    }
}

/// Sends every agent of a phase its task at once and waits for all.
fn run_phase(
    agents: &[String],
    kind_of: impl Fn(&str) -> String,
    payload: &Value,
    report: &mut PhaseReport,
) -> Vec<Value> {
    let started = Instant::now();
    report.attempts += 1;
    let requests: Vec<bus::Outgoing> = agents
        .iter()
        .map(|a| bus::Outgoing {
            to: a.clone(),
            kind: kind_of(a),
            payload: payload.to_string(),
        })
        .collect();
    let timeout = Duration::from_secs(1800).as_millis() as u32;
    let mut outputs = Vec::new();
    let mut failed = Vec::new();
    for (agent, result) in agents.iter().zip(bus::request_all(&requests, 0, timeout)) {
        match result {
            Ok(reply) => {
                report.artifacts.extend(reply.artifacts);
                report.summaries.push(format!("{agent}: {}", reply.summary));
                outputs.push(serde_json::from_str(&reply.payload).unwrap_or(Value::Null));
            }
            Err(e) => {
                failed.push(format!("{agent}: {}", reason(&e)));
                outputs.push(Value::Null);
            }
        }
    }
    report.duration_ms += started.elapsed().as_millis() as u64;
    report.status = if failed.is_empty() {
        "passed".into()
    } else {
        "failed".into()
    };
    report.findings.extend(failed);
    outputs
}

fn new_report(p: &PlannedPhase) -> PhaseReport {
    PhaseReport {
        name: p.name.clone(),
        agents: p.agents.clone(),
        status: "pending".into(),
        attempts: 0,
        duration_ms: 0,
        artifacts: Vec::new(),
        findings: Vec::new(),
        warnings: Vec::new(),
        metrics: serde_json::Map::new(),
        summaries: Vec::new(),
    }
}

/// Runs a gate phase: every agent checks the project and answers
/// `{passed, findings, warnings, metrics}`. Returns whether all passed and
/// the findings to send back to the build.
fn run_gate(
    plan: &PlannedPhase,
    kind_of: impl Fn(&str) -> String,
    payload: &Value,
    report: &mut PhaseReport,
) -> (bool, Vec<String>) {
    let outputs = run_phase(&plan.agents, kind_of, payload, report);
    let mut passed = report.status == "passed";
    let mut findings = Vec::new();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect()
    };
    for (agent, out) in plan.agents.iter().zip(&outputs) {
        if out.is_null() {
            // The task failed (its reason is a finding already) or
            // answered something that is not JSON.
            passed = false;
            continue;
        }
        let Some(verdict) = out["passed"].as_bool() else {
            passed = false;
            findings.push(format!("{agent}: answered without a verdict (`passed`)"));
            continue;
        };
        passed &= verdict;
        findings.extend(
            strings(&out["findings"])
                .into_iter()
                .map(|f| format!("{agent}: {f}")),
        );
        report.warnings.extend(
            strings(&out["warnings"])
                .into_iter()
                .map(|w| format!("{agent}: {w}")),
        );
        if !out["metrics"].is_null() {
            report.metrics.insert(agent.clone(), out["metrics"].clone());
        }
    }
    report.status = if passed { "passed" } else { "failed" }.into();
    report.findings.extend(findings.iter().cloned());
    (passed, findings)
}

impl Agent for Orchestrator {
    fn describe() -> AgentInfo {
        AgentInfo::new("orchestrator", "Orchestrator", env!("CARGO_PKG_VERSION"))
            .description("Plans a project and runs its phases through the other agents")
            .handles(&["generate"])
            .capabilities(&["bus", "workspace", "log"])
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        if task.kind != "generate" {
            return Err(task.unsupported());
        }
        let req: Request = task.input()?;
        if req.description.trim().is_empty() {
            return Err(TaskError::Rejected("the description is empty".into()));
        }
        // The phases are the host's: every project is analysed, built,
        // checked by both gates and deployed, in that order. (A model's plan
        // could only agree with this one or be refused, so none is asked
        // for.)
        let plan = built_in_plan();
        let plan_source = "built-in".to_string();
        let mut reports: Vec<PhaseReport> = plan.iter().map(new_report).collect();

        // Analysis, unless the host already has it.
        let analysis = match req.analysis.clone().filter(|a| a["spec"].is_object()) {
            Some(given) => {
                let r = &mut reports[0];
                r.attempts = 1;
                r.status = "passed".into();
                r.summaries
                    .push("analyst: analysed when the project was named".into());
                vec![given]
            }
            None => run_phase(
                &plan[0].agents,
                |_| "analyze".into(),
                &json!({ "description": req.description, "name": req.name }),
                &mut reports[0],
            ),
        };
        let Some(spec) = analysis
            .first()
            .map(|a| a["spec"].clone())
            .filter(|s| s.is_object())
        else {
            return finish(
                &req,
                Record {
                    plan: &plan,
                    plan_source: &plan_source,
                    spec: &Value::Null,
                    spec_source: None,
                    spec_check: Value::Null,
                    bodies: Value::Null,
                    fix_round: Value::Null,
                },
                reports,
            );
        };
        let spec_source = analysis[0]["source"].as_str().unwrap_or("").to_string();
        // How the spec came about: what the model's spec was checked
        // against and what became of it, and why the parser was used.
        let spec_check = json!({
            "check": analysis[0]["check"],
            "note": analysis[0]["note"],
            "understood": analysis[0]["understood"],
        });

        // Build, then the gates. A failed gate sends the build back once
        // with its findings — when a builder can act on them; when none
        // would change a file, the round is skipped and the project fails
        // at once.
        let kind = |agent: &str| format!("generate-{agent}");
        let mut findings: Vec<String> = Vec::new();
        let mut bodies = Value::Null;
        let mut fix_round = json!({ "status": "not needed" });
        for round in 0..2 {
            // The second build gets the findings and the model's first
            // answer, so it changes only what the findings named.
            let payload = json!({ "spec": spec, "findings": findings, "answer": bodies["answer"] });
            if round > 0 {
                let (changed, fixes) = would_change(&plan[1].agents, &payload);
                if changed.is_empty() {
                    log::warn(
                        "a gate failed and no builder can act on its findings; the project fails",
                    );
                    fix_round = json!({
                        "status": "skipped",
                        "why": "no builder would change a file for these findings: the templates already wrote what they write and no model's work was named",
                        "findings": findings,
                    });
                    break;
                }
                log::warn("a gate failed; sending the build back once with its findings");
                fix_round = json!({
                    "status": "ran",
                    "findings": findings,
                    "fixes": fixes,
                    "changed": changed,
                });
                // The gates run again on the new build.
                for r in &mut reports[2..4] {
                    r.warnings.clear();
                    r.status = "pending".into();
                }
            }
            let built = run_phase(&plan[1].agents, kind, &payload, &mut reports[1]);
            if reports[1].status != "passed" {
                break;
            }
            if let Some(i) = plan[1].agents.iter().position(|a| a == "backend") {
                bodies = built[i]["bodies"].clone();
            }
            let gate_payload = json!({ "spec": spec });
            let (passed, found) = run_gate(
                &plan[2],
                |_| "integrate".into(),
                &gate_payload,
                &mut reports[2],
            );
            let (passed, found) = if passed {
                run_gate(
                    &plan[3],
                    |a| {
                        if a == "security" {
                            "security-scan".into()
                        } else {
                            "review".into()
                        }
                    },
                    &gate_payload,
                    &mut reports[3],
                )
            } else {
                (passed, found)
            };
            if passed {
                break;
            }
            findings = found;
        }
        if reports[2].status == "passed" && reports[3].status == "passed" {
            run_phase(
                &plan[4].agents,
                |_| "deploy".into(),
                &json!({ "spec": spec }),
                &mut reports[4],
            );
        }
        finish(
            &req,
            Record {
                plan: &plan,
                plan_source: &plan_source,
                spec: &spec,
                spec_source: Some(spec_source),
                spec_check,
                bodies,
                fix_round,
            },
            reports,
        )
    }
}

/// Asks each builder what it would change for `findings`, writing
/// nothing: the files it would change and what it would do about them.
fn would_change(builders: &[String], rebuild: &Value) -> (Vec<String>, Vec<String>) {
    let mut payload = rebuild.clone();
    payload["dry_run"] = json!(true);
    let payload = payload.to_string();
    let requests: Vec<bus::Outgoing> = builders
        .iter()
        .map(|a| bus::Outgoing {
            to: a.clone(),
            kind: format!("generate-{a}"),
            payload: payload.clone(),
        })
        .collect();
    let timeout = Duration::from_secs(1800).as_millis() as u32;
    let mut changed = Vec::new();
    let mut fixes = Vec::new();
    for (agent, reply) in builders.iter().zip(bus::request_all(&requests, 0, timeout)) {
        let Ok(reply) = reply else { continue };
        let v: Value = serde_json::from_str(&reply.payload).unwrap_or(Value::Null);
        let strings = |k: &str| -> Vec<String> {
            v[k].as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        changed.extend(strings("changed"));
        fixes.extend(
            strings("fixes")
                .into_iter()
                .map(|f| format!("{agent}: {f}")),
        );
    }
    (changed, fixes)
}

/// What `nexus-project.json` says besides the phases.
struct Record<'a> {
    plan: &'a [PlannedPhase],
    plan_source: &'a str,
    spec: &'a Value,
    /// `llm` or `parser`.
    spec_source: Option<String>,
    /// The check of the model's spec, and what the parser understood.
    spec_check: Value,
    /// What became of the validation rules the model wrote.
    bodies: Value,
    /// Whether a failed gate sent the build back, and what it fixed.
    fix_round: Value,
}

fn finish(
    req: &Request,
    record: Record,
    mut reports: Vec<PhaseReport>,
) -> Result<Outcome, TaskError> {
    let Record {
        plan,
        plan_source,
        spec,
        spec_source,
        spec_check,
        bodies,
        fix_round,
    } = record;
    for r in &mut reports {
        if r.status == "pending" {
            r.status = "skipped".into();
        }
        // A phase sent back writes the same files again.
        let mut seen = std::collections::HashSet::new();
        r.artifacts.retain(|a| seen.insert(a.clone()));
    }
    let passed = reports.iter().all(|r| r.status == "passed");
    let gates: Vec<Value> = plan
        .iter()
        .zip(&reports)
        .filter(|(p, _)| p.gate)
        .map(|(p, r)| {
            json!({ "phase": p.name, "status": r.status, "findings": r.findings, "warnings": r.warnings })
        })
        .collect();
    let record = json!({
        "request": req.description,
        "passed": passed,
        "plan": { "source": plan_source, "phases": plan },
        "spec": spec,
        "spec_source": spec_source,
        "spec_check": spec_check,
        "fix_round": fix_round,
        "phases": reports,
        "gates": gates,
        "llm_bodies": bodies,
    });
    let text =
        serde_json::to_string_pretty(&record).map_err(|e| TaskError::Failed(e.to_string()))?;
    workspace::write_text("nexus-project.json", &text)?;
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| r.status != "passed")
        .map(|r| r.name.as_str())
        .collect();
    let summary = if passed {
        format!("all {} phases passed", reports.len())
    } else {
        format!("failed in: {}", failed.join(", "))
    };
    let artifacts: Vec<String> = reports
        .iter()
        .flat_map(|r| r.artifacts.iter().cloned())
        .collect();
    Ok(Outcome::json(&record, &summary)?.with_artifacts(artifacts))
}

nexus_sdk::export_agent!(Orchestrator);
