//! The message bus: request/reply through the journal, fan-out, timeouts,
//! back-pressure, retries, dead letters, and a host killed with SIGKILL in
//! the middle of a multi-agent run. Each test runs twice: with the SQLite
//! journal (`sqlite`) and with a real NATS JetStream (`jetstream`).

mod support;

use nexus::bus::State;
use nexus::config::{BusConfig, ClusterConfig};
use nexus::project::Project;
use nexus::runtime::{Runtime, RuntimeOptions};
use nexus::task::TaskFailure;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RELAY: &str = r#"
agent = "relay"
[limits]
wall_time = "60s"
[workspace]
read = ["**"]
write = ["fan/**"]
[bus]
request = ["worker"]
send = ["worker"]
max_message = "4KiB"
"#;

const WORKER: &str = r#"
agent = "worker"
[limits]
wall_time = "30s"
concurrent_tasks = 2
[workspace]
read = ["**"]
write = ["work/**", "runs/**"]
"#;

/// Where a test's messages are kept.
enum Broker {
    Sqlite,
    JetStream(support::nats::Nats),
}

impl Broker {
    fn jetstream() -> Broker {
        Broker::JetStream(support::nats::Nats::start())
    }

    fn cluster(&self) -> ClusterConfig {
        match self {
            Broker::Sqlite => ClusterConfig::default(),
            Broker::JetStream(nats) => ClusterConfig {
                nats: Some(nats.url.clone()),
                ..ClusterConfig::default()
            },
        }
    }

    /// A host's runtime keeping its messages here (and its database in
    /// `dir`).
    fn runtime(&self, dir: &Path, bus: BusConfig) -> Arc<Runtime> {
        Runtime::new(RuntimeOptions {
            cache_dir: Some(std::env::temp_dir().join("nexus-test-component-cache")),
            database: Some(dir.join("nexus.db")),
            bus,
            cluster: self.cluster(),
            ..Default::default()
        })
        .unwrap()
    }
}

/// Runs each named test (`async fn name(broker: Broker)`) once per broker,
/// as `name::sqlite` and `name::jetstream`.
macro_rules! on_both_brokers {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Broker::Sqlite).await
            }
            #[tokio::test]
            async fn jetstream() {
                super::$name(super::Broker::jetstream()).await
            }
        }
    )*};
}

on_both_brokers!(
    fan_out_requests_are_journaled_with_the_sender_the_host_stamped,
    a_request_waits_for_a_recipient_allowed_to_run_longer_than_the_bus_timeout,
    request_times_out_and_the_message_is_still_handled,
    a_full_mailbox_answers_busy,
    an_oversize_message_is_refused,
    a_flaky_handler_is_retried_until_it_succeeds,
    a_poison_message_goes_to_the_dead_letters_at_once_saying_why_it_was_not_retried,
    a_sender_over_its_rate_gets_busy,
    a_message_that_stopped_the_host_every_time_is_dead_lettered_on_resume,
    a_flood_of_sends_keeps_the_journal_within_the_project_share,
    the_broker_keeps_each_message_once_with_its_fate,
);

struct Setup {
    rt: Arc<Runtime>,
    project: Arc<Project>,
    _dir: tempfile::TempDir,
    _broker: Broker,
}

async fn setup(broker: Broker, bus: BusConfig, worker_policy: &str) -> Setup {
    let dir = tempfile::TempDir::new().unwrap();
    let rt = broker.runtime(dir.path(), bus);
    let project = Project::open(rt.clone(), "bus-project", "t1", &dir.path().join("ws")).unwrap();
    for (name, policy) in [("relay", RELAY), ("worker", worker_policy)] {
        let agent = rt
            .load_agent(&support::component(name), support::policy(policy))
            .await
            .unwrap();
        project.add_agent(agent);
    }
    Setup {
        rt,
        project,
        _dir: dir,
        _broker: broker,
    }
}

fn quick() -> BusConfig {
    BusConfig {
        retry_backoff: Duration::from_millis(10),
        ..BusConfig::default()
    }
}

async fn run(s: &Setup, agent: &str, kind: &str, payload: Value) -> Value {
    let out = s
        .project
        .run(agent, kind, &payload.to_string())
        .await
        .unwrap();
    serde_json::from_str(&out.payload).unwrap()
}

