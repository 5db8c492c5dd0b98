//! The integration agent: checks that the frontend and the backend agree on
//! every route, field name and type, and writes what both share
//! (`docker-compose.yml`, `.env.example`). A mismatch fails the gate
//! (`passed: false` with the findings).

use nexus_sdk::{Agent, AgentInfo, Outcome, Task, TaskError, workspace};
use nexus_spec::{Spec, python_annotation};
use serde::Deserialize;
use serde_json::{Value, json};

struct Integration;

#[derive(Deserialize)]
struct Request {
    spec: Spec,
}

/// `field: annotation` lines of `class <name>(...)` in Python source.
fn class_fields(source: &str, class: &str) -> Option<Vec<(String, String)>> {
    let start = source.find(&format!("class {class}("))?;
    let body = &source[start..];
    let body = body.split_once('\n')?.1;
    let mut fields = Vec::new();
    for line in body.lines() {
        if line.starts_with("class ") {
            break;
        }
        let Some(rest) = line.strip_prefix("    ") else {
            continue;
        };
        if let Some((name, ann)) = rest.split_once(':')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !name.is_empty()
            && name != "model_config"
        {
            let ann = ann.split('=').next().unwrap_or("").trim().to_string();
            fields.push((name.to_string(), ann));
        }
    }
    Some(fields)
}

/// The `ENTITIES` array of the frontend's `src/spec.ts`.
fn frontend_entities(source: &str) -> Option<Vec<Value>> {
    let start = source.find("ENTITIES: EntityMeta[] = ")? + "ENTITIES: EntityMeta[] = ".len();
    let end = source[start..].find(";\n")? + start;
    serde_json::from_str::<Vec<Value>>(&source[start..end]).ok()
}

fn check(spec: &Spec) -> Result<Vec<String>, TaskError> {
    let mut findings = Vec::new();
    let main = workspace::read_text("backend/main.py")?;
    let schemas = workspace::read_text("backend/schemas.py")?;
    let spec_ts = workspace::read_text("frontend/src/spec.ts")?;
    let Some(front) = frontend_entities(&spec_ts) else {
        return Ok(vec!["frontend/src/spec.ts has no ENTITIES table".into()]);
    };
    if front.len() != spec.entities.len() {
        findings.push(format!(
            "the frontend knows {} entities, the spec {}",
            front.len(),
            spec.entities.len()
        ));
    }
    for e in &spec.entities {
        if !main.contains(&format!("\"{}\",", e.plural)) {
            findings.push(format!("the backend serves no /api/{} routes", e.plural));
        }
        let Some(back) = class_fields(&schemas, &format!("{}Base", e.name)) else {
            findings.push(format!("backend/schemas.py has no {}Base", e.name));
            continue;
        };
        let Some(fe) = front.iter().find(|f| f["plural"] == e.plural.as_str()) else {
            findings.push(format!("the frontend has no page for /api/{}", e.plural));
            continue;
        };
        for field in fe["fields"].as_array().into_iter().flatten() {
            let name = field["name"].as_str().unwrap_or("");
            let kind = field["type"].as_str().unwrap_or("");
            match back.iter().find(|(n, _)| n == name) {
                None => findings.push(format!(
                    "{}.{name}: the frontend sends it, the backend does not accept it",
                    e.name
                )),
                Some((_, ann))
                    if !ann.contains(
                        python_annotation(&nexus_spec::Field::new(name, kind, false)).as_str(),
                    ) =>
                {
                    findings.push(format!(
                        "{}.{name}: the frontend treats it as {kind}, the backend as `{ann}`",
                        e.name
                    ))
                }
                Some(_) => {}
            }
        }
        for r in fe["references"].as_array().into_iter().flatten() {
            let field = r["field"].as_str().unwrap_or("");
            if !back.iter().any(|(n, _)| n == field) {
                findings.push(format!(
                    "{}.{field}: the frontend links it, the backend has no such reference",
                    e.name
                ));
            }
        }
        for (name, _) in &back {
            let known = fe["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["name"] == name.as_str())
                || fe["references"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|r| r["field"] == name.as_str());
            if !known {
                findings.push(format!(
                    "{}.{name}: the backend expects it, the frontend never sends it",
                    e.name
                ));
            }
        }
    }
    let login = workspace::exists("frontend/src/pages/LoginPage.tsx")?;
    if spec.auth && !workspace::exists("backend/auth.py")? {
        findings.push("the spec has auth but the backend has no auth.py".into());
    }
    if spec.auth && !login {
        findings.push("the spec has auth but the frontend has no login page".into());
    }
    Ok(findings)
}

impl Agent for Integration {
    fn describe() -> AgentInfo {
        AgentInfo::new("integration", "Integration", env!("CARGO_PKG_VERSION"))
            .description("Checks that frontend and backend agree and writes docker-compose.yml and .env.example")
            .handles(&["integrate"])
            .capabilities(&["workspace"])
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        if task.kind != "integrate" {
            return Err(task.unsupported());
        }
        let Request { spec } = task.input()?;
        let spec = spec
            .normalised()
            .map_err(|e| TaskError::Rejected(format!("the spec: {e}")))?;
        let findings = check(&spec)?;
        if !findings.is_empty() {
            // The check ran; the gate failed. The orchestrator decides what
            // happens next, so this is an outcome, not a task error.
            return Outcome::json(
                &json!({ "passed": false, "checked": spec.entities.len(), "findings": findings }),
                &format!("frontend and backend disagree in {} places", findings.len()),
            );
        }
        let title: String = spec
            .title
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ')
            .collect();
        let compose = include_str!("../templates/docker-compose.yml").replace("@@title@@", &title);
        workspace::write_text("docker-compose.yml", &compose)?;
        workspace::write_text(".env.example", include_str!("../templates/env.example"))?;
        Ok(Outcome::json(
            &json!({ "passed": true, "checked": spec.entities.len(), "findings": [] }),
            &format!(
                "frontend and backend agree on {} entities",
                spec.entities.len()
            ),
        )?
        .with_artifacts(["docker-compose.yml", ".env.example"]))
    }
}

nexus_sdk::export_agent!(Integration);
