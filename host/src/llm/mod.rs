//! The `llm` capability.
//!
//! - [`grant`]: the `[llm]` section (roles and the token budget per task).
//! - [`host`]: the host impl: checks the role, reserves tokens, settles.
//! - [`backend`]: the [`ChatBackend`] trait, one model server's wire
//!   protocol; [`ollama`] and [`openai`] implement it.
//! - [`Llm`] (here) drives a backend for every task: maps a role to a model
//!   chain, retries with backoff and jitter, moves down
//!   the fallback chain on "model not found", opens a circuit on a dead
//!   server, negotiates the request shape an OpenAI-compatible server takes
//!   (and remembers it per model), validates structured output (one retry
//!   with the validation error), caches deterministic calls and records
//!   usage in SQLite, estimated where the server reports none.

pub mod backend;
pub mod grant;
pub mod host;
pub mod ollama;
pub mod openai;
pub mod wire;

use crate::bindings::Error;
use crate::config::{BackendKind, LlmConfig};
use crate::db::Database;
use crate::sync::Recover;
pub use backend::ChatBackend;
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
pub use wire::{BackendError, ChatMessage, ChatReply, ChatRequest, Role};

/// Completion tokens reserved when a call names no `max-tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 2_048;
/// Largest prompt accepted, in bytes over all messages.
pub const MAX_PROMPT_BYTES: usize = 1 << 20;

/// Consecutive outages of the backend; open means "do not call for a while".
#[derive(Default)]
struct Circuit {
    failures: u32,
    open_until: Option<Instant>,
    /// Why it is open, for the error every call answers meanwhile.
    cause: String,
}

/// Who is calling, for usage records.
pub struct CallContext<'a> {
    pub project: &'a str,
    pub tenant: &'a str,
    pub agent: &'a str,
    pub role: &'a str,
}

/// Options of one call, checked by the capability.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub seed: Option<u64>,
    pub schema: Option<Value>,
}

/// The answer to a call, with what it cost.
#[derive(Debug, Clone)]
pub struct Answer {
    pub reply: ChatReply,
    pub cached: bool,
}

/// The LLM backend shared by every task.
pub struct Llm {
    config: LlmConfig,
    backend: Option<Box<dyn ChatBackend>>,
    circuit: Mutex<Circuit>,
    /// The request shape that last worked with each model of the (one)
    /// OpenAI-compatible backend; calls start from it.
    shapes: Mutex<HashMap<String, openai::Shape>>,
    db: Arc<Database>,
    telemetry: crate::telemetry::Telemetry,
    /// Whether a tenant may still call a model (a service's daily quota).
    tenants: std::sync::OnceLock<TenantCheck>,
}

/// Says whether `tenant` may make another model call: `quota-exceeded`
/// with the reason when not. Runs off the async threads.
pub type TenantCheck = Arc<dyn Fn(&str) -> Result<(), Error> + Send + Sync>;

fn db_error(e: rusqlite::Error) -> Error {
    Error::Internal(format!("llm records: {e}"))
}

/// Strips a Markdown code fence a model may wrap JSON in.
fn unfence(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

/// The LLM records' schema, step by step (see [`crate::db::migrate`]).
const STEPS: &[crate::db::Step] = &[
    |c| {
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS llm_usage (
                     at INTEGER NOT NULL, project TEXT NOT NULL, tenant TEXT NOT NULL, agent TEXT NOT NULL,
                     role TEXT NOT NULL, model TEXT NOT NULL, backend TEXT NOT NULL,
                     prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
                     cached INTEGER NOT NULL, duration_ms INTEGER NOT NULL, tokens_per_second REAL,
                     estimated INTEGER NOT NULL DEFAULT 0);
                 CREATE INDEX IF NOT EXISTS llm_usage_project ON llm_usage (project, agent, role, model);
                 CREATE TABLE IF NOT EXISTS llm_cache (
                     key TEXT PRIMARY KEY, model TEXT NOT NULL, content TEXT NOT NULL,
                     prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
                     truncated INTEGER NOT NULL, created INTEGER NOT NULL,
                     estimated INTEGER NOT NULL DEFAULT 0);",
        )
    },
    // `estimated` came later: databases from before get the column, their
    // rows count as reported usage.
    |c| crate::db::add_column(c, "llm_usage", "estimated", "INTEGER NOT NULL DEFAULT 0"),
    |c| crate::db::add_column(c, "llm_cache", "estimated", "INTEGER NOT NULL DEFAULT 0"),
    // A tenant's tokens over a window (the service's daily quota).
    |c| c.execute_batch("CREATE INDEX IF NOT EXISTS llm_usage_tenant ON llm_usage (tenant, at)"),
];

