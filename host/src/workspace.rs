//! The `workspace` capability: project files under the project's sandbox
//! directory.
//!
//! - grant: `[workspace]` read/write globs and quotas ([`WorkspaceGrant`]).
//! - host impl: path checks, glob checks and quotas, per task.
//! - backend: [`Workspace`], a cap-std `Dir` rooted at the sandbox with a
//!   usage counter shared by every agent of the project.
//!
//! Paths are checked lexically first (relative, no `..`, no NUL, bounded
//! length), then every existing component is checked not to be a symbolic
//! link, and files read must not be hard-linked; cap-std then confines the
//! actual operation to the sandbox. Writes go to a temporary file that is
//! renamed into place, so a killed task never leaves half a file.

use crate::bindings::Error;
use crate::bindings::nexus::agent::workspace::{Entry, EntryKind, Host};
use crate::policy::{Size, WorkspaceGrant};
use crate::task::TaskState;
use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::sync::Mutex;

/// Longest path accepted, in bytes.
pub const MAX_PATH: usize = 1024;
/// Longest path component accepted, in bytes.
pub const MAX_COMPONENT: usize = 255;
/// Deepest a policy may let paths go (`workspace.max_depth`), in components.
pub const MAX_DEPTH: u64 = 128;
/// Prefix of the host's temporary files; agents cannot name such paths.
const TMP_PREFIX: &str = ".nexus-";

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    bytes: u64,
    files: u64,
}

/// A project's sandbox directory.
pub struct Workspace {
    root: Dir,
    usage: Mutex<Usage>,
}

impl Workspace {
    /// Opens (creating it if needed) the sandbox at `path`, removes
    /// temporary files a killed task left, and counts what is there.
    pub fn open(path: &Path) -> std::io::Result<Workspace> {
        std::fs::create_dir_all(path)?;
        let root = Dir::open_ambient_dir(path, ambient_authority())?;
        let mut usage = Usage::default();
        scan(&root, Path::new(""), &mut usage)?;
        Ok(Workspace {
            root,
            usage: Mutex::new(usage),
        })
    }

    /// Bytes and files currently in the sandbox.
    pub fn usage(&self) -> (u64, u64) {
        let u = *self.usage.lock().unwrap();
        (u.bytes, u.files)
    }
}

fn scan(dir: &Dir, rel: &Path, usage: &mut Usage) -> std::io::Result<()> {
    let listing = if rel.as_os_str().is_empty() {
        dir.entries()?
    } else {
        dir.read_dir(rel)?
    };
    for entry in listing {
        let entry = entry?;
        let name = entry.file_name();
        let path = rel.join(&name);
        let ft = entry.file_type()?;
        if name.to_string_lossy().starts_with(TMP_PREFIX) && ft.is_file() {
            dir.remove_file(&path)?;
        } else if ft.is_dir() {
            scan(dir, &path, usage)?;
        } else if ft.is_file() {
            usage.files += 1;
            usage.bytes += entry.metadata()?.len();
        }
    }
    Ok(())
}

/// Checks a guest path lexically and returns it normalised (no trailing `/`).
/// `allow_root` accepts `""` for the project root.
pub fn check_path(path: &str, allow_root: bool) -> Result<String, Error> {
    if path.len() > MAX_PATH {
        return Err(Error::Denied(format!(
            "path is {} bytes; the limit is {MAX_PATH}",
            path.len()
        )));
    }
    if path.contains('\0') {
        return Err(Error::Denied("path contains a NUL byte".into()));
    }
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err(Error::Denied(format!(
            "path `{}` is absolute; use a path relative to the project root",
            path.escape_debug()
        )));
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return if allow_root {
            Ok(String::new())
        } else {
            Err(Error::Invalid("path is empty".into()))
        };
    }
    for part in trimmed.split('/') {
        match part {
            "" | "." => {
                return Err(Error::Invalid(format!(
                    "path `{}` has an empty or `.` component",
                    trimmed.escape_debug()
                )));
            }
            ".." => {
                return Err(Error::Denied(format!(
                    "path `{}` climbs out with `..`",
                    trimmed.escape_debug()
                )));
            }
            p if p.len() > MAX_COMPONENT => {
                return Err(Error::Denied(format!(
                    "a path component is {} bytes; the limit is {MAX_COMPONENT}",
                    p.len()
                )));
            }
            p if p.starts_with(TMP_PREFIX) => {
                return Err(Error::Denied(format!(
                    "names starting with `{TMP_PREFIX}` are reserved"
                )));
            }
            p if p.chars().any(char::is_control) => {
                return Err(Error::Invalid("path contains control characters".into()));
            }
            _ => {}
        }
    }
    Ok(trimmed.to_string())
}

fn io_error(path: &str, e: std::io::Error) -> Error {
    match e.kind() {
        ErrorKind::NotFound => Error::NotFound(format!("`{}` does not exist", path.escape_debug())),
        ErrorKind::PermissionDenied => Error::Denied(format!("`{}`: {e}", path.escape_debug())),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Error::QuotaExceeded(format!(
            "the disk is full writing `{}`",
            path.escape_debug()
        )),
        _ => {
            // cap-std reports escapes (through symlinks created meanwhile) as
            // generic errors; never say more than the kind.
            Error::Denied(format!("`{}`: {}", path.escape_debug(), e.kind()))
        }
    }
}

