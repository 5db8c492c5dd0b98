//! The workspace backend: a project's files. Calls block (a file system
//! may be slow or hostile); the host impl makes them on the blocking pool.
//! Paths reach the backend already checked lexically and against the grant.

use super::grant::WorkspaceGrant;
use crate::bindings::Error;
use crate::bindings::nexus::agent::workspace::Entry;

/// What the sandbox holds: regular files, their bytes, and directories.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub files: u64,
    pub dirs: u64,
}

/// The quotas of a grant, carried to the blocking pool.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub max_bytes: u64,
    pub max_files: u64,
    pub max_dirs: u64,
    pub max_file_size: u64,
}

impl Quota {
    pub fn of(grant: &WorkspaceGrant) -> Quota {
        Quota {
            max_bytes: grant.max_bytes,
            max_files: grant.max_files,
            max_dirs: grant.max_dirs,
            max_file_size: grant.max_file_size,
        }
    }
}

/// The files of one project, shared by its agents.
pub trait FileStore: Send + Sync {
    /// The file at `path`; `quota-exceeded` when it is larger than
    /// `read_max`.
    fn read(&self, path: &str, read_max: u64) -> Result<Vec<u8>, Error>;
    /// Replaces (or creates) the file at `path` whole, within `quota`.
    fn write(&self, path: &str, contents: &[u8], quota: Quota) -> Result<(), Error>;
    fn remove(&self, path: &str) -> Result<(), Error>;
    fn exists(&self, path: &str) -> Result<bool, Error>;
    /// `dir`'s entries (and with `recursive` the tree below it, down to
    /// `max_depth` components from the root), at most `limit`.
    fn list(
        &self,
        dir: &str,
        recursive: bool,
        max_depth: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, Error>;
    /// What the project's files use.
    fn usage(&self) -> Usage;
}
