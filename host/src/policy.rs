//! Per-agent policies: what an agent may do, parsed from `policies/<agent>.toml`.
//!
//! Deny by default: a capability whose section is missing is not granted.
//! Unknown keys and bad values are errors that name the file, the line and a
//! fix. Sizes and durations are written in human units (`"64MiB"`, `"30s"`).

use crate::workspace::MAX_DEPTH;
use globset::{GlobSet, GlobSetBuilder};
use serde::Deserialize;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A policy that failed to load, with where and how to fix it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}; fix: {fix}")]
pub struct PolicyError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub fix: String,
}

/// A size in bytes, written as `"64MiB"`, `"512 KiB"` or `"2GB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let has_unit = text.trim().ends_with(|c: char| c.is_ascii_alphabetic());
        match text.parse::<bytesize::ByteSize>() {
            Ok(size) if has_unit => Ok(Size(size.as_u64())),
            _ => Err(serde::de::Error::custom(format!(
                "`{text}` is not a size; write a number with a unit, such as \"64MiB\", \"512KiB\" or \"1GiB\""
            ))),
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", bytesize::ByteSize(self.0).display().iec())
    }
}

/// A duration, written as `"30s"`, `"500ms"` or `"2m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map(Span).map_err(|_| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration; write a number with a unit, such as \"500ms\", \"30s\" or \"2m\""
            ))
        })
    }
}

