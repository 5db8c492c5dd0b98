//! The local [`FileStore`]: a cap-std `Dir` rooted at the project's
//! sandbox directory, with a usage counter shared by every agent of the
//! project.
//!
//! Paths are checked lexically first (relative, no `..`, no NUL, bounded
//! length and depth). Then a path is resolved once, one component at a time:
//! each directory is opened relative to the handle of the one before without
//! following links, and the operation acts on the last component relative to
//! its parent's handle. A process that swaps a directory for a link meanwhile
//! makes the walk fail; it cannot redirect it. Files are opened without
//! waiting (a FIFO never blocks the host) and must be regular files alone in
//! holding their data (no hard links) to be read. Writes go to a temporary
//! file in the same directory handle that is renamed into place, so a killed
//! task never leaves half a file. Directories count against a quota, and
//! those a remove leaves empty are removed.

use super::backend::{FileStore, Quota, Usage};
use crate::bindings::Error;
use crate::bindings::nexus::agent::workspace::{Entry, EntryKind};
use crate::policy::Size;
use crate::sync::Recover;
use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, Metadata, MetadataExt, OpenOptions, OpenOptionsExt};
use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

/// Longest path accepted, in bytes.
pub const MAX_PATH: usize = 1024;
/// Longest path component accepted, in bytes.
pub const MAX_COMPONENT: usize = 255;
/// Deepest a policy may let paths go (`workspace.max_depth`), in components;
/// the startup scan looks no deeper.
pub const MAX_DEPTH: u64 = 128;
/// Prefix of the host's temporary files; agents cannot name such paths.
const TMP_PREFIX: &str = ".nexus-";
/// Opens without waiting: a FIFO opened for reading returns at once instead
/// of blocking until a writer comes.
const NONBLOCK: i32 = rustix::fs::OFlags::NONBLOCK.bits() as i32;

struct State {
    usage: Usage,
    /// Paths a write or remove is working on.
    busy: HashSet<String>,
}

/// A project's sandbox directory.
pub struct Workspace {
    root: Dir,
    state: Mutex<State>,
    /// Signalled when a path stops being busy.
    idle: Condvar,
}

impl Workspace {
    /// Opens (creating it if needed) the sandbox at `path`, removes
    /// temporary files a killed task left, and counts what is there.
    pub fn open(path: &Path) -> std::io::Result<Workspace> {
        std::fs::create_dir_all(path)?;
        let root = Dir::open_ambient_dir(path, ambient_authority())?;
        let mut usage = Usage::default();
        scan(&root, 0, &mut usage)?;
        Ok(Workspace {
            root,
            state: Mutex::new(State {
                usage,
                busy: HashSet::new(),
            }),
            idle: Condvar::new(),
        })
    }

    /// What the sandbox currently holds.
    pub fn usage(&self) -> Usage {
        self.state().usage
    }

    /// The shared state. A thread that panicked while holding it left it
    /// consistent (every change is a single assignment), so a poisoned lock
    /// is used as it is.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().recover()
    }
}

