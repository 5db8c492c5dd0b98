//! The `nexus` binary: outcomes on stdout, one-line reasons and exit codes
//! on failure.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use tempfile::TempDir;

fn nexus(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(args)
        .env("NEXUS_CACHE_DIR", dir.join("cache"))
        .env("NEXUS_STATE_DIR", dir.join("state"))
        .env_remove("NEXUS_LOG")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write_policy(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_string()
}

const HOSTILE_POLICY: &str =
    "agent = \"hostile\"\n[limits]\ncpu_time = \"200ms\"\nwall_time = \"1s\"\n";

#[test]
fn run_executes_the_example_agent() {
    let dir = TempDir::new().unwrap();
    let ws = dir.path().join("demo");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/hello.toml");
    let out = nexus(
        dir.path(),
        &[
            "run",
            "hello",
            "--policy",
            policy.to_str().unwrap(),
            "--workspace",
            ws.to_str().unwrap(),
            "--task",
            r#"{"kind":"greet","payload":{"name":"Ada"}}"#,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ok: greeted Ada"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("greetings/hello.txt")).unwrap(),
        "Hello, Ada!\n"
    );
}

#[test]
fn run_reads_the_task_from_a_file_and_runs_a_wasm_path() {
    let dir = TempDir::new().unwrap();
    let task = dir.path().join("task.json");
    std::fs::write(&task, r#"{"kind":"echo","payload":{"n":42}}"#).unwrap();
    let policy = write_policy(dir.path(), "h.toml", "agent = \"hostile\"\n");
    let wasm = nexus::builtin::test_agent("hostile").unwrap();
    let out = nexus(
        dir.path(),
        &[
            "run",
            wasm,
            "--policy",
            &policy,
            "--workspace",
            dir.path().join("w").to_str().unwrap(),
            "--task",
            &format!("@{}", task.display()),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("still serving"));
}

fn run_hostile(kind: &str, policy_body: &str) -> Output {
    let dir = TempDir::new().unwrap();
    let task = format!(r#"{{"kind":"{kind}","payload":{{}}}}"#);
    hostile_in(dir.path(), policy_body, "w", &task, &[])
}

fn one_line_reason(out: &Output) -> String {
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {err}");
    lines[0].to_string()
}

#[test]
fn cpu_limit_exits_4_with_one_line() {
    let out = run_hostile("spin", HOSTILE_POLICY);
    assert_eq!(out.status.code(), Some(4));
    assert!(one_line_reason(&out).contains("cpu time limit"));
}

#[test]
fn wall_limit_exits_5_with_one_line() {
    let out = run_hostile("sleep", HOSTILE_POLICY);
    assert_eq!(out.status.code(), Some(5));
    assert!(one_line_reason(&out).contains("wall time limit"));
}

#[test]
fn sha256_mismatch_exits_3_with_one_line() {
    let body = format!("sha256 = \"{}\"\n{HOSTILE_POLICY}", "ab".repeat(32));
    let out = run_hostile("echo", &body);
    assert_eq!(out.status.code(), Some(3));
    assert!(one_line_reason(&out).contains("does not match the policy's pin"));
}

#[test]
fn task_that_is_not_json_exits_2() {
    let dir = TempDir::new().unwrap();
    let policy = write_policy(dir.path(), "h.toml", "agent = \"hello\"\n");
    let out = nexus(
        dir.path(),
        &[
            "run",
            "hello",
            "--policy",
            &policy,
            "--workspace",
            "w",
            "--task",
            "{not json",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_reason(&out).contains("the task is not JSON"));
}

#[test]
fn agent_error_exits_1() {
    let out = run_hostile("no-such-kind", HOSTILE_POLICY);
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_reason(&out).contains("unsupported"));
}

#[test]
fn policy_check_names_file_line_and_fix() {
    let dir = TempDir::new().unwrap();
    let good = write_policy(
        dir.path(),
        "good.toml",
        "agent = \"hello\"\n[workspace]\nwrite = [\"a/**\"]\n",
    );
    let bad = write_policy(
        dir.path(),
        "bad.toml",
        "agent = \"hello\"\n[limits]\nmemory = \"lots\"\n",
    );
    let out = nexus(dir.path(), &["policy", "check", &good, &bad]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ok    ") && stdout.contains("good.toml"),
        "{stdout}"
    );
    assert!(stdout.contains("bad.toml:3:"), "{stdout}");
    assert!(stdout.contains("fix:"), "{stdout}");
}

#[test]
fn every_shipped_policy_passes_the_check() {
    let dir = TempDir::new().unwrap();
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let files: Vec<String> = std::fs::read_dir(policies)
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["policy", "check"];
    args.extend(files.iter().map(String::as_str));
    let out = nexus(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn agents_inspect_prints_describe_imports_and_hash() {
    let dir = TempDir::new().unwrap();
    let out = nexus(dir.path(), &["agents", "inspect", "hello"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("id:           hello"), "{stdout}");
    assert!(stdout.contains("nexus:agent/workspace@0.1.0"), "{stdout}");
    let sha = nexus::runtime::sha256_hex(&support::component("hello"));
    assert!(stdout.contains(&sha), "{stdout}");
}

/// `nexus agents list` names every built-in agent with its component's
/// size, the size of the bytes `agents inspect` hashes.
#[test]
fn agents_list_prints_each_agent_with_its_size() {
    let dir = TempDir::new().unwrap();
    let out = nexus(dir.path(), &["agents", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for name in ["hello", "analyst", "orchestrator", "qa", "security"] {
        let want = format!("{name} {} bytes", support::component(name).len());
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == want),
            "`{want}` is not listed:\n{stdout}"
        );
    }
}

#[test]
fn run_help_teaches_with_an_example() {
    let dir = TempDir::new().unwrap();
    let out = nexus(dir.path(), &["run", "--help"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Example:") && stdout.contains("--policy"),
        "{stdout}"
    );
    assert!(stdout.contains("Exit codes"), "{stdout}");
}

/// `nexus agents list | head -0`: with the reader gone, the command ends
/// quietly with 0 instead of panicking on "Broken pipe".
#[test]
fn closed_stdout_ends_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(["agents", "list"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

/// Runs the hostile agent under `policy_body` in `dir/workspace`.
fn hostile_in(
    dir: &Path,
    policy_body: &str,
    workspace: &str,
    task: &str,
    extra: &[&str],
) -> Output {
    let policy = write_policy(dir, "hostile.toml", policy_body);
    let hostile = nexus::builtin::test_agent("hostile").unwrap();
    let ws = dir.join(workspace);
    let mut args = vec![
        "run",
        hostile,
        "--policy",
        &policy,
        "--workspace",
        ws.to_str().unwrap(),
        "--task",
        task,
    ];
    args.extend_from_slice(extra);
    nexus(dir, &args)
}

fn no_raw_controls(out: &str) {
    let raw: Vec<char> = out
        .chars()
        .filter(|&c| c != '\n' && nexus::text::is_unsafe(c))
        .collect();
    assert!(raw.is_empty(), "raw {raw:?} in {out:?}");
}

#[test]
fn a_project_id_belongs_to_one_directory() {
    let dir = TempDir::new().unwrap();
    let task = r#"{"kind":"echo"}"#;
    let first = hostile_in(dir.path(), HOSTILE_POLICY, "a/demo", task, &[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    // The same folder name elsewhere gets an id of its own, and says so.
    let second = hostile_in(dir.path(), HOSTILE_POLICY, "b/demo", task, &[]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    let said = text(&second.stderr);
    assert!(said.contains("project id `demo-"), "{said}");
    // Naming the other directory's id is refused, in one line with a fix.
    let taken = hostile_in(
        dir.path(),
        HOSTILE_POLICY,
        "b/demo",
        task,
        &["--project", "demo"],
    );
    assert_eq!(taken.status.code(), Some(2));
    let err = text(&taken.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("project id `demo` belongs to") && err.contains("a/demo"),
        "{err}"
    );
}

#[test]
fn control_characters_from_an_agent_never_reach_the_terminal_raw() {
    let dir = TempDir::new().unwrap();
    let hostile_text = "\u{9b}2J\u{1b}]0;owned\u{7}\u{202e}txt.exe\u{2028}forged line";
    let task = serde_json::json!({"kind": "say", "payload": {"text": hostile_text}}).to_string();
    let out = hostile_in(
        dir.path(),
        HOSTILE_POLICY,
        "ws",
        &task,
        &["--project", "ctl"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    no_raw_controls(&stdout);
    assert!(
        stdout.contains("\\u{9b}2J") || stdout.contains("\\u009b2J"),
        "{stdout}"
    );

    // A task kind is the user's text, kept in the journal and shown again.
    let task = serde_json::json!({"kind": "x\u{9b}\u{202e}", "payload": {}}).to_string();
    let failed = hostile_in(
        dir.path(),
        HOSTILE_POLICY,
        "ws",
        &task,
        &["--project", "ctl"],
    );
    assert!(!failed.status.success());
    no_raw_controls(&text(&failed.stderr));
    for json in [true, false] {
        let mut args = vec!["messages", "ctl"];
        if json {
            args.push("--json");
        }
        let listed = nexus(dir.path(), &args);
        assert!(listed.status.success(), "{}", text(&listed.stderr));
        let shown = text(&listed.stdout);
        no_raw_controls(&shown);
        if json {
            assert!(shown.contains("x\\u009b\\u202e"), "{shown}");
            // Still JSON, and the same text once parsed.
            assert!(shown.lines().any(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"] == "x\u{9b}\u{202e}"
            }));
        }
    }
}

#[test]
fn task_input_is_bounded_before_it_is_parsed() {
    let dir = TempDir::new().unwrap();
    let big = dir.path().join("big.json");
    let pad = "0,".repeat(1 << 20);
    std::fs::write(&big, format!(r#"{{"kind":"echo","payload":[{pad}0]}}"#)).unwrap();
    let out = hostile_in(
        dir.path(),
        HOSTILE_POLICY,
        "ws",
        &format!("@{}", big.display()),
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("larger than 1.0 MiB") || err.contains("larger than 1 MiB"),
        "{err}"
    );

    let deep = format!(
        r#"{{"kind":"echo","payload":{}{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let out = hostile_in(dir.path(), HOSTILE_POLICY, "ws", &deep, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("nests deeper than 64"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn errors_are_one_line_and_keep_their_cause() {
    let dir = TempDir::new().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, b"\xff\xfe{}").unwrap();
    let out = hostile_in(
        dir.path(),
        HOSTILE_POLICY,
        "ws",
        &format!("@{}", bad.display()),
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("reading the task file") && err.contains("not UTF-8"),
        "{err}"
    );

    let fake = dir.path().join("agent.wasm");
    std::fs::write(&fake, "this is a text file\nwith lines\n").unwrap();
    let policy = write_policy(dir.path(), "p.toml", HOSTILE_POLICY);
    let out = nexus(
        dir.path(),
        &[
            "run",
            fake.to_str().unwrap(),
            "--policy",
            &policy,
            "--workspace",
            dir.path().join("ws").to_str().unwrap(),
            "--task",
            r#"{"kind":"echo"}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("not WebAssembly"), "{err}");
}

#[test]
fn a_denial_the_agent_passes_up_exits_3() {
    let dir = TempDir::new().unwrap();
    // The policy grants no [workspace]; the agent passes the denial up
    // with `?` instead of reporting it.
    let out = hostile_in(
        dir.path(),
        HOSTILE_POLICY,
        "ws",
        r#"{"kind":"read-or-fail","payload":{"path":"x.txt"}}"#,
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("denied"),
        "{}",
        text(&out.stderr)
    );
}

/// A host told to keep its messages on a NATS server it cannot reach stops
/// at once, naming the address and what to do, with the bad-input exit.
#[test]
fn an_unreachable_nats_server_is_named_with_a_fix() {
    let dir = TempDir::new().unwrap();
    // A port just closed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(["messages", "some-project"])
        .env("NEXUS_STATE_DIR", dir.path().join("state"))
        .env("NEXUS_NATS_URL", &url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("could not reach NATS at {url}")),
        "{err}"
    );
    assert!(err.contains("nats-server with -js"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
