//! `nexus serve` as a process, and the command line that adds its tenants.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Runs `nexus` with the test's cache and state directories; its output.
pub fn nexus(dir: &Path, args: &[&str]) -> String {
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

/// Adds a tenant that may run `max` projects at once; returns its token.
pub fn tenant(dir: &Path, name: &str, max: u32) -> String {
    tenant_with(dir, name, &["--max-projects", &max.to_string()])
}

/// Adds a tenant with these limits and returns its token (the last line
/// printed).
pub fn tenant_with(dir: &Path, name: &str, limits: &[&str]) -> String {
    let mut args = vec!["tenant", "add", name];
    args.extend(limits);
    let out = nexus(dir, &args);
    out.lines().last().unwrap().trim().to_string()
}

/// Writes a cluster's `nexus.toml` into `dir`: the NATS server at `nats`,
/// an API node that runs no projects itself, and `extra` lines of
/// `[cluster]`. Returns the environment each of the cluster's processes
/// gets, with its models at the Ollama server `llm`.
pub fn cluster_env(
    dir: &Path,
    nats: &str,
    extra: &str,
    llm: std::net::SocketAddr,
) -> Vec<(String, String)> {
    let config = dir.join("nexus.toml");
    std::fs::write(
        &config,
        format!("[cluster]\nnats = \"{nats}\"\ncapacity = 0\n{extra}"),
    )
    .unwrap();
    vec![
        ("NEXUS_CONFIG".into(), config.display().to_string()),
        ("NEXUS_LLM_BACKEND".into(), "ollama".into()),
        ("OLLAMA_HOST".into(), llm.to_string()),
    ]
}

/// A running `nexus serve` on a free port; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// Kept open: the server's standard output is not closed under it.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    /// A server with no LLM.
    pub fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[("NEXUS_LLM_BACKEND", "none")])
    }

    pub fn start_with(dir: &Path, env: &[(&str, &str)]) -> Server {
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

/// A tenant's calls to a server.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Client {
    pub fn new(server: &Server, token: &str) -> Client {
        Client {
            http: nexus::llm::http_client_builder().unwrap().build().unwrap(),
            base: server.base.clone(),
            token: token.to_string(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let request = self.http.get(format!("{}{path}", self.base));
        let request = if self.token.is_empty() {
            request
        } else {
            request.bearer_auth(&self.token)
        };
        request.send().await.unwrap()
    }

    /// The JSON answer to a GET.
    pub async fn json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// The text answer to a GET.
    pub async fn text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// Submits a project; its id.
    pub async fn submit(&self, description: &str) -> String {
        let r = self
            .post("/v1/projects", &json!({ "description": description }))
            .await;
        assert_eq!(r.status(), 202);
        let p: Value = r.json().await.unwrap();
        p["id"].as_str().unwrap().to_string()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// The project's events, read to the end of the stream.
    pub async fn events(&self, id: &str, last: Option<u64>) -> Vec<(u64, String, Value)> {
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

/// Reads the project's event stream until an event's data contains
/// `until`; returns the last event id seen.
pub async fn follow_until(client: &Client, id: &str, until: &str) -> u64 {
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

/// A `nexus worker` process; what it says on stderr is kept with when it
/// said it. Killed when dropped.
pub struct Worker {
    pub child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Worker {
    pub fn start(dir: &Path, name: &str, capacity: u32, env: &[(String, String)]) -> Worker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nexus"))
            .args(["worker", "--capacity", &capacity.to_string()])
            .env("NEXUS_CACHE_DIR", dir.join("cache"))
            .env("NEXUS_STATE_DIR", dir.join(name))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("NEXUS_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (kept, stderr, label) = (
            lines.clone(),
            child.stderr.take().unwrap(),
            name.to_string(),
        );
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[{label}] {line}");
                kept.lock().unwrap().push((Instant::now(), line));
            }
        });
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert!(ready.contains("taking up to"), "{ready}");
        Worker { child, lines }
    }

    /// What it said of its projects, in order: (ms since the epoch,
    /// `took`/`ended`/`let go of`, project, tenant, attempt).
    pub fn said(&self) -> Vec<Said> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, l)| {
                let (at, rest) = l.strip_prefix("nexus worker [")?.split_once("]: ")?;
                let (secs, ms) = at.split_once('.')?;
                let at = secs.parse::<u64>().ok()? * 1000 + ms.parse::<u64>().ok()?;
                let words: Vec<&str> = rest.split_whitespace().collect();
                let said = match words.as_slice() {
                    ["took", "project", id, "of", "tenant", tenant, "(attempt", n] => Said {
                        at,
                        what: "took",
                        id: id.to_string(),
                        tenant: tenant.to_string(),
                        attempt: n.trim_end_matches(')').parse().ok()?,
                    },
                    ["ended", "project", id, ..] => Said {
                        at,
                        what: "ended",
                        id: id.trim_end_matches(':').to_string(),
                        tenant: String::new(),
                        attempt: 0,
                    },
                    ["let", "go", "of", "project", id] => Said {
                        at,
                        what: "let go",
                        id: id.to_string(),
                        tenant: String::new(),
                        attempt: 0,
                    },
                    _ => return None,
                };
                Some(said)
            })
            .collect()
    }

    /// (project, attempt, ms) of each project it took.
    pub fn took(&self) -> Vec<(String, u32, u64)> {
        self.said()
            .into_iter()
            .filter(|s| s.what == "took")
            .map(|s| (s.id, s.attempt, s.at))
            .collect()
    }

    /// The projects it runs now.
    pub fn held(&self) -> BTreeSet<String> {
        let mut held = BTreeSet::new();
        for s in self.said() {
            if s.what == "took" {
                held.insert(s.id);
            } else {
                held.remove(&s.id);
            }
        }
        held
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A line of a worker's about a project.
#[derive(Debug, Clone)]
pub struct Said {
    pub at: u64,
    pub what: &'static str,
    pub id: String,
    pub tenant: String,
    pub attempt: u32,
}
