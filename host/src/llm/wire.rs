//! What both LLM wire protocols share: the request the host sends, the
//! reply it assembles, the ways a call can fail, and reading a streamed body.

use std::time::Duration;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// One chat call to one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub seed: Option<u64>,
    /// Structured output: the reply must be JSON matching this schema.
    pub schema: Option<serde_json::Value>,
}

/// An assembled reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    pub content: String,
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// The model stopped at the token limit.
    pub truncated: bool,
    /// Generation speed reported by the server, when it reports one.
    pub tokens_per_second: Option<f64>,
    /// The token counts are estimates: the server reported none (see
    /// [`ChatReply::settle_usage`]).
    pub estimated: bool,
}

/// Tokens in `bytes` of text, estimated at four bytes a token, rounded up:
/// the rule the capability reserves a prompt's tokens by, and the one used
/// when a server reports no usage.
pub fn estimate_tokens(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(4)).unwrap_or(u32::MAX)
}

impl ChatReply {
    /// An empty reply of `model`, to be filled from a stream.
    pub fn empty(model: &str) -> ChatReply {
        ChatReply {
            content: String::new(),
            model: model.to_string(),
            prompt_tokens: 0,
            completion_tokens: 0,
            truncated: false,
            tokens_per_second: None,
            estimated: false,
        }
    }

    /// Sets the token counts from what the server reported, and estimates
    /// each count it did not report ([`estimate_tokens`] of the prompt's
    /// `prompt_bytes`, of the reply's content). A count of 0 for text that
    /// is not empty is no count either.
    pub fn settle_usage(
        &mut self,
        prompt_bytes: usize,
        prompt: Option<u32>,
        completion: Option<u32>,
    ) {
        let mut estimated = false;
        let mut count = |reported: Option<u32>, bytes: usize| match reported {
            Some(n) if n > 0 || bytes == 0 => n,
            _ => {
                estimated = true;
                estimate_tokens(bytes)
            }
        };
        self.prompt_tokens = count(prompt, prompt_bytes);
        self.completion_tokens = count(completion, self.content.len());
        self.estimated = estimated;
    }

    /// Keeps the model name a server reports, when it is a plausible one
    /// (Azure's first chunk names the model `""`).
    pub fn set_model(&mut self, name: &str) {
        if !name.is_empty() && name.len() <= 256 && !name.chars().any(char::is_control) {
            self.model = name.to_string();
        }
    }
}

/// Why a call to a backend failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("rate limited (429)")]
    RateLimited(Option<Duration>),
    #[error("the server is loading the model: {0}")]
    Loading(String),
    #[error("server error {0}: {1}")]
    Server(u16, String),
    #[error("model `{0}` not found")]
    ModelNotFound(String),
    #[error("the stream failed: {0}")]
    Stream(String),
    /// The server understood the request as malformed: a field or value it
    /// does not take (HTTP 400 or 422, or a 500 carrying a validation error
    /// about `response_format` or `stream_options`). Not an outage, and not
    /// worth sending again unchanged; another shape of the request may work.
    #[error("the server refused the request shape (HTTP {0}): {1}")]
    Shape(u16, String),
    #[error("request rejected ({0}): {1}")]
    Rejected(u16, String),
    #[error("unexpected response: {0}")]
    Protocol(String),
}

