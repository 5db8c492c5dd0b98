//! The wasmtime side of the host: engines, the component cache and loaded
//! agents.
//!
//! One engine per distinct wasm stack limit (wasmtime sets the stack limit per
//! engine), each with Cranelift, the pooling allocator and epoch interruption.
//! A ticker thread advances every engine's epoch. Components are compiled
//! once and cached on disk by content hash; each agent keeps one
//! `InstancePre`, and every task instantiates it into a fresh `Store`.

use crate::bindings::{AgentInfo, AgentPre};
use crate::cache::ComponentCache;
use crate::policy::Policy;
use crate::services::Services;
use crate::sync::Recover;
use crate::task::{Caller, TICK, TaskState};
use crate::text::hex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

/// Why an agent could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "component sha256 {actual} does not match the policy's pin {expected} ({policy}); \
         run `nexus agents inspect` on the component and update `sha256` if this build is trusted"
    )]
    HashMismatch {
        expected: String,
        actual: String,
        policy: String,
    },
    #[error("not a valid agent component: {0}")]
    Compile(String),
    #[error(
        "the component imports something the host does not provide: {0}; agents may import only nexus:agent and wasi:* 0.2"
    )]
    Link(String),
    #[error("describe() failed: {0}")]
    Describe(String),
    #[error(
        "the component describes itself as `{component}` but the policy {policy} is for `{expected}`; use the policy written for this agent"
    )]
    IdMismatch {
        component: String,
        expected: String,
        policy: String,
    },
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Where the host keeps its files.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Directory for precompiled components; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// SQLite database for memory, LLM usage and cache; `None` keeps them
    /// in RAM.
    pub database: Option<PathBuf>,
    /// LLM backends; the default has none, so every call reports
    /// `unavailable`.
    pub llm: crate::config::LlmConfig,
    /// Mailboxes, retries, dead letters.
    pub bus: crate::config::BusConfig,
    /// What each tenant's knowledge base may hold.
    pub memory: crate::config::MemoryConfig,
    /// Journal bus messages (in `database`, or in memory without one).
    /// Without a journal, messages live only in memory.
    pub no_journal: bool,
    /// With a NATS address, the journal is that JetStream's instead.
    pub cluster: crate::config::ClusterConfig,
}

/// Bytes of each linear memory zeroed in place when a task ends.
const KEEP_RESIDENT: usize = 4 << 20;

struct EngineSet {
    engine: Engine,
    linker: Arc<Linker<TaskState>>,
}

/// Engines, cache and shared backends. Cheap to share behind an `Arc`.
pub struct Runtime {
    engines: Mutex<HashMap<u64, Arc<EngineSet>>>,
    ticking: Arc<Mutex<Vec<Engine>>>,
    cache: Option<ComponentCache>,
    pub(crate) services: Services,
    pub(crate) broker: Option<Arc<dyn crate::bus::Broker>>,
    pub(crate) bus: crate::config::BusConfig,
}

/// A loaded agent: its component ready to instantiate and its policy.
pub struct Agent {
    pub info: AgentInfo,
    pub policy: Arc<Policy>,
    /// Lowercase hex SHA-256 of the component bytes.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size: usize,
    /// Whether the compiled code came from the on-disk cache.
    pub from_cache: bool,
    /// Imports of the component, as `name` strings.
    pub imports: Vec<String>,
    pub(crate) pre: AgentPre<TaskState>,
    pub(crate) engine: Engine,
    /// Its tasks' durations.
    pub(crate) timer: prometheus_client::metrics::histogram::Histogram,
}

impl Agent {
    /// The agent's id (from its policy, checked against `describe()`).
    pub fn id(&self) -> &str {
        &self.policy.agent
    }
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Arc<Runtime>> {
        let services = Services::open(options.database.as_deref(), options.llm, options.memory)?;
        let broker: Option<Arc<dyn crate::bus::Broker>> = match &options.cluster.nats {
            _ if options.no_journal => None,
            Some(url) => Some(Arc::new(crate::bus::jetstream::JetStream::open(
                crate::bus::jetstream::JetStreamOptions {
                    url: url.clone(),
                    namespace: options.cluster.namespace.clone(),
                    max_project_bytes: options.bus.max_journal_bytes,
                },
            )?)),
            None => Some(Arc::new(crate::bus::journal::Journal::open(
                options.database.as_deref(),
                Some(options.bus.retention),
                options.bus.max_journal_bytes,
            )?)),
        };
        let ticking = Arc::new(Mutex::new(Vec::<Engine>::new()));
        spawn_ticker(Arc::downgrade(&ticking));
        Ok(Arc::new(Runtime {
            engines: Mutex::new(HashMap::new()),
            ticking,
            cache: options.cache_dir.map(ComponentCache::new),
            services,
            broker,
            bus: options.bus,
        }))
    }