/// Counts the files, bytes and directories under `dir` (at `depth` below
/// the root) and removes temporary files, to [`MAX_DEPTH`] levels: nothing
/// deeper can be named by an agent.
fn scan(dir: &Dir, depth: u64, usage: &mut Usage) -> std::io::Result<()> {
    for entry in dir.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        let ft = match entry.file_type() {
            Ok(ft) => ft,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if ft.is_file() && name.to_string_lossy().starts_with(TMP_PREFIX) {
            match dir.remove_file(&name) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        } else if ft.is_dir() {
            usage.dirs += 1;
            if depth + 1 < MAX_DEPTH {
                match dir.open_dir_nofollow(&name) {
                    Ok(sub) => scan(&sub, depth + 1, usage)?,
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
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
        ErrorKind::NotFound => not_found(path),
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

/// Why `name` in `parent` (shown as `shown`) could not be opened: it is a
/// symbolic link, it is not a directory where one was wanted, or `e`.
fn refusal(parent: &Dir, name: &str, shown: &str, e: std::io::Error, dir: bool) -> Error {
    match parent.symlink_metadata(name) {
        Ok(m) if m.file_type().is_symlink() => link_refused(shown),
        Ok(m) if dir && !m.is_dir() => {
            Error::Invalid(format!("`{}` is not a directory", shown.escape_debug()))
        }
        _ => io_error(shown, e),
    }
}

fn link_refused(shown: &str) -> Error {
    Error::Denied(format!(
        "`{}` is a symbolic link; the workspace does not follow links",
        shown.escape_debug()
    ))
}

fn not_found(shown: &str) -> Error {
    Error::NotFound(format!("`{}` does not exist", shown.escape_debug()))
}

/// Refuses what is not a regular file: a directory, a FIFO, a socket, a
/// device.
fn regular_file(path: &str, meta: &Metadata) -> Result<(), Error> {
    if meta.is_dir() {
        Err(Error::Invalid(format!(
            "`{}` is a directory, not a file",
            path.escape_debug()
        )))
    } else if !meta.is_file() {
        Err(Error::Invalid(format!(
            "`{}` is not a regular file; the workspace holds only files and directories",
            path.escape_debug()
        )))
    } else {
        Ok(())
    }
}

/// A path's directories and its last component (`a/b/c` → `[a, b]`, `c`).
fn split(path: &str) -> (Vec<&str>, &str) {
    let mut parts: Vec<&str> = path.split('/').collect();
    let name = parts.pop().unwrap_or_default();
    (parts, name)
}

/// What a write added to the usage before it was done, to be taken back if
/// it fails.
struct Reserved {
    added: u64,
    freed: u64,
    new_file: bool,
}

/// A path claimed by one write or remove: what it replaces is measured and
/// accounted once, never by two operations at the same time. Other paths
/// are not held up.
struct Claim<'a> {
    ws: &'a Workspace,
    path: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.ws.state().busy.remove(&self.path);
        self.ws.idle.notify_all();
    }
}

/// Directory handles from the root down, one per directory of a path.
type Chain = Vec<Dir>;

/// How often a write walks its path again when a directory on it was
/// removed meanwhile (emptied and pruned by a concurrent remove).
const WRITE_ATTEMPTS: usize = 3;

impl Workspace {
    fn claim(&self, path: &str) -> Claim<'_> {
        let mut state = self.state();
        while state.busy.contains(path) {
            state = self.idle.wait(state).recover();
        }
        state.busy.insert(path.to_string());
        Claim {
            ws: self,
            path: path.to_string(),
        }
    }

    /// The handle of the directory a chain ends at.
    fn last<'a>(&'a self, chain: &'a [Dir]) -> &'a Dir {
        chain.last().unwrap_or(&self.root)
    }

    /// Opens `dirs` one after the other, each relative to the handle of the
    /// one before and without following links. With `max_dirs`, missing
    /// directories are made, each counted against it; on failure, those
    /// left empty are removed again.
    fn walk(&self, dirs: &[&str], max_dirs: Option<u64>) -> Result<Chain, Error> {
        let mut chain = Chain::with_capacity(dirs.len());
        for (i, name) in dirs.iter().enumerate() {
            let parent = self.last(&chain);
            let shown = || dirs[..=i].join("/");
            let opened = match parent.open_dir_nofollow(name) {
                Ok(dir) => Ok(dir),
                Err(e) if e.kind() == ErrorKind::NotFound => match max_dirs {
                    None => Err(not_found(&shown())),
                    Some(max) => self.make_dir(parent, name, &shown(), max),
                },
                Err(e) => Err(refusal(parent, name, &shown(), e, true)),
            };
            match opened {
                Ok(dir) => chain.push(dir),
                Err(e) => {
                    if max_dirs.is_some() {
                        self.prune(&chain, dirs);
                    }
                    return Err(e);
                }
            }
        }
        Ok(chain)
    }

    /// Makes directory `name` in `parent` if the quota allows one more, and
    /// opens it.
    fn make_dir(&self, parent: &Dir, name: &str, shown: &str, max_dirs: u64) -> Result<Dir, Error> {
        {
            let mut state = self.state();
            let dirs = state.usage.dirs + 1;
            if dirs > max_dirs {
                return Err(Error::QuotaExceeded(format!(
                    "making `{}` would make {dirs} directories; the limit is {max_dirs}",
                    shown.escape_debug()
                )));
            }
            state.usage.dirs = dirs;
        }
        if let Err(e) = parent.create_dir(name) {
            let mut state = self.state();
            state.usage.dirs = state.usage.dirs.saturating_sub(1);
            drop(state);
            // Made meanwhile by another write: use it.
            if e.kind() != ErrorKind::AlreadyExists {
                return Err(io_error(shown, e));
            }
        }
        parent
            .open_dir_nofollow(name)
            .map_err(|e| refusal(parent, name, shown, e, true))
    }

    /// Removes the directories of `chain` that are empty, deepest first,
    /// up to the first that is not.
    fn prune(&self, chain: &[Dir], dirs: &[&str]) {
        for i in (0..chain.len()).rev() {
            let parent = self.last(&chain[..i]);
            if parent.remove_dir(dirs[i]).is_err() {
                break;
            }
            let mut state = self.state();
            state.usage.dirs = state.usage.dirs.saturating_sub(1);
        }
    }

    /// The size of the file `path` names now (`None` if nothing), refusing
    /// links, directories and other kinds of files.
    fn replaced(&self, dirs: &[&str], name: &str, path: &str) -> Result<Option<u64>, Error> {
        let chain = match self.walk(dirs, None) {
            Ok(chain) => chain,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        match self.last(&chain).symlink_metadata(name) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(path, e)),
            Ok(m) if m.file_type().is_symlink() => Err(link_refused(path)),
            Ok(m) => regular_file(path, &m).map(|()| Some(m.len())),
        }
    }

    /// Counts a write of `size` bytes replacing `old` if the quotas allow it.
    fn reserve(
        &self,
        path: &str,
        old: Option<u64>,
        size: u64,
        q: Quota,
    ) -> Result<Reserved, Error> {
        let mut state = self.state();
        let usage = &mut state.usage;
        // Files planted from outside after the scan are not counted; never
        // underflow.
        let freed = old.unwrap_or(0).min(usage.bytes);
        let bytes = usage.bytes - freed + size;
        if bytes > q.max_bytes {
            return Err(Error::QuotaExceeded(format!(
                "writing `{}` would bring the project to {}; the limit is {}",
                path.escape_debug(),
                Size(bytes),
                Size(q.max_bytes)
            )));
        }
        let files = usage.files + u64::from(old.is_none());
        if files > q.max_files {
            return Err(Error::QuotaExceeded(format!(
                "writing `{}` would make {files} files; the limit is {}",
                path.escape_debug(),
                q.max_files
            )));
        }
        usage.bytes = bytes;
        usage.files = files;
        Ok(Reserved {
            added: size,
            freed,
            new_file: old.is_none(),
        })
    }

    fn release(&self, r: Reserved) {
        let mut state = self.state();
        let usage = &mut state.usage;
        usage.bytes = usage.bytes.saturating_sub(r.added) + r.freed;
        if r.new_file {
            usage.files = usage.files.saturating_sub(1);
        }
    }
}

/// Writes `contents` to a temporary file in `parent` and renames it to
/// `name` there; the temporary file is removed if anything fails.
fn replace(parent: &Dir, name: &str, contents: &[u8]) -> std::io::Result<()> {
    let tmp = format!("{TMP_PREFIX}{}", crate::text::uuid());
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true).follow(FollowSymlinks::No);
    let mut file = parent.open_with(&tmp, &opts)?;
    let result = (|| {
        file.write_all(contents)?;
        file.sync_data()?;
        parent.rename(&tmp, parent, name)
    })();
    if result.is_err() {
        let _ = parent.remove_file(&tmp);
    }
    result
}