impl BackendError {
    /// Worth trying again after a pause.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            BackendError::Connect(_)
                | BackendError::Timeout(_)
                | BackendError::RateLimited(_)
                | BackendError::Loading(_)
                | BackendError::Server(..)
                | BackendError::Stream(_)
        )
    }

    /// Counts against the backend's health (the circuit).
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            BackendError::Connect(_)
                | BackendError::Timeout(_)
                | BackendError::Server(..)
                | BackendError::Stream(_)
        )
    }

    pub(crate) fn from_reqwest(e: reqwest::Error, timeout: Duration) -> BackendError {
        if e.is_timeout() {
            BackendError::Timeout(timeout)
        } else if e.is_connect() {
            BackendError::Connect(root_cause(&e))
        } else if e.is_body() || e.is_decode() {
            BackendError::Stream(root_cause(&e))
        } else {
            BackendError::Connect(root_cause(&e))
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Largest body the host reads from an LLM server.
pub const MAX_BODY: usize = 8 << 20;

/// Reads a streamed body and hands each complete line (without the line
/// end) to `line`; stops early when `line` returns `Ok(true)`.
pub async fn for_each_line(
    resp: &mut reqwest::Response,
    timeout: Duration,
    mut line: impl FnMut(&str) -> Result<bool, BackendError>,
) -> Result<(), BackendError> {
    let mut lines = Lines::default();
    let mut total = 0usize;
    loop {
        let chunk = resp
            .chunk()
            .await
            .map_err(|e| BackendError::from_reqwest(e, timeout))?;
        let Some(chunk) = chunk else { break };
        total += chunk.len();
        if total > MAX_BODY {
            return Err(BackendError::Protocol(format!(
                "the reply is larger than {MAX_BODY} bytes"
            )));
        }
        if lines.push(&chunk, &mut line)? {
            // Read what is left (usually the end of the chunked body) so
            // the connection goes back to the pool instead of stalling
            // the next request on it.
            while let Ok(Some(rest)) = resp.chunk().await {
                total += rest.len();
                if total > MAX_BODY {
                    break;
                }
            }
            return Ok(());
        }
    }
    lines.finish(&mut line)?;
    Ok(())
}

/// Splits a streamed body into lines as its chunks arrive, wherever the
/// chunks split it.
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
}

impl Lines {
    /// Adds `chunk` and hands each line it completes (without the line
    /// end) to `line`; returns `Ok(true)`, leaving the rest unread, as soon
    /// as `line` does.
    pub fn push<E>(
        &mut self,
        chunk: &[u8],
        line: &mut impl FnMut(&str) -> Result<bool, E>,
    ) -> Result<bool, E> {
        self.buf.extend_from_slice(chunk);
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.buf.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&raw);
            if line(text.trim_end_matches(['\r', '\n']))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Hands the last line, when the body does not end with a line end, to
    /// `line`.
    pub fn finish<E>(self, line: &mut impl FnMut(&str) -> Result<bool, E>) -> Result<bool, E> {
        if self.buf.is_empty() {
            return Ok(false);
        }
        let text = String::from_utf8_lossy(&self.buf);
        line(text.trim_end_matches('\r'))
    }
}

/// Classifies a non-success HTTP status with the server's message.
pub fn status_error(status: u16, body: &str, model: &str, message: String) -> BackendError {
    let message = if message.is_empty() {
        one_line(body, MAX_MESSAGE)
    } else {
        message
    };
    let lower = message.to_ascii_lowercase();
    let about_model = lower.contains("model")
        && (lower.contains("not found") || lower.contains("does not exist"));
    match status {
        404 if lower.contains("model")
            || lower.contains("not found")
            || lower.contains("does not exist") =>
        {
            BackendError::ModelNotFound(model.to_string())
        }
        429 => BackendError::RateLimited(None),
        503 if lower.contains("loading") => BackendError::Loading(message),
        // llama-cpp-python answers a request that fails validation with a
        // 500 whose message is the validation error.
        500 if is_validation_error(&lower) => BackendError::Shape(status, message),
        500..=599 => BackendError::Server(status, message),
        // llama-cpp-python says "The model `x` does not exist" with a 400.
        _ if about_model => BackendError::ModelNotFound(model.to_string()),
        // Too long a prompt is the caller's to fix, not the request's shape.
        400 | 422 if lower.contains("context length") || lower.contains("context_length") => {
            BackendError::Rejected(status, message)
        }
        400 | 422 => BackendError::Shape(status, message),
        _ => BackendError::Rejected(status, message),
    }
}

/// A validation error (pydantic's or a server's own) about a field the
/// host negotiates.
fn is_validation_error(lower: &str) -> bool {
    (lower.contains("response_format") || lower.contains("stream_options"))
        && (lower.contains("validation")
            || lower.contains("'loc'")
            || lower.contains("input should")
            || lower.contains("literal_error")
            || lower.contains("extra_forbidden")
            || lower.contains("unknown parameter")
            || lower.contains("unrecognized request argument"))
}

/// Longest server message kept in an error, in characters.
pub const MAX_MESSAGE: usize = 300;

/// `text` on one line: whitespace runs (newlines included) become one
/// space, other control characters are dropped, and at most `max`
/// characters are kept.
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut kept = 0;
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if c.is_control() {
            continue;
        }
        let gap = space && !out.is_empty();
        if kept + usize::from(gap) + 1 > max {
            out.push('…');
            break;
        }
        if gap {
            out.push(' ');
            kept += 1;
        }
        space = false;
        out.push(c);
        kept += 1;
    }
    out
}

