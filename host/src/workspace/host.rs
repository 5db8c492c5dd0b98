//! The workspace host impl: path checks, glob checks and quotas, per task.
//! The file work itself runs on tokio's blocking pool, so a slow file
//! system never holds up the task's wall-time deadline.

use super::backend::{FileStore, Quota};
use super::grant::WorkspaceGrant;
use super::local::check_path;
use crate::bindings::Error;
use crate::bindings::nexus::agent::workspace::{Entry, EntryKind, Host};
use std::sync::Arc;

/// What the workspace host impl sees of a task: its grant and its
/// project's files.
pub struct WorkspaceView<'a> {
    /// `None` when the policy has no `[workspace]` section.
    pub grant: Option<&'a WorkspaceGrant>,
    /// `None` while the agent describes itself.
    pub files: Option<&'a Arc<dyn FileStore>>,
}

/// Links the workspace host impl to a store's [`WorkspaceView`].
pub struct HasWorkspace;

impl wasmtime::component::HasData for HasWorkspace {
    type Data<'a> = WorkspaceView<'a>;
}

impl WorkspaceView<'_> {
    /// The project's workspace and this agent's grant for `path`, or
    /// `denied`.
    fn workspace(&self, path: &str) -> Result<(Arc<dyn FileStore>, &WorkspaceGrant), Error> {
        let grant = self
            .grant
            .ok_or_else(|| Error::Denied("the policy has no [workspace] section".into()))?;
        let depth = if path.is_empty() {
            0
        } else {
            path.split('/').count() as u64
        };
        if depth > grant.max_depth {
            return Err(Error::Denied(format!(
                "`{}` is {depth} levels deep; the limit is {} (workspace.max_depth)",
                path.escape_debug(),
                grant.max_depth
            )));
        }
        let ws = self
            .files
            .ok_or_else(|| Error::Unavailable("this task has no project workspace".into()))?;
        Ok((ws.clone(), grant))
    }

    fn readable(&self, path: &str) -> Result<(Arc<dyn FileStore>, &WorkspaceGrant), Error> {
        let (ws, grant) = self.workspace(path)?;
        if !grant.read.is_match(path) {
            return Err(Error::Denied(format!(
                "reading `{}` is outside workspace.read {:?}",
                path.escape_debug(),
                grant.read_patterns
            )));
        }
        Ok((ws, grant))
    }

    fn writable(&self, path: &str) -> Result<(Arc<dyn FileStore>, &WorkspaceGrant), Error> {
        let (ws, grant) = self.workspace(path)?;
        if !grant.write.is_match(path) {
            return Err(Error::Denied(format!(
                "writing `{}` is outside workspace.write {:?}",
                path.escape_debug(),
                grant.write_patterns
            )));
        }
        Ok((ws, grant))
    }
}

/// Most entries one `list` call returns.
const LIST_LIMIT: usize = 10_000;

impl Host for WorkspaceView<'_> {
    async fn read(&mut self, path: String) -> Result<Vec<u8>, Error> {
        let path = check_path(&path, false)?;
        let (ws, grant) = self.readable(&path)?;
        let read_max = grant.read_max;
        crate::sync::blocking("a workspace operation", move || ws.read(&path, read_max)).await
    }

    async fn read_text(&mut self, path: String) -> Result<String, Error> {
        let bytes = self.read(path.clone()).await?;
        String::from_utf8(bytes)
            .map_err(|_| Error::Invalid(format!("`{}` is not UTF-8 text", path.escape_debug())))
    }

    async fn write(&mut self, path: String, contents: Vec<u8>) -> Result<(), Error> {
        let path = check_path(&path, false)?;
        let (ws, grant) = self.writable(&path)?;
        let quota = Quota::of(grant);
        crate::sync::blocking("a workspace operation", move || {
            ws.write(&path, &contents, quota)
        })
        .await
    }

    async fn list(&mut self, dir: String, recursive: bool) -> Result<Vec<Entry>, Error> {
        let dir = check_path(&dir, true)?;
        let (ws, grant) = self.workspace(&dir)?;
        if grant.read_patterns.is_empty() {
            return Err(Error::Denied("workspace.read grants nothing".into()));
        }
        let max_depth = grant.max_depth;
        let mut out = crate::sync::blocking("a workspace operation", move || {
            ws.list(&dir, recursive, max_depth, LIST_LIMIT)
        })
        .await?;
        // Directories are shown so an agent can find its way; files only
        // where the read grant reaches.
        out.retain(|e| e.kind == EntryKind::Directory || grant.read.is_match(&e.path));
        Ok(out)
    }

    async fn remove(&mut self, path: String) -> Result<(), Error> {
        let path = check_path(&path, false)?;
        let (ws, _) = self.writable(&path)?;
        crate::sync::blocking("a workspace operation", move || ws.remove(&path)).await
    }

    async fn exists(&mut self, path: String) -> Result<bool, Error> {
        let path = check_path(&path, false)?;
        let (ws, _) = self.readable(&path)?;
        crate::sync::blocking("a workspace operation", move || ws.exists(&path)).await
    }
}
