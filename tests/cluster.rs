//! A cluster on loopback: one NATS server, one API node (`nexus serve` with
//! no capacity of its own), two `nexus worker`s, a slow LLM. Thirty
//! projects of three tenants, with a worker or the NATS server killed
//! (SIGKILL) while projects run: every project ends `done`, once, its
//! files download from the API node, and no tenant ever runs more than its
//! quota across the workers.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::llm_server::{Behavior, LlmServer};
use support::nats::Nats;
use support::service::{Client, Server, Worker, cluster_env, follow_until, tenant_with};
use tempfile::TempDir;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The most projects of each tenant running at once, from what the
/// workers said: a project runs from `took` to `ended` (or `let go`), or
/// to its worker's death at `killed`. A worker says `took` once its
/// tenant's slot is held, and `ended` before it gives the slot back.
fn most_at_once(workers: &[(&Worker, Option<u64>)]) -> BTreeMap<String, usize> {
    let mut changes: Vec<(u64, i32, String)> = Vec::new();
    for (w, killed) in workers {
        let said = w.said();
        let tenant_of: HashMap<String, String> = said
            .iter()
            .filter(|s| s.what == "took")
            .map(|s| (s.id.clone(), s.tenant.clone()))
            .collect();
        let mut open: BTreeSet<String> = BTreeSet::new();
        for s in &said {
            let tenant = tenant_of[&s.id].clone();
            if s.what == "took" {
                open.insert(s.id.clone());
                changes.push((s.at, 1, tenant));
            } else if open.remove(&s.id) {
                changes.push((s.at, -1, tenant));
            }
        }
        if let Some(at) = killed {
            for id in open {
                changes.push((*at, -1, tenant_of[&id].clone()));
            }
        }
    }
    // At the same millisecond, an end comes first: it was said before its
    // slot was given back, and a start after its slot was taken.
    changes.sort_by_key(|(at, delta, _)| (*at, *delta));
    let mut now: BTreeMap<String, i32> = BTreeMap::new();
    let mut most: BTreeMap<String, usize> = BTreeMap::new();
    for (_, delta, tenant) in changes {
        let n = now.entry(tenant.clone()).or_default();
        *n += delta;
        let m = most.entry(tenant).or_default();
        *m = (*m).max(*n as usize);
    }
    most
}

/// What to kill while the projects run.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kill {
    Worker,
    Nats,
}

const TENANTS: [&str; 3] = ["red", "green", "blue"];
const MODELS: [&str; 3] = ["qwen2.5-coder:7b", "codellama:7b", "deepseek-coder:6.7b"];
const REQUESTS: [&str; 5] = [
    "a helpdesk with tickets and agents",
    "a library with books, members and loans",
    "a recipe site with recipes, ingredients and ratings",
    "a gym with members, trainers and classes",
    "a todo app with tags",
];

/// An LLM server whose every model answers with nothing usable.
async fn useless_models() -> LlmServer {
    let llm = LlmServer::start().await;
    for model in MODELS {
        llm.script(
            model,
            Behavior::Reply(vec!["I would rather not answer that one.".into()]),
        );
    }
    llm
}

/// The checkpoint the workers keep of `id`, if there is one.
async fn has_checkpoint(url: &str, id: &str) -> bool {
    let Ok(client) = async_nats::connect(url).await else {
        return false;
    };
    let js = async_nats::jetstream::new(client);
    let Ok(store) = js.get_object_store("nexus-archives").await else {
        return false;
    };
    store.info(format!("{id}.checkpoint.tar.gz")).await.is_ok()
}

