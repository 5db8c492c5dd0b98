//! A project's files as a `.tar.gz`, made on the blocking pool while it is
//! sent: nothing is staged on disk and memory stays at one file plus the
//! chunks in flight. Files are read through the project's sandbox, so a
//! link or a path outside the project is never followed.

use crate::bindings::nexus::agent::workspace::EntryKind;
use crate::workspace::FileStore;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::Stream;
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

fn write_all(files: &dyn FileStore, prefix: &str, out: Chunks) -> io::Result<()> {
    let entries = files
        .list("", true, crate::workspace::MAX_DEPTH, MAX_ENTRIES + 1)
        .map_err(|e| io::Error::other(e.to_string()))?;
    if entries.len() > MAX_ENTRIES {
        return Err(io::Error::other(format!(
            "the project has more than {MAX_ENTRIES} entries"
        )));
    }
    let mtime = crate::db::now().max(0) as u64;
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
