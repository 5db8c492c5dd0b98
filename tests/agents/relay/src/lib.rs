//! A small orchestrator for bus tests: fans work out to `worker` and sends
//! bursts of messages.
use nexus_sdk::bindings::nexus::agent::bus;
use nexus_sdk::{Agent, AgentInfo, Error, Outcome, Task, TaskError, workspace};
use serde_json::{Value, json};

struct Relay;

fn kind_of(e: &bus::RequestError) -> String {
    match e {
        bus::RequestError::Host(Error::Busy) => "busy".into(),
        bus::RequestError::Host(Error::Timeout) => "timeout".into(),
        bus::RequestError::Host(e) => format!("host: {e}"),
        bus::RequestError::Task(f) => format!("task: {}", f.reason),
    }
}

impl Agent for Relay {
    fn describe() -> AgentInfo {
        AgentInfo::new("relay", "Relay", "0.1.0").handles(&["fan", "ask", "send-many", "burst"])
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        let arg: Value = task.input()?;
        let n = |k: &str| arg.get(k).and_then(Value::as_u64).unwrap_or(0);
        let s = |k: &str| arg.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match task.kind.as_str() {
            "fan" => {
                let requests: Vec<bus::Outgoing> = (0..n("workers"))
                    .map(|i| bus::Outgoing {
                        to: "worker".into(),
                        kind: "work".into(),
                        payload: json!({ "i": i, "sleep_ms": n("sleep_ms") }).to_string(),
                    })
                    .collect();
                let replies: Vec<Value> = bus::request_all(&requests, 0, 60_000)
                    .into_iter()
                    .map(|r| match r {
                        Ok(reply) => serde_json::from_str(&reply.payload).unwrap_or_default(),
                        Err(e) => json!({ "error": kind_of(&e) }),
                    })
                    .collect();
                workspace::write_text(
                    &format!("fan/{}.json", task.id),
                    &Value::from(replies.clone()).to_string(),
                )?;
                Outcome::json(&replies, "fanned out")
            }
            "ask" => {
                let payload = arg
                    .get("payload")
                    .map_or("{}".to_string(), Value::to_string);
                match bus::request(&s("to"), &s("kind"), &payload, n("timeout_ms") as u32) {
                    Ok(r) => {
                        Outcome::json(&json!({ "reply": r.payload, "sender": r.sender }), "asked")
                    }
                    Err(e) => Outcome::json(&json!({ "error": kind_of(&e) }), "refused"),
                }
            }
            "send-many" => {
                let payload = arg
                    .get("payload")
                    .map_or("{}".to_string(), Value::to_string);
                let (mut sent, mut busy, mut other) = (0, 0, Vec::new());
                for _ in 0..n("count") {
                    match bus::send(&s("to"), &s("kind"), &payload) {
                        Ok(_) => sent += 1,
                        Err(Error::Busy) => busy += 1,
                        Err(e) => other.push(e.to_string()),
                    }
                }
                Outcome::json(
                    &json!({ "sent": sent, "busy": busy, "other": other }),
                    "sent",
                )
            }
            "burst" => {
                // `count` echo requests to `worker`, 64 at a time.
                let mut done = 0;
                let mut left = n("count");
                while left > 0 {
                    let k = left.min(64);
                    let reqs: Vec<bus::Outgoing> = (0..k)
                        .map(|i| bus::Outgoing {
                            to: "worker".into(),
                            kind: "echo".into(),
                            payload: json!({ "i": i }).to_string(),
                        })
                        .collect();
                    done += bus::request_all(&reqs, 0, 60_000)
                        .iter()
                        .filter(|r| r.is_ok())
                        .count() as u64;
                    left -= k;
                }
                Outcome::json(&json!({ "done": done }), "burst")
            }
            _ => Err(task.unsupported()),
        }
    }
}

nexus_sdk::export_agent!(Relay);
