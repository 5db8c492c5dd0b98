//! models.py: a SQLAlchemy model per entity, with the spec's rules kept by
//! the database itself: a named CHECK for each bound and each set of
//! choices, UNIQUE for unique fields and for the pair a join entity links.
//! The column types, CHECKs and foreign keys are described here once, for
//! the models and for the initial migration.

use crate::python::py_string;
use nexus_spec::{Entity, Field, Relation, Spec, number_literal};
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
pub fn column(f: &Field) -> (&'static str, String) {
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

/// Whether a field's column takes NULL: a boolean never does (it defaults
/// to false), other fields when they are optional.
pub fn nullable(f: &Field) -> bool {
    f.kind != "boolean" && !f.required
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
    if !nullable(f) {
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

/// A CHECK the database keeps for a field.
pub struct Check {
    /// Its name before the naming convention's `ck_<table>_` prefix.
    pub name: String,
    /// The SQL condition, on the quoted column name.
    pub condition: String,
}

/// The CHECKs of a field: each bound of its range, or its choices.
pub fn field_checks(f: &Field) -> Vec<Check> {
    let col = format!("\"{}\"", f.name);
    let mut out = Vec::new();
    if let Some(v) = f.min {
        out.push(Check {
            name: format!("{}_min", f.name),
            condition: format!("{col} >= {}", number_literal(v)),
        });
    }
    if let Some(v) = f.max {
        out.push(Check {
            name: format!("{}_max", f.name),
            condition: format!("{col} <= {}", number_literal(v)),
        });
    }
    if f.kind == "enum" {
        let choices: Vec<String> = f.choices.iter().map(|c| format!("'{c}'")).collect();
        out.push(Check {
            name: format!("{}_choices", f.name),
            condition: format!("{col} IN ({})", choices.join(", ")),
        });
    }
    out
}

/// `CheckConstraint(...)`, named `ck_<table>_<name>` by the metadata's
/// naming convention.
fn check(c: &Check) -> String {
    format!(
        "CheckConstraint({}, name=\"{}\")",
        py_string(&c.condition),
        c.name
    )
}

/// A foreign key of an entity's table.
pub struct Reference {
    /// The column (`supplier_id`, `owner_id`).
    pub field: String,
    /// The table it refers to (its `id`).
    pub table: String,
    pub required: bool,
}

/// The foreign keys of an entity: one per many-to-one relation, then the
/// owner's when rows belong to a user.
pub fn references(spec: &Spec, e: &Entity) -> Vec<Reference> {
    let mut out: Vec<Reference> = spec
        .relations_from(&e.name)
        .map(|r| Reference {
            field: r.field.clone(),
            table: spec
                .entity(&r.to)
                .map_or(String::new(), |t| t.plural.clone()),
            required: r.required,
        })
        .collect();
    if e.owned {
        out.push(Reference {
            field: "owner_id".into(),
            table: "users".into(),
            required: false,
        });
    }
    out
}

/// The join entity's two foreign keys of a many-to-many relation, in the
/// order `from`, `to`.
fn link_fields(spec: &Spec, link: &Relation) -> Option<[String; 2]> {
    let through = link.through.as_deref()?;
    let key = |end: &str| {
        spec.relations_from(through)
            .find(|r| r.to == end)
            .map(|r| r.field.clone())
    };
    Some([key(&link.from)?, key(&link.to)?])
}

/// The foreign-key pairs a join entity's table holds at most once each.
pub fn linked_pairs(spec: &Spec, e: &Entity) -> Vec<[String; 2]> {
    spec.links_through(&e.name)
        .filter_map(|link| link_fields(spec, link))
        .collect()
}

/// The `__table_args__` entries of an entity.
fn table_args(spec: &Spec, e: &Entity) -> Vec<String> {
    let mut out: Vec<String> = e
        .fields
        .iter()
        .flat_map(field_checks)
        .map(|c| check(&c))
        .collect();
    for [a, b] in linked_pairs(spec, e) {
        out.push(format!("UniqueConstraint(\"{a}\", \"{b}\")"));
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
    for r in references(spec, e) {
        let (field, target) = (&r.field, &r.table);
        if r.required {
            let _ = writeln!(
                out,
                "    {field}: Mapped[int] = mapped_column(ForeignKey(\"{target}.id\"))"
            );
        } else {
            let _ = writeln!(
                out,
                "    {field}: Mapped[Optional[int]] = mapped_column(ForeignKey(\"{target}.id\"), nullable=True)"
            );
        }
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
