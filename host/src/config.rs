//! Host configuration: `nexus.toml` (or `--config FILE`), then the
//! environment variables users of Ollama and OpenAI-compatible servers
//! already set (`OLLAMA_HOST`, `OPENAI_BASE_URL`, `OPENAI_API_KEY`).
//!
//! API keys are read from the environment only, never from a file: agents
//! can be granted project files, never the host's environment.

use crate::policy::{PolicyError, Span};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub llm: LlmFile,
    #[serde(default)]
    pub bus: BusFile,
    #[serde(default)]
    pub memory: MemoryFile,
    #[serde(default)]
    pub cluster: ClusterFile,
}

/// `[cluster]`: the NATS JetStream that hosts share.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// `nats://host:port`; `NEXUS_NATS_URL` overrides it.
    pub nats: Option<String>,
    /// Prefix of the streams and buckets (default `nexus`).
    pub namespace: Option<String>,
    /// Projects one worker runs at once (default 4).
    pub capacity: Option<u32>,
    /// How long a worker that stopped answering keeps its projects before
    /// another takes them (default 30s).
    pub lease: Option<Span>,
    /// Times a project is taken up before it fails (default 3).
    pub max_attempts: Option<u32>,
}

/// Where the bus keeps its messages: the local SQLite journal, or a NATS
/// JetStream shared with other hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    pub nats: Option<String>,
    pub namespace: String,
    pub capacity: u32,
    pub lease: Duration,
    pub max_attempts: u32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats: None,
            namespace: "nexus".into(),
            capacity: 4,
            lease: Duration::from_secs(30),
            max_attempts: 3,
        }
    }
}

impl ClusterConfig {
    fn from_file(f: ClusterFile, env: &dyn Env) -> Result<ClusterConfig, PolicyError> {
        let from_env = env.var("NEXUS_NATS_URL").filter(|v| !v.trim().is_empty());
        let source = if from_env.is_some() {
            "NEXUS_NATS_URL"
        } else {
            "[cluster] nats"
        };
        let nats = from_env.or(f.nats);
        let namespace = f.namespace.unwrap_or_else(|| "nexus".into());
        if !crate::bus::jetstream::valid_namespace(&namespace) {
            return Err(PolicyError {
                file: "[cluster] namespace".into(),
                line: 0,
                column: 0,
                message: format!("`{}` is not a namespace", crate::text::clip(&namespace, 64)),
                fix: "use up to 32 letters, digits, `-` or `_`".into(),
            });
        }
        if let Some(url) = &nats
            && !(url.starts_with("nats://") || url.starts_with("tls://"))
        {
            return Err(PolicyError {
                file: source.into(),
                line: 0,
                column: 0,
                message: format!(
                    "`{}` is not a NATS address",
                    crate::bus::jetstream::shown(url)
                ),
                fix: "write it as nats://host:4222 (in nexus.toml or NEXUS_NATS_URL)".into(),
            });
        }
        let d = ClusterConfig::default();
        let lease = f.lease.map_or(d.lease, |s| s.0);
        if lease < Duration::from_secs(1) || lease > Duration::from_secs(3600) {
            return Err(PolicyError {
                file: "[cluster] lease".into(),
                line: 0,
                column: 0,
                message: format!("a lease of {lease:?} cannot work"),
                fix: "give 1s to 1h, e.g. lease = \"30s\"".into(),
            });
        }
        let max_attempts = f.max_attempts.unwrap_or(d.max_attempts);
        if !(1..=100).contains(&max_attempts) {
            return Err(PolicyError {
                file: "[cluster] max_attempts".into(),
                line: 0,
                column: 0,
                message: format!("max_attempts {max_attempts} cannot work"),
                fix: "give 1 to 100".into(),
            });
        }
        Ok(ClusterConfig {
            nats,
            namespace,
            capacity: f.capacity.unwrap_or(d.capacity),
            lease,
            max_attempts,
        })
    }
}

/// `[memory]`: how much each tenant's knowledge base may hold.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MemoryFile {
    pub max_entries: Option<u64>,
    pub max_bytes: Option<crate::policy::Size>,
}

/// The knowledge base's bounds in force, per tenant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryConfig {
    pub max_entries: u64,
    /// Bytes of text and tags.
    pub max_bytes: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            max_entries: 10_000,
            max_bytes: 64 << 20,
        }
    }
}

