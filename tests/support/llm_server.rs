//! An LLM server on loopback that speaks Ollama's native API and the
//! OpenAI-compatible API over real HTTP, streaming included. What it does
//! for a request is scripted per model name; every request is recorded.
#![allow(dead_code)]

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// What the server does for a model.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// Streams this content; the last call's reply repeats.
    Reply(Vec<String>),
    /// 404 "model not found".
    NotFound,
    /// 503 "Loading model" this many times, then the reply.
    LoadingThen(u32, String),
    /// 429 with `Retry-After: 0` this many times, then the reply.
    RateLimitedThen(u32, String),
    /// Waits before answering.
    Slow(Duration, String),
    /// Sends one piece, then an error inside the 200 stream.
    MidStreamError(String),
    /// Streams the content, then stops at the token limit.
    Length(String),
    /// 500 every time.
    ServerError,
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub body: Value,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    /// Pause between streamed pieces.
    pause: Mutex<Duration>,
    script: Mutex<HashMap<String, Behavior>>,
    calls: Mutex<HashMap<String, u32>>,
    requests: Mutex<Vec<Recorded>>,
}

pub struct LlmServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A body fed from a channel, so replies really stream.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

type Reply = Response<ChannelBody>;

fn whole(status: StatusCode, content_type: &str, body: String) -> Reply {
    let (tx, rx) = mpsc::channel(1);
    tx.try_send(Bytes::from(body)).unwrap();
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(ChannelBody(rx))
        .unwrap()
}

