//! Generated projects in tests: `nexus generate` into a temporary
//! directory, then the project's own suites — the backend's pytest in a
//! Python environment, the frontend's build and Vitest with its npm
//! packages. The environments are built once per content of
//! `requirements.txt` / `package.json` and shared by every project and test
//! binary (under the target directory, so CI reuses them between runs).

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// Runs `nexus generate` into `root/project` with no model (unless `env`
/// names one); returns nexus-project.json. Panics unless every phase and
/// gate passed.
pub fn generate(root: &Path, description: &str, env: &[(String, String)]) -> Value {
    let out = root.join("project");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexus"));
    cmd.args(["generate", description, "--out"])
        .arg(&out)
        .arg("--state-dir")
        .arg(root.join("state"))
        .env(
            "NEXUS_CACHE_DIR",
            std::env::temp_dir().join("nexus-test-component-cache"),
        )
        .env_remove("OLLAMA_HOST")
        .env_remove("OPENAI_BASE_URL")
        .env("NEXUS_LLM_BACKEND", "none");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let stdout = run(&mut cmd);
    assert!(
        stdout.contains("gates: integration passed, quality passed"),
        "{stdout}"
    );
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("nexus-project.json")).unwrap())
            .unwrap();
    assert_eq!(record["passed"], true, "{record}");
    record
}

/// Runs a command without colours (test runners colour their output when
/// `CI` is set) and returns its output with any escape sequences removed;
/// panics when it fails.
pub fn run(cmd: &mut Command) -> String {
    let (ok, text) = try_run(cmd);
    assert!(ok, "{cmd:?} failed:\n{text}");
    text
}

/// [`run`], returning whether it succeeded instead of panicking.
pub fn try_run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .env("NO_COLOR", "1")
        .env_remove("FORCE_COLOR")
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let raw = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut text = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequence: ESC [ parameters final-letter.
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            text.push(c);
        }
    }
    (out.status.success(), text)
}

fn digest(text: &str) -> String {
    let d = Sha256::digest(text.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Where shared environments live.
fn shared_root() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("generated-envs");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `root/name`, made by `build` (into a scratch directory that is renamed
/// into place) unless it exists; one builder at a time across processes.
pub fn shared(name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let root = shared_root();
    let done = root.join(name);
    if done.exists() {
        return done;
    }
    let lock = root.join(format!("{name}.lock"));
    loop {
        match std::fs::create_dir(&lock) {
            Ok(()) => break,
            Err(_) => {
                // A lock left by a killed run is stale after half an hour.
                let stale = std::fs::metadata(&lock)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| {
                        SystemTime::now().duration_since(t).unwrap_or_default()
                            > Duration::from_secs(1800)
                    });
                if stale {
                    let _ = std::fs::remove_dir(&lock);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
    if !done.exists() {
        let scratch = root.join(format!("{name}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).unwrap();
        build(&scratch);
        std::fs::rename(&scratch, &done).unwrap();
    }
    let _ = std::fs::remove_dir(&lock);
    done
}

/// The Python of a virtual environment with `backend/requirements.txt`
/// installed.
pub fn python(project: &Path) -> PathBuf {
    let reqs = std::fs::read_to_string(project.join("backend/requirements.txt")).unwrap();
    let venv = shared(&format!("venv-{}", digest(&reqs)), |dir| {
        run(Command::new("python3").args(["-m", "venv"]).arg(dir));
        std::fs::write(dir.join("requirements.txt"), &reqs).unwrap();
        run(Command::new(dir.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-r",
                "requirements.txt",
            ])
            .current_dir(dir));
    });
    // Scripts in a venv name its directory: a renamed venv keeps working
    // through `python -m`.
    venv.join("bin/python")
}

/// Runs the generated backend's tests (on `database_url` when given);
/// returns how many passed. Panics on any failure.
pub fn pytest(project: &Path, database_url: Option<&str>) -> u32 {
    let python = python(project);
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(project.join("backend"))
        .env_remove("DATABASE_URL");
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    let report = run(&mut cmd);
    let summary = report
        .lines()
        .rev()
        .find(|l| l.contains(" passed"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        !summary.contains("failed") && !summary.contains("error"),
        "{report}"
    );
    summary
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap()
}

/// Gives `project/frontend` the npm packages of its `package.json`,
/// installed once and linked in.
pub fn node_modules(project: &Path) {
    let frontend = project.join("frontend");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(frontend.join("package.json")).unwrap())
            .unwrap();
    // Projects differ only by name.
    manifest["name"] = Value::String("generated".into());
    let text = serde_json::to_string_pretty(&manifest).unwrap();
    let shared = shared(&format!("node-{}", digest(&text)), |dir| {
        std::fs::write(dir.join("package.json"), &text).unwrap();
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(dir));
    });
    let link = frontend.join("node_modules");
    if !link.exists() {
        std::os::unix::fs::symlink(shared.join("node_modules"), &link).unwrap();
    }
}

/// npm run build, npm test in `project/frontend`; returns how many tests
/// passed. Panics on any failure.
pub fn npm(project: &Path) -> u32 {
    node_modules(project);
    let frontend = project.join("frontend");
    run(Command::new("npm")
        .args(["run", "build"])
        .current_dir(&frontend));
    assert!(frontend.join("dist/index.html").exists());
    let report = run(Command::new("npm").arg("test").current_dir(&frontend));
    let summary = report
        .lines()
        .find(|l| l.trim_start().starts_with("Tests "))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(!summary.contains("failed"), "{report}");
    summary
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap()
}
