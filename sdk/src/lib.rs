//! Write Nexus agents in plain Rust.
//!
//! An agent is a type that implements [`Agent`] and is exported with
//! [`export_agent!`]. It builds for `wasm32-wasip2` and runs inside the Nexus
//! host, which grants it capabilities from its policy:
//!
//! ```ignore
//! use nexus_sdk::{Agent, AgentInfo, Outcome, Task, TaskError, workspace};
//!
//! struct Hello;
//!
//! impl Agent for Hello {
//!     fn describe() -> AgentInfo {
//!         AgentInfo::new("hello", "Hello", "0.1.0").handles(&["greet"])
//!     }
//!     fn handle(task: Task) -> Result<Outcome, TaskError> {
//!         let name: String = task.input()?;
//!         workspace::write_text("hello.txt", &format!("Hello, {name}!"))?;
//!         Outcome::json(&"done", "wrote hello.txt")
//!     }
//! }
//!
//! nexus_sdk::export_agent!(Hello);
//! ```
//!
//! Every capability call returns `Result<_, Error>`; `?` turns an [`Error`]
//! into a [`TaskError::Capability`], so the host sees why a task failed.

use serde::Serialize;
use serde::de::DeserializeOwned;

// The generated bindings name their runtime through this crate, so agents need
// no direct dependency on wit-bindgen.
extern crate self as nexus_sdk;
#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// Raw bindings generated from the `nexus:agent` WIT package.
#[allow(clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "agent",
        pub_export_macro: true,
        export_macro_name: "__export_agent_world",
        default_bindings_module: "nexus_sdk::bindings",
        runtime_path: "nexus_sdk::__wit_bindgen::rt",
    });
}

pub use bindings::nexus::agent::types::{AgentInfo, Error, Outcome, Task, TaskError};

/// An agent: says who it is and does one task at a time.
///
/// The host creates a fresh instance for every task, so an agent keeps no
/// state between tasks; what must persist goes to the workspace or memory.
pub trait Agent {
    /// Who the agent is and which task kinds it handles.
    fn describe() -> AgentInfo;
    /// Does one task.
    fn handle(task: Task) -> Result<Outcome, TaskError>;
}

/// Exports a type implementing [`Agent`] as the component's `describe` and
/// `handle`.
#[macro_export]
macro_rules! export_agent {
    ($ty:ident) => {
        impl $crate::bindings::Guest for $ty {
            fn describe() -> $crate::AgentInfo {
                <$ty as $crate::Agent>::describe()
            }
            fn handle(task: $crate::Task) -> ::core::result::Result<$crate::Outcome, $crate::TaskError> {
                <$ty as $crate::Agent>::handle(task)
            }
        }
        $crate::bindings::__export_agent_world!($ty with_types_in $crate::bindings);
    };
}

impl AgentInfo {
    /// Starts a description with id, display name and version.
    pub fn new(id: &str, name: &str, version: &str) -> Self {
        AgentInfo {
            id: id.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            description: String::new(),
            handles: Vec::new(),
            capabilities: Vec::new(),
        }
    }

    /// Sets the one-sentence description.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    /// Sets the task kinds the agent handles.
    pub fn handles(mut self, kinds: &[&str]) -> Self {
        self.handles = kinds.iter().map(|k| k.to_string()).collect();
        self
    }

    /// Sets the capabilities the agent expects to use.
    pub fn capabilities(mut self, caps: &[&str]) -> Self {
        self.capabilities = caps.iter().map(|c| c.to_string()).collect();
        self
    }
}

impl Task {
    /// Parses the task's JSON payload into `T`; a payload that does not fit
    /// becomes [`TaskError::Rejected`] with the parser's reason.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, TaskError> {
        serde_json::from_str(&self.payload)
            .map_err(|e| TaskError::Rejected(format!("task `{}` payload: {e}", self.kind)))
    }

    /// The error to return for a kind this agent does not handle.
    pub fn unsupported(&self) -> TaskError {
        TaskError::Unsupported(format!("task kind `{}` is not handled", self.kind))
    }
}

impl Outcome {
    /// An outcome whose payload is `value` as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T, summary: &str) -> Result<Self, TaskError> {
        let payload = serde_json::to_string(value)
            .map_err(|e| TaskError::Failed(format!("serialising the outcome: {e}")))?;
        Ok(Outcome {
            payload,
            summary: summary.to_string(),
            artifacts: Vec::new(),
        })
    }

    /// Adds workspace paths the task wrote.
    pub fn with_artifacts<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.artifacts.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Parses the outcome's JSON payload.
    pub fn output<T: DeserializeOwned>(&self) -> Result<T, TaskError> {
        serde_json::from_str(&self.payload)
            .map_err(|e| TaskError::Failed(format!("outcome payload: {e}")))
    }
}

impl From<Error> for TaskError {
    fn from(e: Error) -> Self {
        TaskError::Capability(e)
    }
}

/// Project files, relative to the project root.
pub mod workspace {
    use crate::Error;
    pub use crate::bindings::nexus::agent::workspace::{
        Entry, EntryKind, exists, list, read, read_text, remove, write,
    };

    /// Writes UTF-8 text atomically.
    pub fn write_text(path: &str, text: &str) -> Result<(), Error> {
        write(path, text.as_bytes())
    }

