//! Checks a model's spec against the request it was asked about: every
//! entity must be named (or done) in the request, relations must point at
//! entities that exist, field types must be known. What fails is repaired
//! from the parser's reading of the same request, or the parser's spec
//! replaces the model's.

use crate::Understanding;
use crate::lexicon::lexicon;
use crate::words::{ident, singular};
use nexus_spec::{Entity, FIELD_TYPES, Relation, Spec};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The model's spec as it came.
    Kept,
    /// The model's spec with what failed taken out or filled in.
    Repaired,
    /// The parser's spec instead.
    Replaced,
}

/// The checked spec and what the check did to it.
#[derive(Debug, Clone, Serialize)]
pub struct Grounded {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    #[serde(skip)]
    pub spec: Spec,
}

/// `StockMovement` → `["stock", "movement"]`.
fn name_words(name: &str) -> Vec<String> {
    nexus_spec::snake(name)
        .split('_')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The request's words in singular, with the rows its verbs make
/// (`reserve` → `reservation`).
fn request_words(request: &str) -> Vec<String> {
    let lx = lexicon();
    let mut out = Vec::new();
    for w in request
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
    {
        for part in w.split('-') {
            out.push(singular(part));
        }
        out.push(singular(&ident(w)));
        if let Some((v, _)) = lx.verb(w)
            && let Some(n) = &v.noun
        {
            out.push(n.clone());
        }
    }
    out
}

fn type_synonym(kind: &str) -> Option<&'static str> {
    Some(match kind.to_ascii_lowercase().as_str() {
        "str" | "varchar" | "char" => "string",
        "int" | "integer" | "bigint" | "smallint" => "integer",
        "float" | "double" | "real" => "number",
        "money" | "currency" | "price" => "decimal",
        "bool" => "boolean",
        "timestamp" | "time" => "datetime",
        "uri" | "link" => "url",
        "choice" | "choices" | "select" => "enum",
        "longtext" | "textarea" => "text",
        _ => return None,
    })
}

