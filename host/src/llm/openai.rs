//! OpenAI-compatible servers (llama.cpp, vLLM, OpenAI): `/chat/completions`
//! streamed as server-sent events, and `/models`. The base URL includes the
//! version prefix, as `OPENAI_BASE_URL` does (`http://host:8080/v1`).

use super::wire::{
    BackendError, ChatReply, ChatRequest, error_message, failure, for_each_line, json_call,
};
use crate::config::BackendConfig;
use serde_json::{Value, json};
use std::time::Duration;

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

    /// `/chat/completions` with `stream: true`.
    pub async fn chat(
        &self,
        req: &ChatRequest,
        timeout: Duration,
    ) -> Result<ChatReply, BackendError> {
        let mut body = json!({
            "model": req.model,
            "messages": req.messages,
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = req.max_tokens {
            body["max_tokens"] = json!(n);
        }
        if let Some(s) = req.seed {
            body["seed"] = json!(s);
        }
        match &req.schema {
            Some(Value::String(s)) if s == "json" => {
                body["response_format"] = json!({ "type": "json_object" })
            }
            Some(schema) => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": { "name": "reply", "schema": schema, "strict": true },
                });
            }
            None => {}
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
        let mut reply = SseReply::new(&req.model);
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
    finished: bool,
    done: bool,
}

impl SseReply {
    /// A reply from `model` (until the stream names another).
    pub fn new(model: &str) -> SseReply {
        SseReply {
            reply: ChatReply {
                content: String::new(),
                model: model.to_string(),
                prompt_tokens: 0,
                completion_tokens: 0,
                truncated: false,
                tokens_per_second: None,
            },
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
            reply.model = m.to_string();
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
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            let n = |k: &str| {
                u.get(k)
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .min(u64::from(u32::MAX)) as u32
            };
            reply.prompt_tokens = n("prompt_tokens");
            reply.completion_tokens = n("completion_tokens");
        }
        Ok(false)
    }

    /// The reply, or why the stream ended without one.
    pub fn finish(self) -> Result<ChatReply, BackendError> {
        if !self.done && !self.finished {
            return Err(BackendError::Stream(
                "the stream ended before [DONE]".into(),
            ));
        }
        Ok(self.reply)
    }
}
