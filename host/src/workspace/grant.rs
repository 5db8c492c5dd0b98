//! The `[workspace]` section: which files of the project an agent may read
//! and write, and how much it may keep there.

use crate::policy::{Locate, PolicyError, Size};
use globset::{GlobSet, GlobSetBuilder};
use serde::Deserialize;
use toml::Spanned;

/// Deepest path a policy may allow.
pub use super::local::MAX_DEPTH;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    #[serde(default)]
    read: Vec<Spanned<String>>,
    #[serde(default)]
    write: Vec<Spanned<String>>,
    max_bytes: Option<Spanned<Size>>,
    max_files: Option<Spanned<u64>>,
    max_file_size: Option<Spanned<Size>>,
    read_max: Option<Spanned<Size>>,
    max_dirs: Option<Spanned<u64>>,
    max_depth: Option<Spanned<u64>>,
}

/// What the agent may do in the project's files.
#[derive(Debug, Clone)]
pub struct WorkspaceGrant {
    pub read: GlobSet,
    pub write: GlobSet,
    pub read_patterns: Vec<String>,
    pub write_patterns: Vec<String>,
    pub max_bytes: u64,
    pub max_files: u64,
    pub max_file_size: u64,
    /// Largest file a read returns.
    pub read_max: u64,
    /// Directories in the project.
    pub max_dirs: u64,
    /// Components of a path.
    pub max_depth: u64,
}

fn globs(
    list: &[Spanned<String>],
    locate: &Locate<'_>,
) -> Result<(GlobSet, Vec<String>), PolicyError> {
    let mut b = GlobSetBuilder::new();
    let mut patterns = Vec::new();
    for p in list {
        let pat = p.get_ref();
        if pat.starts_with('/') || pat.split('/').any(|c| c == "..") {
            return Err(locate.at(
                p.span(),
                format!("glob `{pat}` leaves the project root"),
                "write globs relative to the project root, such as \"backend/**\"",
            ));
        }
        let glob = globset::GlobBuilder::new(pat)
            .literal_separator(true)
            .build()
            .map_err(|e| {
                locate.at(
                    p.span(),
                    format!("glob `{pat}` is invalid: {}", e.kind()),
                    "see the globset syntax: `*` within a directory, `**` across directories",
                )
            })?;
        b.add(glob);
        patterns.push(pat.clone());
    }
    let set = b.build().map_err(|e| {
        locate.at(
            0..0,
            format!("globs could not be combined: {e}"),
            "simplify the globs",
        )
    })?;
    Ok((set, patterns))
}

pub fn check(w: Section, locate: &Locate<'_>) -> Result<WorkspaceGrant, PolicyError> {
    let (read, read_patterns) = globs(&w.read, locate)?;
    let (write, write_patterns) = globs(&w.write, locate)?;
    let max_bytes = w.max_bytes.map_or(64 << 20, |v| v.get_ref().0);
    let max_file_size = w.max_file_size.map_or(8 << 20, |v| v.get_ref().0);
    let max_files = match &w.max_files {
        Some(v) => locate.positive(v.span(), *v.get_ref(), "max_files")?,
        None => 2_000,
    };
    let read_max = w.read_max.map_or(max_file_size, |v| v.get_ref().0);
    let max_dirs = match &w.max_dirs {
        Some(v) => locate.positive(v.span(), *v.get_ref(), "max_dirs")?,
        None => max_files,
    };
    let max_depth = match &w.max_depth {
        Some(v) => {
            let n = locate.positive(v.span(), *v.get_ref(), "max_depth")?;
            if n > MAX_DEPTH {
                return Err(locate.at(
                    v.span(),
                    format!("max_depth {n} is more than {MAX_DEPTH}"),
                    &format!("choose a max_depth between 1 and {MAX_DEPTH}"),
                ));
            }
            n
        }
        None => 32,
    };
    Ok(WorkspaceGrant {
        read,
        write,
        read_patterns,
        write_patterns,
        max_bytes,
        max_files,
        max_file_size,
        read_max,
        max_dirs,
        max_depth,
    })
}
