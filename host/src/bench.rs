//! `nexus bench`: task start, guest→host calls and cold start, each beside a
//! baseline measured in the same run.

use crate::bindings::nexus::agent::log::{Host as _, Level};
use crate::policy::Policy;
use crate::project::Project;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::task::{Caller, TaskState};
use anyhow::Context;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

/// How much `nexus bench` measures.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tasks started for the task-start figures.
    pub tasks: usize,
    /// Host calls made by the guest for the host-call figure.
    pub calls: u32,
    /// Uncached compilations for the cold-start figure.
    pub compiles: usize,
}

const POLICY: &str = r#"
agent = "hello"
[limits]
host_calls = 100000000
cpu_time = "60s"
wall_time = "120s"
concurrent_tasks = 64
[workspace]
read = ["**"]
write = ["**"]
[log]
level = "info"
"#;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Runs the benchmark and prints a table.
/// The future is boxed: see [`crate::BoxFuture`].
pub fn run(args: Options) -> crate::BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        let scratch = std::env::temp_dir().join(format!("nexus-bench-{}", crate::text::uuid()));
        // Measured from a runtime worker thread, where the service runs its
        // tasks: from the thread that blocks on the runtime, every task would
        // also pay two cross-thread wake-ups.
        let result = {
            let scratch = scratch.clone();
            tokio::spawn(async move { measure(&args, &scratch).await })
                .await
                .context("the benchmark panicked")?
        };
        let _ = std::fs::remove_dir_all(&scratch);
        result
    })
}