    fn engine_for(&self, stack: u64) -> anyhow::Result<Arc<EngineSet>> {
        let mut engines = self.engines.lock().recover();
        if let Some(set) = engines.get(&stack) {
            return Ok(set.clone());
        }
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(256)
            .total_core_instances(1024)
            .total_memories(256)
            .total_tables(512)
            .total_stacks(256)
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_memory_size(crate::policy::bounds::MEMORY.1 as usize)
            // A finished task's memory, tables and stack are zeroed in place
            // (memset, only the pages it touched) instead of returned to the
            // kernel: `madvise` on every task end costs a TLB shootdown on
            // every core. Nothing of one task is visible to the next either way.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(256 << 10)
            .pagemap_scan(wasmtime::Enabled::Auto)
            .decommit_batch_size(32);
        let mut config = Config::new();
        config
            .strategy(wasmtime::Strategy::Cranelift)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true)
            .max_wasm_stack(stack as usize)
            .async_stack_size(stack as usize + (1 << 20));
        let engine = Engine::new(&config).map_err(wasm_err)?;
        let mut linker = Linker::<TaskState>::new(&engine);
        crate::task::link(&mut linker).map_err(wasm_err)?;
        let set = Arc::new(EngineSet {
            engine: engine.clone(),
            linker: Arc::new(linker),
        });
        self.ticking.lock().recover().push(engine);
        engines.insert(stack, set.clone());
        Ok(set)
    }

    /// Compiles (or loads from the cache) a component and prepares it to
    /// run under `policy`. Refuses a component whose hash does not match the
    /// policy's pin, or whose `describe()` names another agent.
    ///
    /// The future is boxed: see [`crate::BoxFuture`].
    pub fn load_agent<'a>(
        self: &'a Arc<Self>,
        bytes: &'a [u8],
        policy: Policy,
    ) -> crate::BoxFuture<'a, Result<Arc<Agent>, LoadError>> {
        Box::pin(async move {
            let sha256 = hex(&Sha256::digest(bytes));
            if let Some(expected) = &policy.sha256
                && *expected != sha256
            {
                return Err(LoadError::HashMismatch {
                    expected: expected.clone(),
                    actual: sha256,
                    policy: policy.source.display().to_string(),
                });
            }
            let agent = self.prepare(bytes, sha256, Arc::new(policy)).await?;
            if agent.info.id != agent.policy.agent {
                return Err(LoadError::IdMismatch {
                    component: crate::text::clip(&agent.info.id, 64),
                    expected: agent.policy.agent.clone(),
                    policy: agent.policy.source.display().to_string(),
                });
            }
            Ok(Arc::new(agent))
        })
    }

    /// Loads a component under a policy that grants nothing and reports
    /// what it says about itself.
    ///
    /// The future is boxed: see [`crate::BoxFuture`].
    pub fn inspect<'a>(
        self: &'a Arc<Self>,
        bytes: &'a [u8],
    ) -> crate::BoxFuture<'a, Result<Agent, LoadError>> {
        Box::pin(async move {
            let policy = Policy::parse(std::path::Path::new("(inspect)"), "agent = \"inspect\"\n")
                .expect("the built-in inspection policy parses");
            self.prepare(bytes, hex(&Sha256::digest(bytes)), Arc::new(policy))
                .await
        })
    }

    async fn prepare(
        self: &Arc<Self>,
        bytes: &[u8],
        sha256: String,
        policy: Arc<Policy>,
    ) -> Result<Agent, LoadError> {
        let set = self
            .engine_for(policy.limits.stack)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let (component, from_cache) = self.compile(&set.engine, bytes, &sha256)?;
        let imports = component
            .component_type()
            .imports(&set.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let pre = set
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre = AgentPre::new(pre).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let info = describe(self.clone(), &set.engine, &pre, &policy).await?;
        let timer = self.services.telemetry.task_timer(&policy.agent);
        Ok(Agent {
            info,
            policy,
            sha256,
            size: bytes.len(),
            from_cache,
            imports,
            pre,
            engine: set.engine.clone(),
            timer,
        })
    }

    /// The bus configuration in force.
    pub fn bus_config(&self) -> &crate::config::BusConfig {
        &self.bus
    }

    /// The broker that keeps bus messages (the journal), unless the runtime
    /// keeps them in memory only.
    pub fn broker(&self) -> Option<&dyn crate::bus::Broker> {
        self.broker.as_deref()
    }

    /// The shared backends (database, memory, metrics, LLM).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Reads a component from a file, or takes a built-in agent by name.
    pub fn read_component(spec: &str) -> Result<Vec<u8>, LoadError> {
        if let Some(builtin) = crate::builtin::agent(spec) {
            return Ok(builtin.bytes().to_vec());
        }
        std::fs::read(spec).map_err(|error| LoadError::Read {
            path: spec.into(),
            error,
        })
    }

    fn compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(Component, bool), LoadError> {
        if let Some(cache) = &self.cache
            && let Some(component) = cache.load(engine, sha256)
        {
            return Ok((component, true));
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(LoadError::Compile(
                "the file is not WebAssembly (it does not start with `\\0asm`); build the agent for wasm32-wasip2".into(),
            ));
        }
        // wasmtime's message spans lines (hex dumps); one line is kept.
        let component = Component::new(engine, bytes).map_err(|e| {
            LoadError::Compile(
                format!("{e:#}")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })?;
        if let Some(cache) = &self.cache {
            cache.store(engine, sha256, &component);
        }
        Ok((component, false))
    }

    /// Compiles without the cache (for benchmarks): returns the time taken.
    pub fn time_compile(&self, bytes: &[u8], stack: u64) -> anyhow::Result<Duration> {
        let set = self.engine_for(stack)?;
        let t = Instant::now();
        Component::new(&set.engine, bytes).map_err(wasm_err)?;
        Ok(t.elapsed())
    }

    /// Loads from the cache only (for benchmarks): returns the time taken,
    /// or `None` when the component is not cached.
    pub fn time_cached_load(&self, bytes: &[u8], stack: u64) -> anyhow::Result<Option<Duration>> {
        let set = self.engine_for(stack)?;
        let sha = hex(&Sha256::digest(bytes));
        let Some(cache) = &self.cache else {
            return Ok(None);
        };
        let t = Instant::now();
        Ok(cache.load(&set.engine, &sha).map(|_| t.elapsed()))
    }
}

/// Runs `describe()` in a store with the agent's limits and no project:
/// every host call from it is denied.
async fn describe(
    runtime: Arc<Runtime>,
    engine: &Engine,
    pre: &AgentPre<TaskState>,
    policy: &Arc<Policy>,
) -> Result<AgentInfo, LoadError> {
    let caller = Caller {
        agent: policy.agent.as_str().into(),
        project: "".into(),
        tenant: "".into(),
        task_id: "describe".into(),
        depth: 0,
    };
    let mut store = Store::new(
        engine,
        TaskState::new(caller, policy.clone(), None, runtime),
    );
    TaskState::arm(&mut store);
    let run = async {
        let agent = pre.instantiate_async(&mut store).await?;
        agent.call_describe(&mut store).await
    };
    match tokio::time::timeout(policy.limits.wall_time.min(Duration::from_secs(10)), run).await {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(e)) => Err(LoadError::Describe(store.data().failure(e).to_string())),
        Err(_) => Err(LoadError::Describe(
            "did not return within its wall time".into(),
        )),
    }
}

/// Advances the epoch of every engine each tick, until the runtime is gone.
fn spawn_ticker(engines: Weak<Mutex<Vec<Engine>>>) {
    std::thread::Builder::new()
        .name("nexus-epoch".into())
        .spawn(move || {
            while let Some(engines) = engines.upgrade() {
                for e in engines.lock().recover().iter() {
                    e.increment_epoch();
                }
                drop(engines);
                std::thread::sleep(TICK);
            }
        })
        .expect("spawning the epoch thread");
}

/// Lowercase hex SHA-256 of component bytes, as policies pin it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// wasmtime's error type is its own; the binary's edge speaks anyhow.
pub(crate) fn wasm_err(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}
