//! Projects a minute through a cluster on loopback: one NATS server, one
//! API node, and one worker, then two, each running at most 4 projects at
//! once. Every model call of the projects' takes 200 ms at the LLM test
//! server (and says nothing usable, so the parser and templates make the
//! projects). The two rates are measured in the same run, on the same
//! machine, and shown with their ratio.
//!
//! Run: `cargo bench --bench cluster` (`-- 24` submits 24 projects a round;
//! the default is 16).

#[path = "../../tests/support/llm_server.rs"]
mod llm_server;
#[path = "../../tests/support/nats.rs"]
#[allow(dead_code)]
mod nats;
#[path = "../../tests/support/service.rs"]
#[allow(dead_code)]
mod service;

use llm_server::{Behavior, LlmServer};
use service::{Client, Server, Worker, cluster_env, tenant_with};
use std::time::{Duration, Instant};

const REQUESTS: [&str; 4] = [
    "a helpdesk with tickets and agents",
    "a library with books, members and loans",
    "a recipe site with recipes, ingredients and ratings",
    "a gym with members, trainers and classes",
];

/// Projects a minute with `workers` workers: from the first submission to
/// the last project's end.
async fn round(llm: &LlmServer, cache: &std::path::Path, workers: usize, projects: usize) -> f64 {
    let dir = tempfile::TempDir::new().unwrap();
    // The compiled agents are shared, so no round pays for compiling them.
    std::os::unix::fs::symlink(cache, dir.path().join("cache")).unwrap();
    let nats = nats::Nats::start();
    let env = cluster_env(dir.path(), &nats.url, "", llm.addr);
    let token = tenant_with(
        dir.path(),
        "bench",
        &[
            "--max-projects",
            "64",
            "--max-queued",
            "1000",
            "--rate",
            "none",
        ],
    );
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with(dir.path(), &env_ref);
    let running: Vec<Worker> = (0..workers)
        .map(|i| Worker::start(dir.path(), &format!("worker-{i}"), 4, &env))
        .collect();
    let client = Client::new(&server, &token);
    let start = Instant::now();
    let mut ids = Vec::new();
    for i in 0..projects {
        ids.push(client.submit(REQUESTS[i % REQUESTS.len()]).await);
    }
    // One light call a poll: the tenant's newest projects.
    loop {
        let list = client.json(&format!("/v1/projects?limit={projects}")).await;
        let all = list["projects"].as_array().unwrap();
        assert!(
            all.iter().all(|p| p["status"] != "failed"),
            "a project failed: {list}"
        );
        if all.iter().filter(|p| p["status"] == "done").count() == projects {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = start.elapsed();
    let took: Vec<usize> = running.iter().map(|w| w.took().len()).collect();
    let cpu = |pid: u32| -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let f: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        (f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
            / 100.0
    };
    let workers_cpu: Vec<f64> = running.iter().map(|w| cpu(w.child.id())).collect();
    eprintln!(
        "  CPU seconds: API node {:.1}, workers {workers_cpu:?}",
        cpu(server.child.id())
    );
    eprintln!(
        "  {workers} worker(s): {projects} projects in {:.1} s; taken by each: {took:?}",
        elapsed.as_secs_f64()
    );
    projects as f64 * 60.0 / elapsed.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    nexus::builtin::install(nexus::embedded!());
    let projects: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(16);
    let llm = LlmServer::start().await;
    for model in ["qwen2.5-coder:7b", "codellama:7b", "deepseek-coder:6.7b"] {
        llm.script(
            model,
            Behavior::Slow(
                Duration::from_millis(200),
                "I would rather not answer that one.".into(),
            ),
        );
    }
    let cache = tempfile::TempDir::new().unwrap();
    // A first round fills the compiled agents' cache; it is not counted.
    eprintln!("warming up");
    round(&llm, cache.path(), 1, 2).await;
    let calls_before = llm.requests().len();
    let one = round(&llm, cache.path(), 1, projects).await;
    let per_project = (llm.requests().len() - calls_before) as f64 / projects as f64;
    let two = round(&llm, cache.path(), 2, projects).await;
    println!(
        "projects a minute, {projects} projects a round, 4 at once a worker, 200 ms a model call ({per_project:.1} calls a project)"
    );
    println!("{:<10} {:>14}", "workers", "projects/min");
    println!("{:<10} {:>14.1}", 1, one);
    println!("{:<10} {:>14.1}", 2, two);
    println!("2 workers / 1 worker: {:.2}x", two / one);
}
