//! A project's setup: what opening it again after the host was killed needs
//! (its tenant, its directory, its agents and policies, and for a
//! generation the request), kept in the journal under the project's id.
//!
//! The setup also makes the id the directory's own: an id recorded for one
//! directory is never opened on another, so a message queued for one
//! project cannot be delivered into another project's files.

use crate::bus::{Broker, BrokerError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What opening a project again needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Setup {
    pub tenant: String,
    /// The project directory, absolute.
    pub workspace: PathBuf,
    /// (component: an absolute path or a built-in name, policy path), for a
    /// project of `nexus run`.
    #[serde(default)]
    pub agents: Vec<(String, PathBuf)>,
    /// For a project of `nexus generate`: the request it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<Generation>,
}

/// A generation's request, and the message that carries it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Generation {
    pub description: String,
    /// The project's name as the generated code uses it.
    pub name: String,
    /// The policy directory given with `--policies`, if any.
    pub policies: Option<PathBuf>,
    /// Id of the message to the orchestrator: its outcome is the project's.
    pub root: String,
}

/// Why a project id cannot be used for a directory.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Journal(#[from] BrokerError),
    #[error("the journal's record of project `{id}` does not read ({reason})")]
    Unreadable { id: String, reason: String },
    #[error(
        "project id `{id}` belongs to {}; choose another id, or work in that directory",
        .owner.display()
    )]
    Taken { id: String, owner: PathBuf },
}

fn key(id: &str) -> String {
    format!("project:{id}")
}

impl Setup {
    /// The setup recorded for `id`, if any.
    pub async fn load(journal: &dyn Broker, id: &str) -> Result<Option<Setup>, SetupError> {
        let Some(text) = journal.setting(&key(id), None).await? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| SetupError::Unreadable {
                id: id.to_string(),
                reason: e.to_string(),
            })
    }

    /// Records this setup for `id`.
    pub async fn save(&self, journal: &dyn Broker, id: &str) -> Result<(), SetupError> {
        let text = serde_json::to_string(self).map_err(|e| SetupError::Unreadable {
            id: id.to_string(),
            reason: e.to_string(),
        })?;
        journal.setting(&key(id), Some(&text)).await?;
        Ok(())
    }
}

/// Refuses `id` when the journal records it for a directory other than
/// `workspace` (absolute); returns the setup recorded for it, if any.
pub async fn claim(
    journal: &dyn Broker,
    id: &str,
    workspace: &Path,
) -> Result<Option<Setup>, SetupError> {
    match Setup::load(journal, id).await? {
        Some(s) if s.workspace != workspace => Err(SetupError::Taken {
            id: id.to_string(),
            owner: s.workspace,
        }),
        found => Ok(found),
    }
}

/// The id a project in `workspace` gets when none is given: `name` when it
/// is free or already this directory's, else `name` with a short hash of
/// the directory, which no other directory has.
pub async fn default_id(
    journal: &dyn Broker,
    name: &str,
    workspace: &Path,
) -> Result<String, SetupError> {
    match claim(journal, name, workspace).await {
        Ok(_) => Ok(name.to_string()),
        Err(SetupError::Taken { .. }) => {
            let digest = Sha256::digest(workspace.as_os_str().as_encoded_bytes());
            let id = format!("{name}-{}", &crate::text::hex(&digest)[..8]);
            claim(journal, &id, workspace).await?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}
