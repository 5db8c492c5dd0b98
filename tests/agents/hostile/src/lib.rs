//! A hostile agent: each task kind tries one way out of the sandbox or one
//! way to exhaust the host. The tests in `tests/hostile.rs` assert the exact
//! refusal for each and that the host keeps serving afterwards.
use nexus_sdk::bindings::nexus::agent::bus;
use nexus_sdk::{Agent, AgentInfo, Error, Outcome, Task, TaskError, llm, workspace};

struct Hostile;

/// Reports the host's answer to a call as the outcome, so a test can assert
/// the exact error variant.
fn report<T: std::fmt::Debug>(r: Result<T, Error>) -> Result<Outcome, TaskError> {
    match r {
        Ok(v) => Outcome::json(&format!("ok: {v:?}"), "the host allowed it"),
        Err(e) => Outcome::json(
            &serde_json::json!({ "error": error_json(&e) }),
            "the host refused",
        ),
    }
}

fn error_json(e: &Error) -> serde_json::Value {
    let (kind, reason) = match e {
        Error::Denied(r) => ("denied", r.as_str()),
        Error::QuotaExceeded(r) => ("quota-exceeded", r.as_str()),
        Error::NotFound(r) => ("not-found", r.as_str()),
        Error::Invalid(r) => ("invalid", r.as_str()),
        Error::Timeout => ("timeout", ""),
        Error::Busy => ("busy", ""),
        Error::Unavailable(r) => ("unavailable", r.as_str()),
        Error::Internal(r) => ("internal", r.as_str()),
    };
    serde_json::json!({ "kind": kind, "reason": reason })
}

/// Recurses until the stack runs out; the host must stop it.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(n: u64, pad: &mut [u8; 64]) -> u64 {
    pad[(n % 64) as usize] = n as u8;
    let more = recurse(std::hint::black_box(n + 1), pad);
    more.wrapping_add(pad[3] as u64)
}

