//! End to end: `nexus generate` turns a request into a project — FastAPI
//! backend, React frontend, Docker, Kubernetes, CI — and both of its test
//! suites pass: the backend's in a fresh virtual environment (python3 -m
//! venv, pip install -r backend/requirements.txt, pytest), the frontend's
//! after npm install and npm run build (npm test).

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use support::llm_server::{Behavior, LlmServer};
use support::project::{npm, pytest};

/// Generates `description` into `root/project` and checks the files every
/// project has; returns nexus-project.json.
/// The record of the phase called `name`.
fn phase(record: &Value, name: &str) -> Value {
    record["phases"]
        .as_array()
        .and_then(|phases| phases.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no phase {name} in {record}"))
        .clone()
}

fn generate(root: &Path, description: &str, env: &[(String, String)]) -> Value {
    let record = support::project::generate(root, description, env);
    for name in ["analysis", "build", "integration", "quality", "deployment"] {
        let p = phase(&record, name);
        assert_eq!(p["status"], "passed", "{name}: {p}");
    }
    let out = root.join("project");
    for file in [
        "docker-compose.yml",
        ".env.example",
        "deploy/k8s/backend.yaml",
        ".github/workflows/ci.yml",
        "backend/Dockerfile",
        "frontend/Dockerfile",
        "reports/qa.json",
        "reports/security.json",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    record
}

/// What the spec asks of its fields and relations, counted.
struct Rules {
    entities: usize,
    /// Fields with a `min` or `max` the backend can hold.
    ranged: usize,
    enums: usize,
    /// email, url and decimal fields.
    formatted: usize,
    unique: usize,
    many_to_one: usize,
    many_to_many: usize,
    /// Required fields other than booleans, and required references.
    required: usize,
    /// Fields with a `min` or `max`.
    bounded: usize,
}

fn rules(spec: &Value) -> Rules {
    let entities = spec["entities"].as_array().unwrap();
    let fields: Vec<&Value> = entities
        .iter()
        .flat_map(|e| e["fields"].as_array().unwrap())
        .collect();
    let relations = spec["relations"].as_array().unwrap();
    let bound = |f: &&&Value| f.get("min").is_some() || f.get("max").is_some();
    // Money beyond what Numeric(12, 2) holds is not tested as a bound.
    let holdable = |f: &&&Value| {
        f["type"] != "decimal"
            || ["min", "max"]
                .iter()
                .filter_map(|k| f.get(*k).and_then(Value::as_f64))
                .any(|v| v.abs() < 1e10)
    };
    let many_to_one: Vec<&Value> = relations
        .iter()
        .filter(|r| r.get("through").is_none())
        .collect();
    Rules {
        entities: entities.len(),
        ranged: fields.iter().filter(bound).filter(holdable).count(),
        enums: fields.iter().filter(|f| f["type"] == "enum").count(),
        formatted: fields
            .iter()
            .filter(|f| matches!(f["type"].as_str(), Some("email" | "url" | "decimal")))
            .count(),
        unique: fields.iter().filter(|f| f["unique"] == true).count(),
        many_to_one: many_to_one.len(),
        many_to_many: relations.len() - many_to_one.len(),
        required: fields
            .iter()
            .filter(|f| f["required"] == true && f["type"] != "boolean")
            .count()
            + many_to_one.iter().filter(|r| r["required"] == true).count(),
        bounded: fields.iter().filter(bound).count(),
    }
}

/// The generated backend's tests: three for the migration, nine per
/// entity, five for auth, one per validation rule the model wrote and QA
/// accepted, and one or two for each rule of the spec (ranges and choices
/// twice: the API and the database).
fn backend_tests(record: &Value) -> usize {
    let spec = &record["spec"];
    let r = rules(spec);
    let auth = spec["auth"].as_bool().unwrap();
    let kept = record["llm_bodies"]["kept"].as_array().map_or(0, Vec::len);
    3 + 9 * r.entities
        + if auth { 5 } else { 0 }
        + kept
        + 2 * r.ranged
        + 2 * r.enums
        + r.formatted
        + r.unique
        + r.many_to_one
        + r.many_to_many
}

/// The generated frontend's tests: ten per entity page, two per reference
/// (its select and its name in the list), one per required field, range
/// and choice, and fifteen for the API client, the app and formatting.
fn frontend_tests(record: &Value) -> usize {
    let r = rules(&record["spec"]);
    10 * r.entities + 2 * r.many_to_one + r.required + r.bounded + r.enums + 15
}

async fn generated_project_passes_its_tests(
    description: &str,
    entities: &[&str],
    env: &[(&str, &str)],
) -> Value {
    let dir = tempfile::TempDir::new().unwrap();
    let root = dir.path().to_path_buf();
    let (text, env): (String, Vec<(String, String)>) = (
        description.to_string(),
        env.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let record = tokio::task::spawn_blocking(move || generate(&root, &text, &env))
        .await
        .unwrap();
    let names: Vec<&str> = record["spec"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, entities);
    let (a, b) = (dir.path().join("project"), dir.path().join("project"));
    let backend = tokio::task::spawn_blocking(move || pytest(&a, None));
    let frontend = tokio::task::spawn_blocking(move || npm(&b));
    let (backend, frontend) = (backend.await.unwrap(), frontend.await.unwrap());
    assert_eq!(backend as usize, backend_tests(&record), "{description}");
    assert_eq!(frontend as usize, frontend_tests(&record), "{description}");
    // The quality gate measured what it parsed and passed with no
    // high-severity finding.
    let quality = phase(&record, "quality");
    assert!(
        quality["metrics"]["qa"]["python_files"].as_u64().unwrap() > 5,
        "{quality}"
    );
    assert!(
        quality["metrics"]["qa"]["typescript_files"]
            .as_u64()
            .unwrap()
            > 5,
        "{quality}"
    );
    assert_eq!(quality["metrics"]["security"]["high"], 0, "{quality}");
    record
}

#[tokio::test(flavor = "multi_thread")]
async fn todo_app_passes_its_tests() {
    let record = generated_project_passes_its_tests("todo app", &["Todo"], &[]).await;
    assert_eq!(record["spec_source"], "parser");
    assert_eq!(record["llm_bodies"]["source"], "none");
    assert_eq!(record["plan"]["source"], "built-in");
    // What the parser understood is on record, with its reasons.
    assert!(
        record["spec_check"]["understood"]
            .to_string()
            .contains("what a todo app keeps"),
        "{}",
        record["spec_check"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn blog_passes_its_tests() {
    generated_project_passes_its_tests(
        "blog with posts, comments and users",
        &["Post", "Comment"],
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inventory_passes_its_tests() {
    generated_project_passes_its_tests(
        "inventory with products, suppliers and orders",
        &["Product", "Supplier", "Order"],
        &[],
    )
    .await;
}

/// A field of an entity in nexus-project.json's spec.
fn field<'a>(record: &'a Value, entity: &str, name: &str) -> &'a Value {
    record["spec"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == entity)
        .and_then(|e| {
            e["fields"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == name)
        })
        .unwrap_or_else(|| panic!("no {entity}.{name}: {}", record["spec"]))
}

fn has_relation(record: &Value, from: &str, to: &str) -> bool {
    record["spec"]["relations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["from"] == from && r["to"] == to)
}

// Requests from the reference set with relations, choices, ranges and a
// many-to-many relation. Each generated project passes its own suites,
// whose counts above include a test per rule on each side: choices and
// ranges refused by the API, the database and the form, parents chosen in
// a select filled from the parent's list and shown by name.

#[tokio::test(flavor = "multi_thread")]
async fn plant_nursery_with_choices_passes_its_tests() {
    let record = generated_project_passes_its_tests(
        "a plant nursery shop where customers buy plants; each plant has a price, a stock count and a light requirement of low, medium or high",
        &["Customer", "Plant", "Order"],
        &[],
    )
    .await;
    let light = field(&record, "Plant", "light_requirement");
    assert_eq!(light["choices"], json!(["low", "medium", "high"]));
    assert_eq!(field(&record, "Plant", "price")["type"], "decimal");
    assert_eq!(field(&record, "Plant", "stock_count")["min"], 0);
    assert!(has_relation(&record, "Order", "Customer") && has_relation(&record, "Order", "Plant"));
}

#[tokio::test(flavor = "multi_thread")]
async fn movie_reviews_with_a_range_pass_their_tests() {
    let record = generated_project_passes_its_tests(
        "a movie review site where users rate movies from 1 to 10 and write reviews",
        &["Movie", "Review"],
        &[],
    )
    .await;
    let rating = field(&record, "Review", "rating");
    assert_eq!(
        (rating["min"].clone(), rating["max"].clone()),
        (json!(1), json!(10))
    );
    assert!(has_relation(&record, "Review", "Movie"));
    assert_eq!(record["spec"]["auth"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn conference_with_a_many_to_many_relation_passes_its_tests() {
    let record = generated_project_passes_its_tests(
        "a conference app where speakers give talks in rooms and attendees bookmark talks",
        &["Speaker", "Talk", "Room", "Attendee", "Bookmark"],
        &[],
    )
    .await;
    let link = record["spec"]["relations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["through"] == "Bookmark")
        .cloned();
    assert_eq!(
        link.map(|l| (l["from"].clone(), l["to"].clone())),
        Some((json!("Attendee"), json!("Talk")))
    );
    assert!(has_relation(&record, "Talk", "Speaker") && has_relation(&record, "Talk", "Room"));
}

#[tokio::test(flavor = "multi_thread")]
async fn hotel_bookings_pass_their_tests() {
    let record = generated_project_passes_its_tests(
        "a hotel booking system: hotels have rooms with a nightly rate, guests make bookings with check-in and check-out dates",
        &["Hotel", "Room", "Guest", "Booking"],
        &[],
    )
    .await;
    assert_eq!(field(&record, "Room", "nightly_rate")["type"], "decimal");
    assert_eq!(field(&record, "Booking", "check_in_date")["type"], "date");
    for (from, to) in [("Room", "Hotel"), ("Booking", "Room"), ("Booking", "Guest")] {
        assert!(has_relation(&record, from, to), "{from} → {to}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn warehouse_movements_pass_their_tests() {
    let record = generated_project_passes_its_tests(
        "a warehouse system tracking products, storage locations and stock movements with a quantity and a direction (in or out)",
        &["Product", "StorageLocation", "StockMovement"],
        &[],
    )
    .await;
    assert_eq!(
        field(&record, "StockMovement", "direction")["choices"],
        json!(["in", "out"])
    );
    assert!(has_relation(&record, "StockMovement", "Product"));
    assert!(has_relation(&record, "StockMovement", "StorageLocation"));
}

#[tokio::test(flavor = "multi_thread")]
async fn league_matches_between_two_teams_pass_their_tests() {
    let record = generated_project_passes_its_tests(
        "a sports league manager with teams, players on teams, and matches between two teams with a score",
        &["Team", "Player", "Match"],
        &[],
    )
    .await;
    let sides: Vec<&str> = record["spec"]["relations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["from"] == "Match" && r["to"] == "Team")
        .map(|r| r["field"].as_str().unwrap())
        .collect();
    assert_eq!(sides, ["home_team_id", "away_team_id"]);
    assert_eq!(field(&record, "Match", "home_score")["min"], 0);
}

/// The library the model answers for: three entities, two relations.
fn library_spec() -> Value {
    json!({
        "name": "library", "title": "Library", "auth": true,
        "entities": [
            {"name": "Author", "fields": [{"name": "name", "type": "string", "required": true}, {"name": "born", "type": "date"}]},
            {"name": "Book", "fields": [{"name": "title", "type": "string", "required": true}, {"name": "isbn", "type": "string"}, {"name": "pages", "type": "integer"}]},
            {"name": "Loan", "fields": [{"name": "borrower_email", "type": "email", "required": true}, {"name": "due_date", "type": "date", "required": true}, {"name": "returned", "type": "boolean"}, {"name": "fee", "type": "number"}]}
        ],
        "relations": [{"from": "Book", "to": "Author", "required": true}, {"from": "Loan", "to": "Book", "required": true}]
    })
}

/// The model's validation rules for the library.
fn library_rules() -> Value {
    // Validation rules: two good ones, one that does not parse, one that
    // imports, one for a field type that keeps the template's validation.
    json!({"validators": [
        {"entity": "Book", "field": "isbn",
         "body": "digits = [c for c in v if c.isdigit()]\nif len(digits) not in (10, 13):\n    raise ValueError(\"an ISBN has 10 or 13 digits\")\nreturn v",
         "valid": "978-0-306-40615-7", "invalid": "12345"},
        {"entity": "Book", "field": "pages",
         "body": "    if v < 1 or v > 100000:\n        raise ValueError(\"pages must be between 1 and 100000\")\n    return v\n",
         "valid": 320, "invalid": 0},
        {"entity": "Author", "field": "name",
         "body": "if len(v.strip() < 2:\n    raise ValueError('too short')\nreturn v",
         "valid": "Ursula K. Le Guin", "invalid": "U"},
        {"entity": "Loan", "field": "fee",
         "body": "import os\nos.system('true')\nreturn v", "valid": 2.5, "invalid": -1},
        {"entity": "Author", "field": "born",
         "body": "return v", "valid": "1929-10-21", "invalid": "tomorrow"}
    ]})
}

#[tokio::test(flavor = "multi_thread")]
async fn library_from_the_model_passes_its_tests() {
    let server = LlmServer::start().await;
    server.script(
        "deepseek-coder:6.7b",
        Behavior::Reply(vec![library_spec().to_string()]),
    );
    server.script(
        "codellama:7b",
        Behavior::Reply(vec![library_rules().to_string()]),
    );
    let host = server.addr.to_string();
    let record = generated_project_passes_its_tests(
        "a library with books, authors and loans",
        &["Author", "Book", "Loan"],
        &[("NEXUS_LLM_BACKEND", "ollama"), ("OLLAMA_HOST", &host)],
    )
    .await;
    assert_eq!(record["spec_source"], "llm");
    assert_eq!(record["plan"]["source"], "built-in");
    assert_eq!(record["spec_check"]["check"]["verdict"], "kept", "{record}");

    let bodies = &record["llm_bodies"];
    assert_eq!(
        bodies["kept"],
        json!(["Book.isbn", "Book.pages"]),
        "{bodies}"
    );
    let reason = |target: &str| {
        bodies["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["target"] == target)
            .map(|r| r["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{target} not rejected: {bodies}"))
    };
    assert!(reason("Author.name").starts_with("QA: does not parse: line "));
    assert!(reason("Loan.fee").contains("imports"));
    assert!(reason("Author.born").contains("date field"));
}

/// Every file under `dir` with its contents, by relative path, leaving out
/// the record (its timings differ from run to run).
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                if rel != "nexus-project.json" {
                    out.insert(rel, std::fs::read(&path).unwrap());
                }
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A model server that answers the library's spec at once and its
/// validation rules after `slow` seconds.
async fn slow_library_server(slow: u64) -> std::sync::Arc<LlmServer> {
    let server = std::sync::Arc::new(LlmServer::start().await);
    server.script(
        "deepseek-coder:6.7b",
        Behavior::Reply(vec![library_spec().to_string()]),
    );
    server.script(
        "codellama:7b",
        Behavior::Slow(
            std::time::Duration::from_secs(slow),
            library_rules().to_string(),
        ),
    );
    server
}

/// Starts `cmd` (a generation of the library) and kills it (SIGKILL) once
/// the backend has asked the slow model: the analysis is done and paid
/// for, the build is not.
fn kill_once_the_build_asks(mut cmd: Command, server: &LlmServer) -> std::process::ExitStatus {
    let mut child = cmd.stdout(std::process::Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while server.chat_requests("codellama:7b").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the build never asked the model"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "generate ended before the kill"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap()
}

/// `nexus generate` killed (SIGKILL) while the backend waits on a slow
/// model: `nexus resume` finishes the project, its files equal those of a
/// run that was never interrupted, and no model answer is paid for twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_generation_resumes_to_the_same_project_without_paying_twice() {
    let server = slow_library_server(3).await;
    let dir = tempfile::TempDir::new().unwrap();
    let root = dir.path().to_path_buf();
    let host = server.addr.to_string();
    let nexus = move |state: &str, args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexus"));
        cmd.arg("--state-dir")
            .arg(root.join(state))
            .args(args)
            .env(
                "NEXUS_CACHE_DIR",
                std::env::temp_dir().join("nexus-test-component-cache"),
            )
            .env("NEXUS_LLM_BACKEND", "ollama")
            .env("OLLAMA_HOST", &host)
            .env_remove("OPENAI_BASE_URL");
        cmd
    };
    let description = "a library with books, authors and loans";
    let crash = dir.path().join("crash");
    let whole = dir.path().join("whole");

    let killed = {
        let nexus = nexus.clone();
        let (server_requests, crash) = (server.clone(), crash.clone());
        tokio::task::spawn_blocking(move || {
            let mut cmd = nexus(
                "state",
                &["generate", description, "--name", "library", "--out"],
            );
            cmd.arg(&crash);
            kill_once_the_build_asks(cmd, &server_requests)
        })
    };
    assert!(!killed.await.unwrap().success());
    assert!(!crash.join("nexus-project.json").exists());

    let resumed = {
        let nexus = nexus.clone();
        tokio::task::spawn_blocking(move || {
            nexus("state", &["resume", "library"]).output().unwrap()
        })
    }
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        resumed.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(
        stdout.contains("gates: integration passed, quality passed"),
        "{stdout}"
    );
    // The analyst's answer was paid for once; the backend's first request
    // was never answered, so it was asked once more, and only once.
    assert_eq!(server.chat_requests("deepseek-coder:6.7b").len(), 1);
    assert_eq!(server.chat_requests("codellama:7b").len(), 2);
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(crash.join("nexus-project.json")).unwrap())
            .unwrap();
    assert_eq!(record["passed"], true, "{record}");
    assert_eq!(
        record["llm_bodies"]["kept"],
        json!(["Book.isbn", "Book.pages"])
    );

    // The same request, never interrupted, in a host of its own.
    let uninterrupted = {
        let whole = whole.clone();
        tokio::task::spawn_blocking(move || {
            nexus(
                "other-state",
                &["generate", description, "--name", "library", "--out"],
            )
            .arg(&whole)
            .output()
            .unwrap()
        })
    }
    .await
    .unwrap();
    assert!(uninterrupted.status.success());
    let (a, b) = (tree(&crash), tree(&whole));
    let differ: Vec<&String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .collect();
    assert!(differ.is_empty(), "files differ: {differ:?}");
    assert!(a.len() > 40, "{}", a.len());
}

/// After a kill, the same `nexus generate` continues the interrupted run
/// (another request for the same project is refused with the two ways
/// out), and `--restart` starts over; either way nothing paid for is
/// asked again.
#[tokio::test(flavor = "multi_thread")]
async fn generating_again_after_a_kill_continues_or_with_restart_starts_over() {
    let server = slow_library_server(2).await;
    let dir = tempfile::TempDir::new().unwrap();
    let (root, host) = (dir.path().to_path_buf(), server.addr.to_string());
    let out = dir.path().join("library");
    let generate = move |description: &str, extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexus"));
        cmd.arg("--state-dir")
            .arg(root.join("state"))
            .args(["generate", description, "--name", "library", "--out"])
            .arg(root.join("library"))
            .args(extra)
            .env(
                "NEXUS_CACHE_DIR",
                std::env::temp_dir().join("nexus-test-component-cache"),
            )
            .env("NEXUS_LLM_BACKEND", "ollama")
            .env("OLLAMA_HOST", &host);
        cmd
    };
    let description = "a library with books, authors and loans";
    let (g, s) = (generate.clone(), server.clone());
    tokio::task::spawn_blocking(move || kill_once_the_build_asks(g(description, &[]), &s))
        .await
        .unwrap();

    let run = |description: &'static str, extra: &'static [&'static str]| {
        let g = generate.clone();
        tokio::task::spawn_blocking(move || g(description, extra).output().unwrap())
    };
    let other = run("a bakery with cakes", &[]).await.unwrap();
    assert_eq!(other.status.code(), Some(2));
    let err = String::from_utf8_lossy(&other.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("interrupted generation of \"a library with books, authors and loans\"")
            && err.contains("nexus resume library")
            && err.contains("--restart"),
        "{err}"
    );

    let again = run(description, &[]).await.unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}");
    assert!(
        stdout.contains("Continuing the interrupted generation of `library`"),
        "{stdout}"
    );
    assert_eq!(server.chat_requests("deepseek-coder:6.7b").len(), 1);
    assert_eq!(server.chat_requests("codellama:7b").len(), 2);

    // Starting over asks nothing the cache already holds.
    let restarted = run(description, &["--restart"]).await.unwrap();
    let stdout = String::from_utf8_lossy(&restarted.stdout);
    assert!(restarted.status.success(), "{stdout}");
    assert!(!stdout.contains("Continuing"), "{stdout}");
    assert_eq!(server.chat_requests("deepseek-coder:6.7b").len(), 1);
    assert_eq!(server.chat_requests("codellama:7b").len(), 2);
    assert!(out.join("nexus-project.json").is_file());

    // The id is this directory's: the same name elsewhere is refused.
    let elsewhere = {
        let root = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_nexus"))
                .arg("--state-dir")
                .arg(root.join("state"))
                .args(["generate", description, "--name", "library", "--out"])
                .arg(root.join("elsewhere"))
                .env("NEXUS_LLM_BACKEND", "none")
                .output()
                .unwrap()
        })
    }
    .await
    .unwrap();
    assert_eq!(elsewhere.status.code(), Some(2));
    let err = String::from_utf8_lossy(&elsewhere.stderr);
    assert!(
        err.contains("project `library` is generated in") && err.contains("pass another --name"),
        "{err}"
    );
    assert!(!dir.path().join("elsewhere/backend").exists());
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

/// Runs one built-in gate agent under its shipped policy on a generated
/// project; returns its answer.
async fn check(project_dir: &Path, agent: &str, kind: &str, payload: Value) -> Value {
    try_check(project_dir, agent, kind, payload).await.unwrap()
}

/// [`check`], returning how the task failed instead of panicking.
async fn try_check(
    project_dir: &Path,
    agent: &str,
    kind: &str,
    payload: Value,
) -> Result<Value, nexus::task::TaskFailure> {
    let rt = nexus::runtime::Runtime::new(nexus::runtime::RuntimeOptions {
        cache_dir: Some(std::env::temp_dir().join("nexus-test-component-cache")),
        ..Default::default()
    })
    .unwrap();
    let policy = nexus::policy::Policy::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../policies/{agent}.toml")),
    )
    .unwrap();
    let loaded = rt
        .load_agent(&support::component(agent), policy)
        .await
        .unwrap();
    let project = nexus::project::Project::open(rt, "gate", "t1", project_dir).unwrap();
    project.add_agent(loaded);
    let out = project.run(agent, kind, &payload.to_string()).await?;
    Ok(serde_json::from_str(&out.payload).unwrap())
}

/// Generates `description` into a temporary directory; returns it with
/// nexus-project.json.
async fn generated(description: &'static str) -> (tempfile::TempDir, Value) {
    let dir = tempfile::TempDir::new().unwrap();
    let root = dir.path().to_path_buf();
    let record = tokio::task::spawn_blocking(move || generate(&root, description, &[]))
        .await
        .unwrap();
    (dir, record)
}

fn append(path: &Path, text: &str) {
    let mut old = std::fs::read_to_string(path).unwrap();
    old.push_str(text);
    std::fs::write(path, old).unwrap();
}

/// A syntax error in either half fails the QA review with findings that
/// name the file and line; the untouched project passed it.
#[tokio::test(flavor = "multi_thread")]
async fn a_syntax_error_fails_the_qa_review_with_its_file_and_line() {
    let (dir, record) = generated("todo app").await;
    let project_dir = dir.path().join("project");
    let payload = json!({ "spec": record["spec"] });
    let clean = check(&project_dir, "qa", "review", payload.clone()).await;
    assert_eq!(clean["passed"], true, "{clean}");
    let main = project_dir.join("backend/main.py");
    let lines = std::fs::read_to_string(&main).unwrap().lines().count();
    append(&main, "\ndef broken(:\n    pass\n");
    append(
        &project_dir.join("frontend/src/api.ts"),
        "\nexport const = ;\n",
    );
    std::fs::remove_file(project_dir.join("backend/tests/test_todos.py")).unwrap();
    let deep = format!("x = {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
    std::fs::write(project_dir.join("backend/deep.py"), &deep).unwrap();
    std::fs::write(
        project_dir.join("frontend/src/deep.ts"),
        format!(
            "export const x = {}1{};\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
    )
    .unwrap();
    // The deepest source the parser guard lets through: 99 nested blocks
    // around 200 nested brackets around 399 operators.
    let mut limits = String::from("def f(v):\n");
    for level in 1..99 {
        limits.push_str(&format!("{}if v:\n", "    ".repeat(level)));
    }
    limits.push_str(&format!(
        "{}t = {}v{}{}\n    return v\n",
        "    ".repeat(99),
        "[".repeat(200),
        " + v".repeat(399),
        "]".repeat(200)
    ));
    std::fs::write(project_dir.join("backend/limits.py"), &limits).unwrap();
    let v = check(&project_dir, "qa", "review", payload).await;
    assert_eq!(v["passed"], false, "{v}");
    assert!(!v["findings"].to_string().contains("limits.py"), "{v}");
    let findings = v["findings"].to_string();
    assert!(
        findings.contains(&format!("backend/main.py: line {}:", lines + 2)),
        "{findings}"
    );
    assert!(
        findings.contains("frontend/src/api.ts: line "),
        "{findings}"
    );
    assert!(
        findings.contains("Todo: no backend tests (backend/tests/test_todos.py has none)"),
        "{findings}"
    );
    // Nesting meant to exhaust the parser's stack is a finding, not a crash.
    assert!(
        findings.contains("backend/deep.py: line 1:205: brackets nest more than 200 levels deep"),
        "{findings}"
    );
    assert!(
        findings.contains("frontend/src/deep.ts: line 1:218: brackets nest more than 200"),
        "{findings}"
    );
    let scan = check(&project_dir, "security", "security-scan", json!({})).await;
    assert!(
        scan["warnings"]
            .to_string()
            .contains("backend/deep.py:1: does not parse, so it was not scanned"),
        "{scan}"
    );
}

/// Planted vulnerabilities fail the security scan, each named with its
/// file, line and rule; the generated project itself has no high finding.
#[tokio::test(flavor = "multi_thread")]
async fn planted_vulnerabilities_fail_the_security_scan() {
    let (dir, _) = generated("blog with posts, comments and users").await;
    let project_dir = dir.path().join("project");
    let clean = check(&project_dir, "security", "security-scan", json!({})).await;
    assert_eq!(clean["passed"], true, "{clean}");
    assert_eq!(clean["findings"], json!([]), "{clean}");
    // Both containers run as an unprivileged user.
    assert!(
        !clean["warnings"].to_string().contains("container-root"),
        "{clean}"
    );
    append(
        &project_dir.join("backend/crud.py"),
        "\n\ndef find_by_title(db, title):\n    return db.execute(text(f\"SELECT * FROM posts WHERE title = '{title}'\")).all()\n",
    );
    std::fs::write(
        project_dir.join("backend/settings.py"),
        "API_KEY = \"sk-live-0123456789\"\n",
    )
    .unwrap();
    std::fs::write(
        project_dir.join("frontend/src/Preview.tsx"),
        "export const Preview = (p: { html: string }) => (\n  <div dangerouslySetInnerHTML={{ __html: p.html }} />\n);\n",
    )
    .unwrap();
    let v = check(&project_dir, "security", "security-scan", json!({})).await;
    assert_eq!(v["passed"], false, "{v}");
    let crud_lines = std::fs::read_to_string(project_dir.join("backend/crud.py"))
        .unwrap()
        .lines()
        .count();
    let findings = v["findings"].to_string();
    for expected in [
        format!("high: backend/crud.py:{crud_lines}:"),
        "[sql-injection]".to_string(),
        "high: backend/settings.py:1: `API_KEY` is set to a literal secret".to_string(),
        "high: frontend/src/Preview.tsx:2:".to_string(),
        "[xss]".to_string(),
    ] {
        assert!(findings.contains(&expected), "{expected} in {findings}");
    }
    assert_eq!(v["metrics"]["high"], 3, "{v}");
    assert!(project_dir.join("reports/security.json").is_file());
}

/// A gate whose findings no builder can act on fails the project at once:
/// here the QA agent's policy lets it read only `backend/`, so it finds no
/// frontend tests, and the templates would write the same files again. The
/// fix round is skipped and the record says so; exit 1, the build ran
/// once, deployment never ran.
#[test]
fn a_gate_failing_with_nothing_to_fix_fails_the_project_at_once() {
    let dir = tempfile::TempDir::new().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, policies.join(path.file_name().unwrap())).unwrap();
    }
    let qa = std::fs::read_to_string(policies.join("qa.toml")).unwrap();
    let narrowed = qa.replace(
        r#"read = ["backend/**", "frontend/**"]"#,
        r#"read = ["backend/**"]"#,
    );
    assert_ne!(qa, narrowed);
    std::fs::write(policies.join("qa.toml"), narrowed).unwrap();
    let out_dir = dir.path().join("project");
    let out = Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(["generate", "todo app", "--out"])
        .arg(&out_dir)
        .arg("--policies")
        .arg(&policies)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env(
            "NEXUS_CACHE_DIR",
            std::env::temp_dir().join("nexus-test-component-cache"),
        )
        .env("NEXUS_LLM_BACKEND", "none")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("gates: integration passed, quality failed"),
        "{stdout}"
    );
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("nexus-project.json")).unwrap())
            .unwrap();
    assert_eq!(record["passed"], false);
    assert_eq!(phase(&record, "build")["attempts"], 1);
    assert_eq!(phase(&record, "quality")["attempts"], 1);
    assert_eq!(phase(&record, "quality")["status"], "failed");
    assert_eq!(record["fix_round"]["status"], "skipped", "{record}");
    assert!(
        record["fix_round"]["findings"]
            .to_string()
            .contains("qa: frontend: no tests"),
        "{}",
        record["fix_round"]
    );
    assert_eq!(phase(&record, "deployment")["status"], "skipped");
    assert_eq!(phase(&record, "deployment")["attempts"], 0);
    assert!(
        phase(&record, "quality")["findings"]
            .to_string()
            .contains("qa: frontend: no tests"),
        "{}",
        phase(&record, "quality")
    );
    assert!(!out_dir.join("deploy").exists());
}

/// A finding a builder can act on is fixed in a second round: the model
/// wrote a validation rule that QA accepts but that keeps a secret in the
/// code, so the security gate fails on its line in `backend/schemas.py`;
/// the backend leaves that rule out of the next build, which passes. The
/// record tells this round from a skipped one.
#[tokio::test(flavor = "multi_thread")]
async fn a_finding_a_builder_can_act_on_is_fixed_in_the_second_round() {
    let server = LlmServer::start().await;
    let rules = json!({"validators": [
        {"entity": "Author", "field": "name",
         "body": "if len(v.split()) < 2:\n    raise ValueError(\"give a first and a last name\")\nreturn v",
         "valid": "Ursula Le Guin", "invalid": "Ursula"},
        {"entity": "Book", "field": "title",
         "body": "api_key = \"sk-live-0123456789abcdef\"\nif v == api_key:\n    raise ValueError(\"that title is reserved\")\nreturn v",
         "valid": "Dune", "invalid": "sk-live-0123456789abcdef"}
    ]});
    server.script("codellama:7b", Behavior::Reply(vec![rules.to_string()]));
    let host = server.addr.to_string();
    let dir = tempfile::TempDir::new().unwrap();
    let root = dir.path().to_path_buf();
    let env = vec![
        ("NEXUS_LLM_BACKEND".to_string(), "ollama".to_string()),
        ("OLLAMA_HOST".to_string(), host),
    ];
    let record = tokio::task::spawn_blocking(move || {
        generate(&root, "a library with books, authors and loans", &env)
    })
    .await
    .unwrap();
    let asked_for_rules = server
        .chat_requests("codellama:7b")
        .iter()
        .filter(|r| r.body.to_string().contains("field validators"))
        .count();
    // The second build used the model's first answer instead of asking
    // again.
    assert_eq!(asked_for_rules, 1);
    let fix = &record["fix_round"];
    assert_eq!(fix["status"], "ran", "{fix}");
    assert!(
        fix["findings"].to_string().contains("hardcoded-secret"),
        "{fix}"
    );
    assert!(
        fix["fixes"]
            .to_string()
            .contains("left out the model's rule for Book.title"),
        "{fix}"
    );
    assert!(
        fix["changed"].to_string().contains("backend/schemas.py"),
        "{fix}"
    );
    assert_eq!(phase(&record, "build")["attempts"], 2);
    assert_eq!(phase(&record, "quality")["attempts"], 2);
    assert_eq!(phase(&record, "quality")["status"], "passed");
    assert_eq!(
        record["llm_bodies"]["kept"],
        json!(["Author.name"]),
        "{}",
        record["llm_bodies"]
    );
    let schemas = std::fs::read_to_string(dir.path().join("project/backend/schemas.py")).unwrap();
    assert!(!schemas.contains("sk-live"));
    assert!(schemas.contains("give a first and a last name"));
}

/// A mismatch between frontend and backend fails the integration gate with
/// findings that name it.
#[tokio::test(flavor = "multi_thread")]
async fn a_frontend_backend_mismatch_fails_the_integration_gate() {
    let (dir, record) = generated("blog with posts, comments and users").await;
    let project_dir = dir.path().join("project");
    let schemas = project_dir.join("backend/schemas.py");
    let text = std::fs::read_to_string(&schemas).unwrap();
    std::fs::write(
        &schemas,
        text.replacen("    title: str", "    headline: str", 1),
    )
    .unwrap();

    let v = check(
        &project_dir,
        "integration",
        "integrate",
        json!({ "spec": record["spec"] }),
    )
    .await;
    assert_eq!(v["passed"], false, "{v}");
    let findings = v["findings"].to_string();
    assert!(
        findings.contains("Post.title: the frontend sends it, the backend does not accept it"),
        "{findings}"
    );
    assert!(
        findings.contains("Post.headline: the backend expects it, the frontend never sends it"),
        "{findings}"
    );
}

/// Bodies built to exhaust a parser or a recursive walk (deep nesting, long
/// operator chains) get a verdict from the QA agent, not a crash: they are
/// refused before parsing.
#[tokio::test(flavor = "multi_thread")]
async fn pathological_bodies_get_a_verdict_from_qa() {
    let dir = tempfile::TempDir::new().unwrap();
    let deep = |open: &str, close: &str, n: usize| {
        format!(
            "def check_x(cls, v):\n    t = {}v{}\n    return v\n",
            open.repeat(n),
            close.repeat(n)
        )
    };
    let bodies = [
        deep("(", ")", 1960),
        deep("[", "]", 1960),
        deep("-", "", 3950),
        deep("not ", "", 980),
        format!(
            "def check_x(cls, v):\n    t = v{}\n    return v\n",
            " + v".repeat(950)
        ),
        "def check_x(cls, v):\n    return v\n".repeat(200),
    ];
    let payload = json!({
        "language": "python",
        "bodies": bodies.iter().enumerate().map(|(i, b)| json!({"id": i.to_string(), "source": b})).collect::<Vec<_>>(),
    });
    let v = check(dir.path(), "qa", "check-bodies", payload).await;
    let verdicts = v.as_array().unwrap();
    assert_eq!(verdicts.len(), bodies.len(), "{v}");
    for verdict in &verdicts[..5] {
        assert_eq!(verdict["accepted"], false, "{verdict}");
        assert!(
            verdict["reason"].as_str().unwrap().contains("not parsed"),
            "{verdict}"
        );
    }
    // Far too long to be a validator.
    assert_eq!(verdicts[5]["accepted"], false, "{v}");
}

/// A generation run through the library reports its progress as events: the
/// project's start once, then every agent from running to done, each agent
/// ending once, and a report that matches the project on disk.
#[tokio::test(flavor = "multi_thread")]
async fn a_generation_reports_every_agent_from_running_to_done() {
    use nexus::generate::{AGENTS, Event, Request, Step};
    use nexus::runtime::{Runtime, RuntimeOptions};
    use std::sync::{Arc, Mutex};

    let dir = tempfile::TempDir::new().unwrap();
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: Some(dir.path().join("cache")),
        database: Some(dir.path().join("nexus.db")),
        ..Default::default()
    })
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let out = dir.path().join("todo");
    let report = nexus::generate::generate(
        rt,
        Request {
            description: "a todo app with tags".into(),
            name: Some("todo".into()),
            out: Some(out.clone()),
            policies: None,
            restart: false,
            ..Default::default()
        },
        Arc::new(move |e| sink.lock().unwrap().push(e)),
    )
    .await
    .unwrap();
    assert!(report.passed(), "{}", report.summary);
    assert_eq!(report.project, "todo");
    assert_eq!(report.root, out.canonicalize().unwrap());
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("nexus-project.json")).unwrap())
            .unwrap();
    assert_eq!(on_disk["passed"], report.record["passed"]);
    assert!(
        report.files > 10 && report.lines > report.files,
        "{report:?}"
    );

    let events = seen.lock().unwrap().clone();
    let started: Vec<usize> = (0..events.len())
        .filter(|&i| matches!(events[i], Event::Started { .. }))
        .collect();
    assert_eq!(started.len(), 1, "{events:?}");
    assert!(
        events[..started[0]]
            .iter()
            .all(|e| !matches!(e, Event::Agent { .. })),
        "{events:?}"
    );
    for agent in AGENTS {
        let steps: Vec<&Step> = events
            .iter()
            .filter_map(|e| match e {
                Event::Agent { agent: a, step, .. } if a == agent => Some(step),
                _ => None,
            })
            .collect();
        assert_eq!(steps.first(), Some(&&Step::Running), "{agent}: {steps:?}");
        assert!(
            matches!(steps.last(), Some(Step::Done { .. })),
            "{agent}: {steps:?}"
        );
        let ended = steps
            .iter()
            .filter(|s| matches!(s, Step::Done { .. } | Step::Failed { .. }))
            .count();
        assert_eq!(ended, 1, "{agent}: {steps:?}");
    }
}