/// The gist of a pydantic validation error as Python prints it
/// (`[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'),
/// 'msg': "Input should be ...", ...}]`, as llama-cpp-python and vLLM
/// return it): `response_format.type: Input should be ...` for each error;
/// `None` when `text` is not one.
fn pydantic_gist(text: &str) -> Option<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("'loc': (") {
        rest = &rest[at + "'loc': (".len()..];
        let end = rest.find(')')?;
        let loc: Vec<&str> = rest[..end]
            .split(',')
            .map(|p| p.trim().trim_matches(|c| c == '\'' || c == '"'))
            .filter(|p| !p.is_empty() && *p != "body")
            .collect();
        rest = &rest[end..];
        let at = rest.find("'msg': ")?;
        rest = &rest[at + "'msg': ".len()..];
        let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let close = rest[1..].find(quote)?;
        found.push(format!("{}: {}", loc.join("."), &rest[1..1 + close]));
        rest = &rest[1 + close..];
        if found.len() == 3 {
            break;
        }
    }
    (!found.is_empty()).then(|| found.join("; "))
}

/// A server's error text as one bounded line, a pydantic error list
/// reduced to its gist.
pub fn clean_message(text: &str) -> String {
    one_line(
        &pydantic_gist(text).unwrap_or_else(|| text.to_string()),
        MAX_MESSAGE,
    )
}

/// The server's message in an error body, cleaned ([`clean_message`]):
/// Ollama's `{"error": "..."}`, OpenAI's `{"error": {"message": "..."}}`,
/// vLLM's `{"object": "error", "message": "..."}`, FastAPI's
/// `{"detail": [{"loc": [...], "msg": "..."}]}`.
pub fn error_message(v: &serde_json::Value) -> String {
    use serde_json::Value;
    let text = match (v.get("error"), v.get("message"), v.get("detail")) {
        (Some(Value::String(s)), _, _) => s.clone(),
        (Some(e), _, _) => e
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| e.to_string(), str::to_string),
        (None, Some(Value::String(m)), _) => m.clone(),
        (None, _, Some(Value::String(d))) => d.clone(),
        (None, _, Some(Value::Array(items))) => items
            .iter()
            .take(3)
            .map(|item| {
                let loc: Vec<String> = item
                    .get("loc")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                    .filter(|p| p != "body")
                    .collect();
                let msg = item.get("msg").and_then(Value::as_str).unwrap_or("");
                format!("{}: {msg}", loc.join("."))
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    };
    clean_message(&text)
}

/// The typed error for a response whose status is not a success.
pub async fn failure(resp: reqwest::Response, model: &str) -> BackendError {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(60)));
    let text = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| error_message(&v))
        .unwrap_or_else(|_| clean_message(&text));
    match status {
        429 => BackendError::RateLimited(retry_after),
        _ => status_error(status, &text, model, message),
    }
}

