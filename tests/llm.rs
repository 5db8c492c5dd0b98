//! The `llm` capability against a real HTTP server on loopback that speaks
//! Ollama's and the OpenAI-compatible wire formats (tests/support/llm_server.rs).

mod support;

use nexus::config::{BackendConfig, BackendKind, LlmConfig};
use nexus::project::Project;
use nexus::runtime::{Runtime, RuntimeOptions};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::llm_server::{Behavior, LLAMA_CPP_TOKENS_PER_SECOND, LlmServer};

const KINDS: [BackendKind; 2] = [BackendKind::Ollama, BackendKind::OpenAi];

fn config(kind: BackendKind, url: String) -> LlmConfig {
    LlmConfig {
        backend: Some(BackendConfig {
            kind,
            base_url: url,
            api_key: Some("sk-fixture".into()),
            keep_alive: Some("5m".into()),
            num_ctx: Some(4096),
        }),
        models: [("backend", "good"), ("qa", "missing")]
            .into_iter()
            .map(|(r, m)| (r.to_string(), m.to_string()))
            .collect(),
        fallbacks: vec!["fallback".into()],
        timeout: Duration::from_secs(5),
        retries: 2,
        backoff: Duration::from_millis(5),
        circuit_failures: 100,
        ..LlmConfig::default()
    }
}

fn url(server: &LlmServer, kind: BackendKind) -> String {
    match kind {
        BackendKind::Ollama => server.ollama_url(),
        BackendKind::OpenAi => server.openai_url(),
    }
}

const POLICY: &str = r#"
agent = "hostile"
[limits]
wall_time = "20s"
[llm]
roles = ["backend", "qa"]
tokens_per_task = 20000
"#;

struct Setup {
    rt: Arc<Runtime>,
    project: Arc<Project>,
    _dir: tempfile::TempDir,
}

async fn setup(llm: LlmConfig, policy: &str) -> Setup {
    let dir = tempfile::TempDir::new().unwrap();
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: Some(std::env::temp_dir().join("nexus-test-component-cache")),
        database: None,
        llm,
        ..Default::default()
    })
    .unwrap();
    let agent = rt
        .load_agent(&support::component("hostile"), support::policy(policy))
        .await
        .unwrap();
    let project = Project::open(rt.clone(), "llm-project", "t1", &dir.path().join("p")).unwrap();
    project.add_agent(agent);
    Setup {
        rt,
        project,
        _dir: dir,
    }
}

/// Runs the hostile agent's `llm` task; returns its JSON outcome.
async fn ask(s: &Setup, payload: Value) -> Value {
    let out = s
        .project
        .run("hostile", "llm", &payload.to_string())
        .await
        .unwrap();
    serde_json::from_str(&out.payload).unwrap()
}

fn person_schema() -> Value {
    json!({
        "type": "object",
        "required": ["name", "age"],
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "additionalProperties": false
    })
}