impl MemoryConfig {
    fn from_file(f: MemoryFile) -> MemoryConfig {
        let d = MemoryConfig::default();
        MemoryConfig {
            max_entries: f.max_entries.unwrap_or(d.max_entries),
            max_bytes: f.max_bytes.map_or(d.max_bytes, |s| s.0),
        }
    }
}

/// `[bus]`: the seed's `max_queue_size`, `message_timeout`,
/// `retry_attempts` and `dead_letter_queue_enabled`, kept.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BusFile {
    pub max_queue_size: Option<usize>,
    pub message_timeout: Option<Span>,
    pub retry_attempts: Option<u32>,
    pub retry_backoff: Option<Span>,
    pub dead_letter_queue_enabled: Option<bool>,
    pub retention: Option<Span>,
    pub max_journal_bytes: Option<crate::policy::Size>,
}

/// The bus configuration in force.
#[derive(Debug, Clone, PartialEq)]
pub struct BusConfig {
    /// Messages an agent's mailbox holds before senders get `busy`.
    pub max_queue_size: usize,
    /// Longest a request may wait for its reply.
    pub message_timeout: Duration,
    /// Deliveries of a message before it goes to the dead letters.
    pub retry_attempts: u32,
    /// Pause before the first retry; doubled for each further one.
    pub retry_backoff: Duration,
    /// Keep failed messages in the dead-letter table (otherwise they are
    /// only marked failed).
    pub dead_letter_queue: bool,
    /// Handled messages older than this are pruned from the journal.
    pub retention: Duration,
    /// Most bytes of payloads and replies one project keeps in the journal;
    /// its oldest handled messages make room, and past that new messages
    /// are refused with `quota-exceeded`.
    pub max_journal_bytes: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            max_queue_size: 1000,
            message_timeout: Duration::from_secs(60),
            retry_attempts: 3,
            retry_backoff: Duration::from_millis(100),
            dead_letter_queue: true,
            retention: Duration::from_secs(7 * 24 * 3600),
            max_journal_bytes: 256 << 20,
        }
    }
}

impl BusConfig {
    fn from_file(f: BusFile) -> BusConfig {
        let d = BusConfig::default();
        BusConfig {
            max_queue_size: f.max_queue_size.unwrap_or(d.max_queue_size).max(1),
            message_timeout: f.message_timeout.map_or(d.message_timeout, |s| s.0),
            retry_attempts: f.retry_attempts.unwrap_or(d.retry_attempts).max(1),
            retry_backoff: f.retry_backoff.map_or(d.retry_backoff, |s| s.0),
            dead_letter_queue: f.dead_letter_queue_enabled.unwrap_or(d.dead_letter_queue),
            retention: f.retention.map_or(d.retention, |s| s.0),
            max_journal_bytes: f.max_journal_bytes.map_or(d.max_journal_bytes, |s| s.0),
        }
    }
}

/// Everything `nexus.toml` configures.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    pub llm: LlmConfig,
    pub bus: BusConfig,
    pub memory: MemoryConfig,
    pub cluster: ClusterConfig,
}

impl HostConfig {
    /// Reads `path` (when given) and applies the environment.
    pub fn load(path: Option<&Path>, env: &dyn Env) -> Result<HostConfig, PolicyError> {
        let file = read_file(path)?;
        HostConfig::from_file(file, env)
    }

    /// Parses configuration text and applies the environment; `path` is
    /// used in messages only.
    pub fn parse(path: &Path, text: &str, env: &dyn Env) -> Result<HostConfig, PolicyError> {
        HostConfig::from_file(parse_file(path, text)?, env)
    }

    fn from_file(mut file: ConfigFile, env: &dyn Env) -> Result<HostConfig, PolicyError> {
        if let Some(choice) = BackendChoice::from_env(env)? {
            file.llm.backend = Some(choice);
        }
        Ok(HostConfig {
            llm: LlmConfig::from_file(file.llm, env),
            bus: BusConfig::from_file(file.bus),
            memory: MemoryConfig::from_file(file.memory),
            cluster: ClusterConfig::from_file(file.cluster, env)?,
        })
    }
}

fn read_file(path: Option<&Path>) -> Result<ConfigFile, PolicyError> {
    let Some(p) = path else {
        return Ok(ConfigFile::default());
    };
    let text = std::fs::read_to_string(p).map_err(|e| PolicyError {
        file: p.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read the configuration: {e}"),
        fix: "check the path given to --config".into(),
    })?;
    parse_file(p, &text)
}

