//! OpenAI-compatible servers (llama.cpp, vLLM, OpenAI): `/chat/completions`
//! streamed as server-sent events, and `/models`. The base URL includes the
//! version prefix, as `OPENAI_BASE_URL` does (`http://host:8080/v1`).
//!
//! These servers differ in what a request may carry, so the parts they
//! disagree on form a [`Shape`] that the backend negotiates: structured
//! output as `json_schema` (OpenAI, vLLM, llama.cpp's `llama-server`), as
//! `json_object` with a `schema` (llama-cpp-python, `llama-server`), or
//! only in the prompt; and `stream_options` to ask for usage, which some
//! servers refuse and some ignore.

use super::wire::{
    BackendError, ChatMessage, ChatReply, ChatRequest, Role, error_message, failure, for_each_line,
    json_call,
};
use crate::config::BackendConfig;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::time::Duration;

/// How a request asks for JSON matching a schema, in the order tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structured {
    /// `response_format: {"type": "json_schema", "json_schema": {"name",
    /// "schema", "strict"}}`.
    JsonSchema,
    /// `response_format: {"type": "json_object", "schema": ...}`.
    JsonObject,
    /// No `response_format`: the schema is given in the system prompt, and
    /// only the host's validation holds the reply to it.
    Prompt,
}

/// What a request to an OpenAI-compatible server carries beyond the call
/// itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub structured: Structured,
    /// `stream_options: {"include_usage": true}`, without which streamed
    /// answers carry no usage.
    pub stream_usage: bool,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape {
            structured: Structured::JsonSchema,
            stream_usage: true,
        }
    }
}

impl Shape {
    /// The shape to try after the server refused this one with `reason`,
    /// for a call with `schema`; `None` when nothing is left to leave out.
    /// A reason that names `stream_options` drops them; otherwise the
    /// structured output steps down (`json_schema`, `json_object`, prompt),
    /// and then, unless the reason is about `response_format`,
    /// `stream_options` go.
    pub fn after_refusal(self, reason: &str, schema: Option<&Value>) -> Option<Shape> {
        let about_stream = reason.contains("stream_options");
        let about_format = reason.contains("response_format") || reason.contains("json_schema");
        if about_stream {
            return self.stream_usage.then_some(Shape {
                stream_usage: false,
                ..self
            });
        }
        if let Some(schema) = schema {
            // A bare "json" asks for `json_object` in both response_format
            // modes: after one refusal only the prompt is left.
            let next = match (self.structured, is_plain_json(schema)) {
                (Structured::JsonSchema, false) => Some(Structured::JsonObject),
                (Structured::JsonSchema | Structured::JsonObject, _) => Some(Structured::Prompt),
                (Structured::Prompt, _) => None,
            };
            if let Some(structured) = next {
                return Some(Shape { structured, ..self });
            }
        }
        (self.stream_usage && !about_format).then_some(Shape {
            stream_usage: false,
            ..self
        })
    }
}

/// `json-schema` is the string `"json"`: any JSON document.
fn is_plain_json(schema: &Value) -> bool {
    schema.as_str() == Some("json")
}

/// The messages with the schema written into the system prompt (the first
/// message when it is a system message, so templates that take only one
/// system message at the start still work).
fn schema_in_prompt(messages: &[ChatMessage], schema: &Value) -> Vec<ChatMessage> {
    let rule = if is_plain_json(schema) {
        "Answer with one JSON document and nothing else.".to_string()
    } else {
        format!(
            "Answer with one JSON document and nothing else. It must match this JSON schema:\n{schema}"
        )
    };
    let mut out = messages.to_vec();
    match out.first_mut() {
        Some(first) if first.role == Role::System => {
            first.content.push_str("\n\n");
            first.content.push_str(&rule);
        }
        _ => out.insert(
            0,
            ChatMessage {
                role: Role::System,
                content: rule,
            },
        ),
    }
    out
}

/// A token count from a server: a non-negative integer, at most `u32::MAX`.
fn count(v: &Value, key: &str) -> Option<u32> {
    v.get(key)
        .and_then(Value::as_u64)
        .map(|n| n.min(u64::from(u32::MAX)) as u32)
}

