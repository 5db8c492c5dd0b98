//! Properties of the parsers that read what the host does not control:
//! guest paths, policies, the configuration, and the streams LLM servers
//! send. The fuzz targets' checks (fuzz/checks.rs) run here too, on the
//! seed corpora and on every input that once crashed a target.

#[path = "../fuzz/checks.rs"]
mod checks;

use nexus::config::HostConfig;
use nexus::policy::Policy;
use nexus::workspace::check_path;
use proptest::prelude::*;
use serde_json::json;
use std::path::{Component, Path, PathBuf};

// ---------------------------------------------------------------------------
// Guest paths.

/// Path pieces that have got past lexical checks before, or should not.
fn path_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just(String::new()),
        Just("/".to_string()),
        Just("\\".to_string()),
        Just("\0".to_string()),
        Just(":".to_string()),
        Just("C:".to_string()),
        Just("~".to_string()),
        Just(".nexus-x".to_string()),
        Just("..\\..".to_string()),
        Just("%2e%2e".to_string()),
        Just("\u{2025}".to_string()),
        Just("．．".to_string()),
        Just("\u{202e}".to_string()),
        Just("\n".to_string()),
        "[a-z0-9._-]{1,12}",
        "\\PC{1,8}",
        any::<String>(),
        (250usize..300).prop_map(|n| "a".repeat(n)),
    ]
}

/// Paths made of those pieces, joined by `/` or by nothing.
fn guest_path() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec((path_piece(), prop::bool::ANY), 0..12).prop_map(|parts| {
            parts
                .into_iter()
                .map(|(p, slash)| if slash { format!("{p}/") } else { p })
                .collect::<String>()
        }),
        any::<String>(),
        (1usize..80).prop_map(|n| "a/".repeat(n * 8)),
    ]
}

/// Where `path` lands under `root`, following `..` and absolute parts
/// the way the operating system would.
fn resolve(root: &Path, path: &str) -> PathBuf {
    let mut at = root.to_path_buf();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => at.push(p),
            Component::ParentDir => {
                at.pop();
            }
            Component::RootDir | Component::Prefix(_) => at = PathBuf::from("/"),
            Component::CurDir => {}
        }
    }
    at
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn no_path_check_path_accepts_resolves_outside_the_root(
        path in guest_path(),
        allow_root in prop::bool::ANY,
    ) {
        let root = Path::new("/srv/nexus/project");
        if let Ok(checked) = check_path(&path, allow_root) {
            let at = resolve(root, &checked);
            prop_assert!(at.starts_with(root), "{path:?} -> {checked:?} -> {at:?}");
            prop_assert!(allow_root || at != root, "{path:?} names the root");
            checks::assert_confined(&checked, allow_root);
        }
    }

    #[test]
    fn globs_match_any_checked_path_without_panicking(
        glob in prop_oneof!["[a-z*?/{},\\[\\]!.-]{0,16}", any::<String>()],
        path in guest_path(),
    ) {
        let mut input = glob.replace('\n', "");
        input.push('\n');
        input.push_str(&path);
        checks::path(input.as_bytes());
    }
}

// ---------------------------------------------------------------------------
// Policies.

/// A policy as its author means it; `toml()` writes it as they would.
#[derive(Debug, Clone)]
struct Written {
    agent: String,
    memory_mib: Option<u64>,
    cpu_ms: Option<u64>,
    concurrent_tasks: Option<u32>,
    read: Option<Vec<String>>,
    write: Vec<String>,
    max_files: u64,
    request: Vec<String>,
    publish: Vec<String>,
    roles: Option<(Vec<String>, u64)>,
    memory: Option<(bool, bool)>,
    metrics: bool,
    log: Option<&'static str>,
}

const ROLES: &[&str] = &["orchestrator", "analyst", "backend", "qa", "security"];
const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error"];

fn agent_id() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,20}"
}

fn glob() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("**".to_string()),
        "[a-z]{1,8}/\\*\\*",
        "[a-z]{1,8}/\\*\\.[a-z]{1,3}",
        "[a-z]{1,8}/[a-z]{1,8}\\.md",
    ]
}

