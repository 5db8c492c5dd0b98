//! Nexus: a host that runs AI agents as WebAssembly components, each under
//! its own capability policy.
//!
//! - [`runtime::Runtime`] holds the engines, the component cache and the
//!   shared backends; [`runtime::Runtime::load_agent`] turns a component and a
//!   [`policy::Policy`] into an [`runtime::Agent`].
//! - [`project::Project`] is one sandbox directory with its agents;
//!   [`project::Project::run`] runs a task in a fresh store.
//! - Each capability (`bus`, `llm`, `workspace`, `memory`, `metrics`, `log`)
//!   is one folder with the same files: `grant.rs` (its policy section,
//!   checked with file:line diagnostics), `host.rs` (its host impl, on a
//!   narrow view of the task that [`task`] builds and links), and
//!   `backend.rs` (the trait behind it), beside the implementations of that
//!   trait. [`policy`] is the envelope that hands each section over.

/// Prints one line of the command line's output. When standard output is
/// closed (`nexus messages p | head`), the process ends quietly instead of
/// panicking with "Broken pipe": what the reader wanted, it has.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        if writeln!(::std::io::stdout().lock(), $($arg)*).is_err() {
            ::std::process::exit(0);
        }
    }};
}

pub mod alloc;
pub mod bench;
pub mod bindings;
pub mod builtin;
pub mod bus;
mod cache;
pub mod config;
pub mod db;
pub mod generate;
pub mod llm;
pub mod log;
pub mod memory;
pub mod metrics;
pub mod policy;
pub mod project;
pub mod runtime;
pub mod services;
pub mod setup;
pub mod sync;
pub use sync::Stop;

/// The future of an entry point other crates await (a generation, the
/// server, a worker, a task run, an agent load), boxed inside the crate
/// that defines it.
///
/// An `async fn`'s state machine is compiled in every crate that awaits it,
/// and with it everything it awaits in turn: the `nexus` binary awaiting
/// the server compiled the whole service a second time. A boxed future is
/// compiled once, where it is defined, and awaited elsewhere through its
/// vtable.
pub type BoxFuture<'a, T> = futures_util::future::BoxFuture<'a, T>;
pub mod task;
pub mod telemetry;
pub mod text;
pub mod workspace;