async fn fan_out_requests_are_journaled_with_the_sender_the_host_stamped(broker: Broker) {
    let s = setup(broker, quick(), WORKER).await;
    let v = run(&s, "relay", "fan", json!({"workers": 3})).await;
    assert_eq!(v, json!([{"i": 0}, {"i": 1}, {"i": 2}]));
    let history =
        s.rt.broker()
            .unwrap()
            .history("bus-project", 100)
            .await
            .unwrap();
    assert_eq!(history.len(), 4, "{history:?}");
    assert!(history.iter().all(|e| matches!(e.state, State::Done(_))));
    assert_eq!(
        (
            history[0].message.sender.as_str(),
            history[0].message.recipient.as_str()
        ),
        ("user", "relay")
    );
    for e in &history[1..] {
        assert_eq!(
            (
                e.message.sender.as_str(),
                e.message.recipient.as_str(),
                e.message.depth
            ),
            ("relay", "worker", 1)
        );
    }
}

/// A recipient whose policy lets it run longer than the bus's
/// `message_timeout` is waited for up to its own `wall_time`.
async fn a_request_waits_for_a_recipient_allowed_to_run_longer_than_the_bus_timeout(
    broker: Broker,
) {
    let bus = BusConfig {
        message_timeout: Duration::from_millis(100),
        ..quick()
    };
    let s = setup(broker, bus, WORKER).await;
    let v = run(
        &s,
        "relay",
        "ask",
        json!({"to": "worker", "kind": "slow", "payload": {"ms": 600}, "timeout_ms": 20000}),
    )
    .await;
    assert!(v.get("error").is_none(), "{v}");
}