impl Workspace {
    /// Refuses the path when any existing component of it is a symbolic
    /// link. Returns the metadata of the path itself, if it exists.
    fn no_links(&self, path: &str) -> Result<Option<cap_std::fs::Metadata>, Error> {
        if path.is_empty() {
            return Ok(self.root.dir_metadata().ok());
        }
        let mut prefix = String::new();
        let mut meta = None;
        for part in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            match self.root.symlink_metadata(&prefix) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::Denied(format!(
                        "`{}` is a symbolic link; the workspace does not follow links",
                        prefix.escape_debug()
                    )));
                }
                Ok(m) => meta = Some(m),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_error(&prefix, e)),
            }
        }
        Ok(meta)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, Error> {
        let meta = self
            .no_links(path)?
            .ok_or_else(|| Error::NotFound(format!("`{}` does not exist", path.escape_debug())))?;
        if !meta.is_file() {
            return Err(Error::Invalid(format!(
                "`{}` is not a file",
                path.escape_debug()
            )));
        }
        if meta.nlink() > 1 {
            return Err(Error::Denied(format!(
                "`{}` has other hard links; the workspace reads only files it alone holds",
                path.escape_debug()
            )));
        }
        let mut opts = OpenOptions::new();
        opts.read(true).follow(FollowSymlinks::No);
        let mut file = self
            .root
            .open_with(path, &opts)
            .map_err(|e| io_error(path, e))?;
        let mut buf = Vec::with_capacity(meta.len() as usize);
        std::io::Read::read_to_end(&mut file, &mut buf).map_err(|e| io_error(path, e))?;
        Ok(buf)
    }

    fn write(&self, path: &str, contents: &[u8], grant: &WorkspaceGrant) -> Result<(), Error> {
        let size = contents.len() as u64;
        if size > grant.max_file_size {
            return Err(Error::QuotaExceeded(format!(
                "`{}` would be {}; the file size limit is {}",
                path.escape_debug(),
                Size(size),
                Size(grant.max_file_size)
            )));
        }
        // Hold the usage lock across the write so concurrent writers cannot
        // both pass the quota check.
        let mut usage = self.usage.lock().unwrap();
        let existing = self.no_links(path)?;
        let old = match &existing {
            Some(m) if m.is_dir() => {
                return Err(Error::Invalid(format!(
                    "`{}` is a directory",
                    path.escape_debug()
                )));
            }
            Some(m) => Some(m.len()),
            None => None,
        };
        // Files planted from outside after the scan are not counted; never underflow.
        let bytes = usage.bytes.saturating_sub(old.unwrap_or(0)) + size;
        if bytes > grant.max_bytes {
            return Err(Error::QuotaExceeded(format!(
                "writing `{}` would bring the project to {}; the limit is {}",
                path.escape_debug(),
                Size(bytes),
                Size(grant.max_bytes)
            )));
        }
        let files = usage.files + u64::from(old.is_none());
        if files > grant.max_files {
            return Err(Error::QuotaExceeded(format!(
                "writing `{}` would make {files} files; the limit is {}",
                path.escape_debug(),
                grant.max_files
            )));
        }
        let (parent, _) = path.rsplit_once('/').unwrap_or(("", path));
        if !parent.is_empty() {
            self.root
                .create_dir_all(parent)
                .map_err(|e| io_error(parent, e))?;
            // A link could have appeared between the check and the creation.
            self.no_links(parent)?;
        }
        let tmp = if parent.is_empty() {
            format!("{TMP_PREFIX}{}", uuid::Uuid::new_v4())
        } else {
            format!("{parent}/{TMP_PREFIX}{}", uuid::Uuid::new_v4())
        };
        let result = (|| {
            let mut opts = OpenOptions::new();
            opts.write(true).create_new(true).follow(FollowSymlinks::No);
            let mut f = self.root.open_with(&tmp, &opts)?;
            f.write_all(contents)?;
            f.sync_data()?;
            self.root.rename(&tmp, &self.root, path)
        })();
        if let Err(e) = result {
            let _ = self.root.remove_file(&tmp);
            return Err(io_error(path, e));
        }
        usage.bytes = bytes;
        usage.files = files;
        Ok(())
    }

    fn remove(&self, path: &str) -> Result<(), Error> {
        let mut usage = self.usage.lock().unwrap();
        let meta = self
            .no_links(path)?
            .ok_or_else(|| Error::NotFound(format!("`{}` does not exist", path.escape_debug())))?;
        if meta.is_dir() {
            self.root.remove_dir(path).map_err(|e| io_error(path, e))
        } else {
            self.root.remove_file(path).map_err(|e| io_error(path, e))?;
            usage.bytes -= meta.len().min(usage.bytes);
            usage.files = usage.files.saturating_sub(1);
            Ok(())
        }
    }

    fn list(
        &self,
        dir: &str,
        recursive: bool,
        out: &mut Vec<Entry>,
        limit: usize,
    ) -> Result<(), Error> {
        let listing = if dir.is_empty() {
            self.root.entries()
        } else {
            match self.no_links(dir)? {
                Some(m) if m.is_dir() => self.root.read_dir(dir),
                Some(_) => {
                    return Err(Error::Invalid(format!(
                        "`{}` is not a directory",
                        dir.escape_debug()
                    )));
                }
                None => {
                    return Err(Error::NotFound(format!(
                        "`{}` does not exist",
                        dir.escape_debug()
                    )));
                }
            }
        }
        .map_err(|e| io_error(dir, e))?;
        for entry in listing {
            let entry = entry.map_err(|e| io_error(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) {
                continue;
            }
            let path = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            let ft = entry.file_type().map_err(|e| io_error(&path, e))?;
            if out.len() >= limit {
                return Err(Error::QuotaExceeded(format!(
                    "listing has more than {limit} entries"
                )));
            }
            if ft.is_dir() {
                out.push(Entry {
                    path: path.clone(),
                    kind: EntryKind::Directory,
                    size: 0,
                });
                if recursive {
                    self.list(&path, true, out, limit)?;
                }
            } else if ft.is_file() {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(Entry {
                    path,
                    kind: EntryKind::File,
                    size,
                });
            }
        }
        Ok(())
    }
}

