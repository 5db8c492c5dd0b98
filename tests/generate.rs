//! End to end: the analyst, backend and frontend agents turn a request into
//! a FastAPI service and a React app, and both test suites pass: the
//! backend's in a fresh virtual environment (python3 -m venv, pip install -r
//! backend/requirements.txt, pytest), the frontend's after npm install and
//! npm run build (npm test).

mod support;

use nexus::config::{BackendConfig, BackendKind, LlmConfig};
use nexus::policy::Policy;
use nexus::project::Project;
use nexus::runtime::{Runtime, RuntimeOptions};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use support::llm_server::{Behavior, LlmServer};

fn policy(name: &str) -> Policy {
    Policy::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../policies/{name}.toml")))
        .unwrap()
}

/// Runs analysis and backend generation in `root`; returns the spec.
async fn generate(root: &Path, description: &str, llm: LlmConfig) -> Value {
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: Some(std::env::temp_dir().join("nexus-test-component-cache")),
        llm,
        ..Default::default()
    })
    .unwrap();
    let project = Project::open(rt.clone(), "generated", "t1", root).unwrap();
    for name in ["analyst", "backend", "frontend"] {
        project.add_agent(
            rt.load_agent(&support::component(name), policy(name))
                .await
                .unwrap(),
        );
    }
    let analysis = project
        .run(
            "analyst",
            "analyze",
            &json!({ "description": description }).to_string(),
        )
        .await
        .unwrap();
    let analysis: Value = serde_json::from_str(&analysis.payload).unwrap();
    let out = project
        .run(
            "backend",
            "generate-backend",
            &json!({ "spec": analysis["spec"] }).to_string(),
        )
        .await
        .unwrap();
    assert!(
        out.artifacts.iter().all(|a| a.starts_with("backend/")),
        "{:?}",
        out.artifacts
    );
    analysis
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Creates a virtual environment, installs the requirements and runs the
/// generated tests; returns how many passed.
fn pytest(root: &Path) -> u32 {
    let backend = root.join("backend");
    let venv = root.join(".venv");
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    let python = venv.join("bin/python");
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            "requirements.txt",
        ])
        .current_dir(&backend));
    let report = run(Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(&backend));
    let summary = report
        .lines()
        .rev()
        .find(|l| l.contains(" passed"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        !summary.contains("failed") && !summary.contains("error"),
        "{report}"
    );
    summary
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap()
}

async fn generated_project_passes_its_tests(description: &str, entities: &[&str], llm: LlmConfig) {
    let dir = tempfile::TempDir::new().unwrap();
    let analysis = generate(dir.path(), description, llm).await;
    let names: Vec<&str> = analysis["spec"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, entities);
    let root = dir.path().to_path_buf();
    let passed = tokio::task::spawn_blocking(move || pytest(&root))
        .await
        .unwrap();
    // Nine tests for each entity, five for auth.
    let auth = analysis["spec"]["auth"].as_bool().unwrap();
    assert_eq!(
        passed as usize,
        entities.len() * 9 + if auth { 5 } else { 0 },
        "{description}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn todo_app_passes_its_tests() {
    generated_project_passes_its_tests("todo app", &["Todo"], LlmConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn blog_passes_its_tests() {
    generated_project_passes_its_tests(
        "blog with posts, comments and users",
        &["Post", "Comment"],
        LlmConfig::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inventory_passes_its_tests() {
    generated_project_passes_its_tests(
        "inventory with products, suppliers and orders",
        &["Product", "Supplier", "Order"],
        LlmConfig::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn library_from_a_model_spec_passes_its_tests() {
    let server = LlmServer::start().await;
    let spec = json!({
        "name": "library", "title": "Library", "auth": true,
        "entities": [
            {"name": "Author", "fields": [{"name": "name", "type": "string", "required": true}, {"name": "born", "type": "date"}]},
            {"name": "Book", "owned": false, "fields": [{"name": "title", "type": "string", "required": true}, {"name": "isbn", "type": "string"}, {"name": "pages", "type": "integer"}]},
            {"name": "Loan", "fields": [{"name": "borrower_email", "type": "email", "required": true}, {"name": "due_date", "type": "date", "required": true}, {"name": "returned", "type": "boolean"}, {"name": "fee", "type": "number"}]}
        ],
        "relations": [{"from": "Book", "to": "Author", "required": true}, {"from": "Loan", "to": "Book", "required": true}]
    });
    server.script(
        "deepseek-coder:6.7b",
        Behavior::Reply(vec![spec.to_string()]),
    );
    let llm = LlmConfig {
        backend: Some(BackendConfig {
            kind: BackendKind::Ollama,
            base_url: server.ollama_url(),
            api_key: None,
            keep_alive: None,
            num_ctx: None,
        }),
        retries: 0,
        ..LlmConfig::default()
    };
    generated_project_passes_its_tests(
        "a library with books, authors and loans",
        &["Author", "Book", "Loan"],
        llm,
    )
    .await;
}

/// The shipped policies keep each generator in its own directory: the same
/// write calls, made through the real workspace capability by a test agent
/// under each policy's `[workspace]` grant.
#[tokio::test]
async fn backend_cannot_write_frontend_files_and_frontend_cannot_write_backend_files() {
    for (own, other) in [("backend", "frontend"), ("frontend", "backend")] {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../policies/{own}.toml")),
        )
        .unwrap();
        let text = text.replace(&format!("agent = \"{own}\""), "agent = \"hostile\"");
        let f = support::Fixture::new();
        f.load("hostile", &text).await;
        let (kind, reason) = f
            .refusal(
                "write",
                json!({"path": format!("{other}/src/App.tsx"), "text": "x"}),
            )
            .await;
        assert_eq!(kind, "denied", "{own} writing {other}/");
        assert!(reason.contains("workspace.write"), "{reason}");
        let ok = f
            .run(
                "hostile",
                "write",
                json!({"path": format!("{own}/main.py"), "text": "x"}),
            )
            .await
            .unwrap();
        assert!(
            ok.payload.contains("ok"),
            "{own} writing {own}/: {}",
            ok.payload
        );
        assert!(!f.sandbox().join(other).exists());
    }
}