    /// The files under `dir`, walking one directory at a time and never
    /// entering a directory whose name is in `skip` (installed dependencies,
    /// build output), so a large `node_modules` costs nothing.
    pub fn walk(dir: &str, skip: &[&str]) -> Result<Vec<Entry>, Error> {
        let mut files = Vec::new();
        let mut pending = vec![dir.to_string()];
        while let Some(at) = pending.pop() {
            for entry in list(&at, false)? {
                let name = entry.path.rsplit('/').next().unwrap_or(&entry.path);
                match entry.kind {
                    EntryKind::Directory if !skip.contains(&name) => {
                        pending.push(entry.path.clone())
                    }
                    EntryKind::Directory => {}
                    EntryKind::File => files.push(entry),
                }
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// What [`write_files`] wrote.
    pub struct Written {
        /// Workspace paths, in the order written.
        pub paths: Vec<String>,
        /// Those whose content is new or differs from what was there.
        pub changed: Vec<String>,
        /// Lines over all files.
        pub lines: usize,
    }

    fn joined(dir: &str, path: &str) -> String {
        if dir.is_empty() {
            path.to_string()
        } else {
            format!("{dir}/{path}")
        }
    }

    /// Whether writing `text` to `path` would change the file (a file that
    /// cannot be read counts as changed).
    pub fn differs(path: &str, text: &str) -> bool {
        read(path).map_or(true, |old| old != text.as_bytes())
    }

    /// The paths of `(path, text)` files under `dir` that writing them would
    /// create or change.
    pub fn changes<P: AsRef<str>, T: AsRef<str>>(dir: &str, files: &[(P, T)]) -> Vec<String> {
        files
            .iter()
            .map(|(p, t)| (joined(dir, p.as_ref()), t))
            .filter(|(p, t)| differs(p, t.as_ref()))
            .map(|(p, _)| p)
            .collect()
    }

    /// Writes `(path, text)` files under `dir` (`""` for the project root),
    /// each atomically, leaving alone those that already hold the text;
    /// stops at the first refusal.
    pub fn write_files<P: AsRef<str>, T: AsRef<str>>(
        dir: &str,
        files: &[(P, T)],
    ) -> Result<Written, Error> {
        let mut written = Written {
            paths: Vec::with_capacity(files.len()),
            changed: Vec::new(),
            lines: 0,
        };
        for (path, text) in files {
            let path = joined(dir, path.as_ref());
            if differs(&path, text.as_ref()) {
                write_text(&path, text.as_ref())?;
                written.changed.push(path.clone());
            }
            written.lines += text.as_ref().lines().count();
            written.paths.push(path);
        }
        Ok(written)
    }
}

/// Requests and messages to other agents of the project.
pub mod bus {
    use crate::TaskError;
    pub use crate::bindings::nexus::agent::bus::{
        Outgoing, Reply, RequestError, TaskFailure, publish, request, request_all, send,
    };
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use std::time::Duration;

    /// Sends `input` as JSON to agent `to` and parses its reply as `R`.
    pub fn request_json<T: Serialize + ?Sized, R: DeserializeOwned>(
        to: &str,
        kind: &str,
        input: &T,
        timeout: Duration,
    ) -> Result<R, TaskError> {
        let payload = serde_json::to_string(input)
            .map_err(|e| TaskError::Failed(format!("serialising the request: {e}")))?;
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let reply = request(to, kind, &payload, ms).map_err(TaskError::from)?;
        serde_json::from_str(&reply.payload)
            .map_err(|e| TaskError::Failed(format!("reply from `{to}`: {e}")))
    }

    impl From<RequestError> for TaskError {
        fn from(e: RequestError) -> Self {
            match e {
                RequestError::Host(e) => TaskError::Capability(e),
                RequestError::Task(f) => {
                    TaskError::Failed(format!("agent `{}` failed: {}", f.agent, f.reason))
                }
            }
        }
    }
}

/// Language models by role.
pub mod llm {
    pub use crate::bindings::nexus::agent::llm::{
        ChatRole, Completion, Message, ModelInfo, Options, chat, models,
    };

    impl Message {
        /// A system message.
        pub fn system(text: &str) -> Self {
            Message {
                role: ChatRole::System,
                content: text.to_string(),
            }
        }
        /// A user message.
        pub fn user(text: &str) -> Self {
            Message {
                role: ChatRole::User,
                content: text.to_string(),
            }
        }
    }

    // The generated struct cannot carry a derive.
    #[allow(clippy::derivable_impls)]
    impl Default for Options {
        fn default() -> Self {
            Options {
                temperature: None,
                max_tokens: None,
                seed: None,
                json_schema: None,
            }
        }
    }
}

/// The tenant's knowledge base.
pub mod memory {
    pub use crate::bindings::nexus::agent::memory::{Hit, forget, recall, remember};
}

/// Host measurements.
pub mod metrics {
    pub use crate::bindings::nexus::agent::metrics::{HostSample, sample};
}

/// Structured logging, attributed to the agent by the host.
pub mod log {
    pub use crate::bindings::nexus::agent::log::{Level, enabled, write};

    /// Logs at info level. A policy without `[log]` drops the line: logging
    /// never fails a task.
    pub fn info(message: &str) {
        let _ = write(Level::Info, message, &[]);
    }

    /// Logs at warn level; see [`info`].
    pub fn warn(message: &str) {
        let _ = write(Level::Warn, message, &[]);
    }
}
