//! What each fuzz target checks of one input. The fuzz targets run these
//! under libFuzzer; `cargo test` (tests/properties.rs) replays the seeds
//! and the inputs of past crashes through them.

#![allow(dead_code)]

use nexus::bindings::Outcome;
use nexus::config::{Env, HostConfig};
use nexus::llm::ollama::NdjsonReply;
use nexus::llm::openai::SseReply;
use nexus::llm::wire::{BackendError, Lines};
use nexus::policy::{Policy, is_agent_id};
use nexus::workspace::{MAX_PATH, check_path};
use serde_json::Value;
use std::path::{Component, Path};

/// A policy file.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Policy::parse(Path::new("fuzz.toml"), text) {
        assert!(is_agent_id(&p.agent), "{:?}", p.agent);
        let _ = p.summary();
    }
}

/// `text` as a TOML basic string.
pub fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What `check_path` accepts is relative, has only plain components, and
/// is already in the form the check gives.
pub fn assert_confined(checked: &str, allow_root: bool) {
    assert!(checked.len() <= MAX_PATH);
    assert!(!checked.contains(['\0', '\\', ':']), "{checked:?}");
    assert!(
        Path::new(checked)
            .components()
            .all(|c| matches!(c, Component::Normal(_))),
        "{checked:?}"
    );
    assert!(
        checked.is_empty()
            || checked
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != ".."),
        "{checked:?}"
    );
    assert_eq!(
        check_path(checked, allow_root).ok().as_deref(),
        Some(checked)
    );
}

/// A guest path, then a policy's workspace globs. The first line is a glob
/// for `[workspace] read`, the rest the path.
pub fn path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (glob, path) = text.split_once('\n').unwrap_or(("**", text));
    let policy = format!(
        "agent = \"fuzz\"\n[workspace]\nread = [{}]\n",
        toml_string(glob)
    );
    let grant = Policy::parse(Path::new("fuzz.toml"), &policy)
        .ok()
        .and_then(|p| p.workspace);
    for allow_root in [false, true] {
        let Ok(checked) = check_path(path, allow_root) else {
            continue;
        };
        assert_confined(&checked, allow_root);
        if let Some(w) = &grant {
            let _ = w.read.is_match(&checked);
            let _ = w.write.is_match(&checked);
        }
    }
}

fn host_config(text: &str, env: &dyn Env) {
    if let Ok(c) = HostConfig::parse(Path::new("nexus.toml"), text, env) {
        for role in c.llm.models.keys() {
            assert!(!c.llm.chain(role).is_empty());
        }
        let _ = c.llm.chain("nobody");
        assert!(c.bus.max_queue_size >= 1 && c.bus.retry_attempts >= 1);
    }
}

/// `nexus.toml`, under no environment and under the environment variables
/// the configuration reads (their value: the input's first line).
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let value = text.lines().next().unwrap_or("");
    let none: [(&str, &str); 0] = [];
    host_config(text, &none);
    host_config(text, &[("OLLAMA_HOST", value)]);
    host_config(
        text,
        &[
            ("OPENAI_BASE_URL", value),
            ("OPENAI_API_KEY", "k"),
            ("NEXUS_LLM_BACKEND", "openai"),
        ],
    );
    host_config(text, &[("NEXUS_LLM_BACKEND", value)]);
}

/// JSON the host reads from guests and users: the analyst's answer (with
/// its spec), a task as the command line takes it, and a task's outcome.
pub fn guest_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(answer) = serde_json::from_str::<Value>(text) {
        let _ = nexus::generate::explain(&answer);
        let name = nexus::generate::project_name(&answer);
        assert!(!name.is_empty() && name.len() <= 48, "{name:?}");
        if let Ok(spec) = nexus::generate::spec_of(&answer) {
            let pretty = serde_json::to_string_pretty(&spec).unwrap();
            let again: nexus_spec::Spec = serde_json::from_str(&pretty).unwrap();
            assert_eq!(again, spec);
            let _ = spec.normalised();
        }
    }
    if let Ok((_, payload)) = nexus::task::parse_task(text) {
        assert!(serde_json::from_str::<Value>(&payload).is_ok());
    }
    let outcome = Outcome {
        payload: text.to_string(),
        summary: text.to_string(),
        artifacts: text.lines().map(str::to_string).collect(),
    };
    let _ = nexus::project::check_outcome("fuzz", outcome, 1 << 20);
}

/// One streamed reply: the lines the host saw and the reply it assembled
/// (or its error), as text.
pub type Read = (Vec<String>, Result<String, String>);

/// Reads `chunks` as one streamed body the way the host does: split into
/// lines, each handed to `step` until it says the reply is complete.
pub fn read_stream<R>(
    chunks: &[&[u8]],
    mut reply: R,
    step: impl Fn(&mut R, &str) -> Result<bool, BackendError>,
    finish: impl FnOnce(R) -> Result<String, BackendError>,
) -> Read {
    let mut seen = Vec::new();
    let mut lines = Lines::default();
    let mut line = |l: &str| {
        seen.push(l.to_string());
        step(&mut reply, l)
    };
    let mut result = Ok(false);
    for chunk in chunks {
        result = lines.push(chunk, &mut line);
        if !matches!(result, Ok(false)) {
            break;
        }
    }
    if matches!(result, Ok(false)) {
        result = lines.finish(&mut line);
    }
    let outcome = match result {
        Err(e) => Err(e.to_string()),
        Ok(_) => finish(reply).map_err(|e| e.to_string()),
    };
    (seen, outcome)
}

/// An OpenAI-compatible server's event stream.
pub fn read_sse(chunks: &[&[u8]]) -> Read {
    read_stream(chunks, SseReply::new("m", 16), SseReply::line, |r| {
        r.finish().map(|r| format!("{r:?}"))
    })
}

/// Ollama's NDJSON stream, of `/api/chat` or of `/api/generate`.
pub fn read_ndjson(chunks: &[&[u8]], chat: bool) -> Read {
    let reply = if chat {
        NdjsonReply::chat("m", 16)
    } else {
        NdjsonReply::generate("m", 16)
    };
    read_stream(chunks, reply, NdjsonReply::line, |r| {
        r.finish().map(|r| format!("{r:?}"))
    })
}

/// Splits `body` in two where the first byte says.
fn halves(data: &[u8]) -> Option<(&[u8], [&[u8]; 2])> {
    let (&at, body) = data.split_first()?;
    Some((
        body,
        body.split_at(usize::from(at) * body.len() / 255).into(),
    ))
}

/// An event stream reads the same whole and split in two (the first byte
/// says where).
pub fn sse(data: &[u8]) {
    let Some((body, parts)) = halves(data) else {
        return;
    };
    assert_eq!(read_sse(&parts), read_sse(&[body]));
}

/// An NDJSON stream reads the same whole and split in two (the first byte
/// says where).
pub fn ndjson(data: &[u8]) {
    let Some((body, parts)) = halves(data) else {
        return;
    };
    for chat in [true, false] {
        assert_eq!(read_ndjson(&parts, chat), read_ndjson(&[body], chat));
    }
}
