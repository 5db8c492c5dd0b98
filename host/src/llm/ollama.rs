//! Ollama's native API: `/api/chat` and `/api/generate` (streamed NDJSON),
//! `/api/tags`, `/api/show`.

use super::wire::{
    BackendError, ChatReply, ChatRequest, clean_message, failure, for_each_line, json_call,
};
use crate::config::BackendConfig;
use serde_json::{Value, json};
use std::time::Duration;

pub struct Ollama {
    http: reqwest::Client,
    base: String,
    keep_alive: Option<String>,
    num_ctx: Option<u32>,
}

/// A model as `/api/tags` lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TagModel {
    pub name: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub digest: String,
}

impl Ollama {
    pub fn new(http: reqwest::Client, cfg: &BackendConfig) -> Ollama {
        Ollama {
            http,
            base: cfg.base_url.trim_end_matches('/').to_string(),
            keep_alive: cfg.keep_alive.clone(),
            num_ctx: cfg.num_ctx,
        }
    }

    fn options(&self, req: &ChatRequest) -> Value {
        let mut o = serde_json::Map::new();
        if let Some(t) = req.temperature {
            o.insert("temperature".into(), json!(t));
        }
        if let Some(n) = req.max_tokens {
            o.insert("num_predict".into(), json!(n));
        }
        if let Some(s) = req.seed {
            o.insert("seed".into(), json!(s));
        }
        if let Some(n) = self.num_ctx {
            o.insert("num_ctx".into(), json!(n));
        }
        Value::Object(o)
    }

    fn body(&self, req: &ChatRequest, extra: Value) -> Value {
        let mut body = json!({ "model": req.model, "stream": true, "options": self.options(req) });
        if let Some(schema) = &req.schema {
            body["format"] = schema.clone();
        }
        if let Some(k) = &self.keep_alive {
            body["keep_alive"] = json!(k);
        }
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        body
    }

    /// `/api/chat`, streamed.
    pub async fn chat(
        &self,
        req: &ChatRequest,
        timeout: Duration,
    ) -> Result<ChatReply, BackendError> {
        let body = self.body(req, json!({ "messages": req.messages }));
        let prompt_bytes = req.messages.iter().map(|m| m.content.len()).sum();
        self.stream(
            "/api/chat",
            body,
            NdjsonReply::chat(&req.model, prompt_bytes),
            timeout,
        )
        .await
    }

    /// `/api/generate`, streamed: one prompt and an optional system prompt;
    /// `req.schema` becomes `format` (a schema, or the string `"json"`).
    pub async fn generate(
        &self,
        req: &ChatRequest,
        prompt: &str,
        system: Option<&str>,
        timeout: Duration,
    ) -> Result<ChatReply, BackendError> {
        let mut extra = json!({ "prompt": prompt });
        if let Some(s) = system {
            extra["system"] = json!(s);
        }
        let body = self.body(req, extra);
        let prompt_bytes = prompt.len() + system.map_or(0, str::len);
        self.stream(
            "/api/generate",
            body,
            NdjsonReply::generate(&req.model, prompt_bytes),
            timeout,
        )
        .await
    }

    async fn stream(
        &self,
        path: &str,
        body: Value,
        mut reply: NdjsonReply,
        timeout: Duration,
    ) -> Result<ChatReply, BackendError> {
        let mut resp = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| BackendError::from_reqwest(e, timeout))?;
        if !resp.status().is_success() {
            return Err(failure(resp, &reply.reply.model).await);
        }
        for_each_line(&mut resp, timeout, |line| reply.line(line)).await?;
        reply.finish()
    }

    /// `/api/tags`: the models the server has.
    pub async fn tags(&self, timeout: Duration) -> Result<Vec<TagModel>, BackendError> {
        let v = json_call(
            self.http.get(format!("{}/api/tags", self.base)),
            timeout,
            "",
            "/api/tags",
        )
        .await?;
        serde_json::from_value(v["models"].clone())
            .map_err(|e| BackendError::Protocol(format!("/api/tags: {e}")))
    }

    /// `/api/show`: details of one model.
    pub async fn show(&self, model: &str, timeout: Duration) -> Result<Value, BackendError> {
        let req = self
            .http
            .post(format!("{}/api/show", self.base))
            .json(&json!({ "model": model }));
        json_call(req, timeout, model, "/api/show").await
    }
}

/// A token count from the server, at most `u32::MAX`; `None` when absent.
fn count(v: &Value, key: &str) -> Option<u32> {
    v.get(key)
        .and_then(Value::as_u64)
        .map(|n| n.min(u64::from(u32::MAX)) as u32)
}

/// Assembles a reply from Ollama's streamed NDJSON, one line at a time.
#[derive(Debug)]
pub struct NdjsonReply {
    reply: ChatReply,
    /// Bytes of the prompt as sent, for the estimate when the server
    /// reports no usage.
    prompt_bytes: usize,
    piece: fn(&Value) -> Option<&str>,
    done: bool,
}

impl NdjsonReply {
    fn new(model: &str, prompt_bytes: usize, piece: fn(&Value) -> Option<&str>) -> NdjsonReply {
        NdjsonReply {
            reply: ChatReply::empty(model),
            prompt_bytes,
            piece,
            done: false,
        }
    }

    /// A reply of `/api/chat` from `model`: pieces in `message.content`.
    pub fn chat(model: &str, prompt_bytes: usize) -> NdjsonReply {
        NdjsonReply::new(model, prompt_bytes, |v| {
            v.get("message")
                .and_then(|m| m.get("content"))
                .and_then(Value::as_str)
        })
    }

    /// A reply of `/api/generate` from `model`: pieces in `response`.
    pub fn generate(model: &str, prompt_bytes: usize) -> NdjsonReply {
        NdjsonReply::new(model, prompt_bytes, |v| {
            v.get("response").and_then(Value::as_str)
        })
    }

    /// Reads one line of the stream; `Ok(true)` at the line saying `done`.
    pub fn line(&mut self, line: &str) -> Result<bool, BackendError> {
        let reply = &mut self.reply;
        if line.trim().is_empty() {
            return Ok(false);
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| BackendError::Protocol(format!("a stream line is not JSON: {e}")))?;
        // A 200 stream can still fail part-way: every line may carry an error.
        if let Some(err) = v.get("error") {
            let msg = err.as_str().map_or_else(|| err.to_string(), str::to_string);
            return Err(BackendError::Stream(clean_message(&msg)));
        }
        if let Some(p) = (self.piece)(&v) {
            reply.content.push_str(p);
        }
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            reply.truncated = v.get("done_reason").and_then(Value::as_str) == Some("length");
            let evaluated = count(&v, "eval_count");
            reply.settle_usage(self.prompt_bytes, count(&v, "prompt_eval_count"), evaluated);
            let eval_ns = v.get("eval_duration").and_then(Value::as_u64).unwrap_or(0);
            if let Some(n) = evaluated
                && eval_ns > 0
            {
                reply.tokens_per_second = Some(f64::from(n) / (eval_ns as f64 / 1e9));
            }
            if let Some(m) = v.get("model").and_then(Value::as_str) {
                reply.set_model(m);
            }
            self.done = true;
            return Ok(true);
        }
        Ok(false)
    }

    /// The reply, or why the stream ended without one.
    pub fn finish(self) -> Result<ChatReply, BackendError> {
        if !self.done {
            return Err(BackendError::Stream(
                "the stream ended before `done`".into(),
            ));
        }
        Ok(self.reply)
    }
}
