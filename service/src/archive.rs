//! A project's files as a `.tar.gz`, made on the blocking pool while it is
//! sent: nothing is staged on disk and memory stays at one file plus the
//! chunks in flight. Files are read through the project's sandbox, so a
//! link or a path outside the project is never followed.

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::Stream;
use nexus::bindings::nexus::agent::workspace::EntryKind;
use nexus::workspace::FileStore;
use std::io::{self, Write};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Most entries an archive holds.
pub const MAX_ENTRIES: usize = 100_000;
/// Largest file an archive holds.
pub const MAX_FILE: u64 = 256 << 20;
/// Bytes sent at a time.
const CHUNK: usize = 64 << 10;

/// Hands what is written on, a chunk at a time, to the response.
struct Chunks {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Chunks {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        // The client went away: stop making the archive.
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

fn write_all(files: &dyn FileStore, prefix: &str, out: impl Write) -> io::Result<()> {
    let entries = files
        .list("", true, nexus::workspace::MAX_DEPTH, MAX_ENTRIES + 1)
        .map_err(|e| io::Error::other(e.to_string()))?;
    if entries.len() > MAX_ENTRIES {
        return Err(io::Error::other(format!(
            "the project has more than {MAX_ENTRIES} entries"
        )));
    }
    let mtime = nexus::db::now().max(0) as u64;
    let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::fast()));
    for e in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(mtime);
        let path = format!("{prefix}/{}", e.path);
        match e.kind {
            EntryKind::Directory => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                tar.append_data(&mut header, &path, io::empty())?;
            }
            EntryKind::File => {
                let bytes = files
                    .read(&e.path, MAX_FILE)
                    .map_err(|err| io::Error::other(format!("{}: {err}", e.path)))?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(bytes.len() as u64);
                tar.append_data(&mut header, &path, bytes.as_slice())?;
            }
        }
    }
    let mut out = tar.into_inner()?.finish()?;
    out.flush()
}

/// The files of `files` as a gzipped tar stream, each under `prefix/`. A
/// failure part way ends the stream with an error, so the client sees a
/// broken download rather than a short archive.
pub fn stream(
    files: Arc<dyn FileStore>,
    prefix: String,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let (tx, rx) = mpsc::channel(8);
    let errors = tx.clone();
    tokio::task::spawn_blocking(move || {
        let out = Chunks {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = write_all(files.as_ref(), &prefix, out)
            && e.kind() != io::ErrorKind::BrokenPipe
        {
            tracing::error!(error = %e, "could not make a project's archive");
            let _ = errors.blocking_send(Err(e));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// The files of the project directory `root` as [`pack`] makes them, read
/// through its sandbox. Blocks.
pub fn pack_dir(root: &std::path::Path, prefix: &str) -> io::Result<Vec<u8>> {
    pack(&nexus::workspace::Workspace::open(root)?, prefix)
}

/// Most bytes an archive unpacks to.
pub const MAX_UNPACKED: u64 = 1 << 30;

/// The files of `files` as a gzipped tar, each under `prefix/`, in memory:
/// a checkpoint or a finished project on its way to the object store.
/// Blocks.
pub fn pack(files: &dyn FileStore, prefix: &str) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    write_all(files, prefix, &mut out)?;
    Ok(out)
}

/// Writes the files of a gzipped tar made by [`pack`] into the directory
/// `into`, each without its first path component. Every path is checked as
/// an agent's would be, and written through a capability on `into`
/// (cap-std): an archive that names `..`, an absolute path or a link writes
/// nothing outside it. Nothing is synced: an archive is unpacked from a
/// store that keeps it, and is unpacked again should this one be lost.
/// Returns the files written. Blocks.
pub fn unpack(bytes: &[u8], into: &std::path::Path) -> io::Result<usize> {
    let dir = cap_std::fs::Dir::open_ambient_dir(into, cap_std::ambient_authority())?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let (mut written, mut total) = (0usize, 0u64);
    for entry in tar.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        total = total.saturating_add(entry.size());
        if written >= MAX_ENTRIES || entry.size() > MAX_FILE || total > MAX_UNPACKED {
            return Err(io::Error::other(
                "the archive holds more than a project may",
            ));
        }
        let path = entry.path()?.to_string_lossy().into_owned();
        let Some((_, inner)) = path.split_once('/') else {
            continue;
        };
        let inner = nexus::workspace::check_path(inner, false)
            .map_err(|e| io::Error::other(format!("{inner}: {e}")))?;
        let mut data = Vec::with_capacity(entry.size() as usize);
        io::Read::read_to_end(&mut io::Read::take(&mut entry, MAX_FILE), &mut data)?;
        if let Some((parent, _)) = inner.rsplit_once('/') {
            dir.create_dir_all(parent)
                .map_err(|e| io::Error::other(format!("{parent}: {e}")))?;
        }
        dir.write(&inner, &data)
            .map_err(|e| io::Error::other(format!("{inner}: {e}")))?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus::workspace::Workspace;

    #[test]
    fn a_packed_project_unpacks_to_the_same_files() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::create_dir_all(a.path().join("backend/app")).unwrap();
        std::fs::write(a.path().join("backend/app/main.py"), "print(1)\n").unwrap();
        std::fs::write(a.path().join("README.md"), "# x\n").unwrap();
        let bytes = pack(&Workspace::open(a.path()).unwrap(), "x").unwrap();
        let n = unpack(&bytes, b.path()).unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            std::fs::read_to_string(b.path().join("backend/app/main.py")).unwrap(),
            "print(1)\n"
        );
        assert_eq!(
            std::fs::read_to_string(b.path().join("README.md")).unwrap(),
            "# x\n"
        );
    }

    #[test]
    fn an_archive_that_climbs_out_writes_nothing_outside() {
        let outer = tempfile::tempdir().unwrap();
        let inside = outer.path().join("inside");
        std::fs::create_dir(&inside).unwrap();
        let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(3);
        header.set_mode(0o644);
        // `append_data` refuses `..`; the name is written as a hostile
        // archive would have it.
        header.as_gnu_mut().unwrap().name[..14].copy_from_slice(b"p/../../escape");
        header.set_cksum();
        tar.append(&header, &b"bad"[..]).unwrap();
        let bytes = tar.into_inner().unwrap().finish().unwrap();
        let e = unpack(&bytes, &inside).unwrap_err();
        assert!(e.to_string().contains("escape"), "{e}");
        assert!(!outer.path().join("escape").exists());
    }
}
