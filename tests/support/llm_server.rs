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
    /// 400 with this message every time, whatever the request's shape.
    BadRequest(String),
    /// llama-cpp-python's server (`python -m llama_cpp.server`) answering
    /// this content. Its request model takes `response_format.type` `text`
    /// or `json_object` (with an optional `schema`); anything else fails
    /// FastAPI's validation, which its error handler turns into a 500
    /// `internal_server_error` whose message is the pydantic error list. It
    /// ignores `stream_options` and never streams usage.
    LlamaCppPython(String),
    /// vLLM's OpenAI server answering this content: takes `json_schema`
    /// and `json_object`; streams usage in a last chunk with no choices
    /// only when `stream_options.include_usage` is set (and refuses
    /// `stream_options` on a request that does not stream, with a 400).
    Vllm(String),
    /// llama.cpp's `llama-server` answering this content: takes
    /// `json_schema` (`json_schema.schema`) and `json_object` (`schema`),
    /// refuses other types with a 400; its final chunk carries `usage` and
    /// `timings` (as builds of 2025 do, asked or not).
    LlamaCpp(String),
    /// Hugging Face text-generation-inference 2.0 answering this content:
    /// `response_format` is its own grammar type (`{"type": "json", "value":
    /// schema}`, `json_object` an alias), so `json_schema` is an unknown
    /// variant and `json_object` without `value` a missing field, each a
    /// 422 with axum's plain-text reason. Finishes with `eos_token`, sends
    /// no usage.
    Tgi(String),
    /// Azure OpenAI at an api-version that predates `stream_options`:
    /// refuses them with a 400 `unknown_parameter`; takes `json_schema`;
    /// streams a first chunk with no choices and an empty model (the
    /// prompt filter results), and no usage.
    AzureOpenAi(String),
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
    bad_request: Reply,
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
        Some(Behavior::BadRequest(_)) => Plan::Respond(bad_request),
        // Servers that speak only the OpenAI-compatible API have no
        // Ollama routes.
        Some(
            Behavior::LlamaCppPython(_)
            | Behavior::Vllm(_)
            | Behavior::LlamaCpp(_)
            | Behavior::Tgi(_)
            | Behavior::AzureOpenAi(_),
        ) => Plan::Respond(not_found),
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
        json_err(400, bad_request_message(state, &model)),
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

/// The message a `BadRequest` model answers with.
fn bad_request_message(state: &State, model: &str) -> String {
    match state.script.lock().unwrap().get(model) {
        Some(Behavior::BadRequest(m)) => m.clone(),
        _ => String::new(),
    }
}

async fn openai(state: &State, body: &Value) -> Reply {
    let model = body["model"].as_str().unwrap_or("").to_string();
    let scripted = state.script.lock().unwrap().get(&model).cloned();
    match scripted {
        Some(Behavior::LlamaCppPython(c)) => return llama_cpp_python(state, body, &c),
        Some(Behavior::Vllm(c)) => return vllm(state, body, &c),
        Some(Behavior::LlamaCpp(c)) => return llama_cpp(state, body, &c),
        Some(Behavior::Tgi(c)) => return tgi(state, body, &c),
        Some(Behavior::AzureOpenAi(c)) => return azure_openai(state, body, &c),
        _ => {}
    }
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
        err(
            400,
            bad_request_message(state, &model),
            "invalid_request_error",
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

// Servers modelled on real ones: their validation, error bodies and
// streams, as far as a client can tell them apart.

fn json_reply(status: u16, body: Value) -> Reply {
    whole(
        StatusCode::from_u16(status).unwrap(),
        "application/json",
        body.to_string(),
    )
}

/// Server-sent events: `data: <event>` and a blank line each.
fn events(state: &State, events: Vec<String>) -> Reply {
    streamed(
        state,
        "text/event-stream",
        events
            .into_iter()
            .map(|e| format!("data: {e}\n\n"))
            .collect(),
    )
}

/// Python's `repr` of a JSON string or other value, as it appears in a
/// pydantic error list.
fn py_repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        Value::Null => "None".into(),
        v => v.to_string(),
    }
}

