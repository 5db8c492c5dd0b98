//! Text from guests, tenants and models on its way out, and JSON on its way
//! in.
//!
//! Everything the host prints that it did not write itself passes through
//! [`escape`] (human output) or [`json_line`] (JSON output): C0 and C1
//! controls, DEL, bidirectional overrides and isolates, line and paragraph
//! separators and zero-width characters never reach a terminal raw, so no
//! guest can clear the screen, set a window title, reorder what a line
//! seems to say or forge a line of its own.
//!
//! JSON that crosses into the host is checked by [`check_json`] for size
//! and nesting before anything parses it.

use std::fmt::Write as _;

/// Whether `c` must never be printed raw.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'            // C0 controls, ESC among them
        | '\u{7f}'..='\u{9f}'         // DEL and C1 controls (U+009B is an 8-bit CSI)
        | '\u{61c}'                   // Arabic letter mark
        | '\u{200b}'..='\u{200f}'     // zero-width characters, LRM, RLM
        | '\u{2028}' | '\u{2029}'     // line and paragraph separators
        | '\u{202a}'..='\u{202e}'     // bidirectional embeddings and overrides
        | '\u{2060}'..='\u{2069}'     // word joiner, invisible operators, isolates
        | '\u{feff}'                  // zero-width no-break space
        | '\u{fff9}'..='\u{fffb}'     // interlinear annotation controls
    )
}

/// `text` on one line with every unsafe character written as `\u{…}`
/// (`\n`, `\r` and `\t` as themselves escaped). What it returns has no
/// unsafe character, so escaping twice changes nothing.
pub fn escape(text: &str) -> String {
    if !text.chars().any(is_unsafe) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Cuts `text` to at most `max` bytes on a character boundary and
/// [`escape`]s it; `…` marks a cut.
pub fn clip(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = escape(&text[..end]);
    if end < text.len() {
        out.push('…');
    }
    out
}

/// JSON text with every unsafe character a string holds written as a
/// `\uXXXX` escape. serde_json escapes only U+0000–U+001F, so the only
/// unsafe characters left raw in its output are inside strings (a pretty
/// printer's own line ends aside, which are kept).
fn safe_json(text: String) -> String {
    if !text.chars().any(|c| c != '\n' && is_unsafe(c)) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c != '\n' && is_unsafe(c) {
            // Every unsafe character is in the Basic Multilingual Plane.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// `value` as one line of JSON with every unsafe character escaped.
pub fn json_line(value: &serde_json::Value) -> String {
    safe_json(value.to_string())
}

/// `value` as indented JSON with every unsafe character escaped.
pub fn json_pretty(value: &serde_json::Value) -> String {
    safe_json(serde_json::to_string_pretty(value).unwrap_or_default())
}

/// Deepest nesting of arrays and objects accepted in JSON from outside.
pub const MAX_JSON_DEPTH: usize = 64;

/// Checks `text`'s size and nesting before anything parses it: at most
/// `max_bytes` bytes (the limit called `limit` in the error) and
/// [`MAX_JSON_DEPTH`] levels. One pass, no allocation.
pub fn check_json(text: &str, max_bytes: u64, limit: &str) -> Result<(), String> {
    if text.len() as u64 > max_bytes {
        return Err(format!(
            "it is {}; {limit} is {}",
            crate::policy::Size(text.len() as u64),
            crate::policy::Size(max_bytes)
        ));
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(format!("it nests deeper than {MAX_JSON_DEPTH} levels"));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// A fresh random (version 4) UUID, from the thread's cryptographically
/// secure generator: no system call per id, as `Uuid::new_v4` makes.
pub fn uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_random_version_4_uuids() {
        let (a, b) = (uuid(), uuid());
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
    }

    #[test]
    fn escapes_c0_c1_del_bidi_and_separators_for_people() {
        let hostile = "a\u{1b}]0;title\u{7}b\u{9b}2Jc\u{7f}d\u{202e}e\u{2028}f\u{2066}g\\u{1b}";
        let shown = escape(hostile);
        assert!(!shown.chars().any(is_unsafe), "{shown}");
        assert_eq!(
            shown,
            "a\\u{1b}]0;title\\u{7}b\\u{9b}2Jc\\u{7f}d\\u{202e}e\\u{2028}f\\u{2066}g\\u{1b}"
        );
        assert_eq!(escape("café ✓ 日本"), "café ✓ 日本");
        assert_eq!(escape("two\nlines"), "two\\nlines");
        assert_eq!(escape(&shown), shown, "escaping twice changes nothing");
    }

    #[test]
    fn json_output_escapes_what_serde_json_leaves_raw() {
        let v = json!({"k\u{9b}": ["x\u{202e}y", "\u{1b}[2J", "plain é"]});
        let line = json_line(&v);
        assert!(!line.chars().any(is_unsafe), "{line}");
        assert!(line.contains("\\u009b") && line.contains("\\u202e") && line.contains("\\u001b"));
        // Still the same JSON.
        assert_eq!(serde_json::from_str::<serde_json::Value>(&line).unwrap(), v);
        let pretty = json_pretty(&v);
        assert!(pretty.contains('\n') && !pretty.chars().any(|c| c != '\n' && is_unsafe(c)));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&pretty).unwrap(),
            v
        );
    }

    #[test]
    fn clip_cuts_on_a_character_boundary_and_escapes() {
        assert_eq!(clip("héllo", 2), "h…");
        assert_eq!(clip("a\u{9b}b", 10), "a\\u{9b}b");
    }

    #[test]
    fn json_is_refused_when_too_big_or_too_deep_before_parsing() {
        assert!(check_json("{\"a\": [1, 2]}", 100, "the limit").is_ok());
        assert!(
            check_json(&"[".repeat(65), 1 << 20, "the limit")
                .unwrap_err()
                .contains("deeper")
        );
        assert!(check_json(&"[".repeat(64), 1 << 20, "the limit").is_ok());
        // Brackets inside strings do not count.
        let quoted = format!("\"{}\\\"{}\"", "[".repeat(100), "{".repeat(100));
        assert!(check_json(&quoted, 1 << 20, "the limit").is_ok());
        assert!(
            check_json(&"0".repeat(101), 100, "the limit")
                .unwrap_err()
                .contains("limit")
        );
    }

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }
}