impl Llm {
    pub fn new(config: LlmConfig, db: Arc<Database>) -> anyhow::Result<Llm> {
        db.with(|c| crate::db::migrate(c, "llm", STEPS))?;
        // The HTTP client (and its TLS roots, milliseconds to load) exists
        // only when there is a backend to talk to.
        let backend = match config.backend.as_ref() {
            None => None,
            Some(b) => {
                let http = http_client_builder()?
                    .connect_timeout(Duration::from_secs(5))
                    .user_agent(concat!("nexus/", env!("CARGO_PKG_VERSION")))
                    .build()?;
                Some(match b.kind {
                    BackendKind::Ollama => {
                        Box::new(ollama::Ollama::new(http, b)) as Box<dyn ChatBackend>
                    }
                    BackendKind::OpenAi => Box::new(openai::OpenAi::new(http, b)),
                })
            }
        };
        Ok(Llm {
            config,
            backend,
            circuit: Mutex::new(Circuit::default()),
            shapes: Mutex::new(HashMap::new()),
            db,
            telemetry: crate::telemetry::Telemetry::default(),
            tenants: std::sync::OnceLock::new(),
        })
    }

    /// From now on, asks `check` before each call that goes to a model
    /// (answers from the cache are free). Set once; later checks are
    /// ignored.
    pub fn check_tenants(&self, check: TenantCheck) {
        let _ = self.tenants.set(check);
    }

