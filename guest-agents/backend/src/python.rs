//! The spec-dependent Python: which files, the route table, and what the
//! models and tests share (the pairs a join entity links). Names in the
//! spec are validated identifiers (see `Spec::normalised`), so they can be
//! written into code as they are.

use crate::rules::Rule;
use crate::{models, samples, schemas, suite};
use nexus_spec::{Relation, Spec, render};
use serde_json::Value;

const MAIN: &str = include_str!("../templates/main.py");

/// Python literal of a title (no quotes or backslashes survive).
fn title(spec: &Spec) -> String {
    spec.title
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
        .collect()
}

/// A Python string literal (JSON escaping is valid Python escaping).
pub fn py_string(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// The join entity's two foreign keys of a many-to-many relation, in the
/// order `from`, `to`.
pub fn link_fields(spec: &Spec, link: &Relation) -> Option<[String; 2]> {
    let through = link.through.as_deref()?;
    let key = |end: &str| {
        spec.relations_from(through)
            .find(|r| r.to == end)
            .map(|r| r.field.clone())
    };
    Some([key(&link.from)?, key(&link.to)?])
}

fn registry(spec: &Spec) -> String {
    spec.entities
        .iter()
        .map(|e| {
            let n = &e.name;
            let refs: Vec<String> = spec
                .relations_from(n)
                .map(|r| format!("\"{}\": models.{}", r.field, r.to))
                .collect();
            format!(
                "    (models.{n}, schemas.{n}Create, schemas.{n}Update, schemas.{n}Read, \"{}\", {}, {{{}}}),",
                e.plural,
                if e.owned { "True" } else { "False" },
                refs.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every generated file: (path under backend/, contents).
pub fn generate(spec: &Spec, rules: &[Rule]) -> Vec<(String, String)> {
    let mut files = vec![
        ("models.py".to_string(), models::source(spec)),
        ("schemas.py".to_string(), schemas::source(spec, rules)),
        (
            "main.py".to_string(),
            render(
                MAIN,
                &[
                    ("title", &title(spec)),
                    ("auth", if spec.auth { "True" } else { "False" }),
                    ("registry", &registry(spec)),
                ],
            ),
        ),
        ("tests/samples.py".to_string(), samples::source(spec, rules)),
    ];
    for e in &spec.entities {
        files.push((
            format!("tests/test_{}.py", e.plural),
            suite::entity_tests(spec, e, rules),
        ));
    }
    if !rules.is_empty() {
        files.push(("tests/test_rules.py".to_string(), suite::rule_tests(rules)));
    }
    files
}