pub struct OpenAi {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
}

impl OpenAi {
    pub fn new(http: reqwest::Client, cfg: &BackendConfig) -> OpenAi {
        OpenAi {
            http,
            base: cfg.base_url.trim_end_matches('/').to_string(),
            api_key: cfg.api_key.clone(),
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        timeout: Duration,
    ) -> reqwest::RequestBuilder {
        let mut b = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(timeout);
        if let Some(key) = &self.api_key {
            b = b.bearer_auth(key);
        }
        b
    }

    /// `/chat/completions` with `stream: true`, in `shape`. Token counts the
    /// server does not report are estimated ([`ChatReply::settle_usage`]).
    pub async fn chat(
        &self,
        req: &ChatRequest,
        shape: Shape,
        timeout: Duration,
    ) -> Result<ChatReply, BackendError> {
        let messages = match &req.schema {
            Some(schema) if shape.structured == Structured::Prompt => {
                Cow::Owned(schema_in_prompt(&req.messages, schema))
            }
            _ => Cow::Borrowed(&req.messages),
        };
        let prompt_bytes: usize = messages.iter().map(|m| m.content.len()).sum();
        let mut body = json!({
            "model": req.model,
            "messages": messages,
            "stream": true,
        });
        if shape.stream_usage {
            body["stream_options"] = json!({ "include_usage": true });
        }
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = req.max_tokens {
            body["max_tokens"] = json!(n);
        }
        if let Some(s) = req.seed {
            body["seed"] = json!(s);
        }
        match (&req.schema, shape.structured) {
            (None, _) | (Some(_), Structured::Prompt) => {}
            (Some(schema), _) if is_plain_json(schema) => {
                body["response_format"] = json!({ "type": "json_object" })
            }
            (Some(schema), Structured::JsonSchema) => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": { "name": "reply", "schema": schema, "strict": true },
                });
            }
            (Some(schema), Structured::JsonObject) => {
                body["response_format"] = json!({ "type": "json_object", "schema": schema });
            }
        }
        let mut resp = self
            .request(reqwest::Method::POST, "/chat/completions", timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| BackendError::from_reqwest(e, timeout))?;
        if !resp.status().is_success() {
            return Err(failure(resp, &req.model).await);
        }
        let mut reply = SseReply::new(&req.model, prompt_bytes);
        for_each_line(&mut resp, timeout, |line| reply.line(line)).await?;
        reply.finish()
    }

    /// `/models`: the model ids the server offers.
    pub async fn models(&self, timeout: Duration) -> Result<Vec<String>, BackendError> {
        let req = self.request(reqwest::Method::GET, "/models", timeout);
        let v = json_call(req, timeout, "", "/models").await?;
        Ok(v.get("data")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Assembles a reply from the server-sent events of a streamed
/// `/chat/completions`, one line at a time.
#[derive(Debug)]
pub struct SseReply {
    reply: ChatReply,
    /// Bytes of the prompt as sent, for the estimate when the server
    /// reports no usage.
    prompt_bytes: usize,
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
    finished: bool,
    done: bool,
}

impl SseReply {
    /// A reply from `model` (until the stream names another) to a prompt
    /// of `prompt_bytes`.
    pub fn new(model: &str, prompt_bytes: usize) -> SseReply {
        SseReply {
            reply: ChatReply::empty(model),
            prompt_bytes,
            prompt_tokens: None,
            completion_tokens: None,
            finished: false,
            done: false,
        }
    }

    /// Reads one line of the stream; `Ok(true)` at `[DONE]`.
    pub fn line(&mut self, line: &str) -> Result<bool, BackendError> {
        let reply = &mut self.reply;
        let Some(data) = line.strip_prefix("data:") else {
            // Comments (`:`), `event:`, `id:` and blank separators.
            return Ok(false);
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(true);
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| BackendError::Protocol(format!("an event is not JSON: {e}")))?;
        if v.get("error").is_some() {
            return Err(BackendError::Stream(error_message(&v)));
        }
        if let Some(m) = v.get("model").and_then(Value::as_str) {
            reply.set_model(m);
        }
        if let Some(choice) = v.get("choices").and_then(|c| c.get(0)) {
            if let Some(piece) = choice.pointer("/delta/content").and_then(Value::as_str) {
                reply.content.push_str(piece);
            }
            match choice.get("finish_reason").and_then(Value::as_str) {
                Some("length") => {
                    reply.truncated = true;
                    self.finished = true;
                }
                Some(_) => self.finished = true,
                None => {}
            }
        }
        // vLLM and OpenAI send usage in a last chunk when asked;
        // llama.cpp's llama-server in its final chunk, with timings.
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.prompt_tokens = count(u, "prompt_tokens");
            self.completion_tokens = count(u, "completion_tokens");
        }
        if let Some(speed) = v
            .pointer("/timings/predicted_per_second")
            .and_then(Value::as_f64)
            .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e7)
        {
            reply.tokens_per_second = Some(speed);
        }
        Ok(false)
    }

    /// The reply, or why the stream ended without one. Usage the server did
    /// not report is estimated.
    pub fn finish(mut self) -> Result<ChatReply, BackendError> {
        if !self.done && !self.finished {
            return Err(BackendError::Stream(
                "the stream ended before [DONE]".into(),
            ));
        }
        self.reply.settle_usage(
            self.prompt_bytes,
            self.prompt_tokens,
            self.completion_tokens,
        );
        Ok(self.reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Value {
        json!({"type": "object", "properties": {"name": {"type": "string"}}})
    }

    /// Every step leaves something out: no shape is sent twice.
    #[test]
    fn refusals_step_down_until_nothing_is_left_to_leave_out() {
        let mut shape = Shape::default();
        let mut seen = vec![shape];
        while let Some(next) = shape.after_refusal("Invalid 'messages[1]'", Some(&person())) {
            assert!(!seen.contains(&next), "{next:?} again");
            seen.push(next);
            shape = next;
        }
        let structured: Vec<_> = seen
            .iter()
            .map(|s| (s.structured, s.stream_usage))
            .collect();
        assert_eq!(
            structured,
            [
                (Structured::JsonSchema, true),
                (Structured::JsonObject, true),
                (Structured::Prompt, true),
                (Structured::Prompt, false),
            ]
        );
    }

    #[test]
    fn a_refusal_naming_stream_options_drops_only_them() {
        let next = Shape::default()
            .after_refusal("Unknown parameter: 'stream_options'.", Some(&person()))
            .unwrap();
        assert_eq!(next.structured, Structured::JsonSchema);
        assert!(!next.stream_usage);
        assert_eq!(
            next.after_refusal("Unknown parameter: 'stream_options'.", None),
            None
        );
    }

    #[test]
    fn a_refusal_about_response_format_keeps_stream_options() {
        let prompt = Shape {
            structured: Structured::Prompt,
            stream_usage: true,
        };
        assert_eq!(
            prompt.after_refusal("response_format.type: Input should be", Some(&person())),
            None
        );
        // A bare "json" has one response_format form only.
        assert_eq!(
            Shape::default()
                .after_refusal("response_format", Some(&json!("json")))
                .map(|s| s.structured),
            Some(Structured::Prompt)
        );
    }

    #[test]
    fn the_schema_joins_the_first_system_message() {
        let messages = vec![
            ChatMessage {
                role: Role::System,
                content: "Be terse.".into(),
            },
            ChatMessage {
                role: Role::User,
                content: "hi".into(),
            },
        ];
        let out = schema_in_prompt(&messages, &person());
        assert_eq!(out.len(), 2);
        assert!(
            out[0]
                .content
                .starts_with("Be terse.\n\nAnswer with one JSON document")
        );
        assert!(out[0].content.contains(&person().to_string()));
        let out = schema_in_prompt(&messages[1..], &json!("json"));
        assert_eq!((out.len(), out[0].role), (2, Role::System));
    }
}