    /// Counts model calls in `telemetry` from now on.
    pub fn count_in(mut self, telemetry: crate::telemetry::Telemetry) -> Llm {
        self.telemetry = telemetry;
        self
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// `ollama at http://…`, or `none`.
    pub fn backend_name(&self) -> String {
        match &self.config.backend {
            Some(b) => format!("{} at {}", b.kind.name(), b.base_url),
            None => "none".into(),
        }
    }

    fn unavailable(&self, why: &str) -> Error {
        Error::Unavailable(format!(
            "{why}; agents fall back to their built-in planning and templates"
        ))
    }

    /// Models the backend offers now.
    pub async fn list_models(&self, timeout: Duration) -> Result<Vec<String>, BackendError> {
        match &self.backend {
            None => Ok(Vec::new()),
            Some(b) => b.models(timeout).await,
        }
    }

    /// The first model of `role`'s chain the backend has, if any.
    pub fn resolve(&self, role: &str, available: &[String]) -> Option<String> {
        self.config
            .chain(role)
            .into_iter()
            .find(|m| available.contains(m))
    }

    async fn send(
        &self,
        req: &ChatRequest,
        shape: openai::Shape,
    ) -> Result<ChatReply, BackendError> {
        let timeout = self.config.timeout;
        let call = async {
            match self.backend.as_ref() {
                Some(b) => b.chat(req, shape, timeout).await,
                None => Err(BackendError::Connect("no backend".into())),
            }
        };
        tokio::time::timeout(timeout, call)
            .await
            .unwrap_or(Err(BackendError::Timeout(timeout)))
    }

    /// Stops calling the backend for `cooldown` because of `cause`: every
    /// call answers `unavailable` at once, naming the cause (used when a
    /// probe found no server).
    pub fn trip_circuit(&self, cooldown: Duration, cause: &str) {
        let mut c = self.circuit.lock().recover();
        c.open_until = Some(Instant::now() + cooldown);
        c.cause = cause.to_string();
    }

    /// How long the circuit stays open, and why.
    fn circuit_open(&self) -> Option<(Duration, String)> {
        let c = self.circuit.lock().recover();
        c.open_until
            .and_then(|t| t.checked_duration_since(Instant::now()))
            .map(|left| (left, c.cause.clone()))
    }

    /// Counts an outage towards the circuit; `None` is an answer (the
    /// server is up, whatever it said).
    fn record_outcome(&self, outage: Option<&BackendError>) {
        let mut c = self.circuit.lock().recover();
        match outage {
            Some(e) => {
                c.failures += 1;
                if c.failures >= self.config.circuit_failures {
                    c.open_until = Some(Instant::now() + self.config.circuit_cooldown);
                    c.cause = format!(
                        "circuit open after {} failures in a row, the last: {e}",
                        c.failures
                    );
                    tracing::warn!(backend = %self.backend_name(), failures = c.failures, error = %e, "LLM backend circuit opened");
                }
            }
            None => {
                c.failures = 0;
                c.open_until = None;
            }
        }
    }

    fn backoff(&self, attempt: u32, err: &BackendError) -> Duration {
        if let BackendError::RateLimited(Some(d)) = err {
            return *d;
        }
        let base = self.config.backoff.saturating_mul(1 << attempt.min(10));
        // Full jitter on top of the exponential step keeps many agents from
        // retrying in lockstep.
        let jitter = rand::random_range(0..=self.config.backoff.as_millis().max(1) as u64);
        base + Duration::from_millis(jitter)
    }

    fn shape_key(&self, model: &str) -> String {
        let base = self
            .config
            .backend
            .as_ref()
            .map_or("", |b| b.base_url.as_str());
        format!("{base} {model}")
    }

    /// The shape to start a call to `model` with: the one that last worked.
    fn shape_for(&self, model: &str) -> openai::Shape {
        let key = self.shape_key(model);
        self.shapes
            .lock()
            .recover()
            .get(&key)
            .copied()
            .unwrap_or_default()
    }

    /// Remembers that `shape` worked with `model`; its structured-output
    /// mode only when the call asked for structured output.
    fn remember_shape(&self, model: &str, shape: openai::Shape, structured: bool) {
        let key = self.shape_key(model);
        let mut shapes = self.shapes.lock().recover();
        let known = shapes.entry(key).or_default();
        if *known != shape {
            tracing::info!(model, ?shape, "the LLM server takes this request shape");
        }
        known.stream_usage = shape.stream_usage;
        if structured {
            known.structured = shape.structured;
        }
    }

    /// One model with retries; `Ok(None)` when the model is not found. A
    /// request shape the server refuses is changed, not retried: a smaller
    /// shape is tried at once (OpenAI-compatible servers only), and the
    /// last refusal is the call's error.
    async fn call_model(&self, req: &ChatRequest) -> Result<Option<ChatReply>, Error> {
        let negotiates = self.backend.as_ref().is_some_and(|b| b.negotiates());
        let mut shape = self.shape_for(&req.model);
        let mut attempt = 0;
        loop {
            if let Some((left, cause)) = self.circuit_open() {
                return Err(self.unavailable(&format!(
                    "{}: {cause}; not called again for {}s",
                    self.backend_name(),
                    left.as_secs() + 1
                )));
            }
            match self.send(req, shape).await {
                Ok(reply) => {
                    self.record_outcome(None);
                    if negotiates {
                        self.remember_shape(&req.model, shape, req.schema.is_some());
                    }
                    return Ok(Some(reply));
                }
                Err(BackendError::ModelNotFound(_)) => {
                    self.record_outcome(None);
                    return Ok(None);
                }
                Err(BackendError::Shape(status, reason)) => {
                    // The server answered: not an outage.
                    self.record_outcome(None);
                    let next = shape.after_refusal(&reason, req.schema.as_ref());
                    if let (true, Some(next)) = (negotiates, next) {
                        tracing::info!(model = %req.model, %status, %reason, from = ?shape, to = ?next, "the LLM server refused the request shape; trying another");
                        shape = next;
                        continue;
                    }
                    return Err(self.unavailable(&format!(
                        "{}: {}",
                        self.backend_name(),
                        BackendError::Shape(status, reason)
                    )));
                }
                Err(e) => {
                    self.record_outcome(e.is_outage().then_some(&e));
                    if e.retryable() && attempt < self.config.retries {
                        let pause = self.backoff(attempt, &e);
                        tracing::info!(model = %req.model, error = %e, attempt, ?pause, "retrying the LLM call");
                        tokio::time::sleep(pause).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(match e {
                        BackendError::Timeout(d) => {
                            tracing::warn!(model = %req.model, "LLM call timed out after {d:?}");
                            Error::Timeout
                        }
                        BackendError::Rejected(status, msg) => Error::Invalid(format!(
                            "{} rejected the request ({status}): {msg}",
                            self.backend_name()
                        )),
                        BackendError::Protocol(msg) => {
                            Error::Internal(format!("{}: {msg}", self.backend_name()))
                        }
                        e => self.unavailable(&format!("{}: {e}", self.backend_name())),
                    });
                }
            }
        }
    }

    /// Walks the role's model chain.
    async fn call_chain(&self, chain: &[String], mut req: ChatRequest) -> Result<ChatReply, Error> {
        for model in chain {
            req.model = model.clone();
            if let Some(reply) = self.call_model(&req).await? {
                return Ok(reply);
            }
            tracing::info!(model = %model, "model not found; trying the next in the fallback chain");
        }
        Err(Error::NotFound(format!(
            "none of the models {chain:?} is available on {}",
            self.backend_name()
        )))
    }

    fn cache_key(
        &self,
        chain: &[String],
        messages: &[ChatMessage],
        opts: &CallOptions,
    ) -> Option<String> {
        let deterministic = opts.temperature == Some(0.0) || opts.seed.is_some();
        if !self.config.cache || !deterministic {
            return None;
        }
        let b = self.config.backend.as_ref()?;
        let key = json!({
            "backend": b.kind.name(), "base": b.base_url, "models": chain, "messages": messages,
            "temperature": opts.temperature, "max_tokens": opts.max_tokens, "seed": opts.seed, "schema": opts.schema,
        });
        Some(crate::text::hex(&Sha256::digest(
            key.to_string().as_bytes(),
        )))
    }

    async fn cached(&self, key: &str) -> Result<Option<ChatReply>, Error> {
        let (db, key) = (self.db.clone(), key.to_string());
        crate::sync::blocking("the LLM cache", move || {
            db.with(|c| {
                c.prepare_cached(
                    "SELECT model, content, prompt_tokens, completion_tokens, truncated, estimated
                     FROM llm_cache WHERE key = ?1",
                )?
                .query_row(params![key], |r| {
                    Ok(ChatReply {
                        model: r.get(0)?,
                        content: r.get(1)?,
                        prompt_tokens: r.get(2)?,
                        completion_tokens: r.get(3)?,
                        truncated: r.get(4)?,
                        tokens_per_second: None,
                        estimated: r.get(5)?,
                    })
                })
                .optional()
            })
            .map_err(db_error)
        })
        .await
    }

    /// Chats with the model behind `ctx.role`. `budget_left` bounds a
    /// structured-output retry. `spent` counts the tokens the model used
    /// over every attempt (0 for a cache hit), also when the call fails
    /// after the model answered, so the caller can charge them either way.
    pub async fn chat(
        &self,
        ctx: &CallContext<'_>,
        messages: Vec<ChatMessage>,
        opts: CallOptions,
        budget_left: u64,
        spent: &mut u64,
    ) -> Result<Answer, Error> {
        if self.backend.is_none() {
            return Err(self.unavailable("no LLM backend is configured"));
        }
        let validator = match &opts.schema {
            Some(Value::String(s)) if s == "json" => None,
            Some(schema) => Some(ReplySchema::compile(schema).map_err(|e| {
                Error::Invalid(format!("json-schema is not a valid JSON schema: {e}"))
            })?),
            None => None,
        };
        let chain = self.config.chain(ctx.role);
        if chain.is_empty() {
            return Err(Error::Invalid(format!(
                "no model is configured for role `{}`",
                ctx.role
            )));
        }
        let key = self.cache_key(&chain, &messages, &opts);
        if let Some(key) = &key
            && let Some(reply) = self.cached(key).await?
        {
            self.record_usage(ctx, &reply, true, Duration::ZERO).await?;
            return Ok(Answer {
                reply,
                cached: true,
            });
        }
        if let Some(check) = self.tenants.get() {
            let (check, tenant) = (check.clone(), ctx.tenant.to_string());
            crate::sync::blocking("the tenant's model quota", move || check(&tenant)).await?;
        }
        let started = Instant::now();
        let mut req = ChatRequest {
            model: String::new(),
            messages,
            temperature: opts.temperature,
            max_tokens: opts.max_tokens,
            seed: opts.seed,
            schema: opts.schema.clone(),
        };
        let mut reply = self.call_chain(&chain, req.clone()).await?;
        let mut tokens = u64::from(reply.prompt_tokens) + u64::from(reply.completion_tokens);
        *spent = tokens;
        let wants_json = opts.schema.is_some();
        if wants_json {
            let problem = check_json(validator.as_ref(), &reply.content);
            if let Some(problem) = problem {
                // One more try, with the validation error in the prompt.
                let reserve = u64::from(opts.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS));
                if tokens + reserve > budget_left {
                    return Err(Error::Invalid(format!(
                        "the model's reply is not valid ({problem}) and the token budget leaves no room to retry"
                    )));
                }
                req.messages.push(ChatMessage {
                    role: Role::Assistant,
                    content: reply.content.clone(),
                });
                req.messages.push(ChatMessage {
                    role: Role::User,
                    content: format!(
                        "Your reply was not valid: {problem}. Reply again with only the JSON document, matching the schema."
                    ),
                });
                reply = self.call_chain(&chain, req).await?;
                tokens += u64::from(reply.prompt_tokens) + u64::from(reply.completion_tokens);
                *spent = tokens;
                if let Some(problem) = check_json(validator.as_ref(), &reply.content) {
                    self.record_usage(ctx, &reply, false, started.elapsed())
                        .await?;
                    return Err(Error::Invalid(format!(
                        "the model's reply did not match the schema after one retry: {problem}"
                    )));
                }
            }
            reply.content = unfence(&reply.content).to_string();
        }
        self.record_usage(ctx, &reply, false, started.elapsed())
            .await?;
        if let Some(key) = key
            && !reply.truncated
        {
            let (db, kept) = (self.db.clone(), reply.clone());
            crate::sync::blocking("the LLM cache", move || {
                db.with(|c| {
                    c.prepare_cached(
                        "INSERT OR REPLACE INTO llm_cache (key, model, content, prompt_tokens, completion_tokens, truncated, created, estimated)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, strftime('%s','now'), ?7)",
                    )?
                    .execute(params![key, kept.model, kept.content, kept.prompt_tokens, kept.completion_tokens, kept.truncated, kept.estimated])
                })
                .map_err(db_error)
            })
            .await?;
        }
        Ok(Answer {
            reply,
            cached: false,
        })
    }

    /// Records one call in the usage table (off the async threads).
    async fn record_usage(
        &self,
        ctx: &CallContext<'_>,
        reply: &ChatReply,
        cached: bool,
        took: Duration,
    ) -> Result<(), Error> {
        let backend = self
            .config
            .backend
            .as_ref()
            .map_or("none", |b| b.kind.name());
        if !cached {
            self.telemetry.llm_call(
                &reply.model,
                took,
                reply.prompt_tokens.into(),
                reply.completion_tokens.into(),
            );
        }
        let db = self.db.clone();
        let who = [ctx.project, ctx.tenant, ctx.agent, ctx.role].map(str::to_string);
        let (model, prompt, completion) = (
            reply.model.clone(),
            reply.prompt_tokens,
            reply.completion_tokens,
        );
        let (speed, estimated) = (reply.tokens_per_second, reply.estimated);
        crate::sync::blocking("the LLM usage record", move || {
            let [project, tenant, agent, role] = who;
            db.with(|c| {
                c.prepare_cached(
                    "INSERT INTO llm_usage (at, project, tenant, agent, role, model, backend, prompt_tokens,
                         completion_tokens, cached, duration_ms, tokens_per_second, estimated)
                     VALUES (strftime('%s','now'), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?
                .execute(params![
                    project,
                    tenant,
                    agent,
                    role,
                    model,
                    backend,
                    prompt,
                    completion,
                    cached,
                    took.as_millis() as i64,
                    speed,
                    estimated
                ])
            })
            .map_err(db_error)
        })
        .await
        .map(drop)
    }

    /// Usage per (agent, role, model) of a project: calls, prompt and
    /// completion tokens, cached calls, calls with estimated tokens.
    pub fn usage(&self, project: &str) -> Result<Vec<UsageRow>, Error> {
        self.db
            .with(|c| {
                let mut stmt = c.prepare(
                    "SELECT agent, role, model, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached),
                         SUM(estimated)
                     FROM llm_usage WHERE project = ?1 GROUP BY agent, role, model ORDER BY agent, role, model",
                )?;
                let rows = stmt.query_map(params![project], |r| {
                    Ok(UsageRow {
                        agent: r.get(0)?,
                        role: r.get(1)?,
                        model: r.get(2)?,
                        calls: r.get(3)?,
                        prompt_tokens: r.get(4)?,
                        completion_tokens: r.get(5)?,
                        cached: r.get(6)?,
                        estimated: r.get(7)?,
                    })
                })?;
                rows.collect()
            })
            .map_err(db_error)
    }
}

/// A tenant's LLM tokens (prompt and completion) since `since` (seconds
/// since the epoch), and when the earliest of those calls was made.
/// Answers from the cache cost no model time and are not counted.
pub fn tenant_tokens(
    c: &rusqlite::Connection,
    tenant: &str,
    since: i64,
) -> rusqlite::Result<(u64, Option<i64>)> {
    c.prepare_cached(
        "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0), min(at)
         FROM llm_usage WHERE tenant = ?1 AND at >= ?2 AND cached = 0",
    )?
    .query_row(params![tenant, since], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// LLM usage of one agent, role and model in a project.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub agent: String,
    pub role: String,
    pub model: String,
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached: u64,
    /// Calls whose tokens are estimated: the server reported none.
    pub estimated: u64,
}

/// Usage in a few words: `2 calls, 1234 tokens`; `~1234 tokens
/// (estimated)` when every call's tokens are estimated, `(3 calls
/// estimated)` when some are.
pub fn usage_line(rows: &[UsageRow]) -> String {
    let calls: u64 = rows.iter().map(|u| u.calls).sum();
    let tokens: u64 = rows
        .iter()
        .map(|u| u.prompt_tokens + u.completion_tokens)
        .sum();
    let estimated: u64 = rows.iter().map(|u| u.estimated).sum();
    let s = |n: u64| if n == 1 { "" } else { "s" };
    match estimated {
        0 => format!("{calls} call{}, {tokens} tokens", s(calls)),
        n if n >= calls => format!("{calls} call{}, ~{tokens} tokens (estimated)", s(calls)),
        n => format!(
            "{calls} call{}, ~{tokens} tokens ({n} call{} estimated)",
            s(calls),
            s(n)
        ),
    }
}

/// An HTTP client builder with the TLS the model backends use: rustls with
/// the `ring` provider (the one the NATS client uses too), checking servers
/// against the system's roots. Every HTTP client in this process starts
/// here: the TLS library has no process-wide default to fall back on.
pub fn http_client_builder() -> anyhow::Result<reqwest::ClientBuilder> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth();
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls))
}

