//! The `[memory]` section: whether an agent may recall from and add to its
//! tenant's knowledge base, and how big one entry may be.

use crate::policy::Size;
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    #[serde(default)]
    recall: bool,
    #[serde(default)]
    remember: bool,
    max_entry: Option<Spanned<Size>>,
}

/// Access to the tenant's knowledge base.
#[derive(Debug, Clone)]
pub struct MemoryGrant {
    pub recall: bool,
    pub remember: bool,
    pub max_entry: u64,
}

pub fn check(m: Section) -> MemoryGrant {
    MemoryGrant {
        recall: m.recall,
        remember: m.remember,
        max_entry: m.max_entry.map_or(64 << 10, |v| v.get_ref().0),
    }
}