impl TaskState {
    /// The project's workspace and this agent's grant, or `denied`.
    fn workspace(&self) -> Result<(&Workspace, &WorkspaceGrant), Error> {
        let grant = self
            .policy
            .workspace
            .as_ref()
            .ok_or_else(|| Error::Denied("the policy has no [workspace] section".into()))?;
        let ws = self
            .project
            .as_ref()
            .and_then(|p| p.workspace())
            .ok_or_else(|| Error::Unavailable("this task has no project workspace".into()))?;
        Ok((ws, grant))
    }

    fn readable(&self, path: &str) -> Result<(&Workspace, &WorkspaceGrant), Error> {
        let (ws, grant) = self.workspace()?;
        if !grant.read.is_match(path) {
            return Err(Error::Denied(format!(
                "reading `{}` is outside workspace.read {:?}",
                path.escape_debug(),
                grant.read_patterns
            )));
        }
        Ok((ws, grant))
    }

    fn writable(&self, path: &str) -> Result<(&Workspace, &WorkspaceGrant), Error> {
        let (ws, grant) = self.workspace()?;
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

impl Host for TaskState {
    async fn read(&mut self, path: String) -> Result<Vec<u8>, Error> {
        let path = check_path(&path, false)?;
        let (ws, _) = self.readable(&path)?;
        ws.read(&path)
    }

    async fn read_text(&mut self, path: String) -> Result<String, Error> {
        let bytes = self.read(path.clone()).await?;
        String::from_utf8(bytes)
            .map_err(|_| Error::Invalid(format!("`{}` is not UTF-8 text", path.escape_debug())))
    }

    async fn write(&mut self, path: String, contents: Vec<u8>) -> Result<(), Error> {
        let path = check_path(&path, false)?;
        let (ws, grant) = self.writable(&path)?;
        ws.write(&path, &contents, grant)
    }

    async fn list(&mut self, dir: String, recursive: bool) -> Result<Vec<Entry>, Error> {
        let dir = check_path(&dir, true)?;
        let (ws, grant) = self.workspace()?;
        if grant.read_patterns.is_empty() {
            return Err(Error::Denied("workspace.read grants nothing".into()));
        }
        let mut out = Vec::new();
        ws.list(&dir, recursive, &mut out, LIST_LIMIT)?;
        // Directories are shown so an agent can find its way; files only
        // where the read grant reaches.
        out.retain(|e| e.kind == EntryKind::Directory || grant.read.is_match(&e.path));
        Ok(out)
    }

    async fn remove(&mut self, path: String) -> Result<(), Error> {
        let path = check_path(&path, false)?;
        let (ws, _) = self.writable(&path)?;
        ws.remove(&path)
    }

    async fn exists(&mut self, path: String) -> Result<bool, Error> {
        let path = check_path(&path, false)?;
        let (ws, _) = self.readable(&path)?;
        Ok(ws.no_links(&path)?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_checks() {
        assert!(matches!(check_path("../x", false), Err(Error::Denied(_))));
        assert!(matches!(
            check_path("a/../../x", false),
            Err(Error::Denied(_))
        ));
        assert!(matches!(
            check_path("/etc/passwd", false),
            Err(Error::Denied(_))
        ));
        assert!(matches!(check_path("a\0b", false), Err(Error::Denied(_))));
        assert!(matches!(
            check_path(&"a/".repeat(2048), false),
            Err(Error::Denied(_))
        ));
        assert!(matches!(
            check_path(".nexus-tmp", false),
            Err(Error::Denied(_))
        ));
        assert_eq!(check_path("a/b/", false).unwrap(), "a/b");
        assert_eq!(check_path("", true).unwrap(), "");
        assert!(matches!(check_path("a//b", false), Err(Error::Invalid(_))));
    }
}