// ---------------------------------------------------------------------------
// The file format.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    agent: Spanned<String>,
    sha256: Option<Spanned<String>>,
    limits: Option<LimitsFile>,
    workspace: Option<WorkspaceFile>,
    bus: Option<BusFile>,
    llm: Option<LlmFile>,
    memory: Option<MemoryFile>,
    metrics: Option<MetricsFile>,
    log: Option<LogFile>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    memory: Option<Spanned<Size>>,
    cpu_time: Option<Spanned<Span>>,
    wall_time: Option<Spanned<Span>>,
    concurrent_tasks: Option<Spanned<u32>>,
    host_calls: Option<Spanned<u64>>,
    hostcall_bytes: Option<Spanned<Size>>,
    handles: Option<Spanned<u32>>,
    stack: Option<Spanned<Size>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkspaceFile {
    #[serde(default)]
    read: Vec<Spanned<String>>,
    #[serde(default)]
    write: Vec<Spanned<String>>,
    max_bytes: Option<Spanned<Size>>,
    max_files: Option<Spanned<u64>>,
    max_file_size: Option<Spanned<Size>>,
    read_max: Option<Spanned<Size>>,
    max_dirs: Option<Spanned<u64>>,
    max_depth: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BusFile {
    #[serde(default)]
    request: Vec<Spanned<String>>,
    #[serde(default)]
    send: Vec<Spanned<String>>,
    #[serde(default)]
    publish: Vec<Spanned<String>>,
    #[serde(default)]
    subscribe: Vec<Spanned<String>>,
    max_message: Option<Spanned<Size>>,
    rate: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LlmFile {
    #[serde(default)]
    roles: Vec<Spanned<String>>,
    tokens_per_task: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemoryFile {
    #[serde(default)]
    recall: bool,
    #[serde(default)]
    remember: bool,
    max_entry: Option<Spanned<Size>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsFile {
    #[serde(default)]
    sample: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogFile {
    level: Option<Spanned<String>>,
}

// ---------------------------------------------------------------------------
// The checked policy.

/// A parsed and validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Where it was read from (for messages).
    pub source: PathBuf,
    /// The agent id this policy is for.
    pub agent: String,
    /// When set, the only component build (lowercase hex SHA-256) allowed to
    /// run under this policy.
    pub sha256: Option<String>,
    pub limits: Limits,
    pub workspace: Option<WorkspaceGrant>,
    pub bus: BusGrant,
    pub llm: Option<LlmGrant>,
    pub memory: Option<MemoryGrant>,
    pub metrics: bool,
    pub log: Option<tracing::Level>,
}

/// Resource limits for each task of the agent.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory of the whole component instance.
    pub memory: u64,
    /// Time spent executing guest code.
    pub cpu_time: Duration,
    /// Time from start to reply, host calls included.
    pub wall_time: Duration,
    /// Tasks of this agent that may run at once.
    pub concurrent_tasks: u32,
    /// Host calls per task (WASI calls included).
    pub host_calls: u64,
    /// Bytes a guest may pass to the host in one call.
    pub hostcall_bytes: u64,
    /// Live resource handles in the instance.
    pub handles: u32,
    /// WebAssembly stack.
    pub stack: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: 64 << 20,
            cpu_time: Duration::from_secs(10),
            wall_time: Duration::from_secs(60),
            concurrent_tasks: 4,
            host_calls: 100_000,
            hostcall_bytes: 16 << 20,
            handles: 10_000,
            stack: 512 << 10,
        }
    }
}

/// What the agent may do in the project's files.
#[derive(Debug, Clone)]
pub struct WorkspaceGrant {
    pub read: GlobSet,
    pub write: GlobSet,
    pub read_patterns: Vec<String>,
    pub write_patterns: Vec<String>,
    pub max_bytes: u64,
    pub max_files: u64,
    pub max_file_size: u64,
    /// Largest file a read returns.
    pub read_max: u64,
    /// Directories in the project.
    pub max_dirs: u64,
    /// Components of a path.
    pub max_depth: u64,
}

/// Whom the agent may address on the bus. Empty lists grant nothing.
#[derive(Debug, Clone)]
pub struct BusGrant {
    pub request: Vec<String>,
    pub send: Vec<String>,
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    pub max_message: u64,
    /// Messages a second this agent may send (requests, sends, events).
    pub rate: u32,
}

impl Default for BusGrant {
    fn default() -> Self {
        BusGrant {
            request: Vec::new(),
            send: Vec::new(),
            publish: Vec::new(),
            subscribe: Vec::new(),
            max_message: 1 << 20,
            rate: 1000,
        }
    }
}

/// Model roles and the token budget.
#[derive(Debug, Clone)]
pub struct LlmGrant {
    pub roles: Vec<String>,
    pub tokens_per_task: u64,
}

/// Access to the tenant's knowledge base.
#[derive(Debug, Clone)]
pub struct MemoryGrant {
    pub recall: bool,
    pub remember: bool,
    pub max_entry: u64,
}

/// Bounds every policy value must stay within.
pub mod bounds {
    pub const MEMORY: (u64, u64) = (1 << 20, 4 << 30);
    pub const STACK: (u64, u64) = (64 << 10, 8 << 20);
    pub const HOSTCALL_BYTES: (u64, u64) = (4 << 10, 256 << 20);
}

const ROLES: &[&str] = &[
    "orchestrator",
    "analyst",
    "backend",
    "frontend",
    "integration",
    "devops",
    "qa",
    "security",
    "context",
    "performance",
    "learning",
];

impl Policy {
    /// Reads and checks a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read the policy: {e}"),
            fix: "check the path and that the file is readable".into(),
        })?;
        Policy::parse(path, &text)
    }

    /// Parses policy text; `path` is used in messages only.
    pub fn parse(path: &Path, text: &str) -> Result<Policy, PolicyError> {
        let at = |span: Range<usize>, message: String, fix: &str| {
            let (line, column) = line_col(text, span.start);
            PolicyError {
                file: path.to_path_buf(),
                line,
                column,
                message,
                fix: fix.to_string(),
            }
        };
        let file: PolicyFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            let fix = if message.starts_with("unknown field") {
                "remove the key or correct its spelling to one of the expected keys"
            } else if message.starts_with("missing field") {
                "add the key; `agent = \"<id>\"` names the agent the policy is for"
            } else if message.contains("is not a size") || message.contains("is not a duration") {
                "use a quoted value with a unit"
            } else {
                "correct the value to the type shown in the message"
            };
            at(span, message, fix)
        })?;

        let agent = file.agent.get_ref().clone();
        if !is_agent_id(&agent) {
            return Err(at(
                file.agent.span(),
                format!("`{agent}` is not an agent id"),
                "use lowercase letters, digits and dashes, such as \"backend\"",
            ));
        }
        let sha256 = match file.sha256 {
            Some(s) => {
                let v = s.get_ref().to_ascii_lowercase();
                if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(at(
                        s.span(),
                        format!("`{}` is not a SHA-256 digest", s.get_ref()),
                        "write the 64 hex digits printed by `nexus agents inspect <agent.wasm>`",
                    ));
                }
                Some(v)
            }
            None => None,
        };

        let mut limits = Limits::default();
        let l = file.limits.unwrap_or_default();
        let in_range = |v: &Spanned<Size>, (lo, hi): (u64, u64), what: &str| {
            let n = v.get_ref().0;
            if n < lo || n > hi {
                Err(at(
                    v.span(),
                    format!(
                        "{what} {} is outside {} to {}",
                        v.get_ref(),
                        Size(lo),
                        Size(hi)
                    ),
                    &format!("choose a {what} between {} and {}", Size(lo), Size(hi)),
                ))
            } else {
                Ok(n)
            }
        };
        let positive = |span: Range<usize>, n: u64, what: &str| {
            if n == 0 {
                Err(at(
                    span,
                    format!("{what} is 0, which would refuse every task"),
                    &format!("set {what} to at least 1"),
                ))
            } else {
                Ok(n)
            }
        };
        if let Some(v) = &l.memory {
            limits.memory = in_range(v, bounds::MEMORY, "memory")?;
        }
        if let Some(v) = &l.stack {
            limits.stack = in_range(v, bounds::STACK, "stack")?;
        }
        if let Some(v) = &l.hostcall_bytes {
            limits.hostcall_bytes = in_range(v, bounds::HOSTCALL_BYTES, "hostcall_bytes")?;
        }
        if let Some(v) = &l.cpu_time {
            positive(v.span(), v.get_ref().0.as_millis() as u64, "cpu_time")?;
            limits.cpu_time = v.get_ref().0;
        }
        if let Some(v) = &l.wall_time {
            positive(v.span(), v.get_ref().0.as_millis() as u64, "wall_time")?;
            limits.wall_time = v.get_ref().0;
        }
        if let Some(v) = &l.concurrent_tasks {
            limits.concurrent_tasks =
                positive(v.span(), u64::from(*v.get_ref()), "concurrent_tasks")? as u32;
        }
        if let Some(v) = &l.host_calls {
            limits.host_calls = positive(v.span(), *v.get_ref(), "host_calls")?;
        }
        if let Some(v) = &l.handles {
            limits.handles = positive(v.span(), u64::from(*v.get_ref()), "handles")? as u32;
        }

        let workspace = match file.workspace {
            None => None,
            Some(w) => {
                let globs =
                    |list: &[Spanned<String>]| -> Result<(GlobSet, Vec<String>), PolicyError> {
                        let mut b = GlobSetBuilder::new();
                        let mut patterns = Vec::new();
                        for p in list {
                            let pat = p.get_ref();
                            if pat.starts_with('/') || pat.split('/').any(|c| c == "..") {
                                return Err(at(
                                    p.span(),
                                    format!("glob `{pat}` leaves the project root"),
                                    "write globs relative to the project root, such as \"backend/**\"",
                                ));
                            }
                            let glob = globset::GlobBuilder::new(pat)
                            .literal_separator(true)
                            .build()
                            .map_err(|e| {
                                at(
                                    p.span(),
                                    format!("glob `{pat}` is invalid: {}", e.kind()),
                                    "see the globset syntax: `*` within a directory, `**` across directories",
                                )
                            })?;
                            b.add(glob);
                            patterns.push(pat.clone());
                        }
                        let set = b.build().map_err(|e| {
                            at(
                                0..0,
                                format!("globs could not be combined: {e}"),
                                "simplify the globs",
                            )
                        })?;
                        Ok((set, patterns))
                    };
                let (read, read_patterns) = globs(&w.read)?;
                let (write, write_patterns) = globs(&w.write)?;
                let max_bytes = w.max_bytes.map_or(64 << 20, |v| v.get_ref().0);
                let max_file_size = w.max_file_size.map_or(8 << 20, |v| v.get_ref().0);
                let max_files = match &w.max_files {
                    Some(v) => positive(v.span(), *v.get_ref(), "max_files")?,
                    None => 2_000,
                };
                let read_max = w.read_max.map_or(max_file_size, |v| v.get_ref().0);
                let max_dirs = match &w.max_dirs {
                    Some(v) => positive(v.span(), *v.get_ref(), "max_dirs")?,
                    None => max_files,
                };
                let max_depth = match &w.max_depth {
                    Some(v) => {
                        let n = positive(v.span(), *v.get_ref(), "max_depth")?;
                        if n > MAX_DEPTH {
                            return Err(at(
                                v.span(),
                                format!("max_depth {n} is more than {MAX_DEPTH}"),
                                &format!("choose a max_depth between 1 and {MAX_DEPTH}"),
                            ));
                        }
                        n
                    }
                    None => 32,
                };
                Some(WorkspaceGrant {
                    read,
                    write,
                    read_patterns,
                    write_patterns,
                    max_bytes,
                    max_files,
                    max_file_size,
                    read_max,
                    max_dirs,
                    max_depth,
                })
            }
        };

        let bus = match file.bus {
            None => BusGrant::default(),
            Some(b) => {
                let ids = |list: &[Spanned<String>]| -> Result<Vec<String>, PolicyError> {
                    list.iter()
                        .map(|s| {
                            let v = s.get_ref();
                            if v == "*" || is_agent_id(v) {
                                Ok(v.clone())
                            } else {
                                Err(at(
                                    s.span(),
                                    format!("`{v}` is not an agent id"),
                                    "name agents by id (\"backend\"), or \"*\" for every agent of the project",
                                ))
                            }
                        })
                        .collect()
                };
                let topics = |list: &[Spanned<String>]| -> Result<Vec<String>, PolicyError> {
                    list.iter()
                        .map(|s| {
                            let v = s.get_ref();
                            if crate::bus::valid_pattern(v) {
                                Ok(v.clone())
                            } else {
                                Err(at(
                                    s.span(),
                                    format!("`{v}` is not a topic pattern"),
                                    "write dot-separated words; `*` matches one word, a final `>` the rest (\"status.*\")",
                                ))
                            }
                        })
                        .collect()
                };
                BusGrant {
                    request: ids(&b.request)?,
                    send: ids(&b.send)?,
                    publish: topics(&b.publish)?,
                    subscribe: topics(&b.subscribe)?,
                    max_message: b.max_message.map_or(1 << 20, |v| v.get_ref().0),
                    rate: match &b.rate {
                        Some(v) => positive(v.span(), u64::from(*v.get_ref()), "rate")? as u32,
                        None => 1000,
                    },
                }
            }
        };

        let llm = match file.llm {
            None => None,
            Some(g) => {
                let mut roles = Vec::new();
                for r in &g.roles {
                    if !ROLES.contains(&r.get_ref().as_str()) {
                        return Err(at(
                            r.span(),
                            format!("`{}` is not a model role", r.get_ref()),
                            &format!("use one of: {}", ROLES.join(", ")),
                        ));
                    }
                    roles.push(r.get_ref().clone());
                }
                Some(LlmGrant {
                    roles,
                    tokens_per_task: g.tokens_per_task.map_or(20_000, |v| *v.get_ref()),
                })
            }
        };

        let memory = file.memory.map(|m| MemoryGrant {
            recall: m.recall,
            remember: m.remember,
            max_entry: m.max_entry.map_or(64 << 10, |v| v.get_ref().0),
        });

        let log = match file.log {
            None => None,
            Some(LogFile { level: None }) => Some(tracing::Level::INFO),
            Some(LogFile { level: Some(l) }) => Some(match l.get_ref().as_str() {
                "trace" => tracing::Level::TRACE,
                "debug" => tracing::Level::DEBUG,
                "info" => tracing::Level::INFO,
                "warn" => tracing::Level::WARN,
                "error" => tracing::Level::ERROR,
                other => {
                    return Err(at(
                        l.span(),
                        format!("`{other}` is not a log level"),
                        "use one of: trace, debug, info, warn, error",
                    ));
                }
            }),
        };

        Ok(Policy {
            source: path.to_path_buf(),
            agent,
            sha256,
            limits,
            workspace,
            bus,
            llm,
            memory,
            metrics: file.metrics.is_some_and(|m| m.sample),
            log,
        })
    }
}

