//! The `[log]` section: the most detailed level an agent may log at
//! (`info` when the section names none).

use crate::policy::{Locate, PolicyError};
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    level: Option<Spanned<String>>,
}

pub fn check(l: Section, locate: &Locate<'_>) -> Result<tracing::Level, PolicyError> {
    let Some(level) = l.level else {
        return Ok(tracing::Level::INFO);
    };
    Ok(match level.get_ref().as_str() {
        "trace" => tracing::Level::TRACE,
        "debug" => tracing::Level::DEBUG,
        "info" => tracing::Level::INFO,
        "warn" => tracing::Level::WARN,
        "error" => tracing::Level::ERROR,
        other => {
            return Err(locate.at(
                level.span(),
                format!("`{other}` is not a log level"),
                "use one of: trace, debug, info, warn, error",
            ));
        }
    })
}
