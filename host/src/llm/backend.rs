//! The LLM backend: one model server, spoken to in its own wire format.
//! Retries, fallback chains, the circuit, caching and usage are the same
//! for every server and live in [`super::Llm`].

use super::openai::Shape;
use super::wire::{BackendError, ChatReply, ChatRequest};
use futures_util::future::BoxFuture;
use std::time::Duration;

/// A model server.
pub trait ChatBackend: Send + Sync {
    /// One chat call. `shape` is the request shape to try (structured
    /// output, streamed usage); a server that has one shape ignores it.
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        shape: Shape,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ChatReply, BackendError>>;
    /// The models the server offers now.
    fn models(&self, timeout: Duration) -> BoxFuture<'_, Result<Vec<String>, BackendError>>;
    /// Whether a refused request shape is worth trying smaller
    /// ([`BackendError::Shape`]): servers that differ in what they accept.
    fn negotiates(&self) -> bool;
}

impl ChatBackend for super::ollama::Ollama {
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        _shape: Shape,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ChatReply, BackendError>> {
        Box::pin(super::ollama::Ollama::chat(self, req, timeout))
    }
    fn models(&self, timeout: Duration) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(async move {
            self.tags(timeout)
                .await
                .map(|t| t.into_iter().map(|m| m.name).collect())
        })
    }
    fn negotiates(&self) -> bool {
        false
    }
}

impl ChatBackend for super::openai::OpenAi {
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        shape: Shape,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ChatReply, BackendError>> {
        Box::pin(super::openai::OpenAi::chat(self, req, shape, timeout))
    }
    fn models(&self, timeout: Duration) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(super::openai::OpenAi::models(self, timeout))
    }
    fn negotiates(&self) -> bool {
        true
    }
}
