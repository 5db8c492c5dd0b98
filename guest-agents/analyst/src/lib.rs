//! The analyst: turns a one-line request into a spec — entities with typed
//! fields (ranges, choices, uniqueness), relations between them, whether
//! users log in, and features.
//!
//! The request parser (`nexus-request`) reads the sentence with no model.
//! With a model behind the `analyst` role, the analyst also asks it for the
//! spec as JSON under a schema (the host validates it), then checks the
//! model's spec against the request: entities must be named in it,
//! relations must point at entities that exist, field types must be known.
//! What fails is repaired from the parser's spec, or the parser's spec
//! replaces the model's; the answer says which and why.

use nexus_request::{Grounded, Understanding, Verdict};
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
    /// `llm` (the model's spec, kept or repaired) or `parser`.
    source: &'static str,
    /// Why the parser's spec was used, when it was.
    note: Option<String>,
    /// What the check of the model's spec found (absent with no model).
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<Grounded>,
    /// What the parser understood, and from which words.
    understood: Vec<String>,
    /// The spec in a few lines.
    readable: String,
}

const PROMPT: &str = "You are a software analyst. Turn the user's request for a web application into a spec: \
the entities it stores (PascalCase singular names of the things the request names, never the app itself), each \
with typed fields (snake_case; types: string, text, integer, number, decimal for money, boolean, date, datetime, \
email, url, enum with `choices`), `min`/`max` for numbers with a range, `unique` where no two rows may share a \
value, the relations between entities (many-to-one: the entity that holds the foreign key points at the other; \
many-to-many: give `through`, the join entity), whether users log in (auth), and notable features. Do not list \
a User entity: users and login come from `auth`. Answer with JSON only.";

/// The model's spec as it answered, or why there is none.
fn from_llm(description: &str) -> Result<Spec, String> {
    let schema = nexus_spec::schema();
    let opts = llm::Options {
        temperature: Some(0.0),
        max_tokens: Some(2000),
        seed: None,
        json_schema: Some(schema.to_string()),
    };
    let messages = [
        llm::Message::system(PROMPT),
        llm::Message::user(description),
    ];
    let reply = llm::chat("analyst", &messages, &opts).map_err(|e| match e {
        Error::Unavailable(why) => format!("no model answers ({why})"),
        e => format!("the model call failed ({e})"),
    })?;
    serde_json::from_str(&reply.content)
        .map_err(|e| format!("the model's spec does not parse ({e})"))
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
        if req.description.len() > 4000 {
            return Err(TaskError::Rejected(
                "the description is longer than 4000 bytes; say in a sentence or two what to build"
                    .into(),
            ));
        }
        let parsed: Understanding = nexus_request::understand(&req.description);
        let (mut spec, source, note, check) = match from_llm(&req.description) {
            Ok(model) => {
                let g = nexus_request::ground(&req.description, model, &parsed);
                for r in &g.reasons {
                    log::info(&format!("spec check: {r}"));
                }
                match g.verdict {
                    Verdict::Replaced => (
                        g.spec.clone(),
                        "parser",
                        Some("the model's spec is not the one the request describes".into()),
                        Some(g),
                    ),
                    _ => (g.spec.clone(), "llm", None, Some(g)),
                }
            }
            Err(why) => {
                log::info(&format!("analyst uses the request parser: {why}"));
                (parsed.spec.clone(), "parser", Some(why), None)
            }
        };
        if let Some(name) = req.name {
            spec.name = nexus_spec::slug(&name);
        }
        let summary = format!(
            "{} entities ({}), auth {}, from the {source}{}",
            spec.entities.len(),
            spec.entities
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if spec.auth { "on" } else { "off" },
            match check.as_ref().map(|c| c.verdict) {
                Some(Verdict::Repaired) => " (repaired)",
                Some(Verdict::Replaced) => " (the model's spec was replaced)",
                _ => "",
            }
        );
        let readable = nexus_request::summary(&spec);
        Outcome::json(
            &Analysis {
                spec,
                source,
                note,
                check,
                understood: parsed.notes,
                readable,
            },
            &summary,
        )
    }
}

nexus_sdk::export_agent!(Analyst);