/// The JSON Schema a caller asked a model's reply to match, compiled.
///
/// The schema comes from a guest, so it is a document on its own: a `$ref`
/// to any other document (a file, a URL) is refused when it is compiled,
/// never fetched. Its patterns are compiled by the `regex` crate, whose
/// matching time is linear, so a pattern cannot stall the host.
struct ReplySchema {
    schemas: boon::Schemas,
    root: boon::SchemaIndex,
}

/// Where a caller's schema is placed, so that relative references resolve
/// to URLs that the loader below refuses.
const SCHEMA_URL: &str = "https://schema.nexus.invalid/reply.json";

/// Loads no document: a caller's schema may not reach beyond itself.
struct NoDocuments;

impl boon::UrlLoader for NoDocuments {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(format!("`{url}` is outside the schema; a schema here names no other document").into())
    }
}

impl ReplySchema {
    fn compile(schema: &Value) -> Result<ReplySchema, String> {
        let mut compiler = boon::Compiler::new();
        compiler.use_loader(Box::new(NoDocuments));
        compiler
            .add_resource(SCHEMA_URL, schema.clone())
            .map_err(|e| e.to_string())?;
        let mut schemas = boon::Schemas::new();
        let root = compiler
            .compile(SCHEMA_URL, &mut schemas)
            .map_err(|e| e.to_string())?;
        Ok(ReplySchema { schemas, root })
    }

