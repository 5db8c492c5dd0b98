//! `nexus serve` as a process: tenants with tokens, a project generated
//! over HTTP and followed over Server-Sent Events, its files, and the
//! tenancy boundary (another tenant's project is a 404, never its data).

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use support::llm_server::{Behavior, LlmServer};
use support::service::{Client, Server, follow_until, nexus, tenant, tenant_with};
use tempfile::TempDir;

/// Every file below `root`, by path, with its bytes.
fn tree(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_generates_a_project_over_http_and_no_other_tenant_sees_it() {
    let dir = TempDir::new().unwrap();
    let acme = tenant(dir.path(), "acme", 2);
    let other = tenant(dir.path(), "other", 2);
    let zero = Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(["tenant", "add", "no-room", "--max-projects", "0"])
        .env("NEXUS_STATE_DIR", dir.path().join("state"))
        .output()
        .unwrap();
    assert!(!zero.status.success());
    assert!(String::from_utf8_lossy(&zero.stderr).contains("max_projects"));
    let listed = nexus(dir.path(), &["tenant", "list"]);
    assert!(
        listed.contains("acme") && listed.contains("GiB") && !listed.contains("no-room"),
        "{listed}"
    );
    assert!(
        !listed.contains(&acme),
        "a token is shown once, never listed"
    );

    let server = Server::start(dir.path());
    // No token: the probes answer, /v1 does not (401 with a JSON reason).
    let anonymous = Client::new(&server, "");
    assert_eq!(anonymous.get("/healthz").await.status(), 200);
    assert_eq!(anonymous.get("/readyz").await.status(), 200);
    let refused = anonymous.get("/v1/projects").await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    let wrong = Client::new(&server, "nx_0000").get("/v1/projects").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.json::<Value>().await.unwrap()["error"].is_string());

    // Bad submissions.
    let a = Client::new(&server, &acme);
    let empty = a.post("/v1/projects", &json!({ "description": " " })).await;
    assert_eq!(empty.status(), 400);
    let huge = a
        .post(
            "/v1/projects",
            &json!({ "description": "x".repeat(100 << 10) }),
        )
        .await;
    assert_eq!(huge.status(), 413);

    // A project, followed to its end.
    let accepted = a
        .post(
            "/v1/projects",
            &json!({ "description": "a helpdesk with tickets and agents" }),
        )
        .await;
    assert_eq!(accepted.status(), 202);
    let accepted: Value = accepted.json().await.unwrap();
    let id = accepted["id"].as_str().unwrap().to_string();
    assert_eq!(accepted["events_url"], format!("/v1/projects/{id}/events"));

    let events = a.events(&id, None).await;
    let ids: Vec<u64> = events.iter().map(|e| e.0).collect();
    assert_eq!(ids, (1..=events.len() as u64).collect::<Vec<_>>());
    let names: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert!(names.contains(&"started"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    assert_eq!(events.last().unwrap().2["passed"], true, "{events:?}");
    for agent in ["orchestrator", "backend", "frontend", "qa", "security"] {
        assert!(
            events
                .iter()
                .any(|e| e.2["agent"] == agent && e.2["step"] == "done"),
            "{agent}: {events:?}"
        );
    }
    // Where the host keeps the project is not the tenant's business.
    let state = dir.path().join("state");
    assert!(
        !events
            .iter()
            .any(|e| e.2.to_string().contains(state.to_str().unwrap())),
        "{events:?}"
    );

    // Reconnecting replays only what was missed.
    let again = a.events(&id, Some(3)).await;
    assert_eq!(again.first().map(|e| e.0), Some(4));
    assert_eq!(again.len(), events.len() - 3);

    let shown: Value = a.json(&format!("/v1/projects/{id}")).await;
    assert_eq!(shown["status"], "done", "{shown}");
    assert_eq!(shown["passed"], true);
    assert!(shown["phases"].as_array().is_some_and(|p| !p.is_empty()));

    let files: Value = a.json(&format!("/v1/projects/{id}/files")).await;
    let paths: Vec<&str> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"backend/models.py"), "{paths:?}");
    let models = a
        .get(&format!("/v1/projects/{id}/files/backend/models.py"))
        .await;
    assert_eq!(models.status(), 200);
    let models = models.text().await.unwrap();
    assert!(models.contains("class Ticket"), "{models}");
    let escape = a
        .get(&format!(
            "/v1/projects/{id}/files/..%2F..%2F..%2Fetc%2Fpasswd"
        ))
        .await;
    assert_eq!(escape.status(), 400);
    let missing = a.get(&format!("/v1/projects/{id}/files/nope.txt")).await;
    assert_eq!(missing.status(), 404);

    let listed: Value = a.json("/v1/projects").await;
    assert_eq!(listed["projects"][0]["id"], id.as_str());

    // The archive unpacks to the project's files, byte for byte.
    let archive = a.get(&format!("/v1/projects/{id}/archive")).await;
    assert_eq!(archive.status(), 200);
    assert_eq!(archive.headers()["content-type"], "application/gzip");
    let bytes = archive.bytes().await.unwrap();
    let unpacked = TempDir::new().unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]))
        .unpack(unpacked.path())
        .unwrap();
    let root = state.join("projects/acme").join(&id);
    let on_disk = tree(&root);
    assert!(on_disk.len() > 10, "{}", on_disk.len());
    let top: Vec<_> = std::fs::read_dir(unpacked.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(top.len(), 1, "one folder at the top: {top:?}");
    assert_eq!(tree(&top[0]), on_disk);

    // Another tenant: the project does not exist for it.
    let o = Client::new(&server, &other);
    for path in [
        format!("/v1/projects/{id}"),
        format!("/v1/projects/{id}/events"),
        format!("/v1/projects/{id}/files"),
        format!("/v1/projects/{id}/files/backend/models.py"),
        format!("/v1/projects/{id}/archive"),
    ] {
        let response = o.get(&path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(!response.text().await.unwrap().contains("Ticket"));
    }
    let cancel = o
        .post(&format!("/v1/projects/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(cancel.status(), 404);
    let delete = o.delete(&format!("/v1/projects/{id}")).await;
    assert_eq!(delete.status(), 404);
    assert!(root.is_dir(), "another tenant's delete removed nothing");
    let usage: Value = o.json("/v1/usage").await;
    assert_eq!(usage["projects"]["total"], 0, "{usage}");
    let theirs: Value = o.json("/v1/projects").await;
    assert_eq!(theirs["projects"], json!([]));

    // The operator's view: no token, no tenant's words.
    let metrics = anonymous.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    for line in [
        "nexus_projects{tenant=\"acme\",state=\"done\"} 1",
        "nexus_task_duration_seconds_count{agent=\"backend\"}",
        "nexus_bus_dead_letters 0",
        "# EOF",
    ] {
        assert!(metrics.contains(line), "{line} not in {metrics}");
    }
    assert!(!metrics.contains("helpdesk") && !metrics.contains(&acme));
    let api: Value = anonymous.json("/openapi.json").await;
    assert!(api["openapi"].as_str().unwrap().starts_with("3.1"), "{api}");
    for path in [
        "/v1/projects",
        "/v1/projects/{id}/events",
        "/v1/projects/{id}/archive",
        "/v1/projects/{id}/cancel",
        "/v1/usage",
    ] {
        assert!(api["paths"][path].is_object(), "{path} not described");
    }
    assert_eq!(
        api["components"]["securitySchemes"]["token"]["scheme"],
        "bearer"
    );
    // Every answer names its request; a caller's own id is kept.
    let r = a.get("/v1/projects").await;
    assert_eq!(r.headers()["x-request-id"].len(), 36);
    let r = a
        .http
        .get(format!("{}/v1/usage", a.base))
        .bearer_auth(&acme)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-42");

    // After a restart the project, its record and its events are still there.
    drop(server);
    let server = Server::start(dir.path());
    let a = Client::new(&server, &acme);
    let shown: Value = a.json(&format!("/v1/projects/{id}")).await;
    assert_eq!(shown["status"], "done");
    let replayed = a.events(&id, None).await;
    assert_eq!(replayed, events);

    // Ended projects cannot be cancelled; they can be deleted, with their
    // files.
    let usage: Value = a.json("/v1/usage").await;
    assert_eq!(usage["projects"]["done"], 1, "{usage}");
    assert!(usage["disk"]["bytes"].as_u64().unwrap() > 1000, "{usage}");
    let late = a
        .post(&format!("/v1/projects/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(late.status(), 409);
    assert_eq!(a.delete(&format!("/v1/projects/{id}")).await.status(), 204);
    assert_eq!(a.get(&format!("/v1/projects/{id}")).await.status(), 404);
    assert_eq!(
        a.get(&format!("/v1/projects/{id}/events")).await.status(),
        404
    );
    assert!(!root.exists());

    // A revoked token lets nobody in.
    nexus(dir.path(), &["tenant", "revoke", "acme"]);
    assert_eq!(a.get("/v1/projects").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_its_quotas_a_tenant_waits_in_its_queue_then_is_refused_by_name() {
    let dir = TempDir::new().unwrap();
    let acme = tenant_with(
        dir.path(),
        "acme",
        &["--max-projects", "1", "--max-queued", "1", "--disk", "1KiB"],
    );
    let slow = tenant_with(dir.path(), "slow", &["--rate", "3/min"]);
    let server = Server::start(dir.path());
    let a = Client::new(&server, &acme);
    let mut ids = Vec::new();
    for (description, status) in [
        ("a todo app with tags", "running"),
        ("a blog with posts and comments", "queued"),
    ] {
        let r = a
            .post("/v1/projects", &json!({ "description": description }))
            .await;
        assert_eq!(r.status(), 202);
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["status"], status, "{p}");
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    // One runs and one waits: a third is refused, naming the quota.
    let full = a
        .post("/v1/projects", &json!({ "description": "a library" }))
        .await;
    assert_eq!(full.status(), 429);
    let retry: u64 = full.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = full.json().await.unwrap();
    assert_eq!(body["quota"], "max_projects", "{body}");
    assert!(body["error"].as_str().unwrap().contains("max_queued"));

    // The queued project starts when the first ends, and ends done.
    let second = a.events(&ids[1], None).await;
    let names: Vec<&str> = second.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(names.first(), Some(&"queued"), "{names:?}");
    assert!(names.contains(&"started"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    let first: Value = a.json(&format!("/v1/projects/{}", ids[0])).await;
    assert_eq!(first["status"], "done");
    assert!(first["finished"].as_i64() <= second_started(&a, &ids[1]).await);

    // Their files take more than the tenant's disk: the next is refused.
    let disk = a
        .post("/v1/projects", &json!({ "description": "a library" }))
        .await;
    assert_eq!(disk.status(), 429);
    assert!(disk.headers().contains_key("retry-after"));
    assert_eq!(disk.json::<Value>().await.unwrap()["quota"], "disk_bytes");
    let usage: Value = a.json("/v1/usage").await;
    assert_eq!(usage["refusals"]["max_projects"], 1, "{usage}");
    assert_eq!(usage["refusals"]["disk_bytes"], 1, "{usage}");
    assert_eq!(usage["projects"]["done"], 2, "{usage}");
    assert_eq!(usage["limits"]["max_queued"], 1, "{usage}");
    let metrics = Client::new(&server, "").text("/metrics").await;
    assert!(
        metrics.contains("nexus_quota_refusals_total{tenant=\"acme\",quota=\"disk_bytes\"} 1"),
        "{metrics}"
    );

    // A rate: its burst, then 429 with when to come back.
    let s = Client::new(&server, &slow);
    for _ in 0..3 {
        assert_eq!(s.get("/v1/usage").await.status(), 200);
    }
    let limited = s.get("/v1/projects").await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(limited.json::<Value>().await.unwrap()["quota"], "rate");
    // Another tenant's rate is its own.
    assert_eq!(a.get("/v1/usage").await.status(), 200);
}

async fn second_started(client: &Client, id: &str) -> Option<i64> {
    let p: Value = client.json(&format!("/v1/projects/{id}")).await;
    p["started"].as_i64()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_project_stops_and_a_killed_server_finishes_its_project_after_a_restart() {
    let dir = TempDir::new().unwrap();
    let acme = tenant(dir.path(), "acme", 2);
    // Every model answers slowly, and nothing usable: the generation takes
    // seconds, and falls back to the parser and templates.
    let llm = LlmServer::start().await;
    for model in ["qwen2.5-coder:7b", "codellama:7b", "deepseek-coder:6.7b"] {
        llm.script(
            model,
            Behavior::Reply(vec!["I would rather not answer that one.".into()]),
        );
    }
    llm.set_pause(std::time::Duration::from_millis(60));
    let host = llm.addr.to_string();
    let env = [
        ("NEXUS_LLM_BACKEND", "ollama"),
        ("OLLAMA_HOST", host.as_str()),
    ];
    let mut server = Server::start_with(dir.path(), &env);
    let a = Client::new(&server, &acme);

    // Cancelled while it runs: it ends `cancelled`, its stream with
    // `failed`.
    let cancelled = a.submit("a shop with orders").await;
    let r = a
        .post(&format!("/v1/projects/{cancelled}/cancel"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "cancelled");
    let events = a.events(&cancelled, None).await;
    let last = events.last().unwrap();
    assert_eq!(last.1, "failed", "{events:?}");
    assert_eq!(last.2["cancelled"], true);

    // Killed mid-way: after a restart the project continues, and its
    // stream resumes after the last event seen.
    let id = a.submit("a helpdesk with tickets and agents").await;
    let seen = follow_until(&a, &id, "\"agent\":\"orchestrator\"").await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    drop(server);

    let server = Server::start_with(dir.path(), &env);
    let a = Client::new(&server, &acme);
    let rest = a.events(&id, Some(seen)).await;
    assert_eq!(rest.first().map(|e| e.0), Some(seen + 1), "{rest:?}");
    let names: Vec<&str> = rest.iter().map(|e| e.1.as_str()).collect();
    assert!(names.contains(&"resumed"), "{names:?}");
    // From the journal: the orchestrator's undone message is delivered
    // again, not a new generation begun.
    assert!(names.contains(&"continuing"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    assert_eq!(rest.last().unwrap().2["passed"], true, "{rest:?}");
    let shown: Value = a.json(&format!("/v1/projects/{id}")).await;
    assert_eq!(shown["status"], "done");
    let models = a
        .text(&format!("/v1/projects/{id}/files/backend/models.py"))
        .await;
    assert!(models.contains("class Ticket"), "{models}");
    // The cancelled one stays cancelled.
    let c: Value = a.json(&format!("/v1/projects/{cancelled}")).await;
    assert_eq!(c["status"], "cancelled");
}

/// Peak and current resident memory of a process, in KiB.
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Generates one project for `client` and returns how long it took, as its
/// `done` event says.
async fn quiet_project(client: &Client) -> f64 {
    let id = client.submit("a todo app with tags").await;
    let events = client.events(&id, None).await;
    let done = events.last().unwrap();
    assert_eq!(done.1, "done", "{events:?}");
    done.2["seconds"].as_f64().unwrap()
}

/// A bounded load: 200 projects at once from 4 tenants, every model call
/// 50 ms. Each submission is started, queued or refused by a named quota;
/// every one admitted ends done; no answer is a 5xx. Prints throughput,
/// API latency and memory.
#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_projects_at_once_end_done_or_refused_and_none_is_lost() {
    let dir = TempDir::new().unwrap();
    let tenants: Vec<(String, String)> = ["north", "south", "east", "west"]
        .iter()
        .map(|name| {
            (
                name.to_string(),
                tenant_with(dir.path(), name, &["--rate", "1000/s"]),
            )
        })
        .collect();
    let llm = LlmServer::start().await;
    for model in ["qwen2.5-coder:7b", "codellama:7b", "deepseek-coder:6.7b"] {
        llm.script(model, Behavior::Reply(vec!["no.".into()]));
    }
    llm.set_pause(std::time::Duration::from_millis(50));
    let host = llm.addr.to_string();
    let server = Server::start_with(
        dir.path(),
        &[
            ("NEXUS_LLM_BACKEND", "ollama"),
            ("OLLAMA_HOST", host.as_str()),
        ],
    );
    let pid = server.child.id();
    let idle = rss(pid).1;
    let latencies = std::sync::Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let descriptions = [
        "a todo app with tags",
        "a helpdesk with tickets and agents",
        "a blog with posts and comments",
        "a library with books, authors and loans",
        "a shop with products and orders",
    ];
    // A fifth tenant's project, alone: the baseline for how long a project
    // takes while the others flood.
    let quiet = Client::new(
        &server,
        &tenant_with(dir.path(), "quiet", &["--rate", "1000/s"]),
    );
    quiet_project(&quiet).await; // compiles the agents once
    let alone = quiet_project(&quiet).await;

    let started = std::time::Instant::now();
    let mut submissions = Vec::new();
    for i in 0..200 {
        let (name, token) = tenants[i % 4].clone();
        let client = Client::new(&server, &token);
        let description = descriptions[i % descriptions.len()];
        let latencies = latencies.clone();
        submissions.push(tokio::spawn(async move {
            let t = std::time::Instant::now();
            let r = client
                .post("/v1/projects", &json!({ "description": description }))
                .await;
            latencies.lock().unwrap().push(t.elapsed().as_secs_f64());
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (name, status, body)
        }));
    }
    // The same project of the quiet tenant while the flood arrives.
    let flooded = tokio::spawn(async move { quiet_project(&quiet).await });
    let mut admitted: Vec<(String, String)> = Vec::new();
    let mut refused = 0;
    for s in submissions {
        let (tenant, status, body) = s.await.unwrap();
        match status {
            202 => admitted.push((tenant, body["id"].as_str().unwrap().to_string())),
            429 => {
                assert_eq!(body["quota"], "max_projects", "{body}");
                refused += 1;
            }
            other => panic!("a submission answered {other}: {body}"),
        }
    }
    assert_eq!(admitted.len() + refused, 200);
    // Each tenant runs 5 and queues 10 (the defaults); places that free up
    // while submissions still arrive are taken again.
    assert!(admitted.len() >= 60, "{} admitted", admitted.len());

    // Follow every tenant's projects until all have ended.
    let mut peak_running = 0;
    let deadline = started + std::time::Duration::from_secs(1200);
    let finished = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "projects still running"
        );
        let mut open = 0;
        let mut running = 0;
        let mut ended = Vec::new();
        for (_, token) in &tenants {
            let client = Client::new(&server, token);
            let t = std::time::Instant::now();
            let r = client.get("/v1/projects?limit=200").await;
            latencies.lock().unwrap().push(t.elapsed().as_secs_f64());
            assert!(r.status().is_success(), "{}", r.status());
            let page: Value = r.json().await.unwrap();
            for p in page["projects"].as_array().unwrap() {
                match p["status"].as_str().unwrap() {
                    "queued" => open += 1,
                    "running" => {
                        open += 1;
                        running += 1;
                    }
                    _ => ended.push(p.clone()),
                }
            }
        }
        peak_running = peak_running.max(running);
        if open == 0 {
            break ended;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let elapsed = started.elapsed();
    let flooded = flooded.await.unwrap();
    assert_eq!(finished.len(), admitted.len());
    for p in &finished {
        assert_eq!(p["status"], "done", "{p}");
        assert_eq!(p["passed"], true, "{p}");
    }
    let (peak, _) = rss(pid);
    let mut sorted = latencies.lock().unwrap().clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!(
        "load: 200 submitted, {} run, {refused} refused by quota; {:.1} projects a minute; \
         API p50 {:.1} ms, p99 {:.1} ms over {} requests; peak RSS {} MiB (idle {} MiB, {} at once: {:.1} MiB each)",
        admitted.len(),
        admitted.len() as f64 / elapsed.as_secs_f64() * 60.0,
        percentile(&sorted, 0.5) * 1000.0,
        percentile(&sorted, 0.99) * 1000.0,
        sorted.len(),
        peak / 1024,
        idle / 1024,
        peak_running,
        (peak.saturating_sub(idle)) as f64 / 1024.0 / peak_running.max(1) as f64,
    );
    eprintln!(
        "load: another tenant's project took {alone:.2} s alone and {flooded:.2} s during the flood ({:.1}x)",
        flooded / alone
    );
    // The server is still healthy.
    assert_eq!(Client::new(&server, "").get("/readyz").await.status(), 200);
}

/// A `multipart/form-data` body of these parts: its content type and bytes.
fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "nexus-test-7f3a9c";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Client {
    async fn upload(&self, wasm: &[u8], policy: &str) -> reqwest::Response {
        let (kind, body) = multipart(&[("wasm", wasm), ("policy", policy.as_bytes())]);
        self.http
            .post(format!("{}/v1/agents", self.base))
            .bearer_auth(&self.token)
            .header("content-type", kind)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Runs a task of an uploaded agent in the project: status and body.
    async fn task(&self, project: &str, kind: &str, payload: Value) -> (u16, Value) {
        let r = self
            .post(
                &format!("/v1/projects/{project}/tasks"),
                &json!({ "agent": "hostile", "kind": kind, "payload": payload }),
            )
            .await;
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

const HOSTILE_POLICY: &str = r#"
agent = "hostile"

[limits]
memory = "16MiB"
wall_time = "20s"

[workspace]
read = ["**"]
write = ["notes/**"]
max_bytes = "1MiB"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_uploaded_hostile_agent_stays_confined_and_a_policy_over_the_ceiling_is_refused() {
    let dir = TempDir::new().unwrap();
    let acme = tenant(dir.path(), "acme", 2);
    let other = tenant(dir.path(), "other", 2);
    let server = Server::start(dir.path());
    let a = Client::new(&server, &acme);
    let o = Client::new(&server, &other);
    let project = a.submit("a todo app with tags").await;
    assert_eq!(a.events(&project, None).await.last().unwrap().1, "done");

    let wasm = std::fs::read(nexus::builtin::test_agent("hostile").unwrap()).unwrap();
    // Checked in order: a component of the world, a policy that parses, a
    // policy inside the ceiling.
    let r = a.upload(b"\0asm not really", HOSTILE_POLICY).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("nexus:agent"));
    let r = a
        .upload(&wasm, "agent = \"hostile\"\n[limits]\nmemory = 12\n")
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("does not parse"));
    let greedy = format!(
        "{}\n[bus]\nrequest = [\"orchestrator\"]\n",
        HOSTILE_POLICY.replace("16MiB", "1GiB")
    );
    let r = a.upload(&wasm, &greedy).await;
    assert_eq!(r.status(), 422);
    let reason = r.json::<Value>().await.unwrap()["error"].to_string();
    assert!(reason.contains("limits.memory"), "{reason}");
    assert!(reason.contains("bus.request"), "{reason}");

    let r = a.upload(&wasm, HOSTILE_POLICY).await;
    assert_eq!(r.status(), 201);
    let uploaded: Value = r.json().await.unwrap();
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(&wasm)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(uploaded["sha256"], sha.as_str(), "the build is pinned");
    assert_eq!(a.upload(&wasm, HOSTILE_POLICY).await.status(), 409);
    let id = uploaded["id"].as_str().unwrap();
    let listed: Value = a.json("/v1/agents").await;
    let names: Vec<&str> = listed["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"orchestrator") && names.contains(&"hostile"),
        "{names:?}"
    );
    // Another tenant sees neither the agent nor can it run anything here.
    let theirs: Value = o.json("/v1/agents").await;
    assert!(!theirs.to_string().contains("\"hostile\""));
    assert_eq!(o.get(&format!("/v1/agents/{id}")).await.status(), 404);
    assert_eq!(o.task(&project, "echo", json!({})).await.0, 404);
    assert_eq!(a.json(&format!("/v1/agents/{id}")).await["name"], "hostile");

    // Inside its grant it works.
    let (status, out) = a
        .task(
            &project,
            "write",
            json!({ "path": "notes/hi.txt", "text": "hello" }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        a.text(&format!("/v1/projects/{project}/files/notes/hi.txt"))
            .await,
        "hello"
    );
    // A path out of the project, a write outside its grant and a call to a
    // peer it was not granted are refused; a memory bomb ends at its limit.
    let denied = |out: &Value| out["payload"]["error"]["kind"] == "denied";
    let (status, out) = a
        .task(
            &project,
            "read",
            json!({ "path": "../../../../etc/passwd" }),
        )
        .await;
    assert!(status == 200 && denied(&out), "{out}");
    let before = a
        .text(&format!("/v1/projects/{project}/files/backend/models.py"))
        .await;
    let (status, out) = a
        .task(
            &project,
            "write",
            json!({ "path": "backend/models.py", "text": "pwned" }),
        )
        .await;
    assert!(status == 200 && denied(&out), "{out}");
    let after = a
        .text(&format!("/v1/projects/{project}/files/backend/models.py"))
        .await;
    assert_eq!(before, after);
    let (status, out) = a
        .task(&project, "request", json!({ "to": "orchestrator" }))
        .await;
    assert!(status == 200 && denied(&out), "{out}");
    let (status, out) = a.task(&project, "memory-bomb", json!({})).await;
    assert_eq!(status, 422, "{out}");
    assert_eq!(out["kind"], "limit:memory", "{out}");

    // The server keeps serving.
    assert_eq!(a.get("/healthz").await.status(), 200);
    assert_eq!(a.task(&project, "echo", json!({})).await.0, 200);
    let metrics = Client::new(&server, "").text("/metrics").await;
    assert!(
        metrics.contains("nexus_task_failures_total{agent=\"hostile\",kind=\"limit:memory\"} 1"),
        "{metrics}"
    );
    assert_eq!(a.delete(&format!("/v1/agents/{id}")).await.status(), 204);
    assert_eq!(a.task(&project, "echo", json!({})).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_origins_the_operator_names_may_call_from_a_browser() {
    let dir = TempDir::new().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[
            ("NEXUS_LLM_BACKEND", "none"),
            ("NEXUS_CORS_ORIGINS", "https://app.example.com"),
        ],
    );
    let http = nexus::llm::http_client_builder().unwrap().build().unwrap();
    let preflight = |origin: &'static str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/projects", server.base),
        )
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = preflight("https://elsewhere.example").await.unwrap();
    assert!(
        !other.headers().contains_key("access-control-allow-origin"),
        "{other:?}"
    );
}

/// Chat requests the LLM test server has seen, over every model.
fn chats(llm: &LlmServer) -> usize {
    ["qwen2.5-coder:7b", "codellama:7b", "deepseek-coder:6.7b"]
        .iter()
        .map(|m| llm.chat_requests(m).len())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_out_of_tokens_has_no_more_model_calls_even_mid_project() {
    let dir = TempDir::new().unwrap();
    let free = tenant(dir.path(), "free", 2);
    let thrifty = tenant_with(dir.path(), "thrifty", &["--tokens-per-day", "1"]);
    let llm = LlmServer::start().await;
    for model in ["qwen2.5-coder:7b", "codellama:7b", "deepseek-coder:6.7b"] {
        llm.script(
            model,
            Behavior::Reply(vec!["I would rather not answer that one.".into()]),
        );
    }
    let host = llm.addr.to_string();
    let server = Server::start_with(
        dir.path(),
        &[
            ("NEXUS_LLM_BACKEND", "ollama"),
            ("OLLAMA_HOST", host.as_str()),
        ],
    );
    // Without a token quota a generation asks the models several times.
    let f = Client::new(&server, &free);
    let id = f.submit("a library with books, authors and loans").await;
    assert_eq!(f.events(&id, None).await.last().unwrap().1, "done");
    let unlimited = chats(&llm);
    assert!(unlimited > 2, "{unlimited} model calls");

    // With one token a day, the first call spends it and the rest of the
    // project goes on without the models (parser and templates).
    let t = Client::new(&server, &thrifty);
    let id = t.submit("a helpdesk with tickets and agents").await;
    let events = t.events(&id, None).await;
    assert_eq!(events.last().unwrap().1, "done", "{events:?}");
    let limited = chats(&llm) - unlimited;
    assert!((1..=2).contains(&limited), "{limited} model calls");
    let usage: Value = t.json("/v1/usage").await;
    assert!(
        usage["tokens"]["last_24h"].as_u64().unwrap() >= 1,
        "{usage}"
    );
    // And no new project is admitted until the day's tokens age out.
    let r = t
        .post(
            "/v1/projects",
            &json!({ "description": "a blog with posts" }),
        )
        .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.json::<Value>().await.unwrap()["quota"], "tokens_per_day");
}
