//! Hostile agents: each test makes the `hostile` test agent (built from
//! `tests/agents/hostile`) try one escape or one exhaustion, asserts the exact
//! refusal, and then asserts the host still runs a normal task.

mod support;

use nexus::runtime::LoadError;
use nexus::task::{Limit, TaskFailure};
use serde_json::json;
use support::{Fixture, HELLO, HOSTILE};

async fn hostile() -> Fixture {
    let f = Fixture::new();
    f.load("hostile", HOSTILE).await;
    f
}

fn assert_secret_untouched(f: &Fixture) {
    assert_eq!(
        std::fs::read_to_string(f.outside().join("secret.txt")).unwrap(),
        "top secret"
    );
    let names: Vec<_> = std::fs::read_dir(f.outside())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec!["secret.txt"],
        "nothing new appears outside the sandbox"
    );
}

fn expect_limit(r: Result<impl std::fmt::Debug, TaskFailure>, limit: Limit) {
    match r {
        Err(TaskFailure::Limit { limit: got, .. }) if got == limit => {}
        other => panic!("expected the {limit}, got {other:?}"),
    }
}

#[tokio::test]
async fn path_traversal_is_denied() {
    let f = hostile().await;
    let (kind, reason) = f
        .refusal("read", json!({"path": "../outside/secret.txt"}))
        .await;
    assert_eq!(kind, "denied");
    assert!(reason.contains("`..`"), "{reason}");
    let (kind, _) = f
        .refusal(
            "write",
            json!({"path": "a/../../outside/pwned.txt", "text": "x"}),
        )
        .await;
    assert_eq!(kind, "denied");
    assert_secret_untouched(&f);
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn absolute_path_is_denied() {
    let f = hostile().await;
    let secret = f.outside().join("secret.txt");
    let (kind, reason) = f
        .refusal("read", json!({"path": secret.to_str().unwrap()}))
        .await;
    assert_eq!(kind, "denied");
    assert!(reason.contains("absolute"), "{reason}");
    let (kind, _) = f
        .refusal("write", json!({"path": "/tmp/pwned.txt", "text": "x"}))
        .await;
    assert_eq!(kind, "denied");
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn preplanted_symlink_pointing_outside_is_denied() {
    let f = hostile().await;
    std::os::unix::fs::symlink(f.outside(), f.sandbox().join("link")).unwrap();
    std::os::unix::fs::symlink(f.outside().join("secret.txt"), f.sandbox().join("leak.txt"))
        .unwrap();
    for (kind, payload) in [
        ("read", json!({"path": "link/secret.txt"})),
        ("read", json!({"path": "leak.txt"})),
        ("write", json!({"path": "link/pwned.txt", "text": "x"})),
        ("write", json!({"path": "leak.txt", "text": "overwritten"})),
    ] {
        let (got, reason) = f.refusal(kind, payload).await;
        assert_eq!(got, "denied", "{kind}");
        assert!(reason.contains("symbolic link"), "{reason}");
    }
    assert_secret_untouched(&f);
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn symlink_with_trailing_slash_is_denied() {
    let f = hostile().await;
    std::os::unix::fs::symlink(f.outside(), f.sandbox().join("link")).unwrap();
    let (kind, reason) = f.refusal("list", json!({"path": "link/"})).await;
    assert_eq!(kind, "denied");
    assert!(reason.contains("symbolic link"), "{reason}");
    let (kind, _) = f.refusal("exists", json!({"path": "link/"})).await;
    assert_eq!(kind, "denied");
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn hard_link_to_outside_file_is_denied_and_writes_do_not_reach_it() {
    let f = hostile().await;
    std::fs::create_dir_all(f.sandbox()).unwrap();
    std::fs::hard_link(f.outside().join("secret.txt"), f.sandbox().join("hard.txt")).unwrap();
    let (kind, reason) = f.refusal("read", json!({"path": "hard.txt"})).await;
    assert_eq!(kind, "denied");
    assert!(reason.contains("hard links"), "{reason}");
    // A write replaces the sandbox's directory entry; the outside file keeps
    // its content.
    let out = f
        .run(
            "hostile",
            "write",
            json!({"path": "hard.txt", "text": "replaced"}),
        )
        .await
        .unwrap();
    assert!(out.payload.contains("ok"), "{}", out.payload);
    assert_eq!(
        std::fs::read_to_string(f.sandbox().join("hard.txt")).unwrap(),
        "replaced"
    );
    assert_secret_untouched(&f);
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn nul_in_path_is_denied() {
    let f = hostile().await;
    let (kind, reason) = f
        .refusal("write", json!({"path": "ok.txt\u{0}../../x", "text": "x"}))
        .await;
    assert_eq!(kind, "denied");
    assert!(reason.contains("NUL"), "{reason}");
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn four_kib_path_is_denied() {
    let f = hostile().await;
    let long = "a/".repeat(2048);
    assert_eq!(long.len(), 4096);
    let (kind, reason) = f.refusal("write", json!({"path": long, "text": "x"})).await;
    assert_eq!(kind, "denied");
    assert!(reason.contains("the limit is 1024"), "{reason}");
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn byte_quota_is_enforced_before_the_write() {
    let f = hostile().await;
    // 100 KiB files against a 256 KiB project quota: the third is refused.
    let (kind, reason) = f
        .refusal(
            "write-many",
            json!({"dir": "q", "count": 3, "size": 100 * 1024}),
        )
        .await;
    assert_eq!(kind, "quota-exceeded");
    assert!(reason.contains("the limit is 256"), "{reason}");
    let mut names: Vec<_> = std::fs::read_dir(f.sandbox().join("q"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["0.txt", "1.txt"],
        "nothing of the refused write (no temp file) is left"
    );
    let usage = f.project.usage();
    assert_eq!((usage.bytes, usage.files), (200 * 1024, 2));
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn single_file_size_quota_is_enforced() {
    let f = hostile().await;
    let (kind, reason) = f.refusal("big-arg", json!({"bytes": 200 * 1024})).await;
    assert_eq!(kind, "quota-exceeded");
    assert!(reason.contains("file size limit"), "{reason}");
    assert!(!f.sandbox().join("big.bin").exists());
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn file_count_quota_is_enforced() {
    let f = hostile().await;
    let (kind, reason) = f
        .refusal("write-many", json!({"dir": "n", "count": 20, "size": 10}))
        .await;
    assert_eq!(kind, "quota-exceeded");
    assert!(reason.contains("the limit is 8"), "{reason}");
    assert_eq!(std::fs::read_dir(f.sandbox().join("n")).unwrap().count(), 8);
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn write_outside_the_write_globs_is_denied() {
    let f = Fixture::new();
    f.load(
        "hostile",
        &HOSTILE.replace("write = [\"**\"]", "write = [\"allowed/**\"]"),
    )
    .await;
    let (kind, reason) = f
        .refusal("write", json!({"path": "other/x.txt", "text": "x"}))
        .await;
    assert_eq!(kind, "denied");
    assert!(reason.contains("workspace.write"), "{reason}");
    assert!(!f.sandbox().join("other").exists());
    let ok = f
        .run(
            "hostile",
            "write",
            json!({"path": "allowed/x.txt", "text": "x"}),
        )
        .await
        .unwrap();
    assert!(ok.payload.contains("ok"));
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn infinite_loop_ends_at_the_cpu_deadline() {
    let f = hostile().await;
    expect_limit(f.run("hostile", "spin", json!({})).await, Limit::CpuTime);
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn sleeping_forever_in_a_host_call_ends_at_the_wall_deadline() {
    let f = hostile().await;
    expect_limit(f.run("hostile", "sleep", json!({})).await, Limit::WallTime);
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn memory_bomb_ends_at_the_memory_limit() {
    let f = hostile().await;
    expect_limit(
        f.run("hostile", "memory-bomb", json!({})).await,
        Limit::Memory,
    );
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn deep_recursion_ends_at_the_stack_limit() {
    let f = hostile().await;
    expect_limit(f.run("hostile", "recurse", json!({})).await, Limit::Stack);
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn hundred_mib_host_call_argument_is_refused() {
    let f = Fixture::new();
    f.load(
        "hostile",
        &HOSTILE.replace("memory = \"32MiB\"", "memory = \"256MiB\""),
    )
    .await;
    expect_limit(
        f.run("hostile", "big-arg", json!({"bytes": 100 << 20}))
            .await,
        Limit::HostcallBytes,
    );
    assert!(!f.sandbox().join("big.bin").exists());
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn bus_request_to_an_agent_not_granted_is_denied() {
    let f = hostile().await;
    f.load("hello", HELLO).await;
    let (kind, reason) = f.refusal("request", json!({"to": "backend"})).await;
    assert_eq!(kind, "denied");
    assert!(
        reason.contains("bus.request does not include `backend`"),
        "{reason}"
    );
    // The granted peer is reachable.
    let ok = f
        .run("hostile", "request", json!({"to": "hello"}))
        .await
        .unwrap();
    assert!(ok.payload.contains("ok"), "{}", ok.payload);
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn llm_role_not_granted_is_denied() {
    let f = hostile().await;
    let (kind, reason) = f.refusal("llm", json!({"role": "security"})).await;
    assert_eq!(kind, "denied");
    assert!(reason.contains("does not include `security`"), "{reason}");
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn guest_panic_is_a_trap_and_the_host_keeps_serving() {
    let f = hostile().await;
    match f.run("hostile", "panic", json!({})).await {
        Err(TaskFailure::Trap { agent, .. }) => assert_eq!(agent, "hostile"),
        other => panic!("expected a trap, got {other:?}"),
    }
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn policy_whose_sha256_does_not_match_refuses_to_run() {
    let f = Fixture::new();
    let pinned = format!("sha256 = \"{}\"\n{HOSTILE}", "0".repeat(64));
    let err = support::runtime()
        .load_agent(&support::component("hostile"), support::policy(&pinned))
        .await
        .err()
        .expect("a mismatched pin must refuse the component");
    assert!(matches!(err, LoadError::HashMismatch { .. }), "{err}");
    assert!(f.project.agent("hostile").is_none());
    // The right pin loads and runs.
    let sha = nexus::runtime::sha256_hex(&support::component("hostile"));
    f.load("hostile", &format!("sha256 = \"{sha}\"\n{HOSTILE}"))
        .await;
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn a_refused_memory_grow_then_a_spin_is_named_as_the_cpu_limit() {
    let f = hostile().await;
    // The guest survives the refused grow (try_reserve), so what ends the
    // task is the CPU deadline, and that is the limit named.
    expect_limit(
        f.run("hostile", "hoard-then-spin", json!({})).await,
        Limit::CpuTime,
    );
    f.still_serves("hostile").await;
}

/// A tenant's knowledge base is bounded in entries and bytes: a flood of
/// `remember`s gets `quota-exceeded` and the database stops growing, while
/// another tenant still remembers.
#[tokio::test]
async fn a_memory_flood_is_refused_at_the_tenant_bound() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("nexus.db");
    let rt = nexus::runtime::Runtime::new(nexus::runtime::RuntimeOptions {
        cache_dir: Some(std::env::temp_dir().join("nexus-test-component-cache")),
        database: Some(db.clone()),
        memory: nexus::config::MemoryConfig {
            max_entries: 1000,
            max_bytes: 1 << 20,
        },
        ..Default::default()
    })
    .unwrap();
    let policy =
        format!("{HOSTILE}[memory]\nrecall = true\nremember = true\nmax_entry = \"64KiB\"\n");
    let project = |tenant: &str| {
        nexus::project::Project::open(rt.clone(), tenant, tenant, &dir.path().join(tenant)).unwrap()
    };
    let (a, b) = (project("a"), project("b"));
    for p in [&a, &b] {
        let agent = rt
            .load_agent(&support::component("hostile"), support::policy(&policy))
            .await
            .unwrap();
        p.add_agent(agent);
    }
    let flood = a
        .run(
            "hostile",
            "remember-many",
            &json!({"count": 3000, "size": 60 * 1024}).to_string(),
        )
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&flood.payload).unwrap();
    assert_eq!(v["error"]["kind"], "quota-exceeded", "{v}");
    assert!(
        v["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("it holds at most 1000 entries"),
        "{v}"
    );
    // 1 MiB of 60 KiB entries is 17 of them.
    let kept: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM memory WHERE tenant = 'a'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(kept, 17);
    let other = b
        .run(
            "hostile",
            "remember-many",
            &json!({"count": 3, "size": 100}).to_string(),
        )
        .await
        .unwrap();
    assert!(other.payload.contains("ok: 3"), "{}", other.payload);
}

#[tokio::test]
async fn sparse_64_gib_file_is_refused_before_anything_is_read() {
    let f = hostile().await;
    let big = std::fs::File::create(f.sandbox().join("huge.bin")).unwrap();
    big.set_len(64 << 30).unwrap();
    let (kind, reason) = f.refusal("read", json!({"path": "huge.bin"})).await;
    assert_eq!(kind, "quota-exceeded");
    assert!(reason.contains("64.0 GiB"), "{reason}");
    assert!(reason.contains("read_max"), "{reason}");
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim();
    eprintln!("peak resident set of the test process: {peak}");
    let kib: u64 = peak.trim_end_matches("kB").trim().parse().unwrap();
    assert!(kib < 1 << 20, "the host held {peak} at its peak");
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn files_four_hundred_levels_deep_are_refused_by_depth() {
    let f = Fixture::new();
    f.load(
        "hostile",
        &HOSTILE.replace("max_files = 8", "max_files = 100"),
    )
    .await;
    let deep = vec!["a"; 400].join("/");
    let (kind, reason) = f
        .refusal("write-many", json!({"dir": deep, "count": 60, "size": 10}))
        .await;
    assert_eq!(kind, "denied");
    assert!(reason.contains("max_depth"), "{reason}");
    assert!(!f.sandbox().join("a").exists(), "no directory was made");
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn nested_directories_count_against_the_directory_quota() {
    // max_files = 8, so max_dirs is 8 too.
    let f = hostile().await;
    let path = (0..20)
        .map(|i| format!("d{i}"))
        .collect::<Vec<_>>()
        .join("/")
        + "/x.txt";
    let (kind, reason) = f.refusal("write", json!({"path": path, "text": "x"})).await;
    assert_eq!(kind, "quota-exceeded");
    assert!(reason.contains("directories"), "{reason}");
    assert!(reason.contains("the limit is 8"), "{reason}");
    assert!(
        !f.sandbox().join("d0").exists(),
        "the directories made before the refusal are gone"
    );
    assert_eq!(f.project.usage().dirs, 0);
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn max_dirs_limits_the_directories_of_the_project() {
    let f = Fixture::new();
    f.load(
        "hostile",
        &HOSTILE.replace("max_files = 8", "max_files = 8\nmax_dirs = 3"),
    )
    .await;
    for dir in ["a", "b", "c"] {
        let out = f
            .run(
                "hostile",
                "write",
                json!({"path": format!("{dir}/x.txt"), "text": "x"}),
            )
            .await
            .unwrap();
        assert!(out.payload.contains("ok"), "{}", out.payload);
    }
    assert_eq!(f.project.usage().dirs, 3);
    let (kind, reason) = f
        .refusal("write", json!({"path": "d/x.txt", "text": "x"}))
        .await;
    assert_eq!(kind, "quota-exceeded");
    assert!(reason.contains("4 directories; the limit is 3"), "{reason}");
    assert!(!f.sandbox().join("d").exists());
    // A remove gives the directory back.
    f.run("hostile", "remove", json!({"path": "a/x.txt"}))
        .await
        .unwrap();
    assert_eq!(f.project.usage().dirs, 2);
    let out = f
        .run("hostile", "write", json!({"path": "d/x.txt", "text": "x"}))
        .await
        .unwrap();
    assert!(out.payload.contains("ok"), "{}", out.payload);
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn read_max_bounds_what_a_read_returns() {
    let f = Fixture::new();
    f.load(
        "hostile",
        &HOSTILE.replace("max_files = 8", "max_files = 8\nread_max = \"4KiB\""),
    )
    .await;
    std::fs::write(f.sandbox().join("fits.txt"), "x".repeat(4096)).unwrap();
    std::fs::write(f.sandbox().join("over.txt"), "x".repeat(4097)).unwrap();
    let out = f
        .run("hostile", "read", json!({"path": "fits.txt"}))
        .await
        .unwrap();
    assert!(out.payload.starts_with("\"ok: "), "{}", out.payload);
    let (kind, reason) = f.refusal("read", json!({"path": "over.txt"})).await;
    assert_eq!(kind, "quota-exceeded");
    assert!(reason.contains("`over.txt` is 4.0 KiB"), "{reason}");
    assert!(reason.contains("read_max"), "{reason}");
    f.still_serves("hostile").await;
}

#[tokio::test]
async fn removing_files_leaves_no_empty_directories() {
    let f = hostile().await;
    for path in ["a/b/c/x.txt", "a/y.txt"] {
        let out = f
            .run("hostile", "write", json!({"path": path, "text": "x"}))
            .await
            .unwrap();
        assert!(out.payload.contains("ok"), "{}", out.payload);
    }
    let out = f
        .run("hostile", "remove", json!({"path": "a/b/c/x.txt"}))
        .await
        .unwrap();
    assert!(out.payload.contains("ok"), "{}", out.payload);
    assert!(
        !f.sandbox().join("a/b").exists(),
        "a/b/c and a/b are pruned"
    );
    assert!(
        f.sandbox().join("a/y.txt").exists(),
        "a/ still holds a file"
    );
    assert_eq!(f.project.usage().dirs, 1);
    f.run("hostile", "remove", json!({"path": "a/y.txt"}))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_dir(f.sandbox()).unwrap().count(),
        0,
        "the project is empty again"
    );
    assert_eq!(f.project.usage(), nexus::workspace::Usage::default());
    f.still_serves("hostile").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_halted_project_drops_its_running_task_and_answers_who_waits() {
    let f = Fixture::new();
    f.load(
        "hostile",
        &HOSTILE.replace("wall_time = \"2s\"", "wall_time = \"60s\""),
    )
    .await;
    let project = f.project.clone();
    let waiting = tokio::spawn(async move { project.run("hostile", "sleep", "{}").await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    f.project.halt();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("the waiter was answered")
        .unwrap();
    assert!(
        matches!(
            answer,
            Err(TaskFailure::Refused(nexus::bindings::Error::Unavailable(_)))
        ),
        "{answer:?}"
    );
}
