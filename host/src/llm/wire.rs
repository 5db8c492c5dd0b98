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

/// Classifies a non-success HTTP status with its body text.
pub fn status_error(status: u16, body: &str, model: &str, message: String) -> BackendError {
    let lower = message.to_ascii_lowercase();
    match status {
        404 if lower.contains("model")
            || lower.contains("not found")
            || lower.contains("does not exist") =>
        {
            BackendError::ModelNotFound(model.to_string())
        }
        429 => BackendError::RateLimited(None),
        503 if lower.contains("loading") => BackendError::Loading(message),
        500..=599 => BackendError::Server(status, message),
        _ if lower.contains("not found") && lower.contains("model") => {
            BackendError::ModelNotFound(model.to_string())
        }
        _ => BackendError::Rejected(
            status,
            if message.is_empty() {
                body.chars().take(300).collect()
            } else {
                message
            },
        ),
    }
}

/// The server's message in an error body: Ollama's `{"error": "..."}` or
/// OpenAI's `{"error": {"message": "..."}}`.
pub fn error_message(v: &serde_json::Value) -> String {
    match v.get("error") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(e) => e
            .get("message")
            .and_then(serde_json::Value::as_str)
            .map_or_else(|| e.to_string(), str::to_string),
        None => String::new(),
    }
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
        .unwrap_or_else(|_| text.chars().take(300).collect());
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