async fn request_times_out_and_the_message_is_still_handled(broker: Broker) {
    let s = setup(broker, quick(), WORKER).await;
    let v = run(
        &s,
        "relay",
        "ask",
        json!({"to": "worker", "kind": "slow", "payload": {"ms": 600}, "timeout_ms": 50}),
    )
    .await;
    assert_eq!(v["error"], "timeout");
    let journal = s.rt.broker().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let h = journal.history("bus-project", 10).await.unwrap();
        let slow = h.iter().find(|e| e.message.kind == "slow").unwrap();
        if matches!(slow.state, State::Done(_)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the timed-out message was never handled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_full_mailbox_answers_busy(broker: Broker) {
    let bus = BusConfig {
        max_queue_size: 2,
        ..quick()
    };
    let s = setup(
        broker,
        bus,
        &WORKER.replace("concurrent_tasks = 2", "concurrent_tasks = 1"),
    )
    .await;
    let v = run(
        &s,
        "relay",
        "send-many",
        json!({"to": "worker", "kind": "slow", "payload": {"ms": 300}, "count": 8}),
    )
    .await;
    let (sent, busy) = (v["sent"].as_u64().unwrap(), v["busy"].as_u64().unwrap());
    assert_eq!(sent + busy, 8, "{v}");
    assert!(
        busy >= 4,
        "a mailbox of 2 behind one busy worker takes at most 3: {v}"
    );
    assert!(v["other"].as_array().unwrap().is_empty(), "{v}");
    // Refused messages are not left in the journal as pending work.
    let h =
        s.rt.broker()
            .unwrap()
            .history("bus-project", 100)
            .await
            .unwrap();
    assert_eq!(
        h.iter().filter(|e| e.message.kind == "slow").count() as u64,
        sent
    );
}

async fn an_oversize_message_is_refused(broker: Broker) {
    let s = setup(broker, quick(), WORKER).await;
    let big = "x".repeat(8 * 1024);
    let v = run(
        &s,
        "relay",
        "ask",
        json!({"to": "worker", "kind": "echo", "payload": {"big": big}, "timeout_ms": 1000}),
    )
    .await;
    assert!(v["error"].as_str().unwrap().contains("max_message"), "{v}");
}

async fn a_flaky_handler_is_retried_until_it_succeeds(broker: Broker) {
    let s = setup(broker, quick(), WORKER).await;
    let v = run(&s, "worker", "flaky", json!({"until": 2})).await;
    assert_eq!(v["attempt"], 2);
}

async fn a_poison_message_goes_to_the_dead_letters_at_once_saying_why_it_was_not_retried(
    broker: Broker,
) {
    let s = setup(broker, quick(), WORKER).await;
    match s.project.run("worker", "poison", "{}").await {
        Err(TaskFailure::Trap { agent, .. }) => assert_eq!(agent, "worker"),
        other => panic!("expected the trap, got {other:?}"),
    }
    let journal = s.rt.broker().unwrap();
    let dead = journal.dead_letters("bus-project").await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let (_, recipient, attempts, error) = &dead[0];
    // A trap happens again on every attempt (side effects included), so
    // the message is not tried again, and the record says why.
    assert_eq!((recipient.as_str(), *attempts), ("worker", 1));
    assert!(error.contains("trapped"), "{error}");
    assert!(
        error.contains("not retried: the trap would happen again"),
        "{error}"
    );
    // The worker still serves.
    assert_eq!(
        run(&s, "worker", "echo", json!({"ok": 1})).await,
        json!({"ok": 1})
    );
}

fn nexus(broker: &Broker, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexus"));
    if let Broker::JetStream(nats) = broker {
        cmd.env("NEXUS_NATS_URL", &nats.url);
    }
    cmd.args(args)
        .env("NEXUS_STATE_DIR", state)
        .env(
            "NEXUS_CACHE_DIR",
            std::env::temp_dir().join("nexus-test-component-cache"),
        )
        .env("NEXUS_LLM_BACKEND", "none");
    cmd
}

fn states(broker: &Broker, state: &Path) -> Vec<Value> {
    let out = nexus(broker, state, &["messages", "crash", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

mod a_host_killed_mid_run_resumes_and_handles_every_message_once_in_effect {
    #[test]
    fn sqlite() {
        super::a_host_killed_mid_run_resumes_and_handles_every_message_once_in_effect(
            &super::Broker::Sqlite,
        )
    }
    #[test]
    fn jetstream() {
        super::a_host_killed_mid_run_resumes_and_handles_every_message_once_in_effect(
            &super::Broker::jetstream(),
        )
    }
}

fn a_host_killed_mid_run_resumes_and_handles_every_message_once_in_effect(broker: &Broker) {
    let dir = tempfile::TempDir::new().unwrap();
    let (state, ws) = (dir.path().join("state"), dir.path().join("ws"));
    std::fs::write(dir.path().join("relay.toml"), RELAY).unwrap();
    std::fs::write(dir.path().join("worker.toml"), WORKER).unwrap();
    let relay = nexus::builtin::test_agent("relay").unwrap();
    let worker = nexus::builtin::test_agent("worker").unwrap();
    let peer = format!("{worker}={}", dir.path().join("worker.toml").display());
    let mut child = nexus(
        broker,
        &state,
        &[
            "run",
            relay,
            "--policy",
            dir.path().join("relay.toml").to_str().unwrap(),
            "--peer",
            &peer,
            "--workspace",
            ws.to_str().unwrap(),
            "--project",
            "crash",
            "--task",
            r#"{"kind":"fan","payload":{"workers":8,"sleep_ms":400}}"#,
        ],
    )
    .spawn()
    .unwrap();

    // Kill it (SIGKILL) once some work is done and the rest is not. A work
    // file appears just before its message is marked done, so wait for a
    // third to have the first ones on record.
    let deadline = Instant::now() + Duration::from_secs(60);
    while files(&ws.join("work")).len() < 3 {
        assert!(Instant::now() < deadline, "the run never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let before = states(broker, &state);
    let done_before: Vec<String> = before
        .iter()
        .filter(|m| m["kind"] == "work" && m["state"] == "done")
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        before.iter().any(|m| m["state"] == "pending"),
        "the kill left work undone: {before:?}"
    );

    let out = nexus(broker, &state, &["resume", "crash"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("resumed `crash`"));

    // Every message handled, each exactly once in the journal.
    let after = states(broker, &state);
    assert!(after.iter().all(|m| m["state"] == "done"), "{after:?}");
    let work: Vec<&Value> = after.iter().filter(|m| m["kind"] == "work").collect();
    assert_eq!(work.len(), 8, "no duplicate messages: {after:?}");
    assert_eq!(after.iter().filter(|m| m["kind"] == "fan").count(), 1);

    // Each effect exists once, keyed by its message id.
    let mut ids: Vec<String> = work
        .iter()
        .map(|m| format!("{}.json", m["id"].as_str().unwrap()))
        .collect();
    ids.sort();
    assert_eq!(files(&ws.join("work")), ids);
    let fans = files(&ws.join("fan"));
    assert_eq!(
        fans.len(),
        1,
        "the orchestrating task finished once in effect"
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.join("fan").join(&fans[0])).unwrap())
            .unwrap();
    let got: Vec<u64> = summary
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["i"].as_u64().unwrap())
        .collect();
    assert_eq!(got, (0..8).collect::<Vec<u64>>());

    // Work done before the kill was not done again: its replies came from
    // the journal.
    let runs = files(&ws.join("runs"));
    for id in &done_before {
        assert_eq!(
            runs.iter().filter(|r| r.starts_with(id.as_str())).count(),
            1,
            "{id} ran again"
        );
    }
}

async fn a_sender_over_its_rate_gets_busy(broker: Broker) {
    let dir = tempfile::TempDir::new().unwrap();
    let rt = broker.runtime(dir.path(), quick());
    let project = Project::open(rt.clone(), "rate", "t1", &dir.path().join("ws")).unwrap();
    let relay = RELAY.replace("max_message = \"4KiB\"", "max_message = \"4KiB\"\nrate = 3");
    for (name, policy) in [("relay", relay.as_str()), ("worker", WORKER)] {
        project.add_agent(
            rt.load_agent(&support::component(name), support::policy(policy))
                .await
                .unwrap(),
        );
    }
    let out = project
        .run(
            "relay",
            "send-many",
            &json!({"to": "worker", "kind": "echo", "count": 10}).to_string(),
        )
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&out.payload).unwrap();
    assert!(
        v["sent"].as_u64().unwrap() <= 4,
        "a burst of 3 (and what refills meanwhile): {v}"
    );
    assert!(v["busy"].as_u64().unwrap() >= 6, "{v}");
}

/// A message whose every delivery ended with the host stopping is not run
/// again once it has used its attempts: `resume` moves it to the dead
/// letters, saying why.
async fn a_message_that_stopped_the_host_every_time_is_dead_lettered_on_resume(broker: Broker) {
    // A project of its own: `resume` takes every undone message of it.
    let dir = tempfile::TempDir::new().unwrap();
    let rt = broker.runtime(dir.path(), BusConfig::default());
    let project = Project::open(rt.clone(), "stuck", "t1", &dir.path().join("project")).unwrap();
    let hello = rt
        .load_agent(
            &support::component("hello"),
            support::policy(support::HELLO),
        )
        .await
        .unwrap();
    project.add_agent(hello);
    let journal = rt.broker().unwrap();
    let attempts = BusConfig::default().retry_attempts;
    let mut stuck = nexus::bus::Message {
        id: "stuck-1".into(),
        project: project.id.clone(),
        sender: "user".into(),
        recipient: "hello".into(),
        kind: "greet".into(),
        payload: "\"Ada\"".into(),
        depth: 0,
        attempt: 0,
    };
    journal.enqueue(&stuck).await.unwrap();
    // Each earlier resume recorded its interrupted delivery.
    stuck.attempt = attempts - 1;
    journal
        .nack(
            &stuck.id,
            stuck.attempt,
            "interrupted: the host stopped while it ran",
        )
        .await
        .unwrap();
    let report = project.resume().await.unwrap();
    assert_eq!(report.failed, [stuck.id.clone()]);
    assert_eq!(report.handled, 0);
    let dead = journal.dead_letters(&project.id).await.unwrap();
    let (_, _, _, error) = dead.iter().find(|d| d.0 == stuck.id).unwrap();
    assert!(
        error.contains(&format!("the host stopped while it ran, {attempts} times")),
        "{error}"
    );
    assert!(!dir.path().join("project/greetings").exists());
}

/// A flood of sends cannot grow the journal past the project's share:
/// handled messages make room, and what is still undone is refused with
/// `quota-exceeded` rather than stored.
async fn a_flood_of_sends_keeps_the_journal_within_the_project_share(broker: Broker) {
    let limit = 256 * 1024;
    let s = setup(
        broker,
        BusConfig {
            max_journal_bytes: limit,
            ..quick()
        },
        WORKER,
    )
    .await;
    let v = run(
        &s,
        "relay",
        "send-many",
        json!({"to": "worker", "kind": "echo", "count": 2000, "payload": {"pad": "p".repeat(3500)}}),
    )
    .await;
    let sent = v["sent"].as_u64().unwrap();
    let refused = v["other"].as_array().unwrap();
    assert_eq!(
        sent + v["busy"].as_u64().unwrap() + refused.len() as u64,
        2000,
        "{v}"
    );
    assert!(sent > 100, "{v}");
    // Refusals are the quota-exceeded error (as the guest prints it).
    assert!(
        refused
            .iter()
            .all(|e| e.as_str().unwrap().contains("QuotaExceeded")),
        "{v}"
    );
    // Let the worker finish what was accepted, then count what is kept.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kept: u64 =
        s.rt.broker()
            .unwrap()
            .history("bus-project", u32::MAX)
            .await
            .unwrap()
            .iter()
            .map(|e| {
                e.message.payload.len() as u64
                    + match &e.state {
                        State::Done(reply) => reply.len() as u64,
                        _ => 0,
                    }
            })
            .sum();
    assert!(kept <= limit, "{kept} bytes kept");
    // 2000 sends of 3.5 KiB are 7 MB: the journal kept a small part.
    assert!(kept > 0);
}

/// The NATS server itself killed (SIGKILL) in the middle of a fan-out and
/// started again on its store: the host waits for it, and every message is
/// handled and on record.
#[tokio::test(flavor = "multi_thread")]
async fn a_nats_server_killed_mid_run_loses_nothing() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut nats = support::nats::Nats::start();
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: Some(std::env::temp_dir().join("nexus-test-component-cache")),
        bus: quick(),
        cluster: ClusterConfig {
            nats: Some(nats.url.clone()),
            ..ClusterConfig::default()
        },
        ..Default::default()
    })
    .unwrap();
    let project = Project::open(rt.clone(), "restart", "t1", &dir.path().join("ws")).unwrap();
    for (name, policy) in [("relay", RELAY), ("worker", WORKER)] {
        project.add_agent(
            rt.load_agent(&support::component(name), support::policy(policy))
                .await
                .unwrap(),
        );
    }
    let running = {
        let project = project.clone();
        tokio::spawn(async move {
            project
                .run(
                    "relay",
                    "fan",
                    &json!({"workers": 8, "sleep_ms": 200}).to_string(),
                )
                .await
        })
    };
    // Two of the eight are handled at a time: the kill comes while some
    // are done, some running and some waiting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted = tokio::task::spawn_blocking(move || {
        nats.kill();
        std::thread::sleep(Duration::from_millis(500));
        nats.restart();
        nats
    });
    let out = running.await.unwrap().unwrap();
    let _nats = restarted.await.unwrap();
    let replies: Value = serde_json::from_str(&out.payload).unwrap();
    assert_eq!(
        replies
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["i"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (0..8).collect::<Vec<u64>>(),
        "{replies}"
    );
    let history = rt.broker().unwrap().history("restart", 100).await.unwrap();
    assert_eq!(history.len(), 9, "{history:?}");
    assert!(
        history.iter().all(|e| matches!(e.state, State::Done(_))),
        "{history:?}"
    );
}