/// How a `list` call walks.
struct Listing {
    recursive: bool,
    max_depth: u64,
    limit: usize,
}

impl Listing {
    /// Lists the entries of `handle`, the directory at `path`, `depth`
    /// components below the root.
    fn list(
        &self,
        handle: &Dir,
        path: &str,
        depth: u64,
        out: &mut Vec<Entry>,
    ) -> Result<(), Error> {
        // Its entries would be deeper than any path an agent may name.
        if depth >= self.max_depth {
            return Ok(());
        }
        let entries = handle.entries().map_err(|e| io_error(path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error(path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) {
                continue;
            }
            let child = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}/{name}")
            };
            let ft = match entry.file_type() {
                Ok(ft) => ft,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&child, e)),
            };
            if out.len() >= self.limit {
                return Err(Error::QuotaExceeded(format!(
                    "listing has more than {} entries",
                    self.limit
                )));
            }
            if ft.is_dir() {
                out.push(Entry {
                    path: child.clone(),
                    kind: EntryKind::Directory,
                    size: 0,
                });
                if self.recursive {
                    match handle.open_dir_nofollow(&name) {
                        Ok(sub) => self.list(&sub, &child, depth + 1, out)?,
                        // Removed meanwhile.
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(refusal(handle, &name, &child, e, true)),
                    }
                }
            } else if ft.is_file() {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(Entry {
                    path: child,
                    kind: EntryKind::File,
                    size,
                });
            }
        }
        Ok(())
    }
}

