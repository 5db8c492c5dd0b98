//! `nexus serve` as a process, and the command line that adds its tenants.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