/// The broker's own contract, whichever keeps the messages: a message sent
/// again gets the state of the first, a forgotten one may be sent anew,
/// and `undelivered`, `abandon`, dead letters and settings see the same
/// record.
async fn the_broker_keeps_each_message_once_with_its_fate(broker: Broker) {
    let dir = tempfile::TempDir::new().unwrap();
    let rt = broker.runtime(dir.path(), quick());
    let b = rt.broker().unwrap();
    let message = |id: &str| nexus::bus::Message {
        id: id.into(),
        project: "contract".into(),
        sender: "user".into(),
        recipient: "worker".into(),
        kind: "echo".into(),
        payload: format!("{{\"id\":\"{id}\"}}"),
        depth: 0,
        attempt: 0,
    };
    // Ids that are not plain words are kept as they are.
    let odd = "odd id/with.dots*and>marks";
    for id in ["a", "b", "c", odd] {
        assert_eq!(b.enqueue(&message(id)).await.unwrap(), None, "{id}");
    }
    assert_eq!(
        b.enqueue(&message("a")).await.unwrap(),
        Some(State::Pending)
    );
    b.ack("a", "{\"payload\":\"done\"}").await.unwrap();
    assert_eq!(
        b.enqueue(&message("a")).await.unwrap(),
        Some(State::Done("{\"payload\":\"done\"}".into()))
    );
    b.nack("b", 1, "busy").await.unwrap();
    let pending = b.undelivered("contract").await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|m| (m.id.as_str(), m.attempt))
            .collect::<Vec<_>>(),
        [("b", 1), ("c", 0), (odd, 0)]
    );
    b.dead("b", "gave up", true).await.unwrap();
    assert_eq!(
        b.state("b").await.unwrap(),
        Some(State::Dead("gave up".into()))
    );
    let letters = b.dead_letters("contract").await.unwrap();
    assert_eq!(
        letters,
        [(
            "b".to_string(),
            "worker".to_string(),
            2,
            "gave up".to_string()
        )]
    );
    b.forget("c").await.unwrap();
    assert_eq!(b.state("c").await.unwrap(), None);
    assert_eq!(b.enqueue(&message("c")).await.unwrap(), None);
    assert_eq!(b.abandon("contract", "stopped").await.unwrap(), 2);
    assert!(b.undelivered("contract").await.unwrap().is_empty());
    let history = b.history("contract", 100).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|e| e.message.id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b", odd, "c"]
    );
    assert_eq!(b.history("contract", 1).await.unwrap().len(), 1);
    assert_eq!(b.setting("k", None).await.unwrap(), None);
    assert_eq!(
        b.setting("k", Some("v")).await.unwrap().as_deref(),
        Some("v")
    );
    assert_eq!(b.setting("k", None).await.unwrap().as_deref(), Some("v"));

    // Back to a checkpoint that knew only `d` as handled: `e`, handled
    // after it, is delivered again; `d` and a dead message stay as they are.
    for id in ["d", "e"] {
        b.enqueue(&message(id)).await.unwrap();
        b.ack(id, "{\"payload\":\"x\"}").await.unwrap();
    }
    assert_eq!(b.reopen("contract", &["d".to_string()]).await.unwrap(), 2);
    assert_eq!(b.state("e").await.unwrap(), Some(State::Pending));
    assert_eq!(b.state("a").await.unwrap(), Some(State::Pending));
    assert!(matches!(b.state("d").await.unwrap(), Some(State::Done(_))));
    assert!(matches!(b.state("b").await.unwrap(), Some(State::Dead(_))));
    let again: Vec<String> = b
        .undelivered("contract")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(again, ["a", "e"]);
    b.ack("e", "{\"payload\":\"y\"}").await.unwrap();
    assert_eq!(
        b.state("e").await.unwrap(),
        Some(State::Done("{\"payload\":\"y\"}".into()))
    );
}

/// A message bigger than the NATS server takes in one message is refused
/// as a full store, saying which setting to raise; the broker goes on.
#[tokio::test]
async fn a_message_larger_than_the_nats_server_takes_is_refused_saying_so() {
    let dir = tempfile::TempDir::new().unwrap();
    let broker = Broker::jetstream();
    let rt = broker.runtime(dir.path(), quick());
    let b = rt.broker().unwrap();
    let message = |id: &str, size: usize| nexus::bus::Message {
        id: id.into(),
        project: "big".into(),
        sender: "relay".into(),
        recipient: "worker".into(),
        kind: "echo".into(),
        payload: format!("\"{}\"", "x".repeat(size)),
        depth: 1,
        attempt: 0,
    };
    match b.enqueue(&message("huge", 1_500_000)).await {
        Err(nexus::bus::BrokerError::Full(why)) => assert!(why.contains("max_payload"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(b.state("huge").await.unwrap(), None);
    assert_eq!(b.enqueue(&message("small", 100)).await.unwrap(), None);
}