/// A prompt-token count the way a server reports one: one per word.
fn prompt_tokens(body: &Value) -> u64 {
    words(body)
}

fn llama_cpp_python(state: &State, body: &Value, content: &str) -> Reply {
    let model = body["model"].as_str().unwrap_or("").to_string();
    if let Some(kind) = body.pointer("/response_format/type")
        && !matches!(kind.as_str(), Some("text" | "json_object"))
    {
        // FastAPI raises RequestValidationError; llama_cpp.server's
        // RouteErrorHandler catches every exception and answers
        // `{"error": {"message": str(exc), "type": "internal_server_error"}}`
        // with a 500, and str() of the error is the list of pydantic errors.
        let message = format!(
            "[{{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': {}, 'ctx': {{'expected': \"'text' or 'json_object'\"}}}}]",
            py_repr(kind)
        );
        return json_reply(
            500,
            json!({"error": {"message": message, "type": "internal_server_error", "param": null, "code": null}}),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-5f0c", "model": model, "created": 1, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
        .to_string()
    };
    let out = vec![chunk(json!({"role": "assistant"}), Value::Null)];
    content_then_done(state, out, chunk, content)
}

/// Streams `content` as delta chunks after the `opening` events, then a
/// `stop` chunk and `[DONE]`.
fn content_then_done(
    state: &State,
    mut opening: Vec<String>,
    chunk: impl Fn(Value, Value) -> String,
    content: &str,
) -> Reply {
    opening.extend(
        pieces(content)
            .iter()
            .map(|p| chunk(json!({"content": p}), Value::Null)),
    );
    opening.push(chunk(json!({}), json!("stop")));
    opening.push("[DONE]".into());
    events(state, opening)
}

fn vllm(state: &State, body: &Value, content: &str) -> Reply {
    let model = body["model"].as_str().unwrap_or("").to_string();
    let bad = |message: String| {
        json_reply(
            400,
            json!({"object": "error", "message": message, "type": "BadRequestError", "param": null, "code": 400}),
        )
    };
    if body.get("stream_options").is_some_and(|o| !o.is_null()) && body["stream"] != true {
        return bad("Stream options can only be defined when `stream=True`.".into());
    }
    if let Some(kind) = body.pointer("/response_format/type")
        && !matches!(kind.as_str(), Some("text" | "json_object" | "json_schema"))
    {
        return bad(format!(
            "[{{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text', 'json_object' or 'json_schema'\", 'input': {}}}]",
            py_repr(kind)
        ));
    }
    let chunk = |choices: Value| json!({"id": "chatcmpl-9a1e", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": choices});
    let parts = pieces(content);
    let mut out =
        vec![chunk(json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}])).to_string()];
    out.extend(parts.iter().map(|p| {
        chunk(
            json!([{"index": 0, "delta": {"content": p}, "logprobs": null, "finish_reason": null}]),
        )
        .to_string()
    }));
    out.push(
        chunk(json!([{"index": 0, "delta": {"content": ""}, "logprobs": null, "finish_reason": "stop", "stop_reason": null}]))
            .to_string(),
    );
    if body.pointer("/stream_options/include_usage") == Some(&Value::Bool(true)) {
        let (p, c) = (prompt_tokens(body), parts.len() as u64);
        let mut last = chunk(json!([]));
        last["usage"] = json!({"prompt_tokens": p, "total_tokens": p + c, "completion_tokens": c});
        out.push(last.to_string());
    }
    out.push("[DONE]".into());
    events(state, out)
}

/// What llama-server reports as generation speed, in tokens a second.
pub const LLAMA_CPP_TOKENS_PER_SECOND: f64 = 264.5;

