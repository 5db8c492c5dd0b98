//! Shared fixtures: a runtime per test binary, a project in a real temporary
//! directory, agents built from source by `guests/build.rs`.
#![allow(dead_code)]

pub mod llm_server;
pub mod nats;
pub mod project;
pub mod service;

use nexus::bindings::nexus::agent::types::Outcome;
use nexus::policy::Policy;
use nexus::project::Project;
use nexus::runtime::{Agent, Runtime, RuntimeOptions};
use nexus::task::TaskFailure;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tempfile::TempDir;

/// Installs the agents built with the tests before any test runs. Tests
/// reach the built-in agents through the library from many entry points
/// (runtimes, generation, the service), and the test harness has no hook
/// that runs before them.
#[used]
// SAFETY: the loader calls this once, on the main thread, before `main` and
// before any test thread exists. It only stores `'static` references in a
// `OnceLock`, which needs neither an allocation nor anything the standard
// library sets up in `main`.
#[unsafe(link_section = ".init_array")]
static INSTALL_BUILTINS: extern "C" fn() = {
    extern "C" fn install() {
        nexus::builtin::install(nexus::embedded!());
    }
    install
};

/// One runtime (engines and component cache) per test binary, so each
/// component compiles once.
pub fn runtime() -> Arc<Runtime> {
    static RT: OnceLock<(Arc<Runtime>, TempDir)> = OnceLock::new();
    RT.get_or_init(|| {
        let dir = TempDir::new().unwrap();
        let rt = Runtime::new(RuntimeOptions {
            cache_dir: Some(dir.path().join("cache")),
            database: Some(dir.path().join("nexus.db")),
            ..Default::default()
        })
        .unwrap();
        (rt, dir)
    })
    .0
    .clone()
}

/// Component bytes of a built-in agent or a test agent.
pub fn component(name: &str) -> Vec<u8> {
    if let Some(path) = nexus::builtin::test_agent(name) {
        return std::fs::read(path).unwrap();
    }
    Runtime::read_component(name).unwrap()
}

pub fn policy(text: &str) -> Policy {
    Policy::parse(Path::new("test.toml"), text).unwrap()
}

/// A project in a fresh temporary directory: `root/project` is the sandbox,
/// `root/outside/secret.txt` a file no agent may reach.
pub struct Fixture {
    pub dir: TempDir,
    pub project: Arc<Project>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = TempDir::new().unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("outside/secret.txt"), "top secret").unwrap();
        let project = Project::open(runtime(), "p1", "t1", &dir.path().join("project")).unwrap();
        Fixture { dir, project }
    }

    pub fn sandbox(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    pub fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    pub async fn load(&self, name: &str, policy_text: &str) -> Arc<Agent> {
        let agent = runtime()
            .load_agent(&component(name), policy(policy_text))
            .await
            .unwrap();
        self.project.add_agent(agent.clone());
        agent
    }

    pub async fn run(
        &self,
        agent: &str,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<Outcome, TaskFailure> {
        self.project.run(agent, kind, &payload.to_string()).await
    }

    /// Runs a hostile task that reports the host's answer; returns the
    /// error kind and reason the host gave, or panics if the host allowed it.
    pub async fn refusal(&self, kind: &str, payload: serde_json::Value) -> (String, String) {
        let outcome = self
            .run("hostile", kind, payload)
            .await
            .unwrap_or_else(|f| panic!("task failed instead of reporting a refusal: {f}"));
        let v: serde_json::Value = serde_json::from_str(&outcome.payload).unwrap();
        let e = v
            .get("error")
            .unwrap_or_else(|| panic!("the host allowed it: {v}"));
        (
            e["kind"].as_str().unwrap().to_string(),
            e["reason"].as_str().unwrap().to_string(),
        )
    }

    /// The host still runs a normal task of `agent`.
    pub async fn still_serves(&self, agent: &str) {
        let outcome = self
            .run(agent, "echo", serde_json::json!({}))
            .await
            .unwrap_or_else(|f| panic!("the host no longer serves `{agent}`: {f}"));
        assert!(!outcome.payload.is_empty());
    }
}

/// The hostile agent's default policy: the whole project readable and
/// writable, tight quotas and limits, a bus grant for `hello` and the
/// `backend` model role.
pub const HOSTILE: &str = r#"
agent = "hostile"
[limits]
memory = "32MiB"
cpu_time = "300ms"
wall_time = "2s"
hostcall_bytes = "4MiB"
[workspace]
read = ["**"]
write = ["**"]
max_bytes = "256KiB"
max_files = 8
max_file_size = "128KiB"
[bus]
request = ["hello"]
[llm]
roles = ["backend"]
tokens_per_task = 4096
"#;

/// Runs `test` on its own thread with its own (single-threaded) tokio
/// runtime and panics if it has not finished within `limit`: a host that
/// hangs fails the test instead of hanging it.
pub fn within<F>(limit: std::time::Duration, test: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()>,
{
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let passed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(test());
        }))
        .is_ok();
        let _ = done.send(passed);
        // Work left on the blocking pool (a host thread stuck in the file
        // system) is not waited for.
        rt.shutdown_background();
    });
    match finished.recv_timeout(limit) {
        Ok(true) => {}
        Ok(false) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the test failed (see its panic above)")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the test did not finish within {limit:?}: the host hangs")
        }
    }
}

pub const HELLO: &str = r#"
agent = "hello"
[workspace]
read = ["greetings/**"]
write = ["greetings/**"]
[log]
level = "info"
"#;
