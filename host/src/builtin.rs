//! Agents compiled together with the host (see `guests/build.rs`).
//!
//! The roster is embedded compressed (a third of its size); an agent's
//! component is inflated the first time it is asked for, once per process.

use std::io::Read as _;
use std::sync::{LazyLock, OnceLock};

pub use nexus_guests::{POLICIES, TEST_AGENTS};

/// An agent built into this binary.
pub struct Builtin {
    /// Its agent id.
    pub name: &'static str,
    /// Its component's size in bytes, known without inflating it.
    pub size: usize,
    deflated: &'static [u8],
    bytes: OnceLock<Vec<u8>>,
}

impl Builtin {
    /// Its component.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.get_or_init(|| {
            let mut bytes = Vec::with_capacity(self.size);
            flate2::read::DeflateDecoder::new(self.deflated)
                .read_to_end(&mut bytes)
                .unwrap_or_else(|e| {
                    // Written by this binary's own build: a failure is a
                    // broken build, not input.
                    panic!("the built-in agent `{}` does not inflate: {e}", self.name)
                });
            bytes
        })
    }
}

static ROSTER: LazyLock<Vec<Builtin>> = LazyLock::new(|| {
    nexus_guests::ROSTER_DEFLATED
        .iter()
        .map(|&(name, size, deflated)| Builtin {
            name,
            size,
            deflated,
            bytes: OnceLock::new(),
        })
        .collect()
});

/// Every built-in agent, by name.
pub fn roster() -> &'static [Builtin] {
    &ROSTER
}

/// The built-in agent called `name`.
pub fn agent(name: &str) -> Option<&'static Builtin> {
    roster().iter().find(|b| b.name == name)
}

/// Path of a built test agent from `tests/agents/`.
pub fn test_agent(name: &str) -> Option<&'static str> {
    TEST_AGENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_built_in_agent_inflates_to_a_component() {
        assert!(super::agent("hello").is_some());
        for b in super::roster() {
            // The component binary format's preamble: magic, then the
            // component layer's version.
            let bytes = b.bytes();
            assert_eq!(&bytes[..4], b"\0asm", "{}", b.name);
            assert_eq!(&bytes[4..8], &[0x0d, 0, 1, 0], "{}", b.name);
            assert!(bytes.len() > b.deflated.len(), "{}", b.name);
            assert_eq!(bytes.len(), b.size, "{}", b.name);
        }
    }
}
