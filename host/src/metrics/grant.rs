//! The `[metrics]` section: `sample = true` lets an agent read samples of
//! the host machine.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    #[serde(default)]
    sample: bool,
}

/// Whether the section grants samples.
pub fn check(m: Section) -> bool {
    m.sample
}
