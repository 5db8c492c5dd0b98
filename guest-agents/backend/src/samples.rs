//! Values the generated tests send: a sample row per entity that keeps
//! every rule of the spec, and for each rule the values at its edge and
//! beyond it.

use crate::python::py_string;
use crate::rules::Rule;
use nexus_spec::{Entity, Field, Spec};
use serde_json::{Map, Value, json};

/// Values offered for an `enum` field that is none of its choices (short
/// enough for its column).
const NOT_CHOICES: &[&str] = &["other", "unknown", "none_of_these"];

/// Largest magnitude a `Money` value holds (12 digits, 2 of them decimals).
const MONEY_LIMIT: f64 = 1e10;

/// The lowest and highest values the API accepts for a numeric field: its
/// bounds; for a decimal, rounded inwards to whole cents, and none where
/// the bound lies beyond what `Money` holds.
fn accepted_bounds(f: &Field) -> (Option<f64>, Option<f64>) {
    if f.kind != "decimal" {
        return (f.min, f.max);
    }
    let reachable = |v: &f64| v.abs() < MONEY_LIMIT;
    (
        f.min
            .filter(reachable)
            .map(|v| ((v * 100.0) - 1e-6).ceil() / 100.0),
        f.max
            .filter(reachable)
            .map(|v| ((v * 100.0) + 1e-6).floor() / 100.0),
    )
}

