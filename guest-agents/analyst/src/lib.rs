//! The analyst: turns a one-line request into a spec — entities with typed
//! fields, relations between them, whether users log in, and features.
//!
//! With a model behind the `analyst` role it asks for the spec as JSON under
//! a schema (the host validates it); without one, or when the model's spec
//! does not hold together, a built-in heuristic reads the request.

mod heuristic;

use nexus_sdk::{Agent, AgentInfo, Error, Outcome, Task, TaskError, llm, log};
use nexus_spec::Spec;
use serde::{Deserialize, Serialize};

struct Analyst;

#[derive(Deserialize)]
struct Request {
    description: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Serialize)]
struct Analysis {
    spec: Spec,
    /// `llm` or `heuristic`.
    source: &'static str,
    /// Why the heuristic was used, when it was.
    note: Option<String>,
}

const PROMPT: &str = "You are a software analyst. Turn the user's request for a web application into a spec: \
the entities it stores (PascalCase singular names), each with typed fields (snake_case; types: string, text, \
integer, number, boolean, date, datetime, email), the relations between entities (many-to-one: the entity that \
holds the foreign key points at the other), whether users log in (auth), and notable features. Do not list a \
User entity: users and login come from `auth`. Answer with JSON only.";

fn from_llm(description: &str) -> Result<Spec, String> {
    let schema = nexus_spec::schema();
    let opts = llm::Options {
        temperature: Some(0.0),
        max_tokens: Some(1500),
        seed: None,
        json_schema: Some(schema.to_string()),
    };
    let messages = [
        llm::Message::system(PROMPT),
        llm::Message::user(description),
    ];
    let reply = llm::chat("analyst", &messages, &opts).map_err(|e| match e {
        Error::Unavailable(_) => "no model answers".to_string(),
        e => format!("the model call failed ({e})"),
    })?;
    let spec: Spec = serde_json::from_str(&reply.content)
        .map_err(|e| format!("the model's spec does not parse ({e})"))?;
    spec.normalised()
        .map_err(|e| format!("the model's spec does not hold together ({e})"))
}

impl Agent for Analyst {
    fn describe() -> AgentInfo {
        AgentInfo::new("analyst", "Analyst", env!("CARGO_PKG_VERSION"))
            .description(
                "Turns a request into a spec of entities, fields, relations, auth and features",
            )
            .handles(&["analyze"])
            .capabilities(&["llm", "log"])
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        if task.kind != "analyze" {
            return Err(task.unsupported());
        }
        let req: Request = task.input()?;
        if req.description.trim().is_empty() {
            return Err(TaskError::Rejected("the description is empty".into()));
        }
        let (mut spec, source, note) = match from_llm(&req.description) {
            Ok(spec) => (spec, "llm", None),
            Err(why) => {
                log::info(&format!("analyst uses the built-in heuristic: {why}"));
                let spec = heuristic::analyze(&req.description)
                    .normalised()
                    .map_err(|e| {
                        TaskError::Failed(format!("the heuristic spec is inconsistent: {e}"))
                    })?;
                (spec, "heuristic", Some(why))
            }
        };
        if let Some(name) = req.name {
            spec.name = nexus_spec::slug(&name);
        }
        let summary = format!(
            "{} entities ({}), auth {}, from the {source}",
            spec.entities.len(),
            spec.entities
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if spec.auth { "on" } else { "off" },
        );
        Outcome::json(&Analysis { spec, source, note }, &summary)
    }
}

nexus_sdk::export_agent!(Analyst);