impl Policy {
    /// One line saying what the policy grants.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("agent `{}`", self.agent)];
        if let Some(w) = &self.workspace {
            parts.push(format!(
                "workspace read {:?} write {:?}",
                w.read_patterns, w.write_patterns
            ));
        }
        let b = &self.bus;
        if !(b.request.is_empty()
            && b.send.is_empty()
            && b.publish.is_empty()
            && b.subscribe.is_empty())
        {
            parts.push(format!(
                "bus request {:?} send {:?} publish {:?} subscribe {:?}",
                b.request, b.send, b.publish, b.subscribe
            ));
        }
        if let Some(l) = &self.llm {
            parts.push(format!(
                "llm {:?} ({} tokens/task)",
                l.roles, l.tokens_per_task
            ));
        }
        if let Some(m) = &self.memory {
            parts.push(format!(
                "memory recall={} remember={}",
                m.recall, m.remember
            ));
        }
        if self.metrics {
            parts.push("metrics".into());
        }
        if let Some(l) = self.log {
            parts.push(format!("log {l}"));
        }
        if self.sha256.is_some() {
            parts.push("pinned".into());
        }
        let l = &self.limits;
        parts.push(format!(
            "limits memory {} cpu {:?} wall {:?}",
            Size(l.memory),
            l.cpu_time,
            l.wall_time
        ));
        parts.join("; ")
    }
}