impl FileStore for Workspace {
    fn read(&self, path: &str, read_max: u64) -> Result<Vec<u8>, Error> {
        let (dirs, name) = split(path);
        let chain = self.walk(&dirs, None)?;
        let parent = self.last(&chain);
        let mut opts = OpenOptions::new();
        opts.read(true)
            .follow(FollowSymlinks::No)
            .custom_flags(NONBLOCK);
        let file = parent
            .open_with(name, &opts)
            .map_err(|e| refusal(parent, name, path, e, false))?;
        // Everything below is about the file opened, not about whatever the
        // path names by now.
        let meta = file.metadata().map_err(|e| io_error(path, e))?;
        regular_file(path, &meta)?;
        if meta.nlink() > 1 {
            return Err(Error::Denied(format!(
                "`{}` has other hard links; the workspace reads only files it alone holds",
                path.escape_debug()
            )));
        }
        let too_big = |size: u64| {
            Error::QuotaExceeded(format!(
                "`{}` is {}; the read limit (workspace.read_max) is {}",
                path.escape_debug(),
                Size(size),
                Size(read_max)
            ))
        };
        if meta.len() > read_max {
            return Err(too_big(meta.len()));
        }
        let mut buf = Vec::with_capacity(meta.len() as usize);
        // A file that grows meanwhile is read to one byte past the limit.
        file.take(read_max.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| io_error(path, e))?;
        if buf.len() as u64 > read_max {
            return Err(too_big(buf.len() as u64));
        }
        Ok(buf)
    }

    fn write(&self, path: &str, contents: &[u8], q: Quota) -> Result<(), Error> {
        let size = contents.len() as u64;
        if size > q.max_file_size {
            return Err(Error::QuotaExceeded(format!(
                "`{}` would be {}; the file size limit is {}",
                path.escape_debug(),
                Size(size),
                Size(q.max_file_size)
            )));
        }
        let (dirs, name) = split(path);
        let _claim = self.claim(path);
        let old = self.replaced(&dirs, name, path)?;
        // The quota is settled now, under the lock; the I/O runs without it.
        let reserved = self.reserve(path, old, size, q)?;
        let mut attempt = 1;
        let result = loop {
            let written = self.walk(&dirs, Some(q.max_dirs)).and_then(|chain| {
                replace(self.last(&chain), name, contents).map_err(|e| {
                    self.prune(&chain, &dirs);
                    io_error(path, e)
                })
            });
            match written {
                Err(Error::NotFound(_)) if attempt < WRITE_ATTEMPTS => attempt += 1,
                written => break written,
            }
        };
        if result.is_err() {
            self.release(reserved);
        }
        result
    }

    fn remove(&self, path: &str) -> Result<(), Error> {
        let (dirs, name) = split(path);
        let _claim = self.claim(path);
        let chain = self.walk(&dirs, None)?;
        let parent = self.last(&chain);
        let meta = parent
            .symlink_metadata(name)
            .map_err(|e| io_error(path, e))?;
        if meta.file_type().is_symlink() {
            return Err(link_refused(path));
        }
        if meta.is_dir() {
            parent.remove_dir(name).map_err(|e| io_error(path, e))?;
            let mut state = self.state();
            state.usage.dirs = state.usage.dirs.saturating_sub(1);
        } else {
            parent.remove_file(name).map_err(|e| io_error(path, e))?;
            if meta.is_file() {
                let mut state = self.state();
                let usage = &mut state.usage;
                usage.bytes -= meta.len().min(usage.bytes);
                usage.files = usage.files.saturating_sub(1);
            }
        }
        self.prune(&chain, &dirs);
        Ok(())
    }

