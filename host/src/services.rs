//! Backends shared by every task: the knowledge base, host metrics and the
//! LLM client.

use crate::llm::Llm;
use crate::memory::MemoryStore;
use crate::metrics::Metrics;
use crate::task::TaskState;
use std::path::Path;

pub struct Services {
    pub memory: MemoryStore,
    pub metrics: Metrics,
    pub llm: Llm,
}

impl Services {
    pub fn open(database: Option<&Path>) -> anyhow::Result<Services> {
        if let Some(dir) = database.and_then(Path::parent) {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Services {
            memory: MemoryStore::open(database).map_err(|e| {
                anyhow::anyhow!(
                    "opening the database {}: {e}",
                    database.map_or("(memory)".into(), |p| p.display().to_string())
                )
            })?,
            metrics: Metrics::default(),
            llm: Llm::default(),
        })
    }
}

impl TaskState {
    pub(crate) fn services(&self) -> &Services {
        &self.runtime.services
    }
}
