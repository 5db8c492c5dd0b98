//! A worker for bus tests: does numbered work with an idempotent effect,
//! records every execution, and can be slow, flaky or poisonous on demand.
use nexus_sdk::{Agent, AgentInfo, Outcome, Task, TaskError, workspace};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Worker;

impl Agent for Worker {
    fn describe() -> AgentInfo {
        AgentInfo::new("worker", "Worker", "0.1.0")
            .handles(&["work", "slow", "flaky", "poison", "echo"])
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        let arg: Value = task.input()?;
        let n = |k: &str| arg.get(k).and_then(Value::as_u64).unwrap_or(0);
        match task.kind.as_str() {
            "work" => {
                // Every execution leaves its own file; the effect itself is
                // keyed by the message id, so doing it twice changes nothing.
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                workspace::write_text(&format!("runs/{}-{nanos}", task.id), "")?;
                std::thread::sleep(Duration::from_millis(n("sleep_ms")));
                workspace::write_text(&format!("work/{}.json", task.id), &arg.to_string())?;
                Outcome::json(&json!({ "i": n("i") }), "worked")
            }
            "slow" => {
                std::thread::sleep(Duration::from_millis(n("ms")));
                Outcome::json(&json!({ "slept": n("ms") }), "slept")
            }
            "flaky" if u64::from(task.attempt) < n("until") => Err(TaskError::Failed(format!(
                "attempt {} fails on purpose",
                task.attempt
            ))),
            "flaky" => Outcome::json(&json!({ "attempt": task.attempt }), "worked at last"),
            "poison" => panic!("this message always kills its handler"),
            "echo" => Ok(Outcome {
                payload: task.payload.clone(),
                summary: "echo".into(),
                artifacts: vec![],
            }),
            _ => Err(task.unsupported()),
        }
    }
}

nexus_sdk::export_agent!(Worker);
