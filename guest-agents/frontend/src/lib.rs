//! The frontend agent: writes a React + TypeScript + Vite app for a spec into
//! `frontend/` — an API client, a styled layout with a navigation bar, a page
//! per entity with a formatted list and a form that honours the spec's rules
//! (selects for references and choices, ranges, required fields, the
//! server's messages next to their fields), login when the spec has auth,
//! Vitest tests, and an nginx Dockerfile. The templates are files under
//! `templates/`; the spec enters as JSON data and as one small page (and
//! test) file per entity, the test listing the rules it checks.

use nexus_sdk::{Agent, AgentInfo, Outcome, Task, TaskError, workspace};
use nexus_spec::{Entity, Field, Spec, render, snake};
use serde::Deserialize;
use serde_json::{Map, Value, json};

struct Frontend;

#[derive(Deserialize)]
struct Request {
    spec: Spec,
    /// Only say what would change; write nothing. (The templates are the
    /// whole of the output, so a build sent back with findings can only
    /// restore files that changed since.)
    #[serde(default)]
    dry_run: bool,
}

const STATIC: &[(&str, &str)] = &[
    ("tsconfig.json", include_str!("../templates/tsconfig.json")),
    (
        "vite.config.ts",
        include_str!("../templates/vite.config.ts"),
    ),
    ("Dockerfile", include_str!("../templates/Dockerfile")),
    ("nginx.conf", include_str!("../templates/nginx.conf")),
    ("src/types.ts", include_str!("../templates/src/types.ts")),
    ("src/api.ts", include_str!("../templates/src/api.ts")),
    ("src/format.ts", include_str!("../templates/src/format.ts")),
    ("src/form.ts", include_str!("../templates/src/form.ts")),
    (
        "src/useEntity.ts",
        include_str!("../templates/src/useEntity.ts"),
    ),
    (
        "src/styles.css",
        include_str!("../templates/src/styles.css"),
    ),
    ("src/main.tsx", include_str!("../templates/src/main.tsx")),
    ("src/App.tsx", include_str!("../templates/src/App.tsx")),
    (
        "src/components/EntityPage.tsx",
        include_str!("../templates/src/components/EntityPage.tsx"),
    ),
    (
        "src/components/EntityTable.tsx",
        include_str!("../templates/src/components/EntityTable.tsx"),
    ),
    (
        "src/components/EntityForm.tsx",
        include_str!("../templates/src/components/EntityForm.tsx"),
    ),
    (
        "src/components/FieldInput.tsx",
        include_str!("../templates/src/components/FieldInput.tsx"),
    ),
    (
        "src/components/ConfirmDialog.tsx",
        include_str!("../templates/src/components/ConfirmDialog.tsx"),
    ),
    (
        "src/pages/LoginPage.tsx",
        include_str!("../templates/src/pages/LoginPage.tsx"),
    ),
    (
        "src/__tests__/suite.tsx",
        include_str!("../templates/src/__tests__/suite.tsx"),
    ),
    (
        "src/__tests__/api.test.ts",
        include_str!("../templates/src/__tests__/api.test.ts"),
    ),
    (
        "src/__tests__/format.test.ts",
        include_str!("../templates/src/__tests__/format.test.ts"),
    ),
    (
        "src/__tests__/App.test.tsx",
        include_str!("../templates/src/__tests__/App.test.tsx"),
    ),
];

/// `order_items` → `Order items`.
fn label(e: &Entity) -> String {
    let words = e.plural.replace('_', " ");
    let mut c = words.chars();
    c.next().map_or(String::new(), |f| {
        f.to_ascii_uppercase().to_string() + c.as_str()
    })
}

/// `OrderItem` → `order item`.
fn singular(e: &Entity) -> String {
    snake(&e.name).replace('_', " ")
}