fn llama_cpp(state: &State, body: &Value, content: &str) -> Reply {
    let model = body["model"].as_str().unwrap_or("").to_string();
    if let Some(kind) = body
        .pointer("/response_format/type")
        .and_then(Value::as_str)
        && !matches!(kind, "" | "text" | "json_object" | "json_schema")
    {
        return json_reply(
            400,
            json!({"error": {"code": 400, "message": format!("response_format type must be one of \"text\" or \"json_object\", but got: {kind}"), "type": "invalid_request_error"}}),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        json!({
            "choices": [{"finish_reason": finish, "index": 0, "delta": delta}],
            "created": 1, "id": "chatcmpl-X6urH4f6", "model": model,
            "system_fingerprint": "b6097-9515c613", "object": "chat.completion.chunk",
        })
    };
    let parts = pieces(content);
    let mut out =
        vec![chunk(json!({"role": "assistant", "content": null}), Value::Null).to_string()];
    out.extend(
        parts
            .iter()
            .map(|p| chunk(json!({"content": p}), Value::Null).to_string()),
    );
    let (p, c) = (prompt_tokens(body), parts.len() as u64);
    let mut last = chunk(json!({}), json!("stop"));
    last["usage"] = json!({"completion_tokens": c, "prompt_tokens": p, "total_tokens": p + c});
    last["timings"] = json!({
        "prompt_n": p, "prompt_ms": 20.3, "prompt_per_token_ms": 0.18, "prompt_per_second": 5334.9,
        "predicted_n": c, "predicted_ms": c as f64 * 1000.0 / LLAMA_CPP_TOKENS_PER_SECOND,
        "predicted_per_token_ms": 1000.0 / LLAMA_CPP_TOKENS_PER_SECOND,
        "predicted_per_second": LLAMA_CPP_TOKENS_PER_SECOND,
    });
    out.push(last.to_string());
    out.push("[DONE]".into());
    events(state, out)
}

fn tgi(state: &State, body: &Value, content: &str) -> Reply {
    let model = body["model"].as_str().unwrap_or("").to_string();
    let column = body.to_string().len();
    let refuse = |reason: String| {
        whole(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text/plain; charset=utf-8",
            format!(
                "Failed to deserialize the JSON body into the target type: response_format: {reason} at line 1 column {column}"
            ),
        )
    };
    if let Some(format) = body.get("response_format") {
        match format.get("type").and_then(Value::as_str) {
            Some("json" | "json_object" | "regex") if format.get("value").is_none() => {
                return refuse("missing field `value`".into());
            }
            Some("json" | "json_object" | "regex") => {}
            Some(other) => {
                return refuse(format!(
                    "unknown variant `{other}`, expected `json` or `regex`"
                ));
            }
            None => return refuse("missing field `type`".into()),
        }
    }
    let parts = pieces(content);
    let count = parts.len();
    let out = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "object": "chat.completion.chunk", "id": "", "created": 1, "model": model,
                "system_fingerprint": "2.0.4-native",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": p}, "logprobs": null,
                             "finish_reason": if i + 1 == count { json!("eos_token") } else { Value::Null }}],
            })
            .to_string()
        })
        .chain(["[DONE]".to_string()])
        .collect();
    events(state, out)
}

fn azure_openai(state: &State, body: &Value, content: &str) -> Reply {
    let model = body["model"].as_str().unwrap_or("").to_string();
    if body.get("stream_options").is_some() {
        return json_reply(
            400,
            json!({"error": {"message": "Unknown parameter: 'stream_options'.", "type": "invalid_request_error", "param": "stream_options", "code": "unknown_parameter"}}),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        json!({
            "choices": [{"content_filter_results": {}, "delta": delta, "finish_reason": finish, "index": 0, "logprobs": null}],
            "created": 1, "id": "chatcmpl-9XOzjQ", "model": model, "object": "chat.completion.chunk",
            "system_fingerprint": "fp_5f4bad809a",
        })
        .to_string()
    };
    let out = vec![
        json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
               "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]})
        .to_string(),
        chunk(json!({"content": "", "role": "assistant"}), Value::Null),
    ];
    content_then_done(state, out, chunk, content)
}