    fn exists(&self, path: &str) -> Result<bool, Error> {
        let (dirs, name) = split(path);
        let chain = match self.walk(&dirs, None) {
            Ok(chain) => chain,
            Err(Error::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        match self.last(&chain).symlink_metadata(name) {
            Ok(m) if m.file_type().is_symlink() => Err(link_refused(path)),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error(path, e)),
        }
    }

    /// Lists `dir`, and with `recursive` the tree below it, down to
    /// `max_depth` components from the root.
    fn list(
        &self,
        dir: &str,
        recursive: bool,
        max_depth: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, Error> {
        let dirs: Vec<&str> = if dir.is_empty() {
            Vec::new()
        } else {
            dir.split('/').collect()
        };
        let chain = self.walk(&dirs, None)?;
        let mut out = Vec::new();
        let at = Listing {
            recursive,
            max_depth,
            limit,
        };
        at.list(self.last(&chain), dir, dirs.len() as u64, &mut out)?;
        Ok(out)
    }

    fn usage(&self) -> Usage {
        Workspace::usage(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files on disk under `dir`: (regular files, their bytes, directories).
    fn on_disk(dir: &Path) -> (u64, u64, u64) {
        let (mut files, mut bytes, mut dirs) = (0, 0, 0);
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                let (f, b, d) = on_disk(&entry.path());
                (files, bytes, dirs) = (files + f, bytes + b, dirs + d + 1);
            } else {
                (files, bytes) = (files + 1, bytes + meta.len());
            }
        }
        (files, bytes, dirs)
    }

    /// Writes of different files run at once (no lock is held across the
    /// file work); the quotas still come out exact: as many writes succeed
    /// as fit, the rest are refused, and the count matches the disk.
    #[test]
    fn concurrent_writes_of_different_files_keep_the_quotas_exact() {
        for (max_bytes, max_files, fit) in [(10_000, 1_000, 10), (1 << 20, 7, 7)] {
            let dir = tempfile::TempDir::new().unwrap();
            let ws = std::sync::Arc::new(Workspace::open(dir.path()).unwrap());
            let quota = Quota {
                max_bytes,
                max_files,
                max_dirs: 100,
                max_file_size: 1 << 20,
            };
            let start = std::sync::Arc::new(std::sync::Barrier::new(40));
            let writers: Vec<_> = (0..40)
                .map(|i| {
                    let (ws, start) = (ws.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        ws.write(&format!("d{}/f{i}", i % 4), &[b'x'; 1000], quota)
                    })
                })
                .collect();
            let results: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
            let written = results.iter().filter(|r| r.is_ok()).count() as u64;
            assert_eq!(written, fit, "{results:?}");
            assert!(
                results
                    .iter()
                    .all(|r| matches!(r, Ok(()) | Err(Error::QuotaExceeded(_)))),
                "{results:?}"
            );
            let usage = ws.usage();
            assert_eq!((usage.files, usage.bytes), (fit, fit * 1000));
            let (files, bytes, dirs) = on_disk(dir.path());
            assert_eq!((files, bytes, dirs), (usage.files, usage.bytes, usage.dirs));
            // A fresh count of the sandbox agrees with the running one.
            assert_eq!(Workspace::open(dir.path()).unwrap().usage(), usage);
        }
    }

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

    #[test]
    fn scan_counts_directories_and_looks_no_deeper_than_any_path_may_go() {
        let tmp = tempfile::TempDir::new().unwrap();
        let root = Dir::open_ambient_dir(tmp.path(), ambient_authority()).unwrap();
        // A chain of 600 directories, made one handle at a time: deeper
        // than any path an agent may name, and longer than PATH_MAX.
        let mut dir = root.try_clone().unwrap();
        for _ in 0..600 {
            dir.create_dir("dd").unwrap();
            dir = dir.open_dir("dd").unwrap();
        }
        dir.write("deep.txt", "not counted").unwrap();
        root.create_dir("a").unwrap();
        root.write("a/f.txt", "abc").unwrap();
        root.write(".nexus-left", "x").unwrap();
        root.write("a/.nexus-left", "x").unwrap();
        let ws = Workspace::open(tmp.path()).unwrap();
        assert_eq!(
            ws.usage(),
            Usage {
                bytes: 3,
                files: 1,
                dirs: MAX_DEPTH + 1
            }
        );
        assert!(!root.exists(".nexus-left") && !root.exists("a/.nexus-left"));
    }
}
