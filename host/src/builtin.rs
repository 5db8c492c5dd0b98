//! Agents compiled together with the host (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// Path of a built test agent from `tests/agents/`.
pub fn test_agent(name: &str) -> Option<&'static str> {
    TEST_AGENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
}
