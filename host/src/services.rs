//! Backends shared by every task: the database, the knowledge base, host
//! metrics, the log sink, the LLM client, and what the host counts. Each is its capability's
//! backend trait, so another implementation can take its place.

use crate::config::{LlmConfig, MemoryConfig};
use crate::db::Database;
use crate::llm::Llm;
use crate::log::LogSink;
use crate::memory::{MemoryStore, SqliteMemory};
use crate::metrics::{Metrics, Sampler};
use std::path::Path;
use std::sync::Arc;

pub struct Services {
    pub db: Arc<Database>,
    pub memory: Arc<dyn MemoryStore>,
    pub metrics: Arc<dyn Sampler>,
    pub log: Arc<dyn LogSink>,
    pub llm: Llm,
    /// What the host counts for its operator.
    pub telemetry: crate::telemetry::Telemetry,
}

impl Services {
    pub fn open(
        database: Option<&Path>,
        llm: LlmConfig,
        memory: MemoryConfig,
    ) -> anyhow::Result<Services> {
        if let Some(dir) = database.and_then(Path::parent) {
            std::fs::create_dir_all(dir)?;
        }
        let name = database.map_or("(in memory)".into(), |p| p.display().to_string());
        let db = Database::open(database)
            .map_err(|e| anyhow::anyhow!("opening the database {name}: {e}"))?;
        let telemetry = crate::telemetry::Telemetry::default();
        Ok(Services {
            memory: Arc::new(
                SqliteMemory::open(db.clone(), memory)
                    .map_err(|e| anyhow::anyhow!("preparing the knowledge base in {name}: {e}"))?,
            ),
            metrics: Arc::new(Metrics::default()),
            log: Arc::new(crate::log::backend::Tracing),
            llm: Llm::new(llm, db.clone())?.count_in(telemetry.clone()),
            telemetry,
            db,
        })
    }
}
