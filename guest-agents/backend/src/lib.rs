//! The backend agent: writes a FastAPI + SQLAlchemy 2 + Pydantic v2 service
//! for a spec into `backend/`, with pytest tests for every entity, every
//! rule of the spec and the auth flow, on SQLite or PostgreSQL, and the
//! Alembic migration that builds its tables. The templates are files under
//! `templates/`; only the parts that follow from the spec (models, schemas,
//! the route table, the initial migration, the README's title, test samples
//! and tables) are generated.

mod fixes;
mod migration;
mod models;
mod python;
mod rules;
mod samples;
mod schemas;
mod suite;

use nexus_sdk::{Agent, AgentInfo, Outcome, Task, TaskError, workspace};
use nexus_spec::Spec;
use serde::Deserialize;

struct Backend;

#[derive(Deserialize)]
struct Request {
    spec: Spec,
    /// What a gate found in the last build: the rules they name are left
    /// out of this one.
    #[serde(default)]
    findings: Vec<String>,
    /// Only say what would change; write nothing.
    #[serde(default)]
    dry_run: bool,
    /// The model's answer to the last build (its `bodies.answer`): used
    /// instead of asking again.
    #[serde(default)]
    answer: Option<Vec<rules::Proposal>>,
}

/// Static files: (path under backend/, contents, only with auth).
const STATIC: &[(&str, &str, bool)] = &[
    (
        "database.py",
        include_str!("../templates/database.py"),
        false,
    ),
    ("crud.py", include_str!("../templates/crud.py"), false),
    ("auth.py", include_str!("../templates/auth.py"), true),
    (
        "requirements.txt",
        include_str!("../templates/requirements.txt"),
        false,
    ),
    ("Dockerfile", include_str!("../templates/Dockerfile"), false),
    ("pytest.ini", include_str!("../templates/pytest.ini"), false),
    (
        "alembic.ini",
        include_str!("../templates/alembic.ini"),
        false,
    ),
    (
        "migrations/env.py",
        include_str!("../templates/migrations/env.py"),
        false,
    ),
    (
        "migrations/script.py.mako",
        include_str!("../templates/migrations/script.py.mako"),
        false,
    ),
    (
        "tests/conftest.py",
        include_str!("../templates/tests/conftest.py"),
        false,
    ),
    (
        "tests/test_0_migrations.py",
        include_str!("../templates/tests/test_0_migrations.py"),
        false,
    ),
    (
        "tests/test_auth.py",
        include_str!("../templates/tests/test_auth.py"),
        true,
    ),
];

impl Agent for Backend {
    fn describe() -> AgentInfo {
        AgentInfo::new("backend", "Backend", env!("CARGO_PKG_VERSION"))
            .description("Writes a FastAPI + SQLAlchemy service with pytest tests for a spec")
            .handles(&["generate-backend"])
            .capabilities(&["workspace", "llm", "bus", "log"])
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        if task.kind != "generate-backend" {
            return Err(task.unsupported());
        }
        let Request {
            spec,
            findings,
            dry_run,
            answer,
        } = task.input()?;
        let spec = spec
            .normalised()
            .map_err(|e| TaskError::Rejected(format!("the spec: {e}")))?;
        let mut files: Vec<(String, String)> = STATIC
            .iter()
            .filter(|(_, _, auth_only)| spec.auth || !auth_only)
            .map(|(path, text, _)| (path.to_string(), text.to_string()))
            .collect();
        let mut proposals = rules::propose(&spec, answer);
        // Sent back by a gate: leave out the model's rules it named.
        let mut fixes = Vec::new();
        if !findings.is_empty() {
            let schemas = python::generate(&spec, &proposals.rules)
                .into_iter()
                .find(|(p, _)| p == "schemas.py")
                .map(|(_, t)| t)
                .unwrap_or_default();
            for (id, finding) in fixes::named(&proposals.rules, &schemas, &findings) {
                proposals.drop_rule(&id, &finding);
                fixes.push(format!(
                    "left out the model's rule for {id} (the template's validation stays): {finding}"
                ));
            }
        }
        files.extend(python::generate(&spec, &proposals.rules));
        if dry_run {
            let changed = workspace::changes("backend", &files);
            return Outcome::json(
                &serde_json::json!({ "changed": changed, "fixes": fixes }),
                &format!("{} backend files would change", changed.len()),
            );
        }
        let written = workspace::write_files("backend", &files)?;
        let lines = written.lines;
        let tests = files
            .iter()
            .filter(|(p, _)| p.starts_with("tests/test_"))
            .count();
        Ok(Outcome::json(
            &serde_json::json!({
                "files": written.paths.len(),
                "lines": lines,
                "test_files": tests,
                "bodies": proposals,
                "changed": written.changed,
                "fixes": fixes,
            }),
            &format!(
                "wrote {} backend files ({lines} lines)",
                written.paths.len()
            ),
        )?
        .with_artifacts(written.paths))
    }
}

nexus_sdk::export_agent!(Backend);