impl Agent for Hostile {
    fn describe() -> AgentInfo {
        AgentInfo::new("hostile", "Hostile", "0.1.0")
            .description("Tries every way out of the sandbox")
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        let arg: serde_json::Value = task.input()?;
        let s = |k: &str| {
            arg.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let n = |k: &str| arg.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        match task.kind.as_str() {
            "read" => report(
                workspace::read(&s("path")).map(|b| String::from_utf8_lossy(&b).into_owned()),
            ),
            "write" => report(workspace::write(&s("path"), s("text").as_bytes())),
            "exists" => report(workspace::exists(&s("path"))),
            "list" => report(workspace::list(&s("path"), true).map(|l| l.len())),
            "remove" => report(workspace::remove(&s("path"))),
            "loop" => {
                // `ops` ({"op": "write" | "remove" | "read", "path", "text"})
                // repeated `rounds` times; reports how often each answer came.
                let ops: Vec<serde_json::Value> =
                    serde_json::from_value(arg["ops"].clone()).unwrap_or_default();
                let mut tally = std::collections::BTreeMap::<String, u64>::new();
                for _ in 0..n("rounds") {
                    for op in &ops {
                        let field = |k: &str| op.get(k).and_then(|v| v.as_str()).unwrap_or("");
                        let (verb, path) = (field("op"), field("path"));
                        let answer = match verb {
                            "write" => workspace::write(path, field("text").as_bytes())
                                .map(|()| "ok".to_string()),
                            "remove" => workspace::remove(path).map(|()| "ok".to_string()),
                            "read" => workspace::read(path)
                                .map(|b| format!("ok {}", String::from_utf8_lossy(&b))),
                            _ => Err(Error::Invalid(format!("unknown op `{verb}`"))),
                        };
                        let key = match answer {
                            Ok(a) => format!("{verb} {a}"),
                            Err(e) => {
                                format!("{verb} {}", error_json(&e)["kind"].as_str().unwrap_or(""))
                            }
                        };
                        *tally.entry(key).or_default() += 1;
                    }
                }
                Outcome::json(&tally, "looped")
            }
            "write-many" => {
                for i in 0..n("count") {
                    let r = workspace::write(
                        &format!("{}/{i}.txt", s("dir")),
                        &vec![b'x'; n("size") as usize],
                    );
                    if r.is_err() {
                        return report(r);
                    }
                }
                report(Ok(n("count")))
            }
            "spin" => loop {
                std::hint::black_box(0u64);
            },
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(u64::MAX / 4));
                report(Ok(()))
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recurse" => {
                let mut pad = [0u8; 64];
                report(Ok(recurse(0, &mut pad)))
            }
            "big-arg" => {
                let big = vec![b'a'; n("bytes") as usize];
                report(workspace::write("big.bin", &big))
            }
            "request" => {
                let kind = if s("kind").is_empty() {
                    "echo".to_string()
                } else {
                    s("kind")
                };
                let payload = arg
                    .get("payload")
                    .map_or("{}".to_string(), |p| p.to_string());
                match bus::request(&s("to"), &kind, &payload, 5000) {
                    Ok(reply) => Outcome::json(
                        &serde_json::json!({ "ok": serde_json::from_str::<serde_json::Value>(&reply.payload).unwrap_or_default(), "sender": reply.sender }),
                        "replied",
                    ),
                    Err(bus::RequestError::Host(e)) => report::<()>(Err(e)),
                    Err(bus::RequestError::Task(f)) => report::<()>(Err(Error::Internal(f.reason))),
                }
            }
            "fan-out" => {
                let to: Vec<String> = serde_json::from_value(arg["to"].clone()).unwrap_or_default();
                let reqs: Vec<bus::Outgoing> = to
                    .iter()
                    .map(|t| bus::Outgoing {
                        to: t.clone(),
                        kind: "whoami".into(),
                        payload: "{}".into(),
                    })
                    .collect();
                let results: Vec<serde_json::Value> = bus::request_all(&reqs, 0, 5000)
                    .into_iter()
                    .map(|r| match r {
                        Ok(reply) => serde_json::json!({ "sender": reply.sender }),
                        Err(bus::RequestError::Host(e)) => {
                            serde_json::json!({ "error": error_json(&e) })
                        }
                        Err(bus::RequestError::Task(f)) => {
                            serde_json::json!({ "failed": f.reason })
                        }
                    })
                    .collect();
                Outcome::json(&results, "fanned out")
            }
            "whoami" => Outcome::json(
                &serde_json::json!({ "sender": task.sender, "project": task.project, "tenant": task.tenant, "id": task.id }),
                "who",
            ),
            "llm" => {
                let opts = llm::Options {
                    max_tokens: arg
                        .get("max_tokens")
                        .and_then(|v| v.as_u64())
                        .map(|v| v as u32),
                    temperature: arg
                        .get("temperature")
                        .and_then(|v| v.as_f64())
                        .map(|v| v as f32),
                    seed: arg.get("seed").and_then(|v| v.as_u64()),
                    json_schema: arg.get("schema").map(|v| v.to_string()),
                };
                let prompt = if s("prompt").is_empty() {
                    "hi".to_string()
                } else {
                    s("prompt")
                };
                let messages = [
                    llm::Message::system("You are terse."),
                    llm::Message::user(&prompt),
                ];
                // `times`: calls made in this one task, failed or not; the
                // last one is reported.
                let times = arg
                    .get("times")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(1)
                    .max(1);
                let mut result = llm::chat(&s("role"), &messages, &opts);
                for _ in 1..times {
                    result = llm::chat(&s("role"), &messages, &opts);
                }
                match result {
                    Ok(c) => Outcome::json(
                        &serde_json::json!({
                            "ok": true, "content": c.content, "model": c.model, "cached": c.cached,
                            "truncated": c.truncated, "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
                        }),
                        "answered",
                    ),
                    Err(e) => report::<()>(Err(e)),
                }
            }
            "models" => report(llm::models().map(|m| {
                m.into_iter()
                    .map(|i| format!("{}={}@{}:{}", i.role, i.model, i.backend, i.available))
                    .collect::<Vec<_>>()
            })),
            "remember" => report(nexus_sdk::memory::remember(&s("key"), &s("text"), &[])),
            "recall" => report(
                nexus_sdk::memory::recall(&s("query"), 10)
                    .map(|h| h.into_iter().map(|h| h.key).collect::<Vec<_>>()),
            ),
            "metrics" => report(nexus_sdk::metrics::sample().map(|m| m.memory_total_bytes > 0)),
            "log" => report(nexus_sdk::log::write(
                nexus_sdk::log::Level::Info,
                &s("text"),
                &[],
            )),
            // Answers with `text` as both summary and payload: terminal
            // sequences for the host to escape.
            "say" => Outcome::json(&s("text"), &s("text")),
            // Passes a refusal up with `?` instead of reporting it.
            "read-or-fail" => {
                let bytes = workspace::read(&s("path"))?;
                Outcome::json(&bytes.len(), "read")
            }
            "remember-many" => {
                let text = "m".repeat(n("size") as usize);
                for i in 0..n("count") {
                    let r = nexus_sdk::memory::remember(&format!("k{i}"), &text, &[]);
                    if r.is_err() {
                        return report(r.map(|()| i));
                    }
                }
                report(Ok(n("count")))
            }
            // Grows memory until a grow is refused, survives that, then
            // spins: the CPU limit ends it, not the memory limit.
            "hoard-then-spin" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut chunk = Vec::new();
                    if chunk.try_reserve_exact(1 << 20).is_err() {
                        break;
                    }
                    chunk.resize(1 << 20, 1u8);
                    hoard.push(chunk);
                }
                std::hint::black_box(&hoard);
                loop {
                    std::hint::black_box(0u64);
                }
            }
            "panic" => panic!("hostile agent panics on purpose"),
            "echo" => Ok(Outcome::json(&"fine", "still serving")?),
            _ => Err(task.unsupported()),
        }
    }
}

nexus_sdk::export_agent!(Hostile);
