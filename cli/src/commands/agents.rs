//! `nexus agents`: the built-in agents, and what a component says about
//! itself.

use super::failure::Failure;
use super::{Global, runtime};
use clap::Subcommand;
use nexus::runtime::Runtime;

#[derive(Subcommand)]
pub(crate) enum AgentsCommand {
    /// Print an agent's describe(), its imports, size and SHA-256.
    Inspect {
        /// Path to a `.wasm` component or a built-in agent name.
        agent: String,
    },
    /// List the agents built into this binary.
    List,
}

pub(crate) async fn agents(g: &Global, command: AgentsCommand) -> Result<(), Failure> {
    match command {
        AgentsCommand::List => {
            for agent in nexus::builtin::roster() {
                nexus::say!("{:<14} {:>8} bytes", agent.name, agent.size);
            }
            Ok(())
        }
        AgentsCommand::Inspect { agent } => inspect(g, &agent).await,
    }
}

pub(crate) async fn inspect(g: &Global, agent: &str) -> Result<(), Failure> {
    let rt = runtime(g)?;
    let bytes = Runtime::read_component(agent).map_err(Failure::load)?;
    let i = rt.inspect(&bytes).await.map_err(Failure::load)?;
    let clip = |s: &str| nexus::text::clip(s, 256);
    nexus::say!("id:           {}", clip(&i.info.id));
    nexus::say!("name:         {}", clip(&i.info.name));
    nexus::say!("version:      {}", clip(&i.info.version));
    nexus::say!("description:  {}", clip(&i.info.description));
    let list = |items: &[String]| items.iter().map(|h| clip(h)).collect::<Vec<_>>().join(", ");
    nexus::say!("handles:      {}", list(&i.info.handles));
    nexus::say!("capabilities: {}", list(&i.info.capabilities));
    nexus::say!("size:         {} bytes", i.size);
    nexus::say!("sha256:       {}", i.sha256);
    nexus::say!("imports:");
    for imp in &i.imports {
        nexus::say!("  {imp}");
    }
    Ok(())
}