async fn thirty_projects(kill: Kill) {
    let dir = TempDir::new().unwrap();
    let mut nats = Nats::start();
    // Every model answers slowly and says nothing usable: projects take
    // seconds, and the parser and templates make them.
    let llm = useless_models().await;
    llm.set_pause(Duration::from_millis(40));
    let env = cluster_env(dir.path(), &nats.url, "lease = \"3s\"\n", llm.addr);
    let tokens: Vec<String> = TENANTS
        .iter()
        .map(|t| {
            tenant_with(
                dir.path(),
                t,
                &[
                    "--max-projects",
                    "2",
                    "--max-queued",
                    "20",
                    "--rate",
                    "none",
                ],
            )
        })
        .collect();
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with(dir.path(), &env_ref);
    let mut a = Worker::start(dir.path(), "worker-a", 4, &env);
    let b = Worker::start(dir.path(), "worker-b", 4, &env);
    let clients: Vec<Client> = tokens.iter().map(|t| Client::new(&server, t)).collect();

    // Ten projects a tenant, taken turn about.
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..30 {
        let t = i % 3;
        let id = clients[t].submit(REQUESTS[i % REQUESTS.len()]).await;
        owner.insert(id, t);
    }

    // One more, cancelled at once: it ends `cancelled` on every node and
    // no worker runs it; then it is removed.
    let extra = clients[0].submit(REQUESTS[0]).await;
    let r = clients[0]
        .post(
            &format!("/v1/projects/{extra}/cancel"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "cancelled");
    let events = clients[0].events(&extra, None).await;
    let last = events.last().unwrap();
    assert_eq!(
        (last.1.as_str(), &last.2["cancelled"]),
        ("failed", &Value::Bool(true))
    );

    let mut victim = None;
    match kill {
        Kill::Worker => {
            // A project of worker a's that has finished a step, and whose
            // checkpoint is stored: then a SIGKILL.
            let deadline = Instant::now() + Duration::from_secs(180);
            let (id, held) = loop {
                assert!(
                    Instant::now() < deadline,
                    "worker a never held a project mid-way"
                );
                let Some(id) = a.held().into_iter().next() else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                follow_until(&clients[owner[&id]], &id, "\"step\":\"done\"").await;
                let stored = Instant::now() + Duration::from_secs(30);
                while !has_checkpoint(&nats.url, &id).await && Instant::now() < stored {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if !a.held().contains(&id) {
                    // It ended meanwhile: another.
                    continue;
                }
                a.kill();
                let held = a.held();
                assert!(held.contains(&id), "{id} ended as worker a was killed");
                break (id, held);
            };
            eprintln!("killed worker a holding {held:?}; {id} was mid-way");
            victim = Some((id, held, now_ms()));
        }
        Kill::Nats => {
            let deadline = Instant::now() + Duration::from_secs(180);
            while a.took().len() + b.took().len() < 6 {
                assert!(Instant::now() < deadline, "the workers took no projects");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            nats.kill();
            eprintln!(
                "killed the NATS server while workers held {:?} and {:?}",
                a.held(),
                b.held()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            nats.restart();
        }
    }

    // Every project ends.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut shown: HashMap<String, Value> = HashMap::new();
    loop {
        shown.clear();
        for (id, t) in &owner {
            shown.insert(
                id.clone(),
                clients[*t].json(&format!("/v1/projects/{id}")).await,
            );
        }
        let active = shown
            .values()
            .filter(|p| matches!(p["status"].as_str(), Some("queued" | "running")))
            .count();
        if active == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{active} projects never ended");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Each done, with one end in its stream.
    for (id, p) in &shown {
        assert_eq!(p["status"], "done", "{id}: {p}");
        assert_eq!(p["passed"], true, "{id}: {p}");
        let events = clients[owner[id]].events(id, None).await;
        let ends: Vec<&str> = events
            .iter()
            .map(|e| e.1.as_str())
            .filter(|n| matches!(*n, "done" | "failed"))
            .collect();
        assert_eq!(ends, ["done"], "{id}: {events:?}");
        let seqs: Vec<u64> = events.iter().map(|e| e.0).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{id}: {seqs:?}");
    }

    // No tenant ran more than its two at once, whichever worker ran them;
    // each ran two at once at some point.
    let killed = victim.as_ref().map(|v| v.2);
    let most = most_at_once(&[(&a, killed), (&b, None)]);
    eprintln!("most projects running at once, by tenant: {most:?}");
    assert_eq!(most.len(), 3, "{most:?}");
    assert!(most.values().all(|&n| n == 2), "{most:?}");
    let (took_a, took_b) = (a.took(), b.took());
    assert!(
        !took_a.is_empty() && !took_b.is_empty(),
        "both workers work"
    );

    if let Some((id, held, killed)) = victim {
        // What worker a held was taken by worker b, again: the one
        // mid-way from its checkpoint.
        for h in &held {
            let again = took_b
                .iter()
                .find(|(p, attempt, _)| p == h && *attempt == 2)
                .unwrap_or_else(|| panic!("{h} was not taken again: {took_b:?}"));
            if *h == id {
                eprintln!(
                    "project {id} was taken again {} ms after worker a died",
                    again.2.saturating_sub(killed)
                );
            }
            let events = clients[owner[h]].events(h, None).await;
            let resumed: Vec<&Value> = events
                .iter()
                .filter(|e| e.1 == "resumed")
                .map(|e| &e.2)
                .collect();
            assert_eq!(resumed.len(), 1, "{h}: {events:?}");
            if *h == id {
                assert_eq!(resumed[0]["checkpoint"], true, "{events:?}");
            }
        }
    }

    assert!(
        a.took()
            .iter()
            .chain(b.took().iter())
            .all(|(id, _, _)| *id != extra),
        "a cancelled project was run"
    );
    assert_eq!(
        clients[0]
            .delete(&format!("/v1/projects/{extra}"))
            .await
            .status(),
        204
    );
    assert_eq!(
        clients[0]
            .get(&format!("/v1/projects/{extra}"))
            .await
            .status(),
        404
    );

    // Every archive downloads from the API node; three of them pass their
    // backend's tests.
    let mut sample = Vec::new();
    for (i, (id, t)) in owner.iter().enumerate() {
        let r = clients[*t].get(&format!("/v1/projects/{id}/archive")).await;
        assert_eq!(r.status(), 200, "{id}");
        let bytes = r.bytes().await.unwrap();
        let out = dir.path().join("archives").join(id);
        std::fs::create_dir_all(&out).unwrap();
        tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]))
            .unpack(&out)
            .unwrap();
        let root: PathBuf = std::fs::read_dir(&out)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert!(root.join("backend").is_dir(), "{id}: {}", root.display());
        if i % 10 == 0 {
            sample.push(root);
        }
    }
    for root in sample {
        let passed = support::project::pytest(&root, None);
        assert!(passed > 0, "{}", root.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_projects_end_done_once_when_a_worker_is_killed_mid_way() {
    thirty_projects(Kill::Worker).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_projects_end_done_once_when_the_nats_server_is_killed_mid_run() {
    thirty_projects(Kill::Nats).await;
}

/// A tenant's daily LLM tokens count on every worker: spent on one, they
/// stop the model calls of its next project on another, and the API node
/// refuses its new projects.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_tokens_spent_on_one_worker_hold_on_another_and_at_the_api_node() {
    let dir = TempDir::new().unwrap();
    let nats = Nats::start();
    let llm = useless_models().await;
    let env = cluster_env(dir.path(), &nats.url, "lease = \"3s\"\n", llm.addr);
    let thrifty = tenant_with(
        dir.path(),
        "thrifty",
        &[
            "--max-projects",
            "1",
            "--tokens-per-day",
            "1",
            "--rate",
            "none",
        ],
    );
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with(dir.path(), &env_ref);
    let t = Client::new(&server, &thrifty);
    let mut a = Worker::start(dir.path(), "worker-a", 1, &env);
    // Two projects, admitted while nothing is spent; they run one after the
    // other.
    let first = t.submit("a helpdesk with tickets and agents").await;
    let second = t.submit("a library with books, members and loans").await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !a.took().iter().any(|(id, _, _)| *id == first) {
        assert!(Instant::now() < deadline, "worker a never took {first}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let b = Worker::start(dir.path(), "worker-b", 1, &env);
    // Worker a ends the first, then dies: the second runs on worker b.
    while !a.said().iter().any(|s| s.what == "ended" && s.id == first) {
        assert!(Instant::now() < deadline, "{first} never ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.kill();
    let events = t.events(&second, None).await;
    assert_eq!(events.last().unwrap().1, "done", "{events:?}");
    assert!(
        b.took().iter().any(|(id, _, _)| *id == second),
        "worker b ran {second}: {:?}",
        b.took()
    );
    // The first call spent the day's token; no other went to a model.
    let calls: usize = MODELS.iter().map(|m| llm.chat_requests(m).len()).sum();
    assert!((1..=2).contains(&calls), "{calls} model calls");
    let usage = t.json("/v1/usage").await;
    assert!(
        usage["tokens"]["last_24h"].as_u64().unwrap() >= 1,
        "{usage}"
    );
    let r = t
        .post(
            "/v1/projects",
            &serde_json::json!({ "description": "a blog with posts" }),
        )
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.json::<Value>().await.unwrap()["quota"], "tokens_per_day");
}