/// Sends a request whose reply is one JSON document and parses it.
pub async fn json_call(
    req: reqwest::RequestBuilder,
    timeout: Duration,
    model: &str,
    what: &str,
) -> Result<serde_json::Value, BackendError> {
    let resp = req
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| BackendError::from_reqwest(e, timeout))?;
    if !resp.status().is_success() {
        return Err(failure(resp, model).await);
    }
    let text = resp
        .text()
        .await
        .map_err(|e| BackendError::from_reqwest(e, timeout))?;
    serde_json::from_str(&text).map_err(|e| BackendError::Protocol(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What llama-cpp-python answers `response_format: {"type": "json_schema"}` with.
    const LLAMA_CPP_PYTHON_500: &str = r#"{"error": {"message": "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', 'ctx': {'expected': \"'text' or 'json_object'\"}}]", "type": "internal_server_error", "param": null, "code": null}}"#;

    fn classify(status: u16, body: &str) -> BackendError {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        status_error(status, body, "m", error_message(&v))
    }

    #[test]
    fn a_500_carrying_a_validation_error_is_a_shape_error() {
        match classify(500, LLAMA_CPP_PYTHON_500) {
            BackendError::Shape(500, msg) => assert_eq!(
                msg,
                "response_format.type: Input should be 'text' or 'json_object'"
            ),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn a_plain_500_is_an_outage() {
        let e = classify(
            500,
            r#"{"error": {"message": "CUDA error: out of memory", "type": "internal_server_error"}}"#,
        );
        assert!(e.is_outage() && e.retryable(), "{e:?}");
    }

    #[test]
    fn shape_errors_are_neither_outages_nor_retried() {
        let e = classify(
            400,
            r#"{"error": {"message": "Unknown parameter: 'stream_options'.", "param": "stream_options"}}"#,
        );
        assert!(matches!(e, BackendError::Shape(400, _)), "{e:?}");
        assert!(!e.is_outage() && !e.retryable());
    }

    #[test]
    fn bad_requests_that_are_not_about_shape_keep_their_kind() {
        let too_long = classify(
            400,
            r#"{"error": {"message": "This model's maximum context length is 2048 tokens.", "code": "context_length_exceeded"}}"#,
        );
        assert!(
            matches!(too_long, BackendError::Rejected(400, _)),
            "{too_long:?}"
        );
        // llama-cpp-python's "model not found".
        let missing = classify(
            400,
            r#"{"error": {"message": "The model `x.gguf` does not exist", "code": "model_not_found"}}"#,
        );
        assert!(
            matches!(missing, BackendError::ModelNotFound(_)),
            "{missing:?}"
        );
    }

    #[test]
    fn error_bodies_of_each_server_family_are_read() {
        // vLLM before its errors moved under "error".
        let vllm = r#"{"object": "error", "message": "Stream options can only be defined when `stream=True`.", "type": "BadRequestError", "code": 400}"#;
        assert!(
            matches!(classify(400, vllm), BackendError::Shape(400, m) if m.starts_with("Stream options"))
        );
        // FastAPI's own 422.
        let fastapi = r#"{"detail": [{"type": "literal_error", "loc": ["body", "response_format", "type"], "msg": "Input should be 'text'", "input": "x"}]}"#;
        assert!(
            matches!(classify(422, fastapi), BackendError::Shape(422, m) if m == "response_format.type: Input should be 'text'")
        );
    }

    #[test]
    fn server_messages_become_one_bounded_line() {
        assert_eq!(one_line("  a\n\n  b\tc\u{1b}[31m ", 100), "a b c[31m");
        assert_eq!(one_line(&"word ".repeat(200), 20), "word word word word…");
        // FastAPI's newer text for a validation error spans lines.
        let text = "1 validation error:\n  {'type': 'extra_forbidden', 'loc': ('body', 'stream_options'), 'msg': 'Extra inputs are not permitted', 'input': {}}\n";
        assert_eq!(
            clean_message(text),
            "stream_options: Extra inputs are not permitted"
        );
    }

    #[test]
    fn counts_a_server_does_not_report_are_estimated_from_bytes() {
        let mut reply = ChatReply::empty("m");
        reply.content = "x".repeat(10);
        reply.settle_usage(17, Some(12), Some(3));
        assert_eq!(
            (
                reply.prompt_tokens,
                reply.completion_tokens,
                reply.estimated
            ),
            (12, 3, false)
        );
        reply.settle_usage(17, None, None);
        assert_eq!(
            (
                reply.prompt_tokens,
                reply.completion_tokens,
                reply.estimated
            ),
            (5, 3, true),
            "four bytes a token, rounded up"
        );
        // No text for a reply of some length is no count.
        reply.settle_usage(17, Some(12), Some(0));
        assert_eq!((reply.completion_tokens, reply.estimated), (3, true));
    }
}