    /// Up to `max` reasons why `value` does not match, each with where in
    /// `value` it is (a JSON pointer); none when it matches.
    fn problems(&self, value: &Value, max: usize) -> Vec<String> {
        fn leaves(e: &boon::ValidationError<'_, '_>, out: &mut Vec<String>, max: usize) {
            if out.len() >= max {
                return;
            }
            if e.causes.is_empty() {
                out.push(format!("{} at `{}`", e.kind, e.instance_location));
            }
            for cause in &e.causes {
                leaves(cause, out, max);
            }
        }
        let mut out = Vec::new();
        if let Err(e) = self.schemas.validate(value, self.root) {
            leaves(&e, &mut out, max);
        }
        out
    }
}

/// `None` when `content` is JSON (matching the schema, if there is one).
fn check_json(schema: Option<&ReplySchema>, content: &str) -> Option<String> {
    let value: Value = match serde_json::from_str(unfence(content)) {
        Ok(v) => v,
        Err(e) => return Some(format!("the reply is not JSON ({e})")),
    };
    let errors = schema?.problems(&value, 5);
    if errors.is_empty() {
        None
    } else {
        Some(errors.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_are_stripped() {
        assert_eq!(unfence("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(unfence(" {\"a\":1} "), "{\"a\":1}");
    }

    fn row(calls: u64, estimated: u64) -> UsageRow {
        UsageRow {
            agent: "a".into(),
            role: "r".into(),
            model: "m".into(),
            calls,
            prompt_tokens: 100 * calls,
            completion_tokens: 10 * calls,
            cached: 0,
            estimated,
        }
    }

    #[test]
    fn the_usage_line_says_when_tokens_are_estimated() {
        assert_eq!(usage_line(&[row(2, 0)]), "2 calls, 220 tokens");
        assert_eq!(usage_line(&[row(2, 2)]), "2 calls, ~220 tokens (estimated)");
        assert_eq!(
            usage_line(&[row(2, 0), row(1, 1)]),
            "3 calls, ~330 tokens (1 call estimated)"
        );
        assert_eq!(usage_line(&[]), "0 calls, 0 tokens");
    }

    #[tokio::test]
    async fn a_database_from_before_estimated_usage_is_migrated() {
        let db = Database::open(None).unwrap();
        db.with(|c| {
            c.execute_batch(
                "CREATE TABLE llm_usage (
                     at INTEGER NOT NULL, project TEXT NOT NULL, tenant TEXT NOT NULL, agent TEXT NOT NULL,
                     role TEXT NOT NULL, model TEXT NOT NULL, backend TEXT NOT NULL,
                     prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
                     cached INTEGER NOT NULL, duration_ms INTEGER NOT NULL, tokens_per_second REAL);
                 INSERT INTO llm_usage VALUES (1, 'p', 't', 'a', 'r', 'm', 'ollama', 10, 5, 0, 3, NULL);
                 CREATE TABLE llm_cache (
                     key TEXT PRIMARY KEY, model TEXT NOT NULL, content TEXT NOT NULL,
                     prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
                     truncated INTEGER NOT NULL, created INTEGER NOT NULL);
                 INSERT INTO llm_cache VALUES ('k', 'm', 'old', 1, 2, 0, 1);",
            )
        })
        .unwrap();
        let llm = Llm::new(LlmConfig::default(), db.clone()).unwrap();
        let rows = llm.usage("p").unwrap();
        assert_eq!((rows[0].calls, rows[0].estimated), (1, 0), "{rows:?}");
        assert!(!llm.cached("k").await.unwrap().unwrap().estimated);
        let ctx = CallContext {
            project: "p",
            tenant: "t",
            agent: "a",
            role: "r",
        };
        let mut reply = ChatReply::empty("m");
        reply.settle_usage(8, None, None);
        llm.record_usage(&ctx, &reply, false, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(llm.usage("p").unwrap()[0].estimated, 1);
        // Opening it again changes nothing.
        Llm::new(LlmConfig::default(), db).unwrap();
    }

    #[test]
    fn schema_errors_are_reported() {
        let schema = json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}});
        let v = ReplySchema::compile(&schema).unwrap();
        assert!(check_json(Some(&v), "{\"name\": \"x\"}").is_none());
        assert!(
            check_json(Some(&v), "{\"name\": 3}")
                .unwrap()
                .contains("name")
        );
        assert!(
            check_json(Some(&v), "not json")
                .unwrap()
                .contains("not JSON")
        );
        let wrong = check_json(Some(&v), "{\"name\": 3, \"extra\": []}").unwrap();
        assert!(
            wrong.contains("want string, but got number at `/name`"),
            "{wrong}"
        );
        let missing = check_json(Some(&v), "{}").unwrap();
        assert!(missing.contains("name"), "{missing}");
        assert!(
            missing.contains("at ``"),
            "the root is where it is missing: {missing}"
        );
    }

    #[test]
    fn references_inside_the_schema_resolve() {
        let schema = json!({
            "$defs": {"name": {"type": "string", "minLength": 1}},
            "type": "object",
            "properties": {"name": {"$ref": "#/$defs/name"}},
        });
        let v = ReplySchema::compile(&schema).unwrap();
        assert!(check_json(Some(&v), "{\"name\": \"x\"}").is_none());
        let empty = check_json(Some(&v), "{\"name\": \"\"}").unwrap();
        assert!(empty.contains("`/name`"), "{empty}");
    }

    #[test]
    fn a_schema_naming_another_document_is_refused_and_nothing_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other.json");
        std::fs::write(&other, r#"{"type": "string"}"#).unwrap();
        for target in [
            format!("file://{}", other.display()),
            "other.json".to_string(),
            "http://127.0.0.1:9/schema.json".to_string(),
        ] {
            let schema = json!({"properties": {"a": {"$ref": target}}});
            let err = ReplySchema::compile(&schema)
                .err()
                .unwrap_or_else(|| panic!("`{target}` was accepted"));
            assert!(!err.is_empty(), "{target}");
        }
    }

    #[test]
    fn malformed_schemas_are_refused() {
        for schema in [
            json!({"type": 5}),
            json!({"pattern": "("}),
            json!({"minLength": "three"}),
        ] {
            assert!(ReplySchema::compile(&schema).is_err(), "{schema}");
        }
    }

    #[test]
    fn a_pattern_made_to_backtrack_still_answers() {
        let v = ReplySchema::compile(&json!({"type": "string", "pattern": "^(a+)+$"})).unwrap();
        let hostile = format!("\"{}!\"", "a".repeat(5000));
        assert!(check_json(Some(&v), &hostile).is_some());
        assert!(check_json(Some(&v), "\"aaaa\"").is_none());
    }
}
