//! Per-agent policies: what an agent may do, parsed from `policies/<agent>.toml`.
//!
//! Deny by default: a capability whose section is missing is not granted.
//! Unknown keys and bad values are errors that name the file, the line and a
//! fix. Sizes and durations are written in human units (`"64MiB"`, `"30s"`).

pub use crate::bus::grant::BusGrant;
pub use crate::llm::grant::LlmGrant;
pub use crate::memory::grant::MemoryGrant;
pub use crate::workspace::grant::WorkspaceGrant;
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

/// Where a policy's text came from: turns a span of it into an error that
/// names the file, line and column, with a fix. Each capability's grant
/// checks its own section with it.
pub struct Locate<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Locate<'_> {
    pub fn at(&self, span: Range<usize>, message: String, fix: &str) -> PolicyError {
        let (line, column) = line_col(self.text, span.start);
        PolicyError {
            file: self.path.to_path_buf(),
            line,
            column,
            message,
            fix: fix.to_string(),
        }
    }

    /// `n`, unless it is 0 (which would refuse every task).
    pub fn positive(&self, span: Range<usize>, n: u64, what: &str) -> Result<u64, PolicyError> {
        if n == 0 {
            Err(self.at(
                span,
                format!("{what} is 0, which would refuse every task"),
                &format!("set {what} to at least 1"),
            ))
        } else {
            Ok(n)
        }
    }
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
    workspace: Option<crate::workspace::grant::Section>,
    bus: Option<crate::bus::grant::Section>,
    llm: Option<crate::llm::grant::Section>,
    memory: Option<crate::memory::grant::Section>,
    metrics: Option<crate::metrics::grant::Section>,
    log: Option<crate::log::grant::Section>,
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

/// Bounds every policy value must stay within.
pub mod bounds {
    pub const MEMORY: (u64, u64) = (1 << 20, 4 << 30);
    pub const STACK: (u64, u64) = (64 << 10, 8 << 20);
    pub const HOSTCALL_BYTES: (u64, u64) = (4 << 10, 256 << 20);
}

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
        let locate = Locate { path, text };
        let at = |span: Range<usize>, message: String, fix: &str| locate.at(span, message, fix);
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
        let positive = |span: Range<usize>, n: u64, what: &str| locate.positive(span, n, what);
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

        // Each capability checks its own section.
        let workspace = file
            .workspace
            .map(|w| crate::workspace::grant::check(w, &locate))
            .transpose()?;
        let bus = match file.bus {
            None => BusGrant::default(),
            Some(b) => crate::bus::grant::check(b, &locate)?,
        };
        let llm = file
            .llm
            .map(|g| crate::llm::grant::check(g, &locate))
            .transpose()?;
        let memory = file.memory.map(crate::memory::grant::check);
        let metrics = file.metrics.is_some_and(crate::metrics::grant::check);
        let log = file
            .log
            .map(|l| crate::log::grant::check(l, &locate))
            .transpose()?;

        Ok(Policy {
            source: path.to_path_buf(),
            agent,
            sha256,
            limits,
            workspace,
            bus,
            llm,
            memory,
            metrics,
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
