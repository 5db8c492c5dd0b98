//! The spec-dependent Python: models, schemas, the route table and test
//! samples. Names in the spec are validated identifiers (see
//! `Spec::normalised`), so they can be written into code as they are.

use crate::rules::Rule;
use nexus_spec::{Entity, Field, Spec, python_annotation, render};
use serde_json::{Map, Value, json};
use std::fmt::Write as _;

const MAIN: &str = include_str!("../templates/main.py");
const ENTITY_TEST: &str = include_str!("../templates/tests/test_entity.py");
const RULES_TEST: &str = include_str!("../templates/tests/test_rules.py");

/// Python literal of a title (no quotes or backslashes survive).
fn title(spec: &Spec) -> String {
    spec.title
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
        .collect()
}

/// (annotation, SQLAlchemy column type)
fn column(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "text" => ("str", "Text"),
        "integer" => ("int", "Integer"),
        "number" => ("float", "Float"),
        "boolean" => ("bool", "Boolean"),
        "date" => ("dt.date", "Date"),
        "datetime" => ("dt.datetime", "DateTime"),
        _ => ("str", "String(255)"),
    }
}

/// The sample a test sends for a field: the accepted example of its rule
/// when it has one.
fn sample_for(e: &Entity, f: &Field, updated: bool, rules: &[Rule]) -> Value {
    rules
        .iter()
        .find(|r| r.entity == e.name && r.field == f.name)
        .map_or_else(|| sample(f, updated), |r| r.valid.clone())
}

fn sample(f: &Field, updated: bool) -> Value {
    let n = &f.name;
    match (f.kind.as_str(), updated) {
        ("text", false) => json!(format!("Some text for {n}.")),
        ("text", true) => json!("Updated text."),
        ("integer", false) => json!(3),
        ("integer", true) => json!(7),
        ("number", false) => json!(9.5),
        ("number", true) => json!(19.25),
        ("boolean", u) => json!(!u),
        ("date", false) => json!("2026-01-15"),
        ("date", true) => json!("2026-02-20"),
        ("datetime", false) => json!("2026-01-15T10:30:00"),
        ("datetime", true) => json!("2026-02-20T08:15:00"),
        ("email", false) => json!(format!("{}@example.com", n.replace('_', "."))),
        ("email", true) => json!(format!("updated.{}@example.com", n.replace('_', "."))),
        (_, false) => json!(format!("Sample {n}")),
        (_, true) => json!(format!("Updated {n}")),
    }
}

fn models(spec: &Spec) -> String {
    let mut out = String::from(
        "\"\"\"SQLAlchemy models.\"\"\"\n\nimport datetime as dt\nfrom typing import Optional\n\n\
         from sqlalchemy import Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text\n\
         from sqlalchemy.orm import Mapped, mapped_column\n\nfrom database import Base\n",
    );
    if spec.auth {
        out.push_str(
            "\n\nclass User(Base):\n    __tablename__ = \"users\"\n\n    id: Mapped[int] = mapped_column(primary_key=True)\n    \
             email: Mapped[str] = mapped_column(String(255), unique=True, index=True)\n    \
             hashed_password: Mapped[str] = mapped_column(String(255))\n",
        );
    }
    for e in &spec.entities {
        let _ = write!(
            out,
            "\n\nclass {}(Base):\n    __tablename__ = \"{}\"\n\n    id: Mapped[int] = mapped_column(primary_key=True)\n",
            e.name, e.plural
        );
        for f in &e.fields {
            let (ann, col) = column(&f.kind);
            let line = if f.kind == "boolean" {
                format!(
                    "    {}: Mapped[bool] = mapped_column(Boolean, default=False)\n",
                    f.name
                )
            } else if f.required {
                format!("    {}: Mapped[{ann}] = mapped_column({col})\n", f.name)
            } else {
                format!(
                    "    {}: Mapped[Optional[{ann}]] = mapped_column({col}, nullable=True)\n",
                    f.name
                )
            };
            out.push_str(&line);
        }
        for r in spec.relations_from(&e.name) {
            let target = spec.entity(&r.to).map_or("", |t| t.plural.as_str());
            if r.required {
                let _ = writeln!(
                    out,
                    "    {}: Mapped[int] = mapped_column(ForeignKey(\"{target}.id\"))",
                    r.field
                );
            } else {
                let _ = writeln!(
                    out,
                    "    {}: Mapped[Optional[int]] = mapped_column(ForeignKey(\"{target}.id\"), nullable=True)",
                    r.field
                );
            }
        }
        if e.owned {
            out.push_str("    owner_id: Mapped[Optional[int]] = mapped_column(ForeignKey(\"users.id\"), nullable=True)\n");
        }
    }
    out
}

