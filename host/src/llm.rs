//! The `llm` capability: chat with the model behind a model role.
//!
//! - grant: `[llm]` roles and the token budget per task ([`LlmGrant`]).
//! - host impl: checks the role and reserves `max-tokens` from the budget
//!   before anything is sent.
//! - backend: [`Llm`]; without a configured server every call reports
//!   `unavailable`, which agents answer with their built-in fallbacks.

use crate::bindings::Error;
use crate::bindings::nexus::agent::llm::{Completion, Host, Message, ModelInfo, Options};
use crate::policy::LlmGrant;
use crate::task::TaskState;

/// Completion tokens reserved when a call names no `max-tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 2_048;
/// Largest prompt accepted, in bytes over all messages.
pub const MAX_PROMPT_BYTES: usize = 1 << 20;

/// The configured LLM backends. None yet: see `nexus models`.
#[derive(Default)]
pub struct Llm {}

impl Llm {
    fn unavailable() -> Error {
        Error::Unavailable(
            "no LLM backend is configured; agents fall back to their built-in planning and templates".into(),
        )
    }
}

impl TaskState {
    fn llm_grant(&self, role: &str) -> Result<&LlmGrant, Error> {
        let grant = self
            .policy
            .llm
            .as_ref()
            .ok_or_else(|| Error::Denied("the policy has no [llm] section".into()))?;
        if !grant.roles.iter().any(|r| r == role) {
            return Err(Error::Denied(format!(
                "llm.roles {:?} does not include `{}`",
                grant.roles,
                crate::log::clip(role, 64)
            )));
        }
        Ok(grant)
    }
}

impl Host for TaskState {
    async fn chat(
        &mut self,
        model_role: String,
        messages: Vec<Message>,
        opts: Options,
    ) -> Result<Completion, Error> {
        let grant = self.llm_grant(&model_role)?;
        if messages.is_empty() {
            return Err(Error::Invalid("messages is empty".into()));
        }
        let prompt: usize = messages.iter().map(|m| m.content.len()).sum();
        if prompt > MAX_PROMPT_BYTES {
            return Err(Error::Invalid(format!(
                "the prompt is {prompt} bytes; the limit is {MAX_PROMPT_BYTES}"
            )));
        }
        if let Some(t) = opts.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(Error::Invalid(format!("temperature {t} is outside 0 to 2")));
        }
        if let Some(schema) = &opts.json_schema {
            serde_json::from_str::<serde_json::Value>(schema)
                .map_err(|e| Error::Invalid(format!("json-schema is not JSON: {e}")))?;
        }
        let reserve = u64::from(opts.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS));
        let left = grant.tokens_per_task.saturating_sub(self.tokens_used);
        if reserve > left {
            return Err(Error::QuotaExceeded(format!(
                "the call reserves {reserve} tokens but {left} of the task's {} are left",
                grant.tokens_per_task
            )));
        }
        Err(Llm::unavailable())
    }

    async fn models(&mut self) -> Result<Vec<ModelInfo>, Error> {
        if self.policy.llm.is_none() {
            return Err(Error::Denied("the policy has no [llm] section".into()));
        }
        Err(Llm::unavailable())
    }
}
