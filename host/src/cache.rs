//! Precompiled components on disk, keyed by the component's SHA-256 and the
//! engine's compatibility hash, so a second start does not recompile.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        ComponentCache { dir }
    }

    fn path(&self, engine: &Engine, sha256: &str) -> PathBuf {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        self.dir.join(format!("{sha256}-{:016x}.cwasm", h.finish()))
    }

    /// The cached compilation, if there is a usable one.
    pub(crate) fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(engine, sha256);
        // Read into memory rather than mapping the file: a file truncated
        // or rewritten in place while mapped would crash the host (SIGBUS).
        let bytes = std::fs::read(&path).ok()?;
        // SAFETY: `deserialize` runs native code from these bytes, so they
        // must be what wasmtime wrote. Only this cache writes into the
        // directory (created 0700, files renamed into place whole), the file
        // name binds the bytes to the component's hash and to this engine's
        // compatibility hash, and wasmtime checks its own header and version.
        // Agents never see this directory.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached component");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Saves a compilation; failures only cost a recompile next time.
    pub(crate) fn store(&self, engine: &Engine, sha256: &str, component: &Component) {
        let path = self.path(engine, sha256);
        if let Err(e) = write(&self.dir, &path, component) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not cache the compiled component");
        }
    }
}

fn write(dir: &Path, path: &Path, component: &Component) -> anyhow::Result<()> {
    create_private_dir(dir)?;
    let bytes = component.serialize().map_err(crate::runtime::wasm_err)?;
    let tmp = dir.join(format!(".tmp-{}", crate::text::uuid()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}
