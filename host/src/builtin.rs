//! Agents compiled together with the host (see `guests/build.rs`).

pub use nexus_guests::{POLICIES, ROSTER, TEST_AGENTS};

/// Path of a built test agent from `tests/agents/`.
pub fn test_agent(name: &str) -> Option<&'static str> {
    TEST_AGENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
}
