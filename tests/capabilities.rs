//! Capabilities as granted by policies: each call checked against the grant,
//! the caller stamped by the host, the backends real (files, SQLite).

mod support;

use nexus::runtime::{LoadError, Runtime, RuntimeOptions};
use serde_json::json;
use support::{Fixture, HELLO, HOSTILE};

#[tokio::test]
async fn example_agent_writes_its_greeting() {
    let f = Fixture::new();
    f.load("hello", HELLO).await;
    let out = f
        .run("hello", "greet", json!({"name": "Ada"}))
        .await
        .unwrap();
    assert_eq!(out.artifacts, vec!["greetings/hello.txt"]);
    assert_eq!(
        std::fs::read_to_string(f.sandbox().join("greetings/hello.txt")).unwrap(),
        "Hello, Ada!\n"
    );
}

#[tokio::test]
async fn task_payload_that_does_not_fit_is_rejected_by_the_agent() {
    let f = Fixture::new();
    f.load("hello", HELLO).await;
    let err = f
        .run("hello", "greet", json!({"nom": "Ada"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rejected"), "{err}");
}

#[tokio::test]
async fn host_stamps_sender_project_and_tenant() {
    let f = Fixture::new();
    f.load(
        "hostile",
        &HOSTILE.replace(
            "request = [\"hello\"]",
            "request = [\"hello\", \"hostile\"]",
        ),
    )
    .await;
    let direct = f.run("hostile", "whoami", json!({})).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&direct.payload).unwrap();
    assert_eq!(
        (
            v["sender"].as_str(),
            v["project"].as_str(),
            v["tenant"].as_str()
        ),
        (Some("user"), Some("p1"), Some("t1"))
    );
    let via_bus = f
        .run(
            "hostile",
            "request",
            json!({"to": "hostile", "kind": "whoami"}),
        )
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&via_bus.payload).unwrap();
    assert_eq!(
        v["ok"]["sender"], "hostile",
        "the receiver sees the sender the host stamped"
    );
    assert_eq!(
        v["sender"], "hostile",
        "the reply names the agent that produced it"
    );
}

#[tokio::test]
async fn fan_out_returns_one_result_per_request_in_order() {
    let f = Fixture::new();
    f.load(
        "hostile",
        &HOSTILE.replace(
            "request = [\"hello\"]",
            "request = [\"hello\", \"hostile\"]",
        ),
    )
    .await;
    f.load("hello", HELLO).await;
    let out = f
        .run(
            "hostile",
            "fan-out",
            json!({"to": ["hostile", "backend", "hello", "hostile"]}),
        )
        .await
        .unwrap();
    let v: Vec<serde_json::Value> = serde_json::from_str(&out.payload).unwrap();
    assert_eq!(v.len(), 4);
    assert_eq!(v[0]["sender"], "hostile");
    assert_eq!(v[1]["error"]["kind"], "denied");
    assert!(
        v[2]["failed"].as_str().unwrap().contains("unsupported"),
        "{}",
        v[2]
    );
    assert_eq!(v[3]["sender"], "hostile");
}

#[tokio::test]
async fn request_to_a_missing_agent_is_not_found() {
    let f = Fixture::new();
    f.load("hostile", HOSTILE).await;
    let (kind, _) = f.refusal("request", json!({"to": "hello"})).await;
    assert_eq!(kind, "not-found");
}

#[tokio::test]
async fn requests_cannot_nest_without_bound() {
    let f = Fixture::new();
    let policy = HOSTILE
        .replace("request = [\"hello\"]", "request = [\"hostile\"]")
        .replace("wall_time = \"2s\"", "wall_time = \"20s\"")
        .replace("[limits]", "[limits]\nconcurrent_tasks = 16");
    f.load("hostile", &policy).await;
    // Each level asks itself again; the chain is cut at the host's depth limit.
    let mut payload = json!({"to": "hostile", "kind": "echo"});
    for _ in 0..12 {
        payload = json!({"to": "hostile", "kind": "request", "payload": payload});
    }
    let out = f.run("hostile", "request", payload).await.unwrap();
    assert!(out.payload.contains("quota-exceeded"), "{}", out.payload);
    assert!(
        out.payload.contains("nest deeper than 8"),
        "{}",
        out.payload
    );
}

#[tokio::test]
async fn memory_is_searchable_and_scoped_to_the_tenant() {
    let f = Fixture::new();
    let policy = format!("{HOSTILE}\n[memory]\nrecall = true\nremember = true\n");
    f.load("hostile", &policy).await;
    f.run(
        "hostile",
        "remember",
        json!({"key": "fastapi-auth", "text": "JWT auth with hashed passwords for FastAPI"}),
    )
    .await
    .unwrap();
    let out = f
        .run("hostile", "recall", json!({"query": "passwords"}))
        .await
        .unwrap();
    assert!(out.payload.contains("fastapi-auth"), "{}", out.payload);
    // FTS5 syntax in a query is only words to the host.
    let out = f
        .run(
            "hostile",
            "recall",
            json!({"query": "\"unbalanced AND ( NEAR"}),
        )
        .await
        .unwrap();
    assert!(out.payload.contains("ok"), "{}", out.payload);

    let other = nexus::project::Project::open(
        support::runtime(),
        "p2",
        "another-tenant",
        &f.dir.path().join("p2"),
    )
    .unwrap();
    other.add_agent(f.project.agent("hostile").unwrap());
    let out = other
        .run("hostile", "recall", r#"{"query": "passwords"}"#)
        .await
        .unwrap();
    assert!(
        !out.payload.contains("fastapi-auth"),
        "another tenant must not see it: {}",
        out.payload
    );
}

#[tokio::test]
async fn capabilities_without_a_section_are_denied() {
    let f = Fixture::new();
    f.load("hostile", HOSTILE).await;
    for (kind, payload, grant) in [
        ("remember", json!({"key": "k", "text": "t"}), "[memory]"),
        ("recall", json!({"query": "t"}), "[memory]"),
        ("metrics", json!({}), "[metrics]"),
        ("log", json!({"text": "hello"}), "[log]"),
    ] {
        let (got, reason) = f.refusal(kind, payload).await;
        assert_eq!(got, "denied", "{kind}");
        assert!(reason.contains(grant), "{kind}: {reason}");
    }
}

#[tokio::test]
async fn metrics_sample_reports_the_machine_when_granted() {
    let f = Fixture::new();
    f.load("hostile", &format!("{HOSTILE}\n[metrics]\nsample = true\n"))
        .await;
    let out = f.run("hostile", "metrics", json!({})).await.unwrap();
    assert!(out.payload.contains("ok: true"), "{}", out.payload);
}

#[tokio::test]
async fn llm_without_a_backend_is_unavailable() {
    let f = Fixture::new();
    f.load("hostile", HOSTILE).await;
    let (kind, reason) = f
        .refusal("llm", json!({"role": "backend", "max_tokens": 100}))
        .await;
    assert_eq!(kind, "unavailable");
    assert!(reason.contains("built-in"), "{reason}");
}

#[tokio::test]
async fn llm_call_over_the_token_budget_is_refused_before_sending() {
    let f = Fixture::new();
    f.load("hostile", HOSTILE).await;
    let (kind, reason) = f
        .refusal("llm", json!({"role": "backend", "max_tokens": 5000}))
        .await;
    assert_eq!(kind, "quota-exceeded");
    assert!(reason.contains("4096"), "{reason}");
}

#[tokio::test]
async fn second_start_loads_the_compiled_component_from_the_cache() {
    let dir = tempfile::TempDir::new().unwrap();
    let options = RuntimeOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        database: None,
        ..Default::default()
    };
    let bytes = support::component("hello");
    let first = Runtime::new(options.clone()).unwrap();
    let a = first
        .load_agent(&bytes, support::policy(HELLO))
        .await
        .unwrap();
    assert!(!a.from_cache);
    let second = Runtime::new(options).unwrap();
    let b = second
        .load_agent(&bytes, support::policy(HELLO))
        .await
        .unwrap();
    assert!(b.from_cache, "the second start must not recompile");
    // A corrupt cache entry is discarded and recompiled, not trusted.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let third = Runtime::new(RuntimeOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        database: None,
        ..Default::default()
    })
    .unwrap();
    let c = third
        .load_agent(&bytes, support::policy(HELLO))
        .await
        .unwrap();
    assert!(!c.from_cache);
}

#[tokio::test]
async fn component_that_names_another_agent_is_refused() {
    let err = support::runtime()
        .load_agent(
            &support::component("hello"),
            support::policy("agent = \"backend\"\n"),
        )
        .await
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::IdMismatch { .. }), "{err}");
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused() {
    let err = support::runtime()
        .load_agent(b"\0asm not really", support::policy(HELLO))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::Compile(_)), "{err}");
}

#[tokio::test]
async fn workspace_lists_only_readable_files() {
    let f = Fixture::new();
    f.load(
        "hostile",
        &HOSTILE.replace("read = [\"**\"]", "read = [\"src/**\"]"),
    )
    .await;
    std::fs::create_dir_all(f.sandbox().join("src")).unwrap();
    std::fs::write(f.sandbox().join("src/a.py"), "x").unwrap();
    std::fs::write(f.sandbox().join("private.txt"), "x").unwrap();
    let out = f.run("hostile", "list", json!({"path": ""})).await.unwrap();
    assert!(
        out.payload.contains("ok: 2"),
        "src/ and src/a.py only: {}",
        out.payload
    );
    let (kind, _) = f.refusal("read", json!({"path": "private.txt"})).await;
    assert_eq!(kind, "denied");
}