fn written() -> impl Strategy<Value = Written> {
    (
        (
            agent_id(),
            prop::option::of(1u64..4096),
            prop::option::of(1u64..100_000),
            prop::option::of(1u32..64),
        ),
        (
            prop::option::of(prop::collection::vec(glob(), 0..4)),
            prop::collection::vec(glob(), 0..4),
            1u64..10_000,
        ),
        (
            prop::collection::vec(prop_oneof![Just("*".to_string()), agent_id()], 0..4),
            prop::collection::vec("[a-z]{1,6}(\\.[a-z]{1,6}){0,2}(\\.\\*)?", 0..4),
        ),
        (
            prop::option::of((
                prop::sample::subsequence(ROLES, 0..=ROLES.len()),
                1u64..1 << 40,
            )),
            prop::option::of((prop::bool::ANY, prop::bool::ANY)),
            prop::bool::ANY,
            prop::option::of(prop::sample::select(LEVELS)),
        ),
    )
        .prop_map(
            |(
                (agent, memory_mib, cpu_ms, concurrent_tasks),
                (read, write, max_files),
                (request, publish),
                (roles, memory, metrics, log),
            )| Written {
                agent,
                memory_mib,
                cpu_ms,
                concurrent_tasks,
                read,
                write,
                max_files,
                request,
                publish,
                roles: roles.map(|(r, n)| (r.into_iter().map(str::to_string).collect(), n)),
                memory,
                metrics,
                log,
            },
        )
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| checks::toml_string(s)).collect();
    format!("[{}]", quoted.join(", "))
}

impl Written {
    fn toml(&self) -> String {
        let mut t = format!("agent = {}\n", checks::toml_string(&self.agent));
        if self.memory_mib.is_some() || self.cpu_ms.is_some() || self.concurrent_tasks.is_some() {
            t.push_str("\n[limits]\n");
            if let Some(m) = self.memory_mib {
                t.push_str(&format!("memory = \"{m}MiB\"\n"));
            }
            if let Some(c) = self.cpu_ms {
                t.push_str(&format!("cpu_time = \"{c}ms\"\n"));
            }
            if let Some(n) = self.concurrent_tasks {
                t.push_str(&format!("concurrent_tasks = {n}\n"));
            }
        }
        if let Some(read) = &self.read {
            t.push_str(&format!(
                "\n[workspace]\nread = {}\nwrite = {}\nmax_files = {}\n",
                list(read),
                list(&self.write),
                self.max_files
            ));
        }
        if !self.request.is_empty() || !self.publish.is_empty() {
            t.push_str(&format!(
                "\n[bus]\nrequest = {}\npublish = {}\n",
                list(&self.request),
                list(&self.publish)
            ));
        }
        if let Some((roles, tokens)) = &self.roles {
            t.push_str(&format!(
                "\n[llm]\nroles = {}\ntokens_per_task = {tokens}\n",
                list(roles)
            ));
        }
        if let Some((recall, remember)) = self.memory {
            t.push_str(&format!(
                "\n[memory]\nrecall = {recall}\nremember = {remember}\n"
            ));
        }
        if self.metrics {
            t.push_str("\n[metrics]\nsample = true\n");
        }
        if let Some(l) = self.log {
            t.push_str(&format!("\n[log]\nlevel = \"{l}\"\n"));
        }
        t
    }
}