async fn measure(args: &Options, scratch: &Path) -> anyhow::Result<()> {
    if std::env::var("RUST_BACKTRACE").is_ok_and(|v| v != "0") {
        crate::say!(
            "note: RUST_BACKTRACE is set; error paths capture backtraces (none are timed here)"
        );
    }
    let bytes = crate::builtin::agent("hello")
        .context("the hello agent is not built in")?
        .bytes();
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: Some(scratch.join("cache")),
        database: None,
        ..Default::default()
    })?;
    let policy = Policy::parse(Path::new("(bench)"), POLICY)?;
    let stack = policy.limits.stack;

    // Cold start: compile vs. load the cached compilation.
    let mut compile: Vec<Duration> = (0..args.compiles.max(1))
        .map(|_| rt.time_compile(bytes, stack))
        .collect::<anyhow::Result<_>>()?;
    let agent = rt.load_agent(bytes, policy.clone()).await?; // populates the cache
    let mut cached = Vec::new();
    for _ in 0..20 {
        cached.push(
            rt.time_cached_load(bytes, stack)?
                .context("the component was not cached")?,
        );
    }
    let compile_p50 = percentile(&mut compile, 0.5);
    let cached_p50 = percentile(&mut cached, 0.5);

    let project = Project::open(rt.clone(), "bench", "bench", &scratch.join("project"))?;
    project.add_agent(agent.clone());

    // Task start: a fresh Store and an instance from the InstancePre.
    let mut starts = Vec::with_capacity(args.tasks);
    for _ in 0..args.tasks {
        let caller = Caller {
            agent: "hello".into(),
            project: "bench".into(),
            tenant: "bench".into(),
            task_id: String::new(),
            depth: 0,
        };
        let t = Instant::now();
        let mut store = wasmtime::Store::new(
            &agent.engine,
            TaskState::new(
                caller,
                agent.policy.clone(),
                Some(project.clone()),
                rt.clone(),
            ),
        );
        TaskState::arm(&mut store);
        let instance = agent
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(crate::runtime::wasm_err)?;
        starts.push(t.elapsed());
        black_box(instance);
    }
    // Baseline: spawning and joining an empty tokio task.
    let mut spawns = Vec::with_capacity(args.tasks);
    for _ in 0..args.tasks {
        let t = Instant::now();
        tokio::spawn(async {}).await?;
        spawns.push(t.elapsed());
    }
    // A whole task: instantiate, handle("echo"), check the outcome.
    let mut tasks = Vec::with_capacity(args.tasks);
    for _ in 0..args.tasks {
        let t = Instant::now();
        project.run("hello", "echo", "{}").await?;
        tasks.push(t.elapsed());
    }
    // The same task with no journal: what the journal costs.
    let bare = Runtime::new(RuntimeOptions {
        cache_dir: Some(scratch.join("cache")),
        no_journal: true,
        ..Default::default()
    })?;
    let unjournaled = Project::open(bare.clone(), "bench", "bench", &scratch.join("bare"))?;
    unjournaled.add_agent(bare.load_agent(bytes, policy.clone()).await?);
    let mut bare_tasks = Vec::with_capacity(args.tasks);
    for _ in 0..args.tasks {
        let t = Instant::now();
        unjournaled.run("hello", "echo", "{}").await?;
        bare_tasks.push(t.elapsed());
    }
    let bare_p50 = percentile(&mut bare_tasks, 0.5);
    let start_p50 = percentile(&mut starts, 0.5);
    let start_p99 = percentile(&mut starts, 0.99);
    let spawn_p50 = percentile(&mut spawns, 0.5);
    let task_p50 = percentile(&mut tasks, 0.5);

    // Guest→host call: `log.enabled` from inside the guest, net of the same
    // task with zero calls.
    let ping = |calls: u32| {
        let project = project.clone();
        async move {
            let payload = format!("{{\"calls\":{calls}}}");
            let mut best = Duration::MAX;
            for _ in 0..5 {
                let t = Instant::now();
                project.run("hello", "ping", &payload).await?;
                best = best.min(t.elapsed());
            }
            anyhow::Ok(best)
        }
    };
    let zero = ping(0).await?;
    let many = ping(args.calls).await?;
    let call_ns = (many.saturating_sub(zero)).as_secs_f64() * 1e9 / f64::from(args.calls.max(1));
    // Baseline: the same host function called natively.
    let mut state = TaskState::new(
        Caller {
            agent: "hello".into(),
            project: "bench".into(),
            tenant: "bench".into(),
            task_id: String::new(),
            depth: 0,
        },
        agent.policy.clone(),
        Some(project.clone()),
        rt.clone(),
    );
    let n = args.calls.max(1);
    let t = Instant::now();
    for _ in 0..n {
        black_box(black_box(&mut state).log().enabled(black_box(Level::Trace)));
    }
    let native_ns = t.elapsed().as_secs_f64() * 1e9 / f64::from(n);

    crate::say!("nexus bench (hello agent, {} bytes)", bytes.len());
    crate::say!(
        "{:<44} {:>12} {:>12} {:>10}",
        "measure",
        "value",
        "baseline",
        "ratio"
    );
    let row = |name: &str, value: String, base: String, ratio: f64| {
        crate::say!("{name:<44} {value:>12} {base:>12} {ratio:>9.3}x");
    };
    row(
        "cold start: load from the cache, p50",
        format!("{:.2} ms", cached_p50.as_secs_f64() * 1e3),
        format!("{:.1} ms", compile_p50.as_secs_f64() * 1e3),
        cached_p50.as_secs_f64() / compile_p50.as_secs_f64(),
    );
    row(
        "task start (Store + instantiate), p50",
        format!("{:.1} µs", micros(start_p50)),
        format!("{:.1} µs", micros(spawn_p50)),
        micros(start_p50) / micros(spawn_p50),
    );
    row(
        "task start (Store + instantiate), p99",
        format!("{:.1} µs", micros(start_p99)),
        format!("{:.1} µs", micros(spawn_p50)),
        micros(start_p99) / micros(spawn_p50),
    );
    row(
        "whole echo task, journaled (in memory), p50",
        format!("{:.1} µs", micros(task_p50)),
        format!("{:.1} µs", micros(bare_p50)),
        micros(task_p50) / micros(bare_p50),
    );
    row(
        "whole echo task, no journal, p50",
        format!("{:.1} µs", micros(bare_p50)),
        format!("{:.1} µs", micros(spawn_p50)),
        micros(bare_p50) / micros(spawn_p50),
    );
    row(
        "guest→host call (log.enabled)",
        format!("{call_ns:.0} ns"),
        format!("{native_ns:.1} ns"),
        call_ns / native_ns.max(0.1),
    );
    crate::say!(
        "baselines: compiling the component without the cache (cold start); tokio spawn+join (task start,"
    );
    crate::say!(
        "           whole task with no journal: mailbox, instantiate, handle); the same task with no journal"
    );
    crate::say!(
        "           (whole task, journaled); the same host function called natively. Tasks are awaited from"
    );
    crate::say!("           a runtime worker thread, as the service's are.");
    Ok(())
}