/// Checks `model` against `request`, repairing from `parsed` (the parser's
/// reading of the same request).
pub fn ground(request: &str, mut model: Spec, parsed: &Understanding) -> Grounded {
    let lx = lexicon();
    let words = request_words(request);
    let parser = &parsed.spec;
    let mut reasons = Vec::new();
    let app_words: Vec<String> = name_words(&parser.title)
        .into_iter()
        .chain(parser.name.split('-').map(str::to_string))
        .collect();
    // Entities: named in the request, not the app, not an attribute.
    let mut dropped = Vec::new();
    model.entities.retain(|e| {
        let w = name_words(&e.name);
        let head = w.last().cloned().unwrap_or_default();
        let head = singular(&head);
        let in_parser = parser
            .entities
            .iter()
            .any(|p| p.name == e.name || name_words(&p.name).last() == Some(&head));
        let named = words.contains(&head) || in_parser;
        let is_app = lx.app.contains(&head)
            || (w
                .iter()
                .all(|x| app_words.contains(x) || lx.app.contains(x))
                && !in_parser);
        let is_attr = lx.attrs.contains_key(&head) && !lx.nouns.contains_key(&head) && !in_parser;
        let why = if e.name == "User" {
            Some("`User` comes from login (auth), not an entity".to_string())
        } else if is_app {
            Some(format!(
                "`{}` names the app, not something it keeps",
                e.name
            ))
        } else if is_attr {
            Some(format!("`{}` is an attribute, not an entity", e.name))
        } else if !named {
            Some(format!("`{}` is not named in the request", e.name))
        } else {
            None
        };
        if let Some(why) = why {
            reasons.push(format!("dropped entity {why}"));
            dropped.push(e.name.clone());
            false
        } else {
            true
        }
    });
    if dropped.iter().any(|d| d == "User") {
        model.auth = true;
    }
    // Relations: both ends must exist.
    let names: Vec<String> = model.entities.iter().map(|e| e.name.clone()).collect();
    model.relations.retain(|r| {
        let ends = [&r.from, &r.to]
            .into_iter()
            .chain(r.through.as_ref())
            .all(|n| names.contains(n) || (n == "User" && r.through.is_none()));
        if !ends {
            reasons.push(format!(
                "dropped relation {} → {}: it names an entity the spec does not have",
                r.from, r.to
            ));
        }
        ends
    });
    // Field types: known, or mapped to a known one, or the field goes.
    for e in &mut model.entities {
        e.fields.retain_mut(|f| {
            if FIELD_TYPES.contains(&f.kind.as_str()) {
                return true;
            }
            match type_synonym(&f.kind) {
                Some(t) => {
                    reasons.push(format!(
                        "{}.{}: type `{}` read as `{t}`",
                        e.name, f.name, f.kind
                    ));
                    f.kind = t.into();
                    true
                }
                None => {
                    reasons.push(format!(
                        "dropped field {}.{}: unknown type `{}`",
                        e.name, f.name, f.kind
                    ));
                    false
                }
            }
        });
    }
    // What the request names that the model left out.
    let covered = |m: &Spec, p: &Entity| {
        let head = name_words(&p.name).last().cloned();
        m.entities
            .iter()
            .any(|e| e.name == p.name || name_words(&e.name).last().cloned() == head)
    };
    let found = parser
        .entities
        .iter()
        .filter(|p| covered(&model, p))
        .count();
    let replace = |reasons: &mut Vec<String>, why: String| {
        reasons.push(why);
        Grounded {
            verdict: Verdict::Replaced,
            reasons: reasons.clone(),
            spec: parser.clone(),
        }
    };
    if model.entities.is_empty() {
        return replace(
            &mut reasons,
            "nothing of the model's spec is grounded in the request; the parser's spec is used"
                .into(),
        );
    }
    if found * 2 < parser.entities.len() {
        return replace(
            &mut reasons,
            format!(
                "the model's spec has {found} of the {} entities the request names; the parser's spec is used",
                parser.entities.len()
            ),
        );
    }
    let missing: Vec<&Entity> = parser
        .entities
        .iter()
        .filter(|p| !covered(&model, p))
        .collect();
    for p in &missing {
        model.entities.push((*p).clone());
        reasons.push(format!("added entity {} the request names", p.name));
    }
    if !missing.is_empty() {
        let names: Vec<String> = model.entities.iter().map(|e| e.name.clone()).collect();
        for r in &parser.relations {
            let touches = missing.iter().any(|m| m.name == r.from || m.name == r.to);
            if touches
                && names.contains(&r.from)
                && names.contains(&r.to)
                && !model.relations.contains(r)
            {
                model.relations.push(Relation { ..r.clone() });
            }
        }
    }
    // Ranges and choices the request states, where the model has the field
    // but not the rule.
    for p in &parser.entities {
        let Some(e) = model.entities.iter_mut().find(|e| e.name == p.name) else {
            continue;
        };
        for pf in &p.fields {
            if let Some(f) = e.fields.iter_mut().find(|f| f.name == pf.name) {
                if f.choices.is_empty() && !pf.choices.is_empty() {
                    f.kind = "enum".into();
                    f.choices = pf.choices.clone();
                    reasons.push(format!("{}.{}: choices from the request", e.name, f.name));
                }
                if f.min.is_none()
                    && f.max.is_none()
                    && (pf.min.is_some() || pf.max.is_some())
                    && f.is_numeric()
                {
                    f.min = pf.min;
                    f.max = pf.max;
                    reasons.push(format!("{}.{}: range from the request", e.name, f.name));
                }
            }
        }
    }
    if parser.auth && !model.auth {
        model.auth = true;
        reasons.push("auth: the request says people log in".into());
    }
    match model.normalised() {
        Ok(spec) => Grounded {
            verdict: if reasons.is_empty() {
                Verdict::Kept
            } else {
                Verdict::Repaired
            },
            reasons,
            spec,
        },
        Err(e) => replace(
            &mut reasons,
            format!("the model's spec does not hold together ({e}); the parser's spec is used"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_spec_about_the_app_itself_is_replaced() {
        let request = "a todo app with users and tags";
        let parsed = crate::understand(request);
        let model = spec(
            json!({"name": "todo", "title": "Todo", "auth": false, "entities": [
                {"name": "TodoApp", "fields": [{"name": "name", "type": "string"}]}
            ]}),
        );
        let g = ground(request, model, &parsed);
        assert_eq!(g.verdict, Verdict::Replaced, "{:?}", g.reasons);
        assert!(
            g.reasons[0].contains("`TodoApp` names the app"),
            "{:?}",
            g.reasons
        );
        assert!(g.spec.entity("Todo").is_some());
    }

    #[test]
    fn a_relation_to_a_missing_entity_is_dropped_and_the_rest_kept() {
        let request = "a library with books, authors and loans";
        let parsed = crate::understand(request);
        let model = spec(
            json!({"name": "library", "title": "Library", "auth": false, "entities": [
            {"name": "Book", "fields": [{"name": "title", "type": "string", "required": true}]},
            {"name": "Author", "fields": [{"name": "name", "type": "string"}]},
            {"name": "Loan", "fields": [{"name": "due", "type": "date"}]}
        ], "relations": [{"from": "Loan", "to": "Member"}, {"from": "Book", "to": "Author"}]}),
        );
        let g = ground(request, model, &parsed);
        assert_eq!(g.verdict, Verdict::Repaired);
        assert!(
            g.reasons.iter().any(|r| r.contains("Loan → Member")),
            "{:?}",
            g.reasons
        );
        assert_eq!(g.spec.relations.len(), 1);
        assert_eq!(g.spec.entities.len(), 3);
    }

    #[test]
    fn a_grounded_spec_is_kept() {
        let request = "a library with books, authors and loans";
        let parsed = crate::understand(request);
        let model = spec(
            json!({"name": "library", "title": "Library", "auth": false, "entities": [
            {"name": "Book", "fields": [{"name": "title", "type": "string", "required": true}]},
            {"name": "Author", "fields": [{"name": "name", "type": "string"}]},
            {"name": "Loan", "fields": [{"name": "due", "type": "date"}]}
        ], "relations": [{"from": "Book", "to": "Author"}]}),
        );
        let g = ground(request, model, &parsed);
        assert_eq!(g.verdict, Verdict::Kept, "{:?}", g.reasons);
    }
}
