//! The `llm` host impl: checks the role grant and the token budget, then
//! delegates to [`super::Llm`].

use super::grant::LlmGrant;
use super::{
    CallContext, CallOptions, ChatMessage, DEFAULT_MAX_TOKENS, Llm, MAX_PROMPT_BYTES, Role,
};
use crate::bindings::Error;
use crate::bindings::nexus::agent::llm::{ChatRole, Completion, Host, Message, ModelInfo, Options};
use crate::task::Caller;
use std::time::Duration;

/// What the `llm` host impl sees of a task: who it is, its grant, the
/// tokens it has used, and the models.
pub struct LlmView<'a> {
    pub caller: &'a Caller,
    /// `None` when the policy has no `[llm]` section.
    pub grant: Option<&'a LlmGrant>,
    /// False while the agent describes itself.
    pub in_task: bool,
    /// LLM tokens reserved or spent by this task.
    pub tokens_used: &'a mut u64,
    pub llm: &'a Llm,
}

/// Links the `llm` host impl to a store's [`LlmView`].
pub struct HasLlm;

impl wasmtime::component::HasData for HasLlm {
    type Data<'a> = LlmView<'a>;
}

impl LlmView<'_> {
    fn llm_grant(&self, role: &str) -> Result<&LlmGrant, Error> {
        let grant = self
            .grant
            .ok_or_else(|| Error::Denied("the policy has no [llm] section".into()))?;
        if !grant.roles.iter().any(|r| r == role) {
            return Err(Error::Denied(format!(
                "llm.roles {:?} does not include `{}`",
                grant.roles,
                crate::text::clip(role, 64)
            )));
        }
        if !self.in_task {
            return Err(Error::Denied("describe() may not call the LLM".into()));
        }
        Ok(grant)
    }
}

fn options(opts: &Options) -> Result<CallOptions, Error> {
    if let Some(t) = opts.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(Error::Invalid(format!("temperature {t} is outside 0 to 2")));
    }
    let schema = match &opts.json_schema {
        None => None,
        Some(s) if s.len() > 256 << 10 => {
            return Err(Error::Invalid("json-schema is larger than 256 KiB".into()));
        }
        Some(s) => Some(
            serde_json::from_str::<serde_json::Value>(s)
                .map_err(|e| Error::Invalid(format!("json-schema is not JSON: {e}")))?,
        ),
    };
    Ok(CallOptions {
        temperature: opts.temperature,
        max_tokens: opts.max_tokens,
        seed: opts.seed,
        schema,
    })
}

impl Host for LlmView<'_> {
    async fn chat(
        &mut self,
        model_role: String,
        messages: Vec<Message>,
        opts: Options,
    ) -> Result<Completion, Error> {
        let grant = self.llm_grant(&model_role)?;
        let budget = grant.tokens_per_task;
        if messages.is_empty() {
            return Err(Error::Invalid("messages is empty".into()));
        }
        let prompt: usize = messages.iter().map(|m| m.content.len()).sum();
        if prompt > MAX_PROMPT_BYTES {
            return Err(Error::Invalid(format!(
                "the prompt is {prompt} bytes; the limit is {MAX_PROMPT_BYTES}"
            )));
        }
        let call = options(&opts)?;
        // Reserve the completion limit plus an estimate of the prompt (four
        // bytes a token) before anything is sent; settle from real usage.
        let reserve =
            u64::from(opts.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)) + (prompt as u64).div_ceil(4);
        let left = budget.saturating_sub(*self.tokens_used);
        if reserve > left {
            return Err(Error::QuotaExceeded(format!(
                "the call reserves {reserve} tokens but {left} of the task's {budget} are left"
            )));
        }
        *self.tokens_used += reserve;
        let messages = messages
            .into_iter()
            .map(|m| ChatMessage {
                role: match m.role {
                    ChatRole::System => Role::System,
                    ChatRole::User => Role::User,
                    ChatRole::Assistant => Role::Assistant,
                },
                content: m.content,
            })
            .collect();
        let ctx = CallContext {
            project: &self.caller.project,
            tenant: &self.caller.tenant,
            agent: &self.caller.agent,
            role: &model_role,
        };
        let llm = self.llm;
        // Settle the reservation with what the model really used, also
        // when the call failed after it answered (a reply that never
        // matched the schema still cost its tokens).
        let mut spent = 0;
        let result = llm.chat(&ctx, messages, call, left, &mut spent).await;
        *self.tokens_used = *self.tokens_used - reserve + spent;
        let answer = result?;
        let r = answer.reply;
        Ok(Completion {
            content: r.content,
            model: r.model,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            cached: answer.cached,
            truncated: r.truncated,
        })
    }

    async fn models(&mut self) -> Result<Vec<ModelInfo>, Error> {
        let roles = match self.grant {
            None => return Err(Error::Denied("the policy has no [llm] section".into())),
            Some(g) => g.roles.clone(),
        };
        let llm = self.llm;
        let (available, up) = match llm.list_models(Duration::from_secs(5)).await {
            Ok(models) => (models, true),
            Err(_) => (Vec::new(), false),
        };
        let backend = llm.backend_name();
        Ok(roles
            .into_iter()
            .map(|role| {
                let resolved = llm.resolve(&role, &available);
                let model = resolved
                    .clone()
                    .or_else(|| llm.config().chain(&role).into_iter().next())
                    .unwrap_or_default();
                ModelInfo {
                    role,
                    model,
                    backend: backend.clone(),
                    available: up && resolved.is_some(),
                }
            })
            .collect())
    }
}