/// A range bound as JSON: `0`, not `0.0`, when it is whole.
fn bound(v: f64) -> Value {
    if v.fract() == 0.0 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// A field's `min` and `max`, those it has.
fn range(f: &Field) -> Map<String, Value> {
    [("min", f.min), ("max", f.max)]
        .into_iter()
        .filter_map(|(key, limit)| limit.map(|v| (key.to_string(), bound(v))))
        .collect()
}

/// A field as the UI knows it: name, type and required, with its range,
/// choices and uniqueness when it has them.
fn field_json(f: &Field) -> Value {
    let mut out = json!({"name": f.name, "type": f.kind, "required": f.required});
    if let Value::Object(fields) = &mut out {
        fields.extend(range(f));
    }
    if !f.choices.is_empty() {
        out["choices"] = json!(f.choices);
    }
    if f.unique {
        out["unique"] = json!(true);
    }
    out
}

/// The name of the field that names a row of `entity`, or null.
fn display(spec: &Spec, entity: &str) -> Value {
    spec.display_field(entity)
        .map_or(Value::Null, |f| json!(f.name))
}

/// The many-to-one references of `e`, each with its target's route name and
/// display field.
fn references(spec: &Spec, e: &Entity) -> Vec<Value> {
    spec.relations_from(&e.name)
        .filter_map(|r| {
            spec.entity(&r.to).map(|t| {
                json!({
                    "field": r.field,
                    "target": t.plural,
                    "required": r.required,
                    "display": display(spec, &t.name),
                })
            })
        })
        .collect()
}

fn entities_json(spec: &Spec) -> Value {
    Value::Array(
        spec.entities
            .iter()
            .map(|e| {
                json!({
                    "name": e.name,
                    "plural": e.plural,
                    "label": label(e),
                    "singular": singular(e),
                    "display": display(spec, &e.name),
                    "fields": e.fields.iter().map(field_json).collect::<Vec<_>>(),
                    "references": references(spec, e),
                })
            })
            .collect(),
    )
}

/// The rules an entity's page test checks one by one: required fields and
/// foreign keys, ranges, choices and references.
fn rules_json(spec: &Spec, e: &Entity) -> Value {
    let refs = references(spec, e);
    let required: Vec<&str> = e
        .fields
        .iter()
        .filter(|f| f.required && f.kind != "boolean")
        .map(|f| f.name.as_str())
        .chain(
            refs.iter()
                .filter(|r| r["required"] == true)
                .filter_map(|r| r["field"].as_str()),
        )
        .collect();
    let mut ranges = Map::new();
    let mut choices = Map::new();
    for f in &e.fields {
        let limits = range(f);
        if !limits.is_empty() {
            ranges.insert(f.name.clone(), Value::Object(limits));
        }
        if !f.choices.is_empty() {
            choices.insert(f.name.clone(), json!(f.choices));
        }
    }
    let references: Map<String, Value> = refs
        .iter()
        .map(|r| {
            (
                r["field"].as_str().unwrap_or_default().to_string(),
                json!({"target": r["target"], "display": r["display"]}),
            )
        })
        .collect();
    json!({
        "required": required,
        "ranges": ranges,
        "choices": choices,
        "references": references,
    })
}

fn generate(spec: &Spec) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = STATIC
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    let title = Value::String(spec.title.clone()).to_string();
    files.push((
        "package.json".into(),
        render(
            include_str!("../templates/package.json"),
            &[("name", &spec.name)],
        ),
    ));
    files.push((
        "index.html".into(),
        render(
            include_str!("../templates/index.html"),
            &[("title", &spec.title.replace(['<', '>', '&', '"'], ""))],
        ),
    ));
    files.push((
        "src/spec.ts".into(),
        render(
            include_str!("../templates/src/spec.ts"),
            &[
                ("title", &title),
                ("auth", if spec.auth { "true" } else { "false" }),
                (
                    "entities",
                    &serde_json::to_string_pretty(&entities_json(spec)).unwrap_or_default(),
                ),
            ],
        ),
    ));
    let imports: Vec<String> = spec
        .entities
        .iter()
        .map(|e| format!("import {0}Page from \"./{0}Page\";", e.name))
        .collect();
    let pages: Vec<String> = spec
        .entities
        .iter()
        .map(|e| format!("  {}: {}Page,", e.plural, e.name))
        .collect();
    files.push((
        "src/pages/index.ts".into(),
        render(
            include_str!("../templates/src/pages/index.ts"),
            &[
                ("imports", &imports.join("\n")),
                ("pages", &pages.join("\n")),
            ],
        ),
    ));
    for e in &spec.entities {
        let rules = serde_json::to_string_pretty(&rules_json(spec, e)).unwrap_or_default();
        let values = [
            ("name", e.name.as_str()),
            ("plural", e.plural.as_str()),
            ("label", &label(e)),
            ("rules", &rules),
        ];
        files.push((
            format!("src/pages/{}Page.tsx", e.name),
            render(
                include_str!("../templates/src/pages/EntityRoute.tsx"),
                &values,
            ),
        ));
        files.push((
            format!("src/__tests__/{}.test.tsx", e.name),
            render(
                include_str!("../templates/src/__tests__/entity.test.tsx"),
                &values,
            ),
        ));
    }
    files
}