/// TOML-ish text: policy keys and sections, values of every type, and
/// noise, a line at a time.
fn tomlish() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("agent"),
        Just("sha256"),
        Just("memory"),
        Just("cpu_time"),
        Just("wall_time"),
        Just("stack"),
        Just("hostcall_bytes"),
        Just("concurrent_tasks"),
        Just("handles"),
        Just("read"),
        Just("write"),
        Just("max_bytes"),
        Just("max_files"),
        Just("request"),
        Just("publish"),
        Just("subscribe"),
        Just("rate"),
        Just("roles"),
        Just("level"),
        Just("recall"),
        Just("backend"),
        Just("base_url"),
        Just("timeout"),
        Just("max_queue_size"),
        Just("retention"),
    ];
    let value = prop_oneof![
        Just("\"64MiB\"".to_string()),
        Just("\"0s\"".to_string()),
        Just("\"18446744073709551615 B\"".to_string()),
        Just("\"99999999999999999999d\"".to_string()),
        Just("\"1e400 GiB\"".to_string()),
        Just("[\"**\", \"../x\", \"/etc\", \"a/[\"]".to_string()),
        Just("[\"*\", \"status.>\", \"a..b\"]".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
        Just("true".to_string()),
        Just("{ a = 1 }".to_string()),
        Just("'''\nx\n'''".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<String>().prop_map(|s| checks::toml_string(&s)),
        "\\PC{0,12}",
    ];
    let line = prop_oneof![
        (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        prop_oneof![
            Just("[limits]"),
            Just("[workspace]"),
            Just("[bus]"),
            Just("[llm]"),
            Just("[llm.ollama]"),
            Just("[llm.models]"),
            Just("[memory]"),
            Just("[log]"),
            Just("[[log]]"),
            Just("[bus"),
        ]
        .prop_map(str::to_string),
        any::<String>(),
    ];
    prop::collection::vec(line, 0..16).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_written_policy_reads_back_as_written(w in written()) {
        let text = w.toml();
        let p = Policy::parse(Path::new("p.toml"), &text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&p.agent, &w.agent);
        if let Some(m) = w.memory_mib {
            prop_assert_eq!(p.limits.memory, m << 20);
        }
        if let Some(c) = w.cpu_ms {
            prop_assert_eq!(p.limits.cpu_time.as_millis(), u128::from(c));
        }
        if let Some(n) = w.concurrent_tasks {
            prop_assert_eq!(p.limits.concurrent_tasks, n);
        }
        match (&w.read, &p.workspace) {
            (None, None) => {}
            (Some(read), Some(g)) => {
                prop_assert_eq!(&g.read_patterns, read);
                prop_assert_eq!(&g.write_patterns, &w.write);
                prop_assert_eq!(g.max_files, w.max_files);
            }
            (r, g) => prop_assert!(false, "workspace {:?} read as {:?}", r, g.is_some()),
        }
        prop_assert_eq!(&p.bus.request, &w.request);
        prop_assert_eq!(&p.bus.publish, &w.publish);
        prop_assert_eq!(
            p.llm.as_ref().map(|l| (l.roles.clone(), l.tokens_per_task)),
            w.roles.clone()
        );
        prop_assert_eq!(p.memory.as_ref().map(|m| (m.recall, m.remember)), w.memory);
        prop_assert_eq!(p.metrics, w.metrics);
        prop_assert_eq!(p.log.map(|l| l.to_string().to_lowercase()), w.log.map(str::to_string));
        // Reading the same text again gives the same policy.
        let again = Policy::parse(Path::new("p.toml"), &text).unwrap();
        prop_assert_eq!(again.summary(), p.summary());
    }

    #[test]
    fn parsing_a_policy_never_panics(text in tomlish()) {
        checks::policy(text.as_bytes());
        let with_agent = format!("agent = \"a\"\n{text}");
        checks::policy(with_agent.as_bytes());
    }

    #[test]
    fn policy_errors_point_into_the_text(text in tomlish()) {
        if let Err(e) = Policy::parse(Path::new("p.toml"), &text) {
            prop_assert!(e.line >= 1 && e.line <= text.lines().count().max(1) + 1, "{e}");
        }
    }

    #[test]
    fn parsing_the_configuration_never_panics(text in tomlish()) {
        checks::config(text.as_bytes());
    }

    #[test]
    fn ollama_host_always_becomes_a_url(host in "\\PC{0,40}") {
        let c = HostConfig::parse(Path::new("nexus.toml"), "", &[("OLLAMA_HOST", host.as_str())])
            .unwrap();
        let url = c.llm.backend.unwrap().base_url;
        prop_assert!(url.contains("://"), "{host:?} -> {url:?}");
    }
}

// ---------------------------------------------------------------------------
// LLM streams.

/// `body` cut at `cuts` (positions taken modulo its length, in any order).
fn split(body: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| c % (body.len() + 1))
        .chain([0, body.len()])
        .collect();
    at.sort_unstable();
    at.windows(2).map(|w| body[w[0]..w[1]].to_vec()).collect()
}

fn slices(chunks: &[Vec<u8>]) -> Vec<&[u8]> {
    chunks.iter().map(Vec::as_slice).collect()
}

/// Lines an event stream may hold, good and bad.
fn sse_line() -> impl Strategy<Value = String> {
    let piece = "\\PC{0,6}";
    prop_oneof![
        piece.prop_map(|p| format!(
            "data: {}",
            json!({"model": "m", "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]})
        )),
        Just(format!(
            "data: {}",
            json!({"choices": [{"delta": {}, "finish_reason": "length"}]})
        )),
        Just(format!(
            "data: {}",
            json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": u64::MAX}})
        )),
        Just(format!("data: {}", json!({"error": {"message": "boom"}}))),
        Just("data: [DONE]".to_string()),
        Just("data:[DONE]".to_string()),
        Just(": keep-alive".to_string()),
        Just("event: message".to_string()),
        Just(String::new()),
        "data: \\PC{0,10}",
        any::<String>(),
    ]
}

/// Lines an NDJSON stream may hold, good and bad.
fn ndjson_line() -> impl Strategy<Value = String> {
    let piece = "\\PC{0,6}";
    prop_oneof![
        piece.prop_map(|p| json!({"message": {"role": "assistant", "content": p}, "response": p, "done": false}).to_string()),
        Just(json!({"model": "x", "done": true, "done_reason": "length", "eval_count": 3, "eval_duration": 7}).to_string()),
        Just(json!({"done": true, "eval_count": u64::MAX, "eval_duration": 1}).to_string()),
        Just(json!({"error": {"nested": true}}).to_string()),
        Just("   ".to_string()),
        "\\{\\PC{0,10}",
        any::<String>(),
    ]
}

fn stream(lines: Vec<String>, crlf: bool) -> Vec<u8> {
    let end = if crlf { "\r\n" } else { "\n" };
    lines
        .iter()
        .flat_map(|l| [l.as_str(), end])
        .collect::<String>()
        .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn an_event_stream_reads_the_same_however_it_is_split(
        lines in prop::collection::vec(sse_line(), 0..12),
        crlf in prop::bool::ANY,
        tail in prop::collection::vec(any::<u8>(), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let mut body = stream(lines, crlf);
        body.extend(tail);
        let chunks = split(&body, &cuts);
        prop_assert_eq!(checks::read_sse(&slices(&chunks)), checks::read_sse(&[&body]));
    }

    #[test]
    fn an_ndjson_stream_reads_the_same_however_it_is_split(
        lines in prop::collection::vec(ndjson_line(), 0..12),
        crlf in prop::bool::ANY,
        tail in prop::collection::vec(any::<u8>(), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        chat in prop::bool::ANY,
    ) {
        let mut body = stream(lines, crlf);
        body.extend(tail);
        let chunks = split(&body, &cuts);
        prop_assert_eq!(
            checks::read_ndjson(&slices(&chunks), chat),
            checks::read_ndjson(&[&body], chat)
        );
    }

    #[test]
    fn arbitrary_bytes_read_the_same_however_they_are_split(
        body in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let chunks = split(&body, &cuts);
        prop_assert_eq!(checks::read_sse(&slices(&chunks)), checks::read_sse(&[&body]));
        for chat in [true, false] {
            prop_assert_eq!(
                checks::read_ndjson(&slices(&chunks), chat),
                checks::read_ndjson(&[&body], chat)
            );
        }
    }

    #[test]
    fn a_streamed_reply_is_its_pieces_in_order(
        pieces in prop::collection::vec("\\PC{0,8}", 0..20),
        cuts in prop::collection::vec(any::<usize>(), 0..24),
    ) {
        let whole: String = pieces.concat();
        // OpenAI-compatible: one event per piece, then a finish and [DONE].
        let mut sse: Vec<String> = vec![": keep-alive".into(), String::new()];
        for p in &pieces {
            sse.push(format!("data: {}", json!({"choices": [{"delta": {"content": p}}]})));
            sse.push(String::new());
        }
        sse.push(format!("data: {}", json!({"choices": [{"delta": {}, "finish_reason": "stop"}]})));
        sse.push("data: [DONE]".into());
        let body = stream(sse, false);
        let (_, reply) = checks::read_sse(&slices(&split(&body, &cuts)));
        let reply = reply.map_err(TestCaseError::fail)?;
        prop_assert!(reply.contains(&format!("content: {whole:?}")), "{reply}");
        // Ollama: one line per piece, then `done`.
        let mut nd: Vec<String> = pieces
            .iter()
            .map(|p| json!({"message": {"content": p}, "done": false}).to_string())
            .collect();
        nd.push(json!({"message": {"content": ""}, "done": true}).to_string());
        let body = stream(nd, true);
        let (_, reply) = checks::read_ndjson(&slices(&split(&body, &cuts)), true);
        let reply = reply.map_err(TestCaseError::fail)?;
        prop_assert!(reply.contains(&format!("content: {whole:?}")), "{reply}");
    }
}

// ---------------------------------------------------------------------------
// JSON from guests.

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("name"),
            Just("spec"),
            Just("string"),
            Just("enum"),
            Just("integer"),
            Just("Book")
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("spec".to_string()),
            Just("name".to_string()),
            Just("title".to_string()),
            Just("auth".to_string()),
            Just("entities".to_string()),
            Just("fields".to_string()),
            Just("type".to_string()),
            Just("choices".to_string()),
            Just("min".to_string()),
            Just("max".to_string()),
            Just("relations".to_string()),
            Just("readable".to_string()),
            Just("understood".to_string()),
            Just("check".to_string()),
            Just("kind".to_string()),
            Just("payload".to_string()),
            "\\PC{0,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn reading_guest_json_never_panics(v in json_value()) {
        checks::guest_json(v.to_string().as_bytes());
        checks::guest_json(json!({"spec": v}).to_string().as_bytes());
    }
}

// ---------------------------------------------------------------------------
// The fuzz targets' seeds, and every input that once crashed a target.

fn replay(target: &str, check: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut seen = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            check(&std::fs::read(&path).unwrap());
            seen += 1;
        }
    }
    assert!(seen > 0, "no seeds for the fuzz target `{target}`");
}

#[test]
fn fuzz_policy_inputs() {
    replay("policy", checks::policy);
}

#[test]
fn fuzz_path_inputs() {
    replay("path", checks::path);
}

#[test]
fn fuzz_config_inputs() {
    replay("config", checks::config);
}

#[test]
fn fuzz_guest_json_inputs() {
    replay("guest_json", checks::guest_json);
}

#[test]
fn fuzz_sse_inputs() {
    replay("sse", checks::sse);
}

#[test]
fn fuzz_ndjson_inputs() {
    replay("ndjson", checks::ndjson);
}
