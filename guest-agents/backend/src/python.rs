//! The spec-dependent Python: which files and the route table. Names in the
//! spec are validated identifiers (see `Spec::normalised`), so they can be
//! written into code as they are.

use crate::rules::Rule;
use crate::{migration, models, samples, schemas, suite};
use nexus_spec::{Spec, render};
use serde_json::Value;

const MAIN: &str = include_str!("../templates/main.py");
const README: &str = include_str!("../templates/README.md");

/// The README's paragraph on sign-in, for a backend with auth.
const README_AUTH: &str = "
Sign-in (`/api/auth/register`, `/api/auth/token`) issues JWTs signed with `SECRET_KEY`: set it to a long random value,
or every start picks a new one and signs everyone out. `ACCESS_TOKEN_MINUTES` (default 60) sets how long a token lasts.
";

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
        (
            "migrations/versions/0001_initial.py".to_string(),
            migration::source(spec),
        ),
        (
            "README.md".to_string(),
            render(
                README,
                &[
                    ("title", &title(spec)),
                    ("auth", if spec.auth { README_AUTH } else { "" }),
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