fn parse_file(p: &Path, text: &str) -> Result<ConfigFile, PolicyError> {
    toml::from_str::<ConfigFile>(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let line = text[..offset.min(text.len())].matches('\n').count() + 1;
        PolicyError {
            file: p.to_path_buf(),
            line,
            column: 1,
            message: e.message().trim().to_string(),
            fix: "see the configuration example in the README".into(),
        }
    })
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LlmFile {
    /// Which backend model roles use: "ollama", "openai" or "none".
    pub backend: Option<BackendChoice>,
    pub ollama: Option<OllamaFile>,
    pub openai: Option<OpenAiFile>,
    /// Role → model.
    #[serde(default)]
    pub models: BTreeMap<String, String>,
    pub fallbacks: Option<FallbacksFile>,
    pub timeout: Option<Span>,
    pub retries: Option<u32>,
    pub backoff: Option<Span>,
    pub circuit_failures: Option<u32>,
    pub circuit_cooldown: Option<Span>,
    pub cache: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OllamaFile {
    pub base_url: Option<String>,
    pub keep_alive: Option<String>,
    pub num_ctx: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OpenAiFile {
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key.
    pub api_key_env: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbacksFile {
    pub primary: Option<String>,
    pub secondary: Option<String>,
    pub minimal: Option<String>,
}

/// The backend `backend =` or `NEXUS_LLM_BACKEND` names; anything else is
/// an error, never a silent default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    Ollama,
    Openai,
    None,
}

impl BackendChoice {
    fn from_env(env: &dyn Env) -> Result<Option<BackendChoice>, PolicyError> {
        let Some(v) = env.var("NEXUS_LLM_BACKEND") else {
            return Ok(None);
        };
        match v.trim() {
            "ollama" => Ok(Some(BackendChoice::Ollama)),
            "openai" => Ok(Some(BackendChoice::Openai)),
            "none" => Ok(Some(BackendChoice::None)),
            other => Err(PolicyError {
                file: "NEXUS_LLM_BACKEND".into(),
                line: 0,
                column: 0,
                message: format!("`{}` is not an LLM backend", crate::text::clip(other, 64)),
                fix: "set it to ollama, openai or none".into(),
            }),
        }
    }
}

/// Which wire protocol a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Ollama,
    OpenAi,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Ollama => "ollama",
            BackendKind::OpenAi => "openai",
        }
    }
}

/// One configured LLM server.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub kind: BackendKind,
    /// Ollama: `http://host:11434`; OpenAI-compatible: `http://host:8080/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    pub keep_alive: Option<String>,
    pub num_ctx: Option<u32>,
}

/// The LLM configuration in force.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// The backend model roles go to; `None` means no LLM: every call
    /// reports `unavailable` and agents use their built-in fallbacks.
    pub backend: Option<BackendConfig>,
    pub models: BTreeMap<String, String>,
    /// Tried in order after the role's own model.
    pub fallbacks: Vec<String>,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
    pub circuit_failures: u32,
    pub circuit_cooldown: Duration,
    pub cache: bool,
}

impl Default for LlmConfig {
    /// No backend; the seed's models, fallbacks and timeout.
    fn default() -> Self {
        let models = [
            ("orchestrator", "qwen2.5-coder:7b"),
            ("frontend", "qwen2.5-coder:7b"),
            ("qa", "qwen2.5-coder:7b"),
            ("backend", "codellama:7b"),
            ("security", "codellama:7b"),
            ("analyst", "deepseek-coder:6.7b"),
        ]
        .into_iter()
        .map(|(r, m)| (r.to_string(), m.to_string()))
        .collect();
        LlmConfig {
            backend: None,
            models,
            fallbacks: vec![
                "qwen2.5-coder:7b".into(),
                "codellama:7b".into(),
                "qwen2:1.5b".into(),
            ],
            timeout: Duration::from_secs(120),
            retries: 3,
            backoff: Duration::from_millis(500),
            circuit_failures: 5,
            circuit_cooldown: Duration::from_secs(30),
            cache: true,
        }
    }
}

/// The environment the configuration reads (a parameter so tests need not
/// change the process environment).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

/// `OLLAMA_HOST` may be `host`, `host:port` or a URL.
fn ollama_url(host: &str) -> String {
    let host = host.trim_end_matches('/');
    let with_scheme = if host.contains("://") {
        host.to_string()
    } else {
        format!("http://{host}")
    };
    let after_scheme = with_scheme.split_once("://").map_or("", |(_, r)| r);
    if after_scheme.contains(':') {
        with_scheme
    } else {
        format!("{with_scheme}:11434")
    }
}

