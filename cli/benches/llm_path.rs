//! Latency the host adds to an LLM call: an agent task that calls
//! `llm.chat` against a loopback server, beside a direct HTTP call to the
//! same server, both measured in this run (medians).
//!
//! Run: `cargo bench --bench llm_path`

#[path = "../../tests/support/llm_server.rs"]
mod llm_server;

use llm_server::{Behavior, LlmServer};
use nexus::config::{BackendConfig, BackendKind, LlmConfig};
use nexus::policy::Policy;
use nexus::project::Project;
use nexus::runtime::{Runtime, RuntimeOptions};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const ROUNDS: usize = 300;
const REPLY: &str = r#"{"name": "Ada", "age": 36}"#;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn direct(kind: BackendKind, server: &LlmServer, http: &reqwest::Client) -> Duration {
    let (url, body) = match kind {
        BackendKind::Ollama => (
            format!("{}/api/chat", server.ollama_url()),
            json!({"model": "good", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        BackendKind::OpenAi => (
            format!("{}/chat/completions", server.openai_url()),
            json!({"model": "good", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        ),
    };
    let t = Instant::now();
    let mut resp = http.post(&url).json(&body).send().await.unwrap();
    // Read until the stream's final event, as any streaming client does.
    let mut seen = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        seen.extend_from_slice(&chunk);
        let text = String::from_utf8_lossy(&seen);
        if text.contains("\"done\":true") || text.contains("[DONE]") {
            break;
        }
    }
    t.elapsed()
}

#[tokio::main]
async fn main() {
    nexus::builtin::install(nexus::embedded!());
    let wasm = std::fs::read(nexus::builtin::test_agent("hostile").expect("test agents are built"))
        .unwrap();
    println!(
        "LLM call latency, median of {ROUNDS} (loopback server, streamed reply of {} bytes)",
        REPLY.len()
    );
    println!(
        "{:<8} {:>14} {:>14} {:>12} {:>8}",
        "backend", "direct HTTP", "host path", "added", "ratio"
    );
    for kind in [BackendKind::Ollama, BackendKind::OpenAi] {
        let server = LlmServer::start().await;
        server.script("good", Behavior::Reply(vec![REPLY.into()]));
        server.set_pause(Duration::ZERO);
        let base_url = match kind {
            BackendKind::Ollama => server.ollama_url(),
            BackendKind::OpenAi => server.openai_url(),
        };
        let llm = LlmConfig {
            backend: Some(BackendConfig {
                kind,
                base_url,
                api_key: None,
                keep_alive: None,
                num_ctx: None,
            }),
            models: [("backend".to_string(), "good".to_string())]
                .into_iter()
                .collect(),
            fallbacks: vec![],
            cache: false,
            ..LlmConfig::default()
        };
        let dir = tempfile::TempDir::new().unwrap();
        let rt = Runtime::new(RuntimeOptions {
            cache_dir: Some(dir.path().join("cache")),
            database: None,
            llm,
            ..Default::default()
        })
        .unwrap();
        let policy = Policy::parse(
            Path::new("(bench)"),
            "agent = \"hostile\"\n[llm]\nroles = [\"backend\"]\ntokens_per_task = 100000\n",
        )
        .unwrap();
        let agent = rt.load_agent(&wasm, policy).await.unwrap();
        let project = Project::open(rt.clone(), "bench", "bench", &dir.path().join("p")).unwrap();
        project.add_agent(agent);
        let http = nexus::llm::http_client_builder()
            .unwrap()
            .tcp_nodelay(true)
            .build()
            .unwrap();
        let payload = json!({"role": "backend", "prompt": "hi"}).to_string();
        // Warm both paths (connections, caches).
        for _ in 0..20 {
            direct(kind, &server, &http).await;
            project.run("hostile", "llm", &payload).await.unwrap();
        }
        let mut d = Vec::with_capacity(ROUNDS);
        let mut h = Vec::with_capacity(ROUNDS);
        // Interleaved, so drift on the machine hits both alike.
        for _ in 0..ROUNDS {
            d.push(direct(kind, &server, &http).await);
            let t = Instant::now();
            let out = project.run("hostile", "llm", &payload).await.unwrap();
            h.push(t.elapsed());
            assert!(out.payload.contains("Ada"), "{}", out.payload);
        }
        let (d, h) = (median(d), median(h));
        println!(
            "{:<8} {:>11.1} µs {:>11.1} µs {:>9.1} µs {:>7.2}x",
            kind.name(),
            d.as_secs_f64() * 1e6,
            h.as_secs_f64() * 1e6,
            (h.as_secs_f64() - d.as_secs_f64()) * 1e6,
            h.as_secs_f64() / d.as_secs_f64()
        );
    }
    println!(
        "host path = task start + guest + policy and budget checks + HTTP + stream parsing + usage record"
    );
}
