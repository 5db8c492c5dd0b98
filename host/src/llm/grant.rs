//! The `[llm]` section: which model roles an agent may ask for, and how many
//! tokens a task may spend.

use crate::policy::{Locate, PolicyError};
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    #[serde(default)]
    roles: Vec<Spanned<String>>,
    tokens_per_task: Option<Spanned<u64>>,
}

/// Model roles and the token budget.
#[derive(Debug, Clone)]
pub struct LlmGrant {
    pub roles: Vec<String>,
    pub tokens_per_task: u64,
}

/// The roles a policy may name: one per agent of the roster.
pub const ROLES: &[&str] = &[
    "orchestrator",
    "analyst",
    "backend",
    "frontend",
    "integration",
    "devops",
    "qa",
    "security",
    "context",
    "performance",
    "learning",
];

pub fn check(g: Section, locate: &Locate<'_>) -> Result<LlmGrant, PolicyError> {
    let mut roles = Vec::new();
    for r in &g.roles {
        if !ROLES.contains(&r.get_ref().as_str()) {
            return Err(locate.at(
                r.span(),
                format!("`{}` is not a model role", r.get_ref()),
                &format!("use one of: {}", ROLES.join(", ")),
            ));
        }
        roles.push(r.get_ref().clone());
    }
    Ok(LlmGrant {
        roles,
        tokens_per_task: g.tokens_per_task.map_or(20_000, |v| *v.get_ref()),
    })
}
