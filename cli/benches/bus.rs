//! Messages a second from one wasm agent to another through the bus, with
//! the journal in memory off and on, beside a native in-process channel
//! (request and reply over tokio channels) measured in the same run.
//!
//! Run: `cargo bench --bench bus`; `cargo bench --bench bus -- memory` (or
//! `journaled`) measures that path alone, for a profiler.

use nexus::policy::Policy;
use nexus::project::Project;
use nexus::runtime::{Runtime, RuntimeOptions};
use std::path::Path;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

// The allocator of the `nexus` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MESSAGES: u64 = 20_000;
/// Rounds of `MESSAGES` each; the median round is reported.
const ROUNDS: usize = 5;
const IN_FLIGHT: usize = 64;

async fn agents(journal: bool, dir: &Path) -> f64 {
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: Some(dir.join("cache")),
        database: journal.then(|| dir.join("bench.db")),
        no_journal: !journal,
        ..Default::default()
    })
    .unwrap();
    let project = Project::open(rt.clone(), "bench", "bench", &dir.join("ws")).unwrap();
    for (name, policy) in [
        (
            "relay",
            "agent = \"relay\"\n[limits]\nwall_time = \"600s\"\nhost_calls = 100000000\n[bus]\nrequest = [\"worker\"]\nrate = 1000000\n",
        ),
        (
            "worker",
            "agent = \"worker\"\n[limits]\nconcurrent_tasks = 2\n",
        ),
    ] {
        let wasm = std::fs::read(nexus::builtin::test_agent(name).expect("test agents are built"))
            .unwrap();
        let agent = rt
            .load_agent(&wasm, Policy::parse(Path::new(name), policy).unwrap())
            .await
            .unwrap();
        project.add_agent(agent);
    }
    project
        .run("relay", "burst", "{\"count\": 256}")
        .await
        .unwrap();
    let mut rates = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let out = project
            .run("relay", "burst", &format!("{{\"count\": {MESSAGES}}}"))
            .await
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert!(
            out.payload.contains(&format!("\"done\":{MESSAGES}")),
            "{}",
            out.payload
        );
        rates.push(MESSAGES as f64 / secs);
    }
    eprintln!(
        "{}: {}",
        if journal { "journaled" } else { "memory" },
        rates
            .iter()
            .map(|r| format!("{:.0}", r))
            .collect::<Vec<_>>()
            .join(" ")
    );
    median(rates)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn native() -> f64 {
    let (tx, rx) = mpsc::channel::<(String, oneshot::Sender<String>)>(1000);
    let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
    // Two workers, as the worker agent has.
    for _ in 0..2 {
        let rx = rx.clone();
        tokio::spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some((payload, reply)) = next else { return };
                let _ = reply.send(payload);
            }
        });
    }
    let mut rates = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let mut left = MESSAGES;
        while left > 0 {
            let k = left.min(IN_FLIGHT as u64);
            let mut waits = Vec::with_capacity(k as usize);
            for i in 0..k {
                let (rtx, rrx) = oneshot::channel();
                tx.send((format!("{{\"i\":{i}}}"), rtx)).await.unwrap();
                waits.push(rrx);
            }
            for w in waits {
                w.await.unwrap();
            }
            left -= k;
        }
        rates.push(MESSAGES as f64 / t.elapsed().as_secs_f64());
    }
    median(rates)
}

#[tokio::main]
async fn main() {
    nexus::builtin::install(nexus::embedded!());
    nexus::alloc::tune();
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let dir = tempfile::TempDir::new().unwrap();
    let base = native().await;
    let memory = if wanted("memory") {
        agents(false, &dir.path().join("m")).await
    } else {
        f64::NAN
    };
    let journaled = if wanted("journaled") {
        agents(true, &dir.path().join("j")).await
    } else {
        f64::NAN
    };
    println!(
        "bus throughput: {MESSAGES} requests relay -> worker, {IN_FLIGHT} in flight (request and reply); median of {ROUNDS} rounds"
    );
    println!("{:<40} {:>14} {:>10}", "path", "messages/s", "vs native");
    for (name, rate) in [
        ("native tokio channel (baseline)", base),
        ("wasm agents, in memory", memory),
        ("wasm agents, journaled (SQLite, fsync)", journaled),
    ] {
        println!("{name:<40} {rate:>14.0} {:>9.4}x", rate / base);
    }
}
