//! The QA agent's review of a generated project inside the sandbox, beside
//! the same parsing done natively (`nexus-syntax` linked into this process)
//! in the same run. The sandboxed figure includes the task start, the
//! journal, every host call that lists and reads the files, and writing
//! `reports/qa.json`; the native one includes reading the files from disk.
//!
//! Run: `cargo bench --bench review`

use nexus::policy::Policy;
use nexus::project::Project;
use nexus::runtime::{Runtime, RuntimeOptions};
use nexus_syntax::Language;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const RUNS: usize = 40;
fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Parses every Python and TypeScript file under `dir` as the review does;
/// returns (python files, typescript files, bytes, functions).
fn native_review(dir: &Path, counts: &mut (usize, usize, usize, usize)) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !nexus_syntax::NOT_SOURCE.contains(&name.as_str()) {
                native_review(&path, counts);
            }
            continue;
        }
        let Some(language) = Language::of(&name) else {
            continue;
        };
        let source = std::fs::read_to_string(&path).unwrap();
        counts.2 += source.len();
        if language == Language::Python {
            let suite = nexus_syntax::parse_python(&source, &name).unwrap();
            counts.3 += nexus_syntax::python_complexity(&source, &suite).len();
            counts.0 += 1;
        } else {
            assert!(
                nexus_syntax::check_typescript(&source, &name).is_empty(),
                "{name}"
            );
            counts.1 += 1;
        }
    }
}

#[tokio::main]
async fn main() {
    nexus::builtin::install(nexus::embedded!());
    let dir = tempfile::TempDir::new().unwrap();
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: Some(dir.path().join("cache")),
        database: Some(dir.path().join("bench.db")),
        ..Default::default()
    })
    .unwrap();
    let out = dir.path().join("blog");
    nexus::generate::generate(
        rt.clone(),
        nexus::generate::Request {
            description: "blog with posts, comments and users".into(),
            name: Some("blog".into()),
            out: Some(out.clone()),
            policies: None,
            restart: false,
            ..Default::default()
        },
        std::sync::Arc::new(|_| {}),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("nexus-project.json")).unwrap())
            .unwrap();
    let payload = json!({ "spec": record["spec"] }).to_string();

    let text = nexus::builtin::policy("qa").unwrap();
    let policy = Policy::parse(Path::new("policies/qa.toml"), text).unwrap();
    let bytes = Runtime::read_component("qa").unwrap();
    let agent = rt.load_agent(&bytes, policy).await.unwrap();
    let project = Project::open(rt.clone(), "review-bench", "bench", &out).unwrap();
    project.add_agent(agent);

    let mut sandboxed = Vec::with_capacity(RUNS);
    let mut native = Vec::with_capacity(RUNS);
    let mut counts = (0, 0, 0, 0);
    for i in 0..RUNS + 3 {
        let t = Instant::now();
        let reply = project.run("qa", "review", &payload).await.unwrap();
        let wasm = t.elapsed();
        assert!(
            reply.payload.contains("\"passed\":true"),
            "{}",
            reply.payload
        );
        counts = (0, 0, 0, 0);
        let t = Instant::now();
        native_review(&out.join("backend"), &mut counts);
        native_review(&out.join("frontend"), &mut counts);
        let nat = t.elapsed();
        // The first runs warm the caches on both sides.
        if i >= 3 {
            sandboxed.push(wasm);
            native.push(nat);
        }
    }
    let (w, n) = (median(sandboxed), median(native));
    println!(
        "QA review of the generated blog ({} Python and {} TypeScript files, {} KiB, {} Python functions), median of {RUNS}:",
        counts.0,
        counts.1,
        counts.2 / 1024,
        counts.3
    );
    println!(
        "  native parse (baseline)   {:>8.2} ms",
        n.as_secs_f64() * 1e3
    );
    println!(
        "  QA agent in the sandbox   {:>8.2} ms   {:.2}x the native parse",
        w.as_secs_f64() * 1e3,
        w.as_secs_f64() / n.as_secs_f64()
    );
}
