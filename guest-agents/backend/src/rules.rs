//! Validation rules the LLM writes. The model proposes a body for a field's
//! validator with one value it accepts and one it rejects; the backend keeps
//! a rule only when the field can carry one, the examples fit the field, and
//! the QA agent parses the body and accepts what it does. Everything else
//! is reported with its reason, and the template's validation stays.

use nexus_sdk::{Error, bus, llm, log};
use nexus_spec::{Body, BodyCheck, Entity, Field, Spec, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// Field types a rule may constrain.
const RULE_TYPES: &[&str] = &["string", "text", "integer", "number"];
const MAX_RULES: usize = 12;

/// A rule the QA agent accepted.
#[derive(Debug, Clone)]
pub struct Rule {
    pub entity: String,
    pub plural: String,
    pub field: String,
    /// `def check_<field>(cls, v):` and its body, at column 0.
    pub source: String,
    pub valid: Value,
    pub invalid: Value,
}

impl Proposals {
    /// Takes back a kept rule a gate found fault with.
    pub fn drop_rule(&mut self, id: &str, why: &str) {
        self.rules.retain(|r| r.id() != id);
        self.kept.retain(|k| k != id);
        self.rejected.push(Rejected {
            target: id.to_string(),
            reason: format!("a gate: {why}"),
        });
    }
}

impl Rule {
    /// `Entity.field`, as reports name it.
    pub fn id(&self) -> String {
        format!("{}.{}", self.entity, self.field)
    }
}

#[derive(Serialize, Default)]
pub struct Rejected {
    pub target: String,
    pub reason: String,
}

/// What became of the model's proposals.
#[derive(Serialize, Default)]
pub struct Proposals {
    /// `llm`, or `none` when no model answered.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub kept: Vec<String>,
    pub rejected: Vec<Rejected>,
    /// What the model answered, as it answered it: a build sent back by a
    /// gate is given this and does not ask again, so the second build
    /// differs from the first only by what the findings named.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answer: Vec<Proposal>,
    #[serde(skip)]
    pub rules: Vec<Rule>,
}

#[derive(Deserialize, Serialize, Clone)]
pub struct Proposal {
    entity: String,
    field: String,
    body: String,
    valid: Value,
    invalid: Value,
}

#[derive(Deserialize)]
struct Answer {
    validators: Vec<Proposal>,
}

fn schema() -> Value {
    json!({
        "type": "object", "required": ["validators"],
        "properties": {"validators": {"type": "array", "maxItems": MAX_RULES, "items": {
            "type": "object", "required": ["entity", "field", "body", "valid", "invalid"],
            "properties": {
                "entity": {"type": "string"},
                "field": {"type": "string"},
                "body": {"type": "string", "maxLength": 4000},
                "valid": {"type": ["string", "number", "integer"]},
                "invalid": {"type": ["string", "number", "integer"]}
            }
        }}}
    })
}

const PROMPT: &str = "You write Pydantic v2 field validators for a FastAPI backend. For fields whose values follow a \
real-world format or range (an ISBN, a page count, a price, a postcode), write the body of \
`def check_<field>(cls, v):` as Python statements: return v unchanged (`return v`) or raise ValueError with a \
message. v is never None. Use only v, your own local names, builtins such as len, int, str, any and all, and the \
`re` module; no imports. Give `valid`, a value the rule accepts, and `invalid`, one it rejects, both of the field's \
JSON type; a field's `min` and `max`, when given, are already enforced and `valid` must lie within them. Only \
string, text, integer and number fields can have rules. Answer with JSON only.";

/// Asks the model for rules (or takes `earlier`, its answer to the last
/// build) and keeps those that pass every check.
pub fn propose(spec: &Spec, earlier: Option<Vec<Proposal>>) -> Proposals {
    let mut out = Proposals {
        source: "llm".into(),
        ..Default::default()
    };
    let proposals = match earlier {
        Some(answer) => answer,
        None => match ask(spec) {
            Ok(answer) => answer,
            Err((source, note)) => {
                out.source = source;
                out.note = Some(note);
                return out;
            }
        },
    };
    out.answer = proposals.iter().take(MAX_RULES).cloned().collect();
    vet(spec, proposals, out)
}

/// The model's answer, or the source and note to report when there is none.
fn ask(spec: &Spec) -> Result<Vec<Proposal>, (String, String)> {
    let fields: Vec<Value> = spec
        .entities
        .iter()
        .map(|e| {
            json!({"entity": e.name, "fields": e.fields.iter()
                .filter(|f| RULE_TYPES.contains(&f.kind.as_str()) && !f.unique)
                .map(|f| json!({"name": f.name, "type": f.kind, "min": f.min, "max": f.max}))
                .collect::<Vec<_>>()})
        })
        .collect();
    let opts = llm::Options {
        temperature: Some(0.0),
        max_tokens: Some(3000),
        seed: None,
        json_schema: Some(schema().to_string()),
    };
    let messages = [
        llm::Message::system(PROMPT),
        llm::Message::user(&json!({ "title": spec.title, "entities": fields }).to_string()),
    ];
    let reply = match llm::chat("backend", &messages, &opts) {
        Ok(reply) => reply,
        Err(Error::Unavailable(why)) => {
            return Err((
                "none".into(),
                format!("no model answers ({why}); the templates' validation only"),
            ));
        }
        Err(e) => {
            return Err((
                "llm".into(),
                format!("the model call failed ({e}); the templates' validation only"),
            ));
        }
    };
    serde_json::from_str::<Answer>(&reply.content)
        .map(|a| a.validators)
        .map_err(|e| {
            (
                "llm".into(),
                format!("the model's answer does not parse ({e}); the templates' validation only"),
            )
        })
}

/// Keeps the proposals that fit the spec and that the QA agent accepts.
fn vet(spec: &Spec, proposals: Vec<Proposal>, mut out: Proposals) -> Proposals {
    let mut candidates: Vec<Rule> = Vec::new();
    for p in proposals.into_iter().take(MAX_RULES) {
        let target = format!("{}.{}", p.entity, p.field);
        match candidate(spec, &p, &candidates) {
            Ok(rule) => candidates.push(rule),
            Err(reason) => out.rejected.push(Rejected { target, reason }),
        }
    }
    if candidates.is_empty() {
        return out;
    }
    let request = BodyCheck {
        language: "python".into(),
        bodies: candidates
            .iter()
            .map(|r| Body {
                id: r.id(),
                source: r.source.clone(),
            })
            .collect(),
    };
    let verdicts: Vec<Verdict> =
        match bus::request_json("qa", "check-bodies", &request, Duration::from_secs(120)) {
            Ok(v) => v,
            Err(e) => {
                let why = format!("the QA agent could not check it ({e:?}); see `nexus messages`");
                log::warn(&why);
                for r in candidates {
                    out.rejected.push(Rejected {
                        target: r.id(),
                        reason: why.clone(),
                    });
                }
                return out;
            }
        };
    for rule in candidates {
        let id = rule.id();
        match verdicts.iter().find(|v| v.id == id) {
            Some(v) if v.accepted => {
                out.kept.push(id);
                out.rules.push(rule);
            }
            Some(v) => out.rejected.push(Rejected {
                target: id,
                reason: format!("QA: {}", v.reason.clone().unwrap_or_default()),
            }),
            None => out.rejected.push(Rejected {
                target: id,
                reason: "QA gave no verdict".into(),
            }),
        }
    }
    out
}

/// Checks a proposal against the spec and builds its function.
fn candidate(spec: &Spec, p: &Proposal, so_far: &[Rule]) -> Result<Rule, String> {
    let entity: &Entity = spec
        .entity(&p.entity)
        .ok_or_else(|| format!("the spec has no entity `{}`", p.entity))?;
    let field: &Field = entity
        .fields
        .iter()
        .find(|f| f.name == p.field)
        .ok_or_else(|| format!("`{}` has no field `{}`", p.entity, p.field))?;
    if !RULE_TYPES.contains(&field.kind.as_str()) {
        return Err(format!(
            "a {} field keeps the template's validation",
            field.kind
        ));
    }
    if field.unique {
        // The tests need many distinct valid values of a unique field; a
        // rule gives one.
        return Err("a unique field keeps the template's validation".into());
    }
    if so_far
        .iter()
        .any(|r| r.entity == p.entity && r.field == p.field)
    {
        return Err("a second rule for the same field".into());
    }
    for (what, v) in [("valid", &p.valid), ("invalid", &p.invalid)] {
        let in_range = |x: f64| {
            what == "invalid"
                || (field.min.is_none_or(|lo| x >= lo) && field.max.is_none_or(|hi| x <= hi))
        };
        let fits = match field.kind.as_str() {
            "integer" => v.as_i64().is_some_and(|x| in_range(x as f64)),
            "number" => v.as_f64().is_some_and(in_range),
            _ => v.as_str().is_some_and(|s| {
                what == "invalid"
                    || (!s.trim().is_empty() && (field.kind == "text" || s.chars().count() <= 255))
            }),
        };
        if !fits {
            return Err(format!(
                "the {what} example {v} does not fit a {} field",
                field.kind
            ));
        }
    }
    if p.valid == p.invalid {
        return Err("the valid and invalid examples are the same".into());
    }
    Ok(Rule {
        entity: entity.name.clone(),
        plural: entity.plural.clone(),
        field: field.name.clone(),
        source: function(&field.name, &p.body),
        valid: p.valid.clone(),
        invalid: p.invalid.clone(),
    })
}

/// `def check_<field>(cls, v):` around the model's statements (a whole
/// `def` from the model keeps only its body), re-indented by four spaces.
fn function(field: &str, body: &str) -> String {
    let mut lines: Vec<&str> = body.lines().collect();
    if lines
        .first()
        .is_some_and(|l| l.trim_start().starts_with("def "))
    {
        lines.remove(0);
    }
    while lines.first().is_some_and(|l| l.trim().is_empty()) {
        lines.remove(0);
    }
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = format!("def check_{field}(cls, v):\n");
    for l in &lines {
        if l.trim().is_empty() {
            out.push('\n');
        } else {
            out.push_str("    ");
            out.push_str(l.get(indent..).unwrap_or(l.trim_start()));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::function;

    #[test]
    fn a_body_is_wrapped_and_a_whole_def_keeps_only_its_body() {
        let want = "def check_isbn(cls, v):\n    if not v:\n        raise ValueError(\"x\")\n    return v\n";
        assert_eq!(
            function("isbn", "if not v:\n    raise ValueError(\"x\")\nreturn v"),
            want
        );
        assert_eq!(
            function(
                "isbn",
                "def check(cls, value):\n        if not v:\n            raise ValueError(\"x\")\n        return v\n"
            ),
            want
        );
    }
}
