//! The smallest useful Nexus agent: greets into a file, echoes, and pings the host.
use nexus_sdk::{Agent, AgentInfo, Outcome, Task, TaskError, log, workspace};
use serde::Deserialize;

struct Hello;

#[derive(Deserialize)]
struct Greet {
    name: String,
}

#[derive(Deserialize)]
struct Ping {
    calls: u32,
}

impl Agent for Hello {
    fn describe() -> AgentInfo {
        AgentInfo::new("hello", "Hello", env!("CARGO_PKG_VERSION"))
            .description("Writes a greeting into the workspace; echoes; pings the host")
            .handles(&["greet", "echo", "ping"])
            .capabilities(&["workspace", "log"])
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        match task.kind.as_str() {
            "greet" => {
                let Greet { name } = task.input()?;
                let path = "greetings/hello.txt";
                workspace::write_text(path, &format!("Hello, {name}!\n"))?;
                log::info(&format!("greeted {name}"));
                Ok(Outcome::json(&path, &format!("greeted {name}"))?.with_artifacts([path]))
            }
            "echo" => Ok(Outcome {
                payload: task.payload.clone(),
                summary: "echoed".into(),
                artifacts: vec![],
            }),
            "ping" => {
                let Ping { calls } = task.input()?;
                let on = (0..calls)
                    .filter(|_| log::enabled(log::Level::Trace))
                    .count();
                Outcome::json(&on, &format!("{calls} host calls"))
            }
            _ => Err(task.unsupported()),
        }
    }
}

nexus_sdk::export_agent!(Hello);
