//! The generated pytest files: CRUD tests for every entity, a test for
//! each rule of the spec the entity has (ranges, choices, formats, unique
//! fields, linked pairs, filters by parent, and the database's own CHECKs),
//! and one for each validation rule the LLM wrote.

use crate::models::linked_pairs;
use crate::python::py_string;
use crate::rules::Rule;
use crate::samples::{check_case, choice_case, format_case, range_case, sample_for};
use nexus_spec::{Entity, Field, Spec, render};
use serde_json::{Map, Value, json};

const ENTITY_TEST: &str = include_str!("../templates/tests/test_entity.py");
const RULES_TEST: &str = include_str!("../templates/tests/test_rules.py");
const RANGES: &str = include_str!("../templates/tests/constraints/ranges.py");
const CHOICES: &str = include_str!("../templates/tests/constraints/choices.py");
const UNIQUE: &str = include_str!("../templates/tests/constraints/unique.py");
const LINKS: &str = include_str!("../templates/tests/constraints/links.py");
const FILTERS: &str = include_str!("../templates/tests/constraints/filters.py");
const FORMATS: &str = include_str!("../templates/tests/constraints/formats.py");
const DATABASE: &str = include_str!("../templates/tests/constraints/database.py");

/// The tests of an entity's rules that the spec gives it: (template, the
/// table of cases it runs).
fn constraint_blocks(spec: &Spec, e: &Entity) -> Vec<(&'static str, Value)> {
    let fields = |case: fn(&Field) -> Option<Value>| -> Vec<Value> {
        e.fields.iter().filter_map(case).collect()
    };
    let unique = e
        .fields
        .iter()
        .filter(|f| f.unique)
        .map(|f| json!(f.name))
        .collect();
    let links = linked_pairs(spec, e)
        .into_iter()
        .map(|pair| json!(pair))
        .collect();
    let filters = spec
        .relations_from(&e.name)
        .map(|r| json!(r.field))
        .collect();
    [
        (RANGES, fields(range_case)),
        (CHOICES, fields(choice_case)),
        (FORMATS, fields(format_case)),
        (UNIQUE, unique),
        (LINKS, links),
        (FILTERS, filters),
        (DATABASE, fields(check_case)),
    ]
    .into_iter()
    .filter(|(_, table)| !table.is_empty())
    .map(|(template, table)| (template, Value::Array(table)))
    .collect()
}

/// The imports of an entity's test file.
fn imports(blocks: &[(&str, Value)]) -> String {
    let database = blocks.iter().any(|(t, _)| *t == DATABASE);
    let mut out = String::from("import json\n\n");
    if !blocks.is_empty() {
        out.push_str("import pytest\n");
    }
    if database {
        out.push_str(
            "from sqlalchemy.exc import IntegrityError\n\nimport models\nimport schemas\n",
        );
    } else if !blocks.is_empty() {
        out.push('\n');
    }
    out.push_str("from conftest import body_for, create, login\n");
    if database {
        out.push_str("from database import SessionLocal\n");
    }
    out.push_str("from main import AUTH\nfrom samples import PARENTS, SAMPLES");
    out
}

/// tests/test_<plural>.py.
pub fn entity_tests(spec: &Spec, e: &Entity, rules: &[Rule]) -> String {
    let update: Map<String, Value> = e
        .fields
        .iter()
        .map(|f| (f.name.clone(), sample_for(e, f, true, rules)))
        .collect();
    let required: Vec<&str> = e
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.as_str())
        .collect();
    let blocks = constraint_blocks(spec, e);
    let mut out = render(
        ENTITY_TEST,
        &[
            ("imports", &imports(&blocks)),
            ("name", &e.name),
            ("plural", &e.plural),
            ("update", &py_string(&Value::Object(update).to_string())),
            ("required", &py_string(&json!(required).to_string())),
            ("owned", if e.owned { "True" } else { "False" }),
        ],
    );
    for (template, table) in &blocks {
        out.push_str(&render(
            template,
            &[("name", &e.name), ("table", &py_string(&table.to_string()))],
        ));
    }
    out
}

/// tests/test_rules.py: each LLM rule rejects its counter-example.
pub fn rule_tests(rules: &[Rule]) -> String {
    let table: Vec<Value> = rules
        .iter()
        .map(|r| json!({"plural": r.plural, "field": r.field, "invalid": r.invalid}))
        .collect();
    render(
        RULES_TEST,
        &[("rules", &py_string(&Value::Array(table).to_string()))],
    )
}
