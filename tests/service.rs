//! `nexus serve` as a process: tenants with tokens, a project generated
//! over HTTP and followed over Server-Sent Events, its files, and the
//! tenancy boundary (another tenant's project is a 404, never its data).

mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use support::llm_server::{Behavior, LlmServer};
use tempfile::TempDir;

fn nexus(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(args)
        .env("NEXUS_CACHE_DIR", dir.join("cache"))
        .env("NEXUS_STATE_DIR", dir.join("state"))
        .env_remove("NEXUS_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Adds a tenant and returns its token (the last line printed).
fn tenant(dir: &Path, name: &str, max: u32) -> String {
    tenant_with(dir, name, &["--max-projects", &max.to_string()])
}

/// Adds a tenant with these limits and returns its token.
fn tenant_with(dir: &Path, name: &str, limits: &[&str]) -> String {
    let mut args = vec!["tenant", "add", name];
    args.extend(limits);
    let out = nexus(dir, &args);
    out.lines().last().unwrap().trim().to_string()
}

/// A running `nexus serve` on a free port; killed when dropped.
struct Server {
    child: Child,
    base: String,
    /// Kept open: the server's standard output is not closed under it.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[("NEXUS_LLM_BACKEND", "none")])
    }

    fn start_with(dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nexus"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("NEXUS_CACHE_DIR", dir.join("cache"))
            .env("NEXUS_STATE_DIR", dir.join("state"))
            .envs(env.iter().copied())
            .env_remove("NEXUS_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let base = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        assert!(base.starts_with("http://127.0.0.1:"), "{line}");
        Server {
            child,
            base,
            _stdout: stdout,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(server: &Server, token: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: server.base.clone(),
            token: token.to_string(),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let request = self.http.get(format!("{}{path}", self.base));
        let request = if self.token.is_empty() {
            request
        } else {
            request.bearer_auth(&self.token)
        };
        request.send().await.unwrap()
    }

    /// The JSON answer to a GET.
    async fn json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn delete(&self, path: &str) -> reqwest::Response {
        self.http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// The project's events, read to the end of the stream.
    async fn events(&self, id: &str, last: Option<u64>) -> Vec<(u64, String, Value)> {
        let mut request = self
            .http
            .get(format!("{}/v1/projects/{id}/events", self.base))
            .bearer_auth(&self.token);
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{response:?}"
        );
        let text = response.text().await.unwrap();
        text.split("\n\n")
            .filter(|block| block.contains("data:"))
            .map(|block| {
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_string())
                        .unwrap_or_else(|| panic!("no {name} in {block:?}"))
                };
                (
                    field("id:").parse().unwrap(),
                    field("event:"),
                    serde_json::from_str(&field("data:")).unwrap(),
                )
            })
            .collect()
    }
}

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
    let metrics = Client::new(&server, "")
        .get("/metrics")
        .await
        .text()
        .await
        .unwrap();
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

/// Reads the project's event stream until an event's data contains
/// `until`; returns the last event id seen.
async fn follow_until(client: &Client, id: &str, until: &str) -> u64 {
    let mut response = client.get(&format!("/v1/projects/{id}/events")).await;
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        let Some(chunk) = response.chunk().await.unwrap() else {
            break;
        };
        text.push_str(&String::from_utf8_lossy(&chunk));
        if text.contains(until) && text.ends_with("\n\n") {
            break;
        }
    }
    assert!(text.contains(until), "{until} never came: {text}");
    text.lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .map(|v| v.trim().parse::<u64>().unwrap())
        .max()
        .unwrap()
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
    let p: Value = a
        .post(
            "/v1/projects",
            &json!({ "description": "a shop with orders" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let cancelled = p["id"].as_str().unwrap().to_string();
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
    let p: Value = a
        .post(
            "/v1/projects",
            &json!({ "description": "a helpdesk with tickets and agents" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = p["id"].as_str().unwrap().to_string();
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
        .get(&format!("/v1/projects/{id}/files/backend/models.py"))
        .await
        .text()
        .await
        .unwrap();
    assert!(models.contains("class Ticket"), "{models}");
    // The cancelled one stays cancelled.
    let c: Value = a.json(&format!("/v1/projects/{cancelled}")).await;
    assert_eq!(c["status"], "cancelled");
}