fn streamed(state: &State, content_type: &str, parts: Vec<String>) -> Reply {
    let (tx, rx) = mpsc::channel(4);
    let pause = *state.pause.lock().unwrap();
    tokio::spawn(async move {
        for p in parts {
            if tx.send(Bytes::from(p)).await.is_err() {
                return;
            }
            if pause.is_zero() {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(pause).await;
            }
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(ChannelBody(rx))
        .unwrap()
}

fn pieces(content: &str) -> Vec<String> {
    let chars: Vec<char> = content.chars().collect();
    chars.chunks(7).map(|c| c.iter().collect()).collect()
}

fn words(body: &Value) -> u64 {
    let text = match body.get("messages").and_then(Value::as_array) {
        Some(msgs) => msgs
            .iter()
            .filter_map(|m| m.get("content").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        None => body
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    };
    text.split_whitespace().count() as u64
}

impl LlmServer {
    pub async fn start() -> LlmServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        *state.pause.lock().unwrap() = Duration::from_millis(1);
        let s = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                // Like real servers: no Nagle delay between headers and body.
                let _ = stream.set_nodelay(true);
                let s = s.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let s = s.clone();
                        async move { Ok::<_, Infallible>(handle(s, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        LlmServer { addr, state, task }
    }

    /// Sets the pause between streamed pieces (1 ms unless changed).
    pub fn set_pause(&self, pause: Duration) {
        *self.state.pause.lock().unwrap() = pause;
    }

    pub fn script(&self, model: &str, behavior: Behavior) {
        self.state
            .script
            .lock()
            .unwrap()
            .insert(model.to_string(), behavior);
    }

    /// Ollama base URL.
    pub fn ollama_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// OpenAI-compatible base URL (with `/v1`).
    pub fn openai_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Chat requests (either protocol) for `model`.
    pub fn chat_requests(&self, model: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r.path.ends_with("/chat")
                    || r.path.ends_with("/completions")
                    || r.path.ends_with("/generate")
            })
            .filter(|r| r.body.get("model").and_then(Value::as_str) == Some(model))
            .collect()
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Reply {
    use http_body_util::BodyExt;
    let path = req.uri().path().to_string();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    state.requests.lock().unwrap().push(Recorded {
        path: path.clone(),
        body: body.clone(),
        authorization,
    });
    let models: Vec<String> = {
        let mut m: Vec<String> = state.script.lock().unwrap().keys().cloned().collect();
        m.sort();
        m
    };
    match path.as_str() {
        "/api/tags" => {
            let list: Vec<Value> = models
                .iter()
                .filter(|m| !matches!(state.script.lock().unwrap().get(*m), Some(Behavior::NotFound)))
                .map(|m| json!({"name": m, "model": m, "size": 4_000_000_000u64, "digest": "sha256:0", "details": {"family": "llama"}}))
                .collect();
            whole(
                StatusCode::OK,
                "application/json",
                json!({ "models": list }).to_string(),
            )
        }
        "/v1/models" => {
            let data: Vec<Value> = models
                .iter()
                .filter(|m| {
                    !matches!(
                        state.script.lock().unwrap().get(*m),
                        Some(Behavior::NotFound)
                    )
                })
                .map(|m| json!({"id": m, "object": "model", "created": 1, "owned_by": "fixture"}))
                .collect();
            whole(
                StatusCode::OK,
                "application/json",
                json!({ "object": "list", "data": data }).to_string(),
            )
        }
        "/api/show" => {
            let model = body["model"].as_str().unwrap_or("").to_string();
            match state.script.lock().unwrap().get(&model) {
                None | Some(Behavior::NotFound) => whole(
                    StatusCode::NOT_FOUND,
                    "application/json",
                    json!({"error": format!("model '{model}' not found")}).to_string(),
                ),
                Some(_) => whole(
                    StatusCode::OK,
                    "application/json",
                    json!({"modelfile": "FROM x", "parameters": "", "template": "{{ .Prompt }}", "details": {"family": "llama", "parameter_size": "7B"}}).to_string(),
                ),
            }
        }
        "/api/chat" | "/api/generate" => ollama(&state, &path, &body).await,
        "/v1/chat/completions" => openai(&state, &body).await,
        _ => whole(
            StatusCode::NOT_FOUND,
            "text/plain",
            "404 page not found".into(),
        ),
    }
}

/// The behavior for this call and how many calls came before it.
fn next(state: &State, model: &str) -> (Option<Behavior>, u32) {
    let behavior = state.script.lock().unwrap().get(model).cloned();
    let mut calls = state.calls.lock().unwrap();
    let n = calls.entry(model.to_string()).or_insert(0);
    let before = *n;
    *n += 1;
    (behavior, before)
}

/// What to stream: the content and whether it stops at the length limit,
/// or an error response already made.
enum Plan {
    Content(String, bool),
    MidStream(String),
    Respond(Reply),
}

async fn plan(
    state: &State,
    model: &str,
    not_found: Reply,
    loading: Reply,
    rate_limited: Reply,
    server_error: Reply,
) -> Plan {
    let (behavior, before) = next(state, model);
    match behavior {
        None | Some(Behavior::NotFound) => Plan::Respond(not_found),
        Some(Behavior::Reply(list)) => {
            Plan::Content(list[(before as usize).min(list.len() - 1)].clone(), false)
        }
        Some(Behavior::LoadingThen(n, c)) if before < n => {
            let _ = c;
            Plan::Respond(loading)
        }
        Some(Behavior::LoadingThen(_, c)) => Plan::Content(c, false),
        Some(Behavior::RateLimitedThen(n, _)) if before < n => Plan::Respond(rate_limited),
        Some(Behavior::RateLimitedThen(_, c)) => Plan::Content(c, false),
        Some(Behavior::Slow(d, c)) => {
            tokio::time::sleep(d).await;
            Plan::Content(c, false)
        }
        Some(Behavior::MidStreamError(c)) => Plan::MidStream(c),
        Some(Behavior::Length(c)) => Plan::Content(c, true),
        Some(Behavior::ServerError) => Plan::Respond(server_error),
    }
}

async fn ollama(state: &State, path: &str, body: &Value) -> Reply {
    let model = body["model"].as_str().unwrap_or("").to_string();
    let json_err = |status: u16, msg: String| {
        whole(
            StatusCode::from_u16(status).unwrap(),
            "application/json",
            json!({ "error": msg }).to_string(),
        )
    };
    let mut rate_limited = json_err(429, "too many requests".into());
    rate_limited
        .headers_mut()
        .insert("retry-after", "0".parse().unwrap());
    let plan = plan(
        state,
        &model,
        json_err(
            404,
            format!("model \"{model}\" not found, try pulling it first"),
        ),
        json_err(503, "Loading model".into()),
        rate_limited,
        json_err(500, "llama runner process has terminated".into()),
    )
    .await;
    let chat = path == "/api/chat";
    let piece = |text: &str| {
        let mut v = json!({"model": model, "created_at": "2026-11-26T00:00:00Z", "done": false});
        if chat {
            v["message"] = json!({"role": "assistant", "content": text});
        } else {
            v["response"] = json!(text);
        }
        format!("{v}\n")
    };
    let (content, length) = match plan {
        Plan::Respond(r) => return r,
        Plan::MidStream(c) => {
            let first = pieces(&c).into_iter().next().unwrap_or_default();
            let parts = vec![
                piece(&first),
                format!(
                    "{}\n",
                    json!({"error": "an error was encountered while running the model: unexpected EOF"})
                ),
            ];
            return streamed(state, "application/x-ndjson", parts);
        }
        Plan::Content(c, l) => (c, l),
    };
    let chunks = pieces(&content);
    let eval = chunks.len() as u64;
    let mut last = json!({
        "model": model, "created_at": "2026-11-26T00:00:00Z", "done": true,
        "done_reason": if length { "length" } else { "stop" },
        "total_duration": 5_000_000u64, "load_duration": 1_000_000u64,
        "prompt_eval_count": words(body), "prompt_eval_duration": 1_000_000u64,
        "eval_count": eval, "eval_duration": eval * 10_000_000,
    });
    if chat {
        last["message"] = json!({"role": "assistant", "content": ""});
    } else {
        last["response"] = json!("");
    }
    if body.get("stream") == Some(&Value::Bool(false)) {
        if chat {
            last["message"]["content"] = json!(content);
        } else {
            last["response"] = json!(content);
        }
        return whole(StatusCode::OK, "application/json", last.to_string());
    }
    let mut parts: Vec<String> = chunks.iter().map(|c| piece(c)).collect();
    parts.push(format!("{last}\n"));
    streamed(state, "application/x-ndjson", parts)
}

async fn openai(state: &State, body: &Value) -> Reply {
    let model = body["model"].as_str().unwrap_or("").to_string();
    let err = |status: u16, message: String, kind: &str, code: Value| {
        whole(
            StatusCode::from_u16(status).unwrap(),
            "application/json",
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
                .to_string(),
        )
    };
    let mut rate_limited = err(
        429,
        "Rate limit reached".into(),
        "requests",
        json!("rate_limit_exceeded"),
    );
    rate_limited
        .headers_mut()
        .insert("retry-after", "0".parse().unwrap());
    let plan = plan(
        state,
        &model,
        err(
            404,
            format!("The model `{model}` does not exist."),
            "invalid_request_error",
            json!("model_not_found"),
        ),
        err(503, "Loading model".into(), "unavailable_error", json!(503)),
        rate_limited,
        err(
            500,
            "internal server error".into(),
            "server_error",
            Value::Null,
        ),
    )
    .await;
    let chunk = |delta: Value, finish: Value| {
        let v = json!({
            "id": "chatcmpl-fixture", "object": "chat.completion.chunk", "created": 1, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        format!("data: {v}\n\n")
    };
    let (content, length) = match plan {
        Plan::Respond(r) => return r,
        Plan::MidStream(c) => {
            let first = pieces(&c).into_iter().next().unwrap_or_default();
            return streamed(
                state,
                "text/event-stream",
                vec![
                    chunk(json!({"role": "assistant", "content": first}), Value::Null),
                    format!(
                        "data: {}\n\n",
                        json!({"error": {"message": "the model crashed", "type": "server_error"}})
                    ),
                ],
            );
        }
        Plan::Content(c, l) => (c, l),
    };
    let chunks = pieces(&content);
    let mut parts = vec![
        ": keep-alive\n\n".to_string(),
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    ];
    parts.extend(
        chunks
            .iter()
            .map(|c| chunk(json!({"content": c}), Value::Null)),
    );
    parts.push(chunk(
        json!({}),
        json!(if length { "length" } else { "stop" }),
    ));
    if body.pointer("/stream_options/include_usage") == Some(&Value::Bool(true)) {
        let usage = json!({
            "id": "chatcmpl-fixture", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [],
            "usage": {"prompt_tokens": words(body), "completion_tokens": chunks.len(), "total_tokens": words(body) + chunks.len() as u64},
        });
        parts.push(format!("data: {usage}\n\n"));
    }
    parts.push("data: [DONE]\n\n".into());
    streamed(state, "text/event-stream", parts)
}