fn schema_field(f: &Field, update: bool) -> String {
    let ty = python_annotation(f);
    let bounded = matches!(f.kind.as_str(), "string");
    if f.kind == "boolean" {
        return if update {
            format!("    {}: Optional[bool] = None\n", f.name)
        } else {
            format!("    {}: bool = False\n", f.name)
        };
    }
    match (f.required && !update, bounded) {
        (true, true) => format!(
            "    {}: {ty} = Field(min_length=1, max_length=255)\n",
            f.name
        ),
        (true, false) => format!("    {}: {ty}\n", f.name),
        (false, true) => format!(
            "    {}: Optional[{ty}] = Field(default=None, min_length={}, max_length=255)\n",
            f.name,
            u8::from(f.required)
        ),
        (false, false) => format!("    {}: Optional[{ty}] = None\n", f.name),
    }
}

/// The validators of an entity's rules, for a class body.
fn validators(e: &Entity, rules: &[Rule]) -> String {
    let mut out = String::new();
    for r in rules.iter().filter(|r| r.entity == e.name) {
        let mut lines = r.source.lines();
        let def = lines.next().unwrap_or_default();
        let _ = write!(
            out,
            "\n    @field_validator(\"{}\")\n    @classmethod\n    {def}\n        if v is None:\n            return v\n",
            r.field
        );
        for l in lines {
            if l.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, "    {l}");
            }
        }
    }
    out
}

fn schemas(spec: &Spec, rules: &[Rule]) -> String {
    let mut out = String::from(
        "\"\"\"Pydantic schemas: what the API accepts and returns.\"\"\"\n\nimport datetime as dt\n",
    );
    if !rules.is_empty() {
        out.push_str("import re  # noqa: F401 (used by validation rules)\n");
    }
    out.push_str("from typing import Optional\n\n");
    out.push_str(if rules.is_empty() {
        "from pydantic import BaseModel, ConfigDict, EmailStr, Field\n"
    } else {
        "from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator\n"
    });
    if spec.auth {
        out.push_str(
            "\n\nclass UserCreate(BaseModel):\n    email: EmailStr\n    password: str = Field(min_length=8, max_length=128)\n\
             \n\nclass UserRead(BaseModel):\n    model_config = ConfigDict(from_attributes=True)\n\n    id: int\n    email: str\n\
             \n\nclass Token(BaseModel):\n    access_token: str\n    token_type: str\n",
        );
    }
    for e in &spec.entities {
        let n = &e.name;
        let refs: Vec<_> = spec.relations_from(n).collect();
        let _ = write!(out, "\n\nclass {n}Base(BaseModel):\n");
        for f in &e.fields {
            out.push_str(&schema_field(f, false));
        }
        for r in &refs {
            if r.required {
                let _ = writeln!(out, "    {}: int", r.field);
            } else {
                let _ = writeln!(out, "    {}: Optional[int] = None", r.field);
            }
        }
        out.push_str(&validators(e, rules));
        let _ = write!(
            out,
            "\n\nclass {n}Create({n}Base):\n    pass\n\n\nclass {n}Update(BaseModel):\n"
        );
        for f in &e.fields {
            out.push_str(&schema_field(f, true));
        }
        for r in &refs {
            let _ = writeln!(out, "    {}: Optional[int] = None", r.field);
        }
        out.push_str(&validators(e, rules));
        let _ = write!(
            out,
            "\n\nclass {n}Read({n}Base):\n    model_config = ConfigDict(from_attributes=True)\n\n    id: int\n"
        );
        if e.owned {
            out.push_str("    owner_id: Optional[int] = None\n");
        }
    }
    out
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

fn samples(spec: &Spec, rules: &[Rule]) -> String {
    let mut samples = Map::new();
    let mut parents = Map::new();
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
    }
    format!(
        "\"\"\"Sample rows for the tests, and which rows each refers to.\"\"\"\n\nimport json\n\nSAMPLES = json.loads({})\nPARENTS = json.loads({})\n",
        py_string(&Value::Object(samples).to_string()),
        py_string(&Value::Object(parents).to_string())
    )
}

/// A Python string literal (JSON escaping is valid Python escaping).
fn py_string(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

fn entity_test(e: &Entity, rules: &[Rule]) -> String {
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
    render(
        ENTITY_TEST,
        &[
            ("name", &e.name),
            ("plural", &e.plural),
            ("update", &py_string(&Value::Object(update).to_string())),
            ("required", &py_string(&json!(required).to_string())),
            ("owned", if e.owned { "True" } else { "False" }),
        ],
    )
}

/// Every generated file: (path under backend/, contents).
pub fn generate(spec: &Spec, rules: &[Rule]) -> Vec<(String, String)> {
    let mut files = vec![
        ("models.py".to_string(), models(spec)),
        ("schemas.py".to_string(), schemas(spec, rules)),
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
        ("tests/samples.py".to_string(), samples(spec, rules)),
    ];
    for e in &spec.entities {
        files.push((format!("tests/test_{}.py", e.plural), entity_test(e, rules)));
    }
    if !rules.is_empty() {
        let table: Vec<Value> = rules
            .iter()
            .map(|r| json!({"plural": r.plural, "field": r.field, "invalid": r.invalid}))
            .collect();
        files.push((
            "tests/test_rules.py".to_string(),
            render(
                RULES_TEST,
                &[("rules", &py_string(&Value::Array(table).to_string()))],
            ),
        ));
    }
    files
}
