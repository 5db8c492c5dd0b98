//! The `[bus]` section: whom an agent may ask and tell, which topics it may
//! publish and hear, how big and how many its messages may be.

use crate::policy::{Locate, PolicyError, Size, is_agent_id};
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    #[serde(default)]
    request: Vec<Spanned<String>>,
    #[serde(default)]
    send: Vec<Spanned<String>>,
    #[serde(default)]
    publish: Vec<Spanned<String>>,
    #[serde(default)]
    subscribe: Vec<Spanned<String>>,
    max_message: Option<Spanned<Size>>,
    rate: Option<Spanned<u32>>,
}

/// Whom the agent may address on the bus. Empty lists grant nothing.
#[derive(Debug, Clone)]
pub struct BusGrant {
    pub request: Vec<String>,
    pub send: Vec<String>,
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    pub max_message: u64,
    /// Messages a second this agent may send (requests, sends, events).
    pub rate: u32,
}

impl Default for BusGrant {
    fn default() -> Self {
        BusGrant {
            request: Vec::new(),
            send: Vec::new(),
            publish: Vec::new(),
            subscribe: Vec::new(),
            max_message: 1 << 20,
            rate: 1000,
        }
    }
}

/// Whether `pattern` is a valid topic pattern: dot-separated words of
/// `[a-z0-9_-]`, where a word may be `*` (one word) and the last may be `>`
/// (one or more words).
pub fn valid_pattern(pattern: &str) -> bool {
    let words: Vec<&str> = pattern.split('.').collect();
    !pattern.is_empty()
        && pattern.len() <= 256
        && words.iter().enumerate().all(|(i, w)| {
            *w == "*"
                || (*w == ">" && i == words.len() - 1)
                || (!w.is_empty()
                    && w.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                    }))
        })
}

/// Whether a concrete `topic` matches `pattern`.
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    let mut p = pattern.split('.');
    let mut t = topic.split('.');
    loop {
        match (p.next(), t.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

pub fn check(b: Section, locate: &Locate<'_>) -> Result<BusGrant, PolicyError> {
    let ids = |list: &[Spanned<String>]| -> Result<Vec<String>, PolicyError> {
        list.iter()
            .map(|s| {
                let v = s.get_ref();
                if v == "*" || is_agent_id(v) {
                    Ok(v.clone())
                } else {
                    Err(locate.at(
                        s.span(),
                        format!("`{v}` is not an agent id"),
                        "name agents by id (\"backend\"), or \"*\" for every agent of the project",
                    ))
                }
            })
            .collect()
    };
    let topics = |list: &[Spanned<String>]| -> Result<Vec<String>, PolicyError> {
        list.iter()
            .map(|s| {
                let v = s.get_ref();
                if valid_pattern(v) {
                    Ok(v.clone())
                } else {
                    Err(locate.at(
                        s.span(),
                        format!("`{v}` is not a topic pattern"),
                        "write dot-separated words; `*` matches one word, a final `>` the rest (\"status.*\")",
                    ))
                }
            })
            .collect()
    };
    Ok(BusGrant {
        request: ids(&b.request)?,
        send: ids(&b.send)?,
        publish: topics(&b.publish)?,
        subscribe: topics(&b.subscribe)?,
        max_message: b.max_message.map_or(1 << 20, |v| v.get_ref().0),
        rate: match &b.rate {
            Some(v) => locate.positive(v.span(), u64::from(*v.get_ref()), "rate")? as u32,
            None => 1000,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns() {
        assert!(topic_matches("status.*", "status.backend"));
        assert!(!topic_matches("status.*", "status.backend.done"));
        assert!(topic_matches("status.>", "status.backend.done"));
        assert!(!topic_matches("status.>", "status"));
        assert!(topic_matches("a.b", "a.b"));
        assert!(valid_pattern("status.*") && valid_pattern("a.>") && !valid_pattern("a.>.b"));
        assert!(!valid_pattern("") && !valid_pattern("A.b") && !valid_pattern("a..b"));
    }
}
