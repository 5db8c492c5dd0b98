//! models.py: a SQLAlchemy model per entity, with the spec's rules kept by
//! the database itself: a named CHECK for each bound and each set of
//! choices, UNIQUE for unique fields and for the pair a join entity links.

use crate::python::{link_fields, py_string};
use nexus_spec::{Entity, Field, Spec, number_literal};
use std::fmt::Write as _;

const HEADER: &str = "\"\"\"SQLAlchemy models: the tables, and the rules the database keeps.\"\"\"

import datetime as dt
from decimal import Decimal
from typing import Optional

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from database import Base
";

const USER: &str = "

class User(Base):
    __tablename__ = \"users\"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
";

/// Longest choice of an `enum` field (see `nexus_spec::choice_value`).
const CHOICE_LENGTH: usize = 40;

/// (Python type, SQLAlchemy column type) of a field.
fn column(f: &Field) -> (&'static str, String) {
    let (ty, col) = match f.kind.as_str() {
        "text" => ("str", "Text"),
        "integer" => ("int", "BigInteger"),
        "number" => ("float", "Float"),
        "decimal" => ("Decimal", "Numeric(12, 2)"),
        "boolean" => ("bool", "Boolean"),
        "date" => ("dt.date", "Date"),
        "datetime" => ("dt.datetime", "DateTime"),
        "url" => ("str", "String(2083)"),
        "enum" => return ("str", format!("String({CHOICE_LENGTH})")),
        _ => ("str", "String(255)"),
    };
    (ty, col.to_string())
}

fn column_line(f: &Field) -> String {
    if f.kind == "boolean" {
        return format!(
            "    {}: Mapped[bool] = mapped_column(Boolean, default=False)\n",
            f.name
        );
    }
    let (ty, col) = column(f);
    let unique = if f.unique { ", unique=True" } else { "" };
    if f.required {
        format!(
            "    {}: Mapped[{ty}] = mapped_column({col}{unique})\n",
            f.name
        )
    } else {
        format!(
            "    {}: Mapped[Optional[{ty}]] = mapped_column({col}{unique}, nullable=True)\n",
            f.name
        )
    }
}

/// `CheckConstraint(...)` on a condition, named `ck_<table>_<name>` by the
/// metadata's naming convention.
fn check(condition: &str, name: &str) -> String {
    format!("CheckConstraint({}, name=\"{name}\")", py_string(condition))
}

/// The CHECKs of a field: each bound of its range, or its choices.
fn checks(f: &Field) -> Vec<String> {
    let col = format!("\"{}\"", f.name);
    let mut out = Vec::new();
    if let Some(v) = f.min {
        let rule = format!("{col} >= {}", number_literal(v));
        out.push(check(&rule, &format!("{}_min", f.name)));
    }
    if let Some(v) = f.max {
        let rule = format!("{col} <= {}", number_literal(v));
        out.push(check(&rule, &format!("{}_max", f.name)));
    }
    if f.kind == "enum" {
        let choices: Vec<String> = f.choices.iter().map(|c| format!("'{c}'")).collect();
        let rule = format!("{col} IN ({})", choices.join(", "));
        out.push(check(&rule, &format!("{}_choices", f.name)));
    }
    out
}

/// The `__table_args__` entries of an entity.
fn table_args(spec: &Spec, e: &Entity) -> Vec<String> {
    let mut out: Vec<String> = e.fields.iter().flat_map(checks).collect();
    for link in spec.links_through(&e.name) {
        if let Some([a, b]) = link_fields(spec, link) {
            out.push(format!("UniqueConstraint(\"{a}\", \"{b}\")"));
        }
    }
    out
}

fn model(spec: &Spec, e: &Entity) -> String {
    let mut out = format!(
        "\n\nclass {}(Base):\n    __tablename__ = \"{}\"\n",
        e.name, e.plural
    );
    let args = table_args(spec, e);
    if !args.is_empty() {
        out.push_str("    __table_args__ = (\n");
        for a in &args {
            let _ = writeln!(out, "        {a},");
        }
        out.push_str("    )\n");
    }
    out.push_str("\n    id: Mapped[int] = mapped_column(primary_key=True)\n");
    for f in &e.fields {
        out.push_str(&column_line(f));
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
    out
}

/// The whole of models.py.
pub fn source(spec: &Spec) -> String {
    let mut out = String::from(HEADER);
    if spec.auth {
        out.push_str(USER);
    }
    for e in &spec.entities {
        out.push_str(&model(spec, e));
    }
    out
}