/// A number as the JSON a field of this kind takes.
fn number(f: &Field, v: f64) -> Value {
    if f.kind == "integer" {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// `preferred`, moved inside the field's range.
fn within(f: &Field, preferred: f64) -> Value {
    let (min, max) = accepted_bounds(f);
    let v = max.map_or(preferred, |hi| preferred.min(hi));
    number(f, min.map_or(v, |lo| v.max(lo)))
}

/// The value the tests send for a field, on create or on update.
fn sample(f: &Field, updated: bool) -> Value {
    let n = &f.name;
    match (f.kind.as_str(), updated) {
        ("text", false) => json!(format!("Some text for {n}.")),
        ("text", true) => json!("Updated text."),
        ("integer", u) => within(f, if u { 7.0 } else { 3.0 }),
        ("number", u) => within(f, if u { 19.25 } else { 9.5 }),
        ("decimal", u) => within(f, if u { 24.5 } else { 19.99 }),
        ("enum", u) => json!(f.choices[usize::from(u) % f.choices.len()]),
        ("boolean", u) => json!(!u),
        ("date", false) => json!("2026-01-15"),
        ("date", true) => json!("2026-02-20"),
        ("datetime", false) => json!("2026-01-15T10:30:00"),
        ("datetime", true) => json!("2026-02-20T08:15:00"),
        ("email", false) => json!(format!("{}@example.com", n.replace('_', "."))),
        ("email", true) => json!(format!("updated.{}@example.com", n.replace('_', "."))),
        ("url", false) => json!(format!("https://example.com/{n}")),
        ("url", true) => json!(format!("https://example.org/{n}/updated")),
        (_, false) => json!(format!("Sample {n}")),
        (_, true) => json!(format!("Updated {n}")),
    }
}

/// The sample a test sends for a field: the accepted example of its rule
/// when it has one.
pub fn sample_for(e: &Entity, f: &Field, updated: bool, rules: &[Rule]) -> Value {
    rules
        .iter()
        .find(|r| r.entity == e.name && r.field == f.name)
        .map_or_else(|| sample(f, updated), |r| r.valid.clone())
}

/// For a field with a range: `{"field", "accepted": [bounds], "rejected":
/// [values just beyond them]}`.
pub fn range_case(f: &Field) -> Option<Value> {
    let (min, max) = accepted_bounds(f);
    if min.is_none() && max.is_none() {
        return None;
    }
    let mut accepted: Vec<Value> = Vec::new();
    for v in [min, max].into_iter().flatten() {
        let v = number(f, v);
        if !accepted.contains(&v) {
            accepted.push(v);
        }
    }
    let beyond = |v: f64| {
        let v = if f.kind == "decimal" {
            (v * 100.0).round() / 100.0
        } else {
            v
        };
        number(f, v)
    };
    let rejected: Vec<Value> = [min.map(|v| beyond(v - 1.0)), max.map(|v| beyond(v + 1.0))]
        .into_iter()
        .flatten()
        .collect();
    Some(json!({"field": f.name, "accepted": accepted, "rejected": rejected}))
}

/// For an email, URL or decimal field: `{"field", "rejected": [values
/// without its format]}` (a decimal's has a third decimal place, inside
/// its range).
pub fn format_case(f: &Field) -> Option<Value> {
    let rejected = match f.kind.as_str() {
        "email" => json!(["not an email", "@example.com"]),
        "url" => json!(["not a url", "ftp://example.com/file"]),
        "decimal" => {
            let v = within(f, 19.99).as_f64()?;
            let (_, max) = accepted_bounds(f);
            let nudged = if max.is_some_and(|hi| v + 0.005 > hi) {
                v - 0.005
            } else {
                v + 0.005
            };
            let (min, _) = accepted_bounds(f);
            if min.is_some_and(|lo| nudged < lo) {
                return None;
            }
            json!([(nudged * 1000.0).round() / 1000.0])
        }
        _ => return None,
    };
    Some(json!({"field": f.name, "rejected": rejected}))
}

/// A value an `enum` field does not take.
pub fn not_a_choice(f: &Field) -> &'static str {
    NOT_CHOICES
        .iter()
        .find(|c| !f.choices.iter().any(|x| x == *c))
        .copied()
        .unwrap_or("none_of_these")
}

/// For an `enum` field: `{"field", "choices", "rejected"}`.
pub fn choice_case(f: &Field) -> Option<Value> {
    (f.kind == "enum")
        .then(|| json!({"field": f.name, "choices": f.choices, "rejected": not_a_choice(f)}))
}

/// For a field the database checks (a range or choices): `{"field",
/// "rejected": [values its CHECKs refuse]}`.
pub fn check_case(f: &Field) -> Option<Value> {
    let rejected = match (range_case(f), f.kind == "enum") {
        (Some(case), _) => case["rejected"].clone(),
        (None, true) => json!([not_a_choice(f)]),
        (None, false) => return None,
    };
    Some(json!({"field": f.name, "rejected": rejected}))
}

/// How the tests vary a unique field's sample so rows differ: its type,
/// and for an integer its range.
fn unique_rule(f: &Field) -> Value {
    let mut rule = json!({"type": f.kind});
    let (min, max) = accepted_bounds(f);
    if let Some(v) = min {
        rule["min"] = number(f, v);
    }
    if let Some(v) = max {
        rule["max"] = number(f, v);
    }
    rule
}

/// tests/samples.py: `SAMPLES` (a row per table), `PARENTS` (the table
/// each foreign key points at) and `UNIQUE` (how to vary unique fields).
pub fn source(spec: &Spec, rules: &[Rule]) -> String {
    let mut samples = Map::new();
    let mut parents = Map::new();
    let mut unique = Map::new();
    for e in &spec.entities {
        let row: Map<String, Value> = e
            .fields
            .iter()
            .map(|f| (f.name.clone(), sample_for(e, f, false, rules)))
            .collect();
        samples.insert(e.plural.clone(), Value::Object(row));
        let refs: Map<String, Value> = spec
            .relations_from(&e.name)
            .filter_map(|r| {
                spec.entity(&r.to)
                    .map(|t| (r.field.clone(), json!(t.plural)))
            })
            .collect();
        parents.insert(e.plural.clone(), Value::Object(refs));
        let varied: Map<String, Value> = e
            .fields
            .iter()
            .filter(|f| f.unique)
            .map(|f| (f.name.clone(), unique_rule(f)))
            .collect();
        unique.insert(e.plural.clone(), Value::Object(varied));
    }
    let table = |v: Map<String, Value>| py_string(&Value::Object(v).to_string());
    format!(
        "\"\"\"Sample rows for the tests, which rows each refers to, and how unique fields vary.\"\"\"\n\n\
         import json\n\nSAMPLES = json.loads({})\nPARENTS = json.loads({})\nUNIQUE = json.loads({})\n",
        table(samples),
        table(parents),
        table(unique)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_inside_the_range() {
        let rating = Field::new("rating", "integer", true).range(Some(1.0), Some(2.0));
        assert_eq!(sample(&rating, false), json!(2));
        let price = Field::new("price", "decimal", true).range(Some(25.0), None);
        assert_eq!(sample(&price, false), json!(25.0));
    }

    #[test]
    fn a_range_case_names_the_bounds_and_the_values_beyond() {
        let rating = Field::new("rating", "integer", true).range(Some(1.0), Some(10.0));
        assert_eq!(
            range_case(&rating).unwrap(),
            json!({"field": "rating", "accepted": [1, 10], "rejected": [0, 11]})
        );
    }

    #[test]
    fn decimal_bounds_are_rounded_inwards_to_cents() {
        let price = Field::new("price", "decimal", true).range(Some(0.005), Some(99.999));
        let case = range_case(&price).unwrap();
        assert_eq!(case["accepted"], json!([0.01, 99.99]));
        assert_eq!(case["rejected"], json!([-0.99, 100.99]));
    }

    #[test]
    fn decimal_bounds_beyond_money_are_left_out() {
        let price = Field::new("price", "decimal", true).range(Some(0.0), Some(1e11));
        assert_eq!(range_case(&price).unwrap()["accepted"], json!([0.0]));
    }

    #[test]
    fn a_decimal_format_case_has_a_third_place_inside_the_range() {
        let price = Field::new("price", "decimal", true).range(Some(0.0), Some(20.0));
        let rejected = &format_case(&price).unwrap()["rejected"][0];
        assert!(
            (rejected.as_f64().unwrap() - 19.995).abs() < 1e-9,
            "{rejected}"
        );
        let capped = Field::new("price", "decimal", true).range(Some(0.0), Some(19.99));
        let rejected = &format_case(&capped).unwrap()["rejected"][0];
        assert!(
            (rejected.as_f64().unwrap() - 19.985).abs() < 1e-9,
            "{rejected}"
        );
    }

    #[test]
    fn the_value_outside_the_choices_is_none_of_them() {
        let kind = Field::new("kind", "enum", true).choices(&["other", "unknown", "plain"]);
        assert_eq!(not_a_choice(&kind), "none_of_these");
    }
}