#[tokio::test]
async fn schema_chat_returns_validated_json_through_both_backends() {
    for kind in KINDS {
        let server = LlmServer::start().await;
        server.script(
            "good",
            Behavior::Reply(vec![r#"{"name": "Ada", "age": 36}"#.into()]),
        );
        let s = setup(config(kind, url(&server, kind)), POLICY).await;
        let v = ask(
            &s,
            json!({"role": "backend", "schema": person_schema(), "max_tokens": 256, "seed": 7}),
        )
        .await;
        assert_eq!(v["ok"], true, "{kind:?}: {v}");
        let person: Value = serde_json::from_str(v["content"].as_str().unwrap()).unwrap();
        assert_eq!(person, json!({"name": "Ada", "age": 36}), "{kind:?}");
        assert_eq!(v["model"], "good");
        assert!(
            v["completion_tokens"].as_u64().unwrap() > 1,
            "{kind:?}: usage is reported: {v}"
        );
        assert!(v["prompt_tokens"].as_u64().unwrap() > 0, "{kind:?}: {v}");

        let sent = &server.chat_requests("good")[0];
        assert_eq!(sent.body["stream"], true);
        match kind {
            BackendKind::Ollama => {
                assert_eq!(sent.path, "/api/chat");
                assert_eq!(sent.body["format"], person_schema());
                assert_eq!(sent.body["options"]["num_predict"], 256);
                assert_eq!(sent.body["options"]["seed"], 7);
                assert_eq!(sent.body["options"]["num_ctx"], 4096);
                assert_eq!(sent.body["keep_alive"], "5m");
                assert_eq!(sent.body["messages"][0]["role"], "system");
            }
            BackendKind::OpenAi => {
                assert_eq!(sent.path, "/v1/chat/completions");
                assert_eq!(sent.body["response_format"]["type"], "json_schema");
                assert_eq!(
                    sent.body["response_format"]["json_schema"]["schema"],
                    person_schema()
                );
                assert_eq!(sent.body["max_tokens"], 256);
                assert_eq!(sent.body["seed"], 7);
                assert_eq!(sent.authorization.as_deref(), Some("Bearer sk-fixture"));
            }
        }
    }
}

#[tokio::test]
async fn streamed_reply_is_assembled_from_its_pieces() {
    for kind in KINDS {
        let server = LlmServer::start().await;
        let text = "A reply long enough to arrive in many streamed pieces, one after another.";
        server.script("good", Behavior::Reply(vec![text.into()]));
        let s = setup(config(kind, url(&server, kind)), POLICY).await;
        let v = ask(&s, json!({"role": "backend", "prompt": "say something"})).await;
        assert_eq!(v["content"], text, "{kind:?}");
        assert_eq!(v["truncated"], false);
    }
}

#[tokio::test]
async fn error_in_the_middle_of_a_200_stream_is_retried_then_typed() {
    for kind in KINDS {
        let server = LlmServer::start().await;
        server.script(
            "good",
            Behavior::MidStreamError("this never finishes".into()),
        );
        let s = setup(config(kind, url(&server, kind)), POLICY).await;
        let v = ask(&s, json!({"role": "backend"})).await;
        assert_eq!(v["error"]["kind"], "unavailable", "{kind:?}: {v}");
        assert!(
            v["error"]["reason"]
                .as_str()
                .unwrap()
                .contains("stream failed"),
            "{kind:?}: {v}"
        );
        assert_eq!(
            server.chat_requests("good").len(),
            3,
            "{kind:?}: first try and two retries"
        );
    }
}

#[tokio::test]
async fn model_not_found_moves_down_the_fallback_chain() {
    for kind in KINDS {
        let server = LlmServer::start().await;
        server.script("missing", Behavior::NotFound);
        server.script(
            "fallback",
            Behavior::Reply(vec!["from the fallback".into()]),
        );
        let s = setup(config(kind, url(&server, kind)), POLICY).await;
        let v = ask(&s, json!({"role": "qa"})).await;
        assert_eq!(v["model"], "fallback", "{kind:?}: {v}");
        assert_eq!(v["content"], "from the fallback");
        assert_eq!(
            server.chat_requests("missing").len(),
            1,
            "not found is not retried"
        );
    }
}

#[tokio::test]
async fn no_model_of_the_chain_available_is_not_found() {
    let server = LlmServer::start().await;
    server.script("missing", Behavior::NotFound);
    server.script("fallback", Behavior::NotFound);
    let s = setup(config(BackendKind::Ollama, server.ollama_url()), POLICY).await;
    let v = ask(&s, json!({"role": "qa"})).await;
    assert_eq!(v["error"]["kind"], "not-found", "{v}");
}

#[tokio::test]
async fn loading_503_is_retried_until_the_model_is_ready() {
    for kind in KINDS {
        let server = LlmServer::start().await;
        server.script("good", Behavior::LoadingThen(2, "ready now".into()));
        let s = setup(config(kind, url(&server, kind)), POLICY).await;
        let v = ask(&s, json!({"role": "backend"})).await;
        assert_eq!(v["content"], "ready now", "{kind:?}: {v}");
        assert_eq!(server.chat_requests("good").len(), 3, "{kind:?}");
    }
}

#[tokio::test]
async fn rate_limit_429_is_retried() {
    for kind in KINDS {
        let server = LlmServer::start().await;
        server.script(
            "good",
            Behavior::RateLimitedThen(1, "after the pause".into()),
        );
        let s = setup(config(kind, url(&server, kind)), POLICY).await;
        let v = ask(&s, json!({"role": "backend"})).await;
        assert_eq!(v["content"], "after the pause", "{kind:?}: {v}");
        assert_eq!(server.chat_requests("good").len(), 2);
    }
}

#[tokio::test]
async fn slow_reply_ends_in_a_timeout() {
    for kind in KINDS {
        let server = LlmServer::start().await;
        server.script(
            "good",
            Behavior::Slow(Duration::from_secs(5), "too late".into()),
        );
        let mut c = config(kind, url(&server, kind));
        c.timeout = Duration::from_millis(300);
        c.retries = 0;
        let s = setup(c, POLICY).await;
        let v = ask(&s, json!({"role": "backend"})).await;
        assert_eq!(v["error"]["kind"], "timeout", "{kind:?}: {v}");
    }
}

#[tokio::test]
async fn malformed_json_is_retried_once_with_the_validation_error() {
    for kind in KINDS {
        let server = LlmServer::start().await;
        server.script(
            "good",
            Behavior::Reply(vec![
                "Sure! Here it is: {name: Ada}".into(),
                "```json\n{\"name\": \"Ada\", \"age\": 36}\n```".into(),
            ]),
        );
        let s = setup(config(kind, url(&server, kind)), POLICY).await;
        let v = ask(&s, json!({"role": "backend", "schema": person_schema()})).await;
        assert_eq!(v["ok"], true, "{kind:?}: {v}");
        assert_eq!(
            serde_json::from_str::<Value>(v["content"].as_str().unwrap()).unwrap()["age"],
            36
        );
        let sent = server.chat_requests("good");
        assert_eq!(sent.len(), 2);
        let last = sent[1].body["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert!(
            last["content"].as_str().unwrap().contains("not valid"),
            "{last}"
        );
    }
}

#[tokio::test]
async fn json_that_never_matches_the_schema_is_a_typed_error() {
    for kind in KINDS {
        let server = LlmServer::start().await;
        server.script(
            "good",
            Behavior::Reply(vec![r#"{"name": "Ada", "age": -1}"#.into()]),
        );
        let s = setup(config(kind, url(&server, kind)), POLICY).await;
        let v = ask(&s, json!({"role": "backend", "schema": person_schema()})).await;
        assert_eq!(v["error"]["kind"], "invalid", "{kind:?}: {v}");
        assert!(
            v["error"]["reason"]
                .as_str()
                .unwrap()
                .contains("after one retry"),
            "{v}"
        );
        assert_eq!(server.chat_requests("good").len(), 2);
    }
}

/// Tokens the model used count against the task's budget even when the
/// call fails afterwards: replies that never match the schema cannot be
/// asked for again and again for free.
#[tokio::test]
async fn tokens_spent_on_a_failed_call_are_charged_to_the_task() {
    let server = LlmServer::start().await;
    // Each reply is long: the server counts one completion token a chunk.
    let never_valid = format!(
        r#"{{"name": "Ada", "age": -1, "pad": "{}"}}"#,
        "x ".repeat(400)
    );
    server.script("good", Behavior::Reply(vec![never_valid]));
    let s = setup(
        config(BackendKind::Ollama, server.ollama_url()),
        &POLICY.replace("20000", "2000"),
    )
    .await;
    let v = ask(
        &s,
        json!({"role": "backend", "schema": person_schema(), "max_tokens": 200, "times": 5}),
    )
    .await;
    assert_eq!(v["error"]["kind"], "quota-exceeded", "{v}");
    // Each failed call cost two model replies; the budget ran out before
    // the fifth call could be sent.
    let sent = server.chat_requests("good").len();
    assert!(sent < 10, "{sent} requests reached the model");
}

#[tokio::test]
async fn call_over_the_token_budget_is_refused_before_it_is_sent() {
    let server = LlmServer::start().await;
    server.script("good", Behavior::Reply(vec!["never".into()]));
    let s = setup(
        config(BackendKind::Ollama, server.ollama_url()),
        &POLICY.replace("20000", "1000"),
    )
    .await;
    let v = ask(&s, json!({"role": "backend", "max_tokens": 5000})).await;
    assert_eq!(v["error"]["kind"], "quota-exceeded", "{v}");
    assert!(server.chat_requests("good").is_empty(), "nothing was sent");
}

#[tokio::test]
async fn deterministic_calls_are_answered_from_the_cache() {
    for kind in KINDS {
        let server = LlmServer::start().await;
        server.script("good", Behavior::Reply(vec!["the same answer".into()]));
        let s = setup(config(kind, url(&server, kind)), POLICY).await;
        let first = ask(&s, json!({"role": "backend", "temperature": 0.0})).await;
        let second = ask(&s, json!({"role": "backend", "temperature": 0.0})).await;
        assert_eq!(
            (first["cached"].clone(), second["cached"].clone()),
            (json!(false), json!(true)),
            "{kind:?}"
        );
        assert_eq!(second["content"], "the same answer");
        assert_eq!(
            server.chat_requests("good").len(),
            1,
            "{kind:?}: the second call never reached the server"
        );
        // A sampled call is never cached.
        ask(&s, json!({"role": "backend", "temperature": 0.7})).await;
        assert_eq!(server.chat_requests("good").len(), 2);
        let usage = s.rt.services().llm.usage("llm-project").unwrap();
        assert_eq!(usage.len(), 1);
        assert_eq!((usage[0].calls, usage[0].cached), (3, 1), "{usage:?}");
        assert_eq!(
            (
                usage[0].agent.as_str(),
                usage[0].role.as_str(),
                usage[0].model.as_str()
            ),
            ("hostile", "backend", "good")
        );
    }
}

#[tokio::test]
async fn a_dead_backend_opens_the_circuit() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = config(BackendKind::Ollama, format!("http://127.0.0.1:{port}"));
    c.retries = 0;
    c.circuit_failures = 2;
    c.circuit_cooldown = Duration::from_secs(60);
    let s = setup(c, POLICY).await;
    for _ in 0..2 {
        let v = ask(&s, json!({"role": "backend"})).await;
        assert_eq!(v["error"]["kind"], "unavailable", "{v}");
        assert!(
            v["error"]["reason"]
                .as_str()
                .unwrap()
                .contains("cannot connect"),
            "{v}"
        );
    }
    let v = ask(&s, json!({"role": "backend"})).await;
    assert_eq!(v["error"]["kind"], "unavailable");
    let reason = v["error"]["reason"].as_str().unwrap();
    assert!(reason.contains("not called again"), "{v}");
    // The open circuit names what failed.
    assert!(
        reason.contains("circuit open after 2 failures") && reason.contains("cannot connect"),
        "{v}"
    );
}

#[tokio::test]
async fn truncation_at_the_token_limit_is_reported() {
    for kind in KINDS {
        let server = LlmServer::start().await;
        server.script("good", Behavior::Length("cut off mid-sent".into()));
        let s = setup(config(kind, url(&server, kind)), POLICY).await;
        let v = ask(&s, json!({"role": "backend", "max_tokens": 3})).await;
        assert_eq!(v["truncated"], true, "{kind:?}: {v}");
    }
}

#[tokio::test]
async fn agents_see_the_models_their_roles_resolve_to() {
    let server = LlmServer::start().await;
    server.script("good", Behavior::Reply(vec!["x".into()]));
    server.script("missing", Behavior::NotFound);
    server.script("fallback", Behavior::Reply(vec!["x".into()]));
    let s = setup(config(BackendKind::OpenAi, server.openai_url()), POLICY).await;
    let out = s.project.run("hostile", "models", "{}").await.unwrap();
    assert!(
        out.payload.contains("backend=good@openai"),
        "{}",
        out.payload
    );
    assert!(
        out.payload.contains("qa=fallback@openai"),
        "{}",
        out.payload
    );
}

#[tokio::test]
async fn ollama_generate_and_show_speak_the_native_api() {
    use nexus::llm::ollama::Ollama;
    use nexus::llm::{BackendError, ChatRequest};
    let server = LlmServer::start().await;
    server.script("good", Behavior::Reply(vec!["generated text".into()]));
    let cfg = config(BackendKind::Ollama, server.ollama_url());
    let client = Ollama::new(
        nexus::llm::http_client_builder().unwrap().build().unwrap(),
        cfg.backend.as_ref().unwrap(),
    );
    let req = ChatRequest {
        model: "good".into(),
        messages: vec![],
        temperature: Some(0.0),
        max_tokens: Some(64),
        seed: None,
        schema: Some(json!("json")),
    };
    let t = Duration::from_secs(5);
    let reply = client
        .generate(&req, "write", Some("be brief"), t)
        .await
        .unwrap();
    assert_eq!(reply.content, "generated text");
    assert!(reply.tokens_per_second.unwrap() > 0.0);
    let sent = &server
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/generate")
        .unwrap();
    assert_eq!(
        (sent.body["prompt"].as_str(), sent.body["system"].as_str()),
        (Some("write"), Some("be brief"))
    );
    assert_eq!(sent.body["format"], "json");
    let show = client.show("good", t).await.unwrap();
    assert_eq!(show["details"]["parameter_size"], "7B");
    assert!(matches!(
        client.show("nope", t).await,
        Err(BackendError::ModelNotFound(_))
    ));
    let tags = client.tags(t).await.unwrap();
    assert_eq!(
        tags.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["good"]
    );
}

fn nexus_models(env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::TempDir::new().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nexus"));
    cmd.arg("models")
        .env("NEXUS_STATE_DIR", dir.path())
        .env("NEXUS_CACHE_DIR", dir.path())
        .env_remove("OLLAMA_HOST")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("NEXUS_LLM_BACKEND")
        .current_dir(dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn models_command_shows_health_models_and_role_resolution() {
    let server = LlmServer::start().await;
    server.script("qwen2.5-coder:7b", Behavior::Reply(vec!["x".into()]));
    server.script("deepseek-coder:6.7b", Behavior::Reply(vec!["x".into()]));
    let host = server.addr.to_string();
    let (ok, out) = tokio::task::spawn_blocking(move || nexus_models(&[("OLLAMA_HOST", &host)]))
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(out.contains("ok, 2 models"), "{out}");
    assert!(
        out.contains("analyst       -> deepseek-coder:6.7b"),
        "{out}"
    );
    assert!(
        out.contains("backend       -> qwen2.5-coder:7b (fallback; codellama:7b is missing)"),
        "{out}"
    );

    let url = server.openai_url();
    let (ok, out) = tokio::task::spawn_blocking(move || nexus_models(&[("OPENAI_BASE_URL", &url)]))
        .await
        .unwrap();
    assert!(ok && out.contains("openai at"), "{out}");
}

#[test]
fn models_command_says_so_in_one_line_when_no_backend_answers() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (ok, out) = nexus_models(&[("OLLAMA_HOST", &format!("127.0.0.1:{port}"))]);
    assert!(ok);
    let line = out.lines().next().unwrap();
    assert!(line.starts_with("no LLM backend answers"), "{out}");
    assert!(line.contains("built-in planning and templates"), "{out}");
}

// OpenAI-compatible servers differ in the request they take and in whether
// they report usage; the fixtures below behave as the servers they are
// named after (tests/support/llm_server.rs).

const PERSON: &str = r#"{"name": "Ada", "age": 36}"#;

/// `response_format.type` of each chat request for `model`, in order.
fn formats(server: &LlmServer, model: &str) -> Vec<Option<String>> {
    server
        .chat_requests(model)
        .iter()
        .map(|r| {
            r.body
                .pointer("/response_format/type")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

fn some(names: &[&str]) -> Vec<Option<String>> {
    names.iter().map(|n| Some(n.to_string())).collect()
}

fn person(v: &Value) -> Value {
    assert_eq!(v["ok"], true, "{v}");
    serde_json::from_str(v["content"].as_str().unwrap()).unwrap()
}

async fn openai_setup(server: &LlmServer) -> Setup {
    setup(config(BackendKind::OpenAi, server.openai_url()), POLICY).await
}

#[tokio::test]
async fn llama_cpp_python_gets_the_schema_as_json_object_after_refusing_json_schema() {
    let server = LlmServer::start().await;
    server.script("good", Behavior::LlamaCppPython(PERSON.into()));
    let s = openai_setup(&server).await;
    let v = ask(&s, json!({"role": "backend", "schema": person_schema()})).await;
    assert_eq!(person(&v), json!({"name": "Ada", "age": 36}));
    assert_eq!(
        formats(&server, "good"),
        some(&["json_schema", "json_object"])
    );
    let sent = server.chat_requests("good");
    assert_eq!(sent[1].body["response_format"]["schema"], person_schema());
}

#[tokio::test]
async fn the_request_shape_that_worked_is_remembered_per_model() {
    let server = LlmServer::start().await;
    server.script("good", Behavior::LlamaCppPython(PERSON.into()));
    server.script("missing", Behavior::LlamaCppPython(PERSON.into()));
    let s = openai_setup(&server).await;
    for _ in 0..2 {
        person(&ask(&s, json!({"role": "backend", "schema": person_schema()})).await);
    }
    assert_eq!(
        formats(&server, "good"),
        some(&["json_schema", "json_object", "json_object"]),
        "the second call went straight to what worked"
    );
    // Another model of the same server negotiates for itself.
    person(&ask(&s, json!({"role": "qa", "schema": person_schema()})).await);
    assert_eq!(
        formats(&server, "missing"),
        some(&["json_schema", "json_object"])
    );
}

#[tokio::test]
async fn refused_request_shapes_leave_the_circuit_closed() {
    let server = LlmServer::start().await;
    server.script("good", Behavior::LlamaCppPython(PERSON.into()));
    server.script("missing", Behavior::LlamaCppPython(PERSON.into()));
    let mut c = config(BackendKind::OpenAi, server.openai_url());
    c.circuit_failures = 1;
    let s = setup(c, POLICY).await;
    for role in ["backend", "qa", "backend", "qa"] {
        let v = ask(&s, json!({"role": role, "schema": person_schema()})).await;
        person(&v);
    }
    // Each refused shape was sent once, not retried as it was.
    for model in ["good", "missing"] {
        let refused = formats(&server, model)
            .into_iter()
            .filter(|f| f.as_deref() == Some("json_schema"))
            .count();
        assert_eq!(refused, 1, "{model}");
    }
}

#[tokio::test]
async fn a_server_refusing_every_shape_is_named_as_the_cause_not_the_circuit() {
    let server = LlmServer::start().await;
    server.script(
        "good",
        Behavior::BadRequest("Invalid 'messages[1].content': string too long.".into()),
    );
    let mut c = config(BackendKind::OpenAi, server.openai_url());
    c.circuit_failures = 2;
    let s = setup(c, POLICY).await;
    for _ in 0..3 {
        let v = ask(&s, json!({"role": "backend", "schema": person_schema()})).await;
        assert_eq!(v["error"]["kind"], "unavailable", "{v}");
        let reason = v["error"]["reason"].as_str().unwrap();
        assert!(
            reason.contains("refused the request shape (HTTP 400): Invalid 'messages[1].content': string too long."),
            "{v}"
        );
        assert!(!reason.contains("circuit"), "{v}");
        assert!(!reason.contains('\n'), "one line: {v}");
    }
    // Each call tried four shapes, none twice: json_schema, json_object,
    // the schema in the prompt, and that without stream_options.
    let sent = server.chat_requests("good");
    assert_eq!(sent.len(), 12);
    let shapes: Vec<(Value, Value)> = sent[..4]
        .iter()
        .map(|r| {
            (
                r.body.get("response_format").cloned().unwrap_or_default(),
                r.body.get("stream_options").cloned().unwrap_or_default(),
            )
        })
        .collect();
    for (i, a) in shapes.iter().enumerate() {
        assert!(!shapes[i + 1..].contains(a), "sent twice: {a:?}");
    }
}

#[tokio::test]
async fn tokens_a_server_does_not_report_are_estimated_and_marked() {
    let server = LlmServer::start().await;
    server.script("good", Behavior::LlamaCppPython(PERSON.into()));
    let s = openai_setup(&server).await;
    let sent = server.chat_requests("good");
    assert!(sent.is_empty());
    let v = ask(&s, json!({"role": "backend", "schema": person_schema()})).await;
    person(&v);
    // The server was asked for usage and sent none.
    let sent = server.chat_requests("good");
    assert_eq!(sent[1].body["stream_options"]["include_usage"], true);
    // Four bytes a token, rounded up: "You are terse." and "hi" are 16
    // bytes, the reply 26.
    assert_eq!(
        (v["prompt_tokens"].as_u64(), v["completion_tokens"].as_u64()),
        (Some(4), Some(7)),
        "{v}"
    );
    let usage = s.rt.services().llm.usage("llm-project").unwrap();
    assert_eq!((usage[0].calls, usage[0].estimated), (1, 1), "{usage:?}");
    assert_eq!(
        nexus::llm::usage_line(&usage),
        "1 call, ~11 tokens (estimated)"
    );
}

#[tokio::test]
async fn estimated_tokens_are_charged_to_the_task() {
    let server = LlmServer::start().await;
    server.set_pause(Duration::ZERO);
    // 4000 bytes: about 1000 tokens each, none reported.
    server.script("good", Behavior::LlamaCppPython("word ".repeat(800)));
    let s = setup(
        config(BackendKind::OpenAi, server.openai_url()),
        &POLICY.replace("20000", "3000"),
    )
    .await;
    let v = ask(
        &s,
        json!({"role": "backend", "max_tokens": 100, "times": 10}),
    )
    .await;
    assert_eq!(v["error"]["kind"], "quota-exceeded", "{v}");
    assert_eq!(
        server.chat_requests("good").len(),
        3,
        "three calls of ~1000 tokens fit in 3000"
    );
}

#[tokio::test]
async fn vllm_takes_json_schema_and_reports_usage_when_asked() {
    let server = LlmServer::start().await;
    server.script("good", Behavior::Vllm(PERSON.into()));
    let s = openai_setup(&server).await;
    let v = ask(&s, json!({"role": "backend", "schema": person_schema()})).await;
    assert_eq!(person(&v), json!({"name": "Ada", "age": 36}));
    let sent = server.chat_requests("good");
    assert_eq!(formats(&server, "good"), some(&["json_schema"]));
    assert_eq!(sent[0].body["stream_options"]["include_usage"], true);
    // The fixture reports a token for each streamed piece of 7 characters
    // (an estimate would say 7).
    assert_eq!(v["completion_tokens"], PERSON.len().div_ceil(7), "{v}");
    let usage = s.rt.services().llm.usage("llm-project").unwrap();
    assert_eq!(usage[0].estimated, 0, "{usage:?}");
}

#[tokio::test]
async fn llama_cpp_server_takes_json_schema_and_reports_usage() {
    let server = LlmServer::start().await;
    server.script("good", Behavior::LlamaCpp(PERSON.into()));
    let s = openai_setup(&server).await;
    let v = ask(&s, json!({"role": "backend", "schema": person_schema()})).await;
    assert_eq!(person(&v), json!({"name": "Ada", "age": 36}));
    assert_eq!(formats(&server, "good"), some(&["json_schema"]));
    assert_eq!(v["completion_tokens"], PERSON.len().div_ceil(7), "{v}");
    let usage = s.rt.services().llm.usage("llm-project").unwrap();
    assert_eq!(usage[0].estimated, 0, "{usage:?}");
}

#[tokio::test]
async fn llama_cpp_server_reports_usage_and_speed_unasked_in_its_final_chunk() {
    use nexus::llm::openai::{OpenAi, Shape, Structured};
    use nexus::llm::{ChatMessage, ChatRequest, Role};
    let server = LlmServer::start().await;
    server.script("good", Behavior::LlamaCpp(PERSON.into()));
    let cfg = config(BackendKind::OpenAi, server.openai_url());
    let client = OpenAi::new(
        nexus::llm::http_client_builder().unwrap().build().unwrap(),
        cfg.backend.as_ref().unwrap(),
    );
    let req = ChatRequest {
        model: "good".into(),
        messages: vec![ChatMessage {
            role: Role::User,
            content: "hi".into(),
        }],
        temperature: None,
        max_tokens: None,
        seed: None,
        schema: Some(person_schema()),
    };
    // llama-server takes the schema both ways.
    for structured in [Structured::JsonSchema, Structured::JsonObject] {
        let shape = Shape {
            structured,
            stream_usage: false,
        };
        let reply = client
            .chat(&req, shape, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(reply.content, PERSON);
        assert_eq!(reply.tokens_per_second, Some(LLAMA_CPP_TOKENS_PER_SECOND));
        assert!(!reply.estimated, "{reply:?}");
    }
    assert_eq!(
        formats(&server, "good"),
        some(&["json_schema", "json_object"])
    );
}

#[tokio::test]
async fn tgi_refuses_both_response_formats_so_the_schema_goes_in_the_prompt() {
    let server = LlmServer::start().await;
    server.script("good", Behavior::Tgi(PERSON.into()));
    let s = openai_setup(&server).await;
    let v = ask(&s, json!({"role": "backend", "schema": person_schema()})).await;
    assert_eq!(person(&v), json!({"name": "Ada", "age": 36}));
    let mut expected = some(&["json_schema", "json_object"]);
    expected.push(None);
    assert_eq!(formats(&server, "good"), expected);
    let system = server.chat_requests("good")[2].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(system.starts_with("You are terse."), "{system}");
    assert!(system.contains(&person_schema().to_string()), "{system}");
}

#[tokio::test]
async fn a_server_refusing_stream_options_is_asked_without_them_from_then_on() {
    let server = LlmServer::start().await;
    server.script("good", Behavior::AzureOpenAi("hello there".into()));
    let s = openai_setup(&server).await;
    for _ in 0..2 {
        let v = ask(&s, json!({"role": "backend"})).await;
        assert_eq!(v["content"], "hello there", "{v}");
        // Not the empty model of Azure's first chunk.
        assert_eq!(v["model"], "good", "{v}");
    }
    let asked: Vec<bool> = server
        .chat_requests("good")
        .iter()
        .map(|r| r.body.get("stream_options").is_some())
        .collect();
    assert_eq!(asked, [true, false, false]);
    let usage = s.rt.services().llm.usage("llm-project").unwrap();
    assert_eq!((usage[0].calls, usage[0].estimated), (2, 2), "{usage:?}");
}