impl LlmConfig {
    /// Reads `path` (when given) and applies the environment.
    pub fn load(path: Option<&Path>, env: &dyn Env) -> Result<LlmConfig, PolicyError> {
        Ok(HostConfig::load(path, env)?.llm)
    }

    fn from_file(f: LlmFile, env: &dyn Env) -> LlmConfig {
        let mut c = LlmConfig::default();
        c.models.extend(f.models);
        if let Some(fb) = f.fallbacks {
            c.fallbacks = [fb.primary, fb.secondary, fb.minimal]
                .into_iter()
                .flatten()
                .collect();
        }
        if let Some(t) = f.timeout {
            c.timeout = t.0;
        }
        if let Some(r) = f.retries {
            c.retries = r;
        }
        if let Some(b) = f.backoff {
            c.backoff = b.0;
        }
        if let Some(n) = f.circuit_failures {
            c.circuit_failures = n.max(1);
        }
        if let Some(d) = f.circuit_cooldown {
            c.circuit_cooldown = d.0;
        }
        if let Some(cache) = f.cache {
            c.cache = cache;
        }

        let ollama_file = f.ollama.unwrap_or_default();
        let ollama = BackendConfig {
            kind: BackendKind::Ollama,
            base_url: env
                .var("OLLAMA_HOST")
                .map(|h| ollama_url(&h))
                .or(ollama_file.base_url)
                .unwrap_or_else(|| "http://localhost:11434".into()),
            api_key: None,
            keep_alive: ollama_file.keep_alive,
            num_ctx: ollama_file.num_ctx,
        };
        let openai_file = f.openai.unwrap_or_default();
        let key_env = openai_file
            .api_key_env
            .unwrap_or_else(|| "OPENAI_API_KEY".into());
        let openai_url = env.var("OPENAI_BASE_URL").or(openai_file.base_url);
        let openai = BackendConfig {
            kind: BackendKind::OpenAi,
            base_url: openai_url
                .clone()
                .unwrap_or_else(|| "https://api.openai.com/v1".into())
                .trim_end_matches('/')
                .to_string(),
            api_key: env.var(&key_env),
            keep_alive: None,
            num_ctx: None,
        };
        // The environment's choice is already in `f.backend`.
        c.backend = match f.backend {
            Some(BackendChoice::None) => None,
            Some(BackendChoice::Openai) => Some(openai),
            Some(BackendChoice::Ollama) => Some(ollama),
            // Unset: an OpenAI-compatible server when one is named and Ollama
            // is not, otherwise Ollama (the seed's default).
            None if openai_url.is_some() && env.var("OLLAMA_HOST").is_none() => Some(openai),
            None => Some(ollama),
        };
        c
    }