/// Agent ids: lowercase ASCII letters, digits and dashes, 1 to 64 bytes,
/// starting with a letter.
pub fn is_agent_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(Path::new("p.toml"), text)
    }

    #[test]
    fn missing_sections_grant_nothing() {
        let p = parse("agent = \"hello\"\n").unwrap();
        assert!(p.workspace.is_none() && p.llm.is_none() && p.memory.is_none());
        assert!(p.bus.request.is_empty() && !p.metrics && p.log.is_none());
    }

    #[test]
    fn human_units_are_read() {
        let p = parse(
            "agent = \"a\"\n[limits]\nmemory = \"64MiB\"\ncpu_time = \"1500ms\"\nwall_time = \"2m\"\nstack = \"1 MiB\"\n",
        )
        .unwrap();
        assert_eq!(p.limits.memory, 64 << 20);
        assert_eq!(p.limits.cpu_time, Duration::from_millis(1500));
        assert_eq!(p.limits.wall_time, Duration::from_secs(120));
        assert_eq!(p.limits.stack, 1 << 20);
    }

    #[test]
    fn unknown_key_names_line_and_fix() {
        let e = parse("agent = \"a\"\n[limits]\nmemroy = \"64MiB\"\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("unknown field `memroy`"), "{e}");
        assert!(e.fix.contains("spelling"), "{e}");
    }

    #[test]
    fn size_without_unit_is_rejected_with_line() {
        let e = parse("agent = \"a\"\n\n[limits]\nmemory = \"64\"\n").unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("is not a size"), "{e}");
    }

    #[test]
    fn memory_out_of_bounds_is_rejected() {
        let e = parse("agent = \"a\"\n[limits]\nmemory = \"8GiB\"\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("outside"), "{e}");
    }

    #[test]
    fn bad_glob_and_escaping_glob_are_rejected() {
        let e = parse("agent = \"a\"\n[workspace]\nwrite = [\"a/[\"]\n").unwrap_err();
        assert!(e.message.contains("invalid"), "{e}");
        let e = parse("agent = \"a\"\n[workspace]\nwrite = [\"../x/**\"]\n").unwrap_err();
        assert!(e.message.contains("leaves the project root"), "{e}");
    }

    #[test]
    fn unknown_role_is_rejected() {
        let e = parse("agent = \"a\"\n[llm]\nroles = [\"wizard\"]\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.fix.contains("orchestrator"), "{e}");
    }

    #[test]
    fn bad_sha256_is_rejected() {
        let e = parse("agent = \"a\"\nsha256 = \"abc\"\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn workspace_read_max_and_max_dirs_default_to_the_file_quotas() {
        let w = parse("agent = \"a\"\n[workspace]\nmax_files = 10\nmax_file_size = \"1MiB\"\n")
            .unwrap()
            .workspace
            .unwrap();
        assert_eq!((w.read_max, w.max_dirs, w.max_depth), (1 << 20, 10, 32));
        let w =
            parse("agent = \"a\"\n[workspace]\nread_max = \"4KiB\"\nmax_dirs = 3\nmax_depth = 5\n")
                .unwrap()
                .workspace
                .unwrap();
        assert_eq!((w.read_max, w.max_dirs, w.max_depth), (4 << 10, 3, 5));
    }

    #[test]
    fn bad_workspace_bounds_name_their_line() {
        let e = parse("agent = \"a\"\n[workspace]\nmax_depth = 1000\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("max_depth 1000"), "{e}");
        assert!(e.fix.contains("between 1 and 128"), "{e}");
        let e = parse("agent = \"a\"\n[workspace]\n\nmax_dirs = 0\n").unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("max_dirs is 0"), "{e}");
        let e = parse("agent = \"a\"\n[workspace]\nread_max = \"12\"\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("is not a size"), "{e}");
    }
}
