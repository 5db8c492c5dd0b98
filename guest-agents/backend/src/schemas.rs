//! schemas.py: the Pydantic models the API accepts and returns, with the
//! spec's rules as validation: `Money` and `Url` types, `Literal` choices,
//! `Field(ge=..., le=...)` ranges, on create and (all optional) on update.

use crate::rules::Rule;
use nexus_spec::{Entity, Field, Spec, number_literal, python_annotation};
use std::fmt::Write as _;

const TYPES: &str = "

# Money: a decimal with two places, sent as a JSON number.
Money = Annotated[
    Decimal,
    Field(max_digits=12, decimal_places=2),
    PlainSerializer(float, return_type=float, when_used=\"json\"),
]

# Url: an http(s) URL, checked as one and kept as the text it normalises to.
Url = Annotated[HttpUrl, AfterValidator(str), PlainSerializer(str, return_type=str)]
";

const USER: &str = "

class UserCreate(BaseModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=128)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str


class Token(BaseModel):
    access_token: str
    token_type: str
";

fn header(spec: &Spec, rules: &[Rule]) -> String {
    let enums = spec
        .entities
        .iter()
        .flat_map(|e| &e.fields)
        .any(|f| f.kind == "enum");
    let mut out = String::from(
        "\"\"\"Pydantic schemas: what the API accepts and returns.\"\"\"\n\nimport datetime as dt\n",
    );
    if !rules.is_empty() {
        out.push_str("import re  # noqa: F401 (used by validation rules)\n");
    }
    out.push_str("from decimal import Decimal\n");
    out.push_str(if enums {
        "from typing import Annotated, Literal, Optional\n\n"
    } else {
        "from typing import Annotated, Optional\n\n"
    });
    let validator = if rules.is_empty() {
        ""
    } else {
        ", field_validator"
    };
    let _ = writeln!(
        out,
        "from pydantic import (\n    AfterValidator,\n    BaseModel,\n    ConfigDict,\n    EmailStr,\n    Field,\n    \
         HttpUrl,\n    PlainSerializer{validator},\n)"
    );
    out
}

/// The keyword arguments of a field's `Field(...)`: length for short
/// text (not empty when required), the range for numbers.
fn constraints(f: &Field) -> Vec<String> {
    let mut out = Vec::new();
    if f.kind == "string" {
        let min = u8::from(f.required);
        out.push(format!("min_length={min}"));
        out.push("max_length=255".into());
    }
    if let Some(v) = f.min {
        out.push(format!("ge={}", number_literal(v)));
    }
    if let Some(v) = f.max {
        out.push(format!("le={}", number_literal(v)));
    }
    out
}

/// One `    name: annotation [= default]` line; on update every field is
/// optional.
fn schema_field(f: &Field, update: bool) -> String {
    if f.kind == "boolean" {
        return if update {
            format!("    {}: Optional[bool] = None\n", f.name)
        } else {
            format!("    {}: bool = False\n", f.name)
        };
    }
    let ty = python_annotation(f);
    let args = constraints(f).join(", ");
    match (f.required && !update, args.is_empty()) {
        (true, true) => format!("    {}: {ty}\n", f.name),
        (true, false) => format!("    {}: {ty} = Field({args})\n", f.name),
        (false, true) => format!("    {}: Optional[{ty}] = None\n", f.name),
        (false, false) => format!(
            "    {}: Optional[{ty}] = Field(default=None, {args})\n",
            f.name
        ),
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

/// `<Entity>Base`, `Create`, `Update` and `Read`.
fn entity(spec: &Spec, e: &Entity, rules: &[Rule]) -> String {
    let n = &e.name;
    let refs: Vec<_> = spec.relations_from(n).collect();
    let mut out = format!("\n\nclass {n}Base(BaseModel):\n");
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
    out
}

/// The whole of schemas.py.
pub fn source(spec: &Spec, rules: &[Rule]) -> String {
    let mut out = header(spec, rules);
    out.push_str(TYPES);
    if spec.auth {
        out.push_str(USER);
    }
    for e in &spec.entities {
        out.push_str(&entity(spec, e, rules));
    }
    out
}