impl Agent for Frontend {
    fn describe() -> AgentInfo {
        AgentInfo::new("frontend", "Frontend", env!("CARGO_PKG_VERSION"))
            .description("Writes a React + TypeScript + Vite app with Vitest tests for a spec")
            .handles(&["generate-frontend"])
            .capabilities(&["workspace", "log"])
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        if task.kind != "generate-frontend" {
            return Err(task.unsupported());
        }
        let Request { spec, dry_run } = task.input()?;
        let spec = spec
            .normalised()
            .map_err(|e| TaskError::Rejected(format!("the spec: {e}")))?;
        let files = generate(&spec);
        if dry_run {
            let changed = workspace::changes("frontend", &files);
            return Outcome::json(
                &json!({ "changed": changed, "fixes": [] }),
                &format!("{} frontend files would change", changed.len()),
            );
        }
        let written = workspace::write_files("frontend", &files)?;
        let lines = written.lines;
        Ok(Outcome::json(
            &json!({ "files": written.paths.len(), "lines": lines, "changed": written.changed }),
            &format!(
                "wrote {} frontend files ({lines} lines)",
                written.paths.len()
            ),
        )?
        .with_artifacts(written.paths))
    }
}

nexus_sdk::export_agent!(Frontend);

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_spec::Relation;

    fn shop() -> Spec {
        Spec {
            name: "shop".into(),
            title: "Shop".into(),
            auth: false,
            entities: vec![
                Entity {
                    name: "Plant".into(),
                    plural: String::new(),
                    fields: vec![
                        Field::new("price", "decimal", true).range(Some(0.0), None),
                        Field::new("light", "enum", false).choices(&["low", "in_between"]),
                        Field::new("name", "string", true).unique(),
                        Field::new("potted", "boolean", true),
                    ],
                    owned: false,
                },
                Entity {
                    name: "Customer".into(),
                    plural: String::new(),
                    fields: vec![Field::new("full_name", "string", true)],
                    owned: false,
                },
            ],
            relations: vec![Relation::many_to_many("Customer", "Plant", "Wish")],
            features: Vec::new(),
        }
        .normalised()
        .unwrap()
    }

    fn file<'a>(files: &'a [(String, String)], path: &str) -> &'a str {
        &files.iter().find(|(p, _)| p == path).unwrap().1
    }

    /// The `ENTITIES` table of spec.ts, read the way the integration agent reads it.
    fn entities(files: &[(String, String)]) -> Vec<Value> {
        let source = file(files, "src/spec.ts");
        let start = source.find("ENTITIES: EntityMeta[] = ").unwrap() + 25;
        let end = source[start..].find(";\n").unwrap() + start;
        serde_json::from_str(&source[start..end]).unwrap()
    }

    #[test]
    fn spec_ts_fields_read_back_as_the_spec_fields() {
        let spec = shop();
        let table = entities(&generate(&spec));
        let plant = &table[0];
        let fields: Vec<Field> = serde_json::from_value(plant["fields"].clone()).unwrap();
        assert_eq!(fields, spec.entities[0].fields);
        assert_eq!(plant["fields"][0]["min"], json!(0));
        assert_eq!(plant["display"], "name");
    }

    #[test]
    fn a_join_entity_names_no_row_itself_and_references_both_parents_by_name() {
        let table = entities(&generate(&shop()));
        let wish = table.iter().find(|e| e["name"] == "Wish").unwrap();
        assert_eq!(wish["display"], Value::Null);
        assert_eq!(
            wish["references"],
            json!([
                {"field": "customer_id", "target": "customers", "required": true, "display": "full_name"},
                {"field": "plant_id", "target": "plants", "required": true, "display": "name"},
            ])
        );
    }

    #[test]
    fn each_entity_test_lists_the_rules_it_checks() {
        let spec = shop();
        assert_eq!(
            rules_json(&spec, &spec.entities[0]),
            json!({
                "required": ["price", "name"],
                "ranges": {"price": {"min": 0}},
                "choices": {"light": ["low", "in_between"]},
                "references": {},
            })
        );
        let files = generate(&spec);
        let test = file(&files, "src/__tests__/Wish.test.tsx");
        let rules = test
            .split_once("entityPageSuite(\"wishes\", Page, ")
            .and_then(|(_, rest)| rest.rsplit_once(");"))
            .map(|(rules, _)| serde_json::from_str::<Value>(rules).unwrap())
            .unwrap();
        assert_eq!(rules["required"], json!(["customer_id", "plant_id"]));
        assert_eq!(
            rules["references"]["plant_id"],
            json!({"target": "plants", "display": "name"})
        );
    }
}
