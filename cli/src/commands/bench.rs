//! `nexus bench`: task start, host calls and cold start beside baselines.

use super::failure::{Exit, Failure};
use clap::Args;

#[derive(Args, Debug, Clone)]
pub(crate) struct BenchArgs {
    /// Tasks started for the task-start figures.
    #[arg(long, default_value_t = 2000)]
    tasks: usize,
    /// Host calls made by the guest for the host-call figure.
    #[arg(long, default_value_t = 200_000)]
    calls: u32,
    /// Uncached compilations for the cold-start figure.
    #[arg(long, default_value_t = 3)]
    compiles: usize,
}

pub(crate) async fn bench(args: BenchArgs) -> Result<(), Failure> {
    nexus::bench::run(nexus::bench::Options {
        tasks: args.tasks,
        calls: args.calls,
        compiles: args.compiles,
    })
    .await
    .map_err(|e| Failure::new(Exit::TaskFailed, format!("{e:#}")))
}
