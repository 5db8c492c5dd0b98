//! Agents compiled together with the host (see `guests/build.rs`).
//!
//! The roster is embedded compressed (a third of its size) by the binary
//! that links it, not by this library: the library then compiles while the
//! agents are still being built, instead of after them. The binary hands
//! it over with [`install`] before anything runs; an agent's component is
//! inflated the first time it is asked for, once per process.

use std::io::Read as _;
use std::sync::{LazyLock, OnceLock};

/// What a binary embeds, as `nexus-guests` names it.
#[derive(Clone, Copy)]
pub struct Embedded {
    /// The roster: (name, size of the component, component bytes compressed
    /// with raw DEFLATE).
    pub roster: &'static [(&'static str, usize, &'static [u8])],
    /// Shipped policies of the built-in agents: (agent, policy text).
    pub policies: &'static [(&'static str, &'static str)],
    /// Test agents (from `tests/agents/`): (name, path of the built component).
    pub test_agents: &'static [(&'static str, &'static str)],
}

/// The agents `nexus-guests` built, as an [`Embedded`], in a crate that
/// depends on it: `nexus::builtin::install(nexus::embedded!())`.
#[macro_export]
macro_rules! embedded {
    () => {
        $crate::builtin::Embedded {
            roster: ::nexus_guests::ROSTER_DEFLATED,
            policies: ::nexus_guests::POLICIES,
            test_agents: ::nexus_guests::TEST_AGENTS,
        }
    };
}

static EMBEDDED: OnceLock<Embedded> = OnceLock::new();

/// Makes `embedded` this process's built-in agents. The first call wins;
/// a later one changes nothing and says so (`false`).
pub fn install(embedded: Embedded) -> bool {
    EMBEDDED.set(embedded).is_ok()
}

/// The installed agents. Asked for before [`install`], there are none for
/// the rest of the process (and a later `install` says so), so that what
/// was read once never changes.
fn embedded() -> Embedded {
    *EMBEDDED.get_or_init(|| {
        // This library's own unit tests link the built agents directly.
        #[cfg(test)]
        return crate::embedded!();
        #[cfg(not(test))]
        Embedded {
            roster: &[],
            policies: &[],
            test_agents: &[],
        }
    })
}

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
    embedded()
        .roster
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

/// The shipped policy of the built-in agent `agent`, as text.
pub fn policy(agent: &str) -> Option<&'static str> {
    named(embedded().policies, agent)
}

/// Path of a built test agent from `tests/agents/`.
pub fn test_agent(name: &str) -> Option<&'static str> {
    named(embedded().test_agents, name)
}

/// The value filed under `name` in a (name, value) table.
fn named(table: &'static [(&'static str, &'static str)], name: &str) -> Option<&'static str> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn agents_once_read_are_not_replaced_by_a_later_install() {
        let before = super::roster().len();
        assert!(before > 0);
        let other = super::Embedded {
            roster: &[],
            policies: &[],
            test_agents: &[],
        };
        assert!(!super::install(other), "a second install is refused");
        assert_eq!(super::roster().len(), before);
        assert!(super::policy("hello").is_some());
        assert!(super::test_agent("worker").is_some());
        assert_eq!(super::policy("no-such-agent"), None);
    }

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
