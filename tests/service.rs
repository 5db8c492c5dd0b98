//! `nexus serve` as a process: tenants with tokens, a project generated
//! over HTTP and followed over Server-Sent Events, its files, and the
//! tenancy boundary (another tenant's project is a 404, never its data).

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
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
    let out = nexus(
        dir,
        &["tenant", "add", name, "--max-projects", &max.to_string()],
    );
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
        let mut child = Command::new(env!("CARGO_BIN_EXE_nexus"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("NEXUS_CACHE_DIR", dir.join("cache"))
            .env("NEXUS_STATE_DIR", dir.join("state"))
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

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_generates_a_project_over_http_and_no_other_tenant_sees_it() {
    let dir = TempDir::new().unwrap();
    let acme = tenant(dir.path(), "acme", 2);
    let other = tenant(dir.path(), "other", 2);
    let none = tenant(dir.path(), "no-room", 0);
    let listed = nexus(dir.path(), &["tenant", "list"]);
    assert!(
        listed.contains("acme") && listed.contains("no-room"),
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
    let full = Client::new(&server, &none)
        .post("/v1/projects", &json!({ "description": "a todo app" }))
        .await;
    assert_eq!(full.status(), 429);
    assert!(full.headers().contains_key("retry-after"));
    assert!(
        full.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("max_projects"),
    );

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

    // Another tenant: the project does not exist for it.
    let o = Client::new(&server, &other);
    for path in [
        format!("/v1/projects/{id}"),
        format!("/v1/projects/{id}/events"),
        format!("/v1/projects/{id}/files"),
        format!("/v1/projects/{id}/files/backend/models.py"),
    ] {
        let response = o.get(&path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(!response.text().await.unwrap().contains("Ticket"));
    }
    let theirs: Value = o.json("/v1/projects").await;
    assert_eq!(theirs["projects"], json!([]));

    // After a restart the project, its record and its events are still there.
    drop(server);
    let server = Server::start(dir.path());
    let a = Client::new(&server, &acme);
    let shown: Value = a.json(&format!("/v1/projects/{id}")).await;
    assert_eq!(shown["status"], "done");
    let replayed = a.events(&id, None).await;
    assert_eq!(replayed, events);

    // A revoked token lets nobody in.
    nexus(dir.path(), &["tenant", "revoke", "acme"]);
    assert_eq!(a.get("/v1/projects").await.status(), 401);
}