    /// Models to try for `role`, in order, without repeats.
    pub fn chain(&self, role: &str) -> Vec<String> {
        let mut chain: Vec<String> = self.models.get(role).into_iter().cloned().collect();
        for m in &self.fallbacks {
            if !chain.contains(m) {
                chain.push(m.clone());
            }
        }
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_ENV: [(&str, &str); 0] = [];

    #[test]
    fn defaults_are_the_seeds() {
        let c = LlmConfig::load(None, &NO_ENV).unwrap();
        let b = c.backend.clone().unwrap();
        assert_eq!(
            (b.kind, b.base_url.as_str()),
            (BackendKind::Ollama, "http://localhost:11434")
        );
        assert_eq!(c.models["backend"], "codellama:7b");
        assert_eq!(c.models["analyst"], "deepseek-coder:6.7b");
        assert_eq!(
            c.chain("frontend"),
            ["qwen2.5-coder:7b", "codellama:7b", "qwen2:1.5b"]
        );
        assert_eq!(c.timeout, Duration::from_secs(120));
    }

    #[test]
    fn the_cluster_is_named_in_the_file_or_the_environment() {
        let file = "[cluster]\nnats = \"nats://10.0.0.5:4222\"\nnamespace = \"prod\"\n";
        let c = HostConfig::parse(Path::new("nexus.toml"), file, &NO_ENV)
            .unwrap()
            .cluster;
        assert_eq!(c.nats.as_deref(), Some("nats://10.0.0.5:4222"));
        assert_eq!(c.namespace, "prod");
        let env = [("NEXUS_NATS_URL", "nats://127.0.0.1:4222")];
        let c = HostConfig::parse(Path::new("nexus.toml"), file, &env)
            .unwrap()
            .cluster;
        assert_eq!(c.nats.as_deref(), Some("nats://127.0.0.1:4222"));
        // None at all: the local journal.
        assert_eq!(
            HostConfig::parse(Path::new("nexus.toml"), "", &NO_ENV)
                .unwrap()
                .cluster,
            ClusterConfig::default()
        );
    }

    #[test]
    fn a_cluster_address_or_namespace_that_cannot_work_is_an_error_with_a_fix() {
        let env = [("NEXUS_NATS_URL", "http://127.0.0.1:4222")];
        let e = HostConfig::parse(Path::new("nexus.toml"), "", &env).unwrap_err();
        assert!(e.to_string().contains("NEXUS_NATS_URL"), "{e}");
        assert!(e.fix.contains("nats://"), "{e}");
        let e = HostConfig::parse(
            Path::new("nexus.toml"),
            "[cluster]\nnamespace = \"a.b\"\n",
            &NO_ENV,
        )
        .unwrap_err();
        assert!(e.to_string().contains("a.b"), "{e}");
        let e = HostConfig::parse(
            Path::new("nexus.toml"),
            "[cluster]\nlease = \"10ms\"\n",
            &NO_ENV,
        )
        .unwrap_err();
        assert!(e.to_string().contains("lease"), "{e}");
        let e = HostConfig::parse(
            Path::new("nexus.toml"),
            "[cluster]\nmax_attempts = 0\n",
            &NO_ENV,
        )
        .unwrap_err();
        assert!(e.to_string().contains("max_attempts"), "{e}");
        let c = HostConfig::parse(
            Path::new("nexus.toml"),
            "[cluster]\ncapacity = 2\nlease = \"3s\"\nmax_attempts = 5\n",
            &NO_ENV,
        )
        .unwrap()
        .cluster;
        assert_eq!(
            (c.capacity, c.lease, c.max_attempts),
            (2, Duration::from_secs(3), 5)
        );
    }

    #[test]
    fn ollama_host_forms() {
        assert_eq!(ollama_url("0.0.0.0"), "http://0.0.0.0:11434");
        assert_eq!(ollama_url("127.0.0.1:9999"), "http://127.0.0.1:9999");
        assert_eq!(
            ollama_url("https://ollama.example/"),
            "https://ollama.example:11434"
        );
        assert_eq!(ollama_url("http://h:1"), "http://h:1");
    }

    #[test]
    fn openai_env_selects_the_openai_backend_with_its_key() {
        let env = [
            ("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1/"),
            ("OPENAI_API_KEY", "sk-test"),
        ];
        let b = LlmConfig::load(None, &env).unwrap().backend.unwrap();
        assert_eq!(b.kind, BackendKind::OpenAi);
        assert_eq!(b.base_url, "http://127.0.0.1:8080/v1");
        assert_eq!(b.api_key.as_deref(), Some("sk-test"));
    }

    #[test]
    fn the_readme_example_is_the_default() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("```toml\n[llm]")
            .expect("the README shows the [llm] config")
            + 8;
        let text = &readme[start..start + readme[start..].find("```").unwrap()];
        let file: ConfigFile = toml::from_str(text).unwrap();
        let from_readme = LlmConfig::from_file(file.llm, &NO_ENV);
        let default = LlmConfig::load(None, &NO_ENV).unwrap();
        assert_eq!(format!("{from_readme:?}"), format!("{default:?}"));
    }

    #[test]
    fn the_readme_bus_example_is_the_default() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("```toml\n[bus]")
            .expect("the README shows the [bus] config")
            + 8;
        let text = &readme[start..start + readme[start..].find("```").unwrap()];
        let file: ConfigFile = toml::from_str(text).unwrap();
        assert_eq!(BusConfig::from_file(file.bus), BusConfig::default());
    }

    #[test]
    fn an_unknown_backend_is_an_error_with_a_fix() {
        let err = LlmConfig::load(None, &[("NEXUS_LLM_BACKEND", "olama")]).unwrap_err();
        assert!(
            err.to_string().contains("`olama` is not an LLM backend"),
            "{err}"
        );
        assert!(err.to_string().contains("ollama, openai or none"), "{err}");
        let err = HostConfig::parse(
            Path::new("nexus.toml"),
            "[llm]\nbackend = \"vllm\"\n",
            &NO_ENV,
        )
        .unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.message.contains("vllm"), "{err}");
    }

    #[test]
    fn none_disables_the_llm() {
        assert!(
            LlmConfig::load(None, &[("NEXUS_LLM_BACKEND", "none")])
                .unwrap()
                .backend
                .is_none()
        );
    }
}
