//! The `workspace` capability: project files under the project's sandbox
//! directory.
//!
//! - [`grant`]: the `[workspace]` section (read/write globs and quotas).
//! - [`host`]: the host impl: path, glob and quota checks per task.
//! - [`backend`]: the [`FileStore`] trait; [`local`] is its implementation
//!   on a cap-std directory handle.

pub mod backend;
pub mod grant;
pub mod host;
pub mod local;

pub use backend::{FileStore, Quota, Usage};
pub use local::{MAX_COMPONENT, MAX_DEPTH, MAX_PATH, Workspace, check_path};
