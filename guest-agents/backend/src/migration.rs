//! migrations/versions/0001_initial.py: the Alembic migration that builds
//! the tables of models.py from an empty database, written from the same
//! descriptions of columns and constraints as the models, with the names
//! the metadata's naming convention gives them. The same spec always gives
//! the same file: the revision is `0001` and nothing in it is dated.

use crate::models::{self, Reference};
use crate::python::py_string;
use nexus_spec::{Entity, Field, Spec, render};
use std::fmt::Write as _;

const TEMPLATE: &str = include_str!("../templates/migrations/versions/0001_initial.py");

/// The `users` table of auth (the `User` model of models.py).
const USERS: &str = "    op.create_table(
        \"users\",
        sa.Column(\"id\", sa.Integer(), nullable=False),
        sa.Column(\"email\", sa.String(255), nullable=False),
        sa.Column(\"hashed_password\", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint(\"id\", name=op.f(\"pk_users\")),
    )
    op.create_index(op.f(\"ix_users_email\"), \"users\", [\"email\"], unique=True)
";

const DROP_USERS: &str = "    op.drop_index(op.f(\"ix_users_email\"), table_name=\"users\")
    op.drop_table(\"users\")
";

/// The entities in an order that creates every table after the tables its
/// foreign keys refer to, otherwise in the spec's order.
fn creation_order(spec: &Spec) -> Vec<&Entity> {
    let mut order: Vec<&Entity> = Vec::new();
    let placed = |order: &[&Entity], name: &str| order.iter().any(|e| e.name == name);
    while order.len() < spec.entities.len() {
        let waiting = || spec.entities.iter().filter(|e| !placed(&order, &e.name));
        let ready = waiting().find(|e| spec.relations_from(&e.name).all(|r| placed(&order, &r.to)));
        // A normalised spec has no cycles; were there one, the rest would go
        // in the spec's order.
        let Some(next) = ready.or_else(|| waiting().next()) else {
            break;
        };
        order.push(next);
    }
    order
}

/// `sa.BigInteger()` for `BigInteger`, `sa.String(255)` for `String(255)`.
fn sa_type(column_type: &str) -> String {
    if column_type.contains('(') {
        format!("sa.{column_type}")
    } else {
        format!("sa.{column_type}()")
    }
}

/// A constraint or index name as the naming convention wrote it (`op.f`
/// keeps Alembic from applying the convention a second time).
fn name(text: &str) -> String {
    format!("name=op.f(\"{text}\")")
}

fn field_column(f: &Field) -> String {
    let nullable = if models::nullable(f) { "True" } else { "False" };
    format!(
        "sa.Column(\"{}\", {}, nullable={nullable})",
        f.name,
        sa_type(&models::column(f).1)
    )
}

fn reference_column(r: &Reference) -> String {
    let nullable = if r.required { "False" } else { "True" };
    format!(
        "sa.Column(\"{}\", sa.Integer(), nullable={nullable})",
        r.field
    )
}

fn foreign_key(table: &str, r: &Reference) -> String {
    format!(
        "sa.ForeignKeyConstraint([\"{}\"], [\"{}.id\"], {})",
        r.field,
        r.table,
        name(&format!("fk_{table}_{}_{}", r.field, r.table))
    )
}

fn unique(table: &str, columns: &[&str]) -> String {
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        "sa.UniqueConstraint({}, {})",
        quoted.join(", "),
        name(&format!("uq_{table}_{}", columns.join("_")))
    )
}

/// The arguments of an entity's `op.create_table` after its name: columns
/// in the models' order, the primary key, then the constraints in the
/// order the models create them (the CHECKs and linked pairs of
/// `__table_args__`, then unique fields and foreign keys), so that both
/// write the same `CREATE TABLE`.
fn table_parts(spec: &Spec, e: &Entity) -> Vec<String> {
    let table = e.plural.as_str();
    let references = models::references(spec, e);
    let mut parts = vec!["sa.Column(\"id\", sa.Integer(), nullable=False)".to_string()];
    parts.extend(e.fields.iter().map(field_column));
    parts.extend(references.iter().map(reference_column));
    parts.push(format!(
        "sa.PrimaryKeyConstraint(\"id\", {})",
        name(&format!("pk_{table}"))
    ));
    for c in e.fields.iter().flat_map(models::field_checks) {
        parts.push(format!(
            "sa.CheckConstraint({}, {})",
            py_string(&c.condition),
            name(&format!("ck_{table}_{}", c.name))
        ));
    }
    for [a, b] in models::linked_pairs(spec, e) {
        parts.push(unique(table, &[&a, &b]));
    }
    for f in e.fields.iter().filter(|f| f.unique) {
        parts.push(unique(table, &[&f.name]));
    }
    parts.extend(references.iter().map(|r| foreign_key(table, r)));
    parts
}

fn create_table(spec: &Spec, e: &Entity) -> String {
    let mut out = format!("    op.create_table(\n        \"{}\",\n", e.plural);
    for part in table_parts(spec, e) {
        let _ = writeln!(out, "        {part},");
    }
    out.push_str("    )\n");
    out
}

/// The whole of migrations/versions/0001_initial.py: `upgrade` creates the
/// tables (users first with auth, then parents before children) and
/// `downgrade` drops them in reverse.
pub fn source(spec: &Spec) -> String {
    let order = creation_order(spec);
    let mut upgrade = String::new();
    let mut downgrade = String::new();
    if spec.auth {
        upgrade.push_str(USERS);
    }
    for e in &order {
        upgrade.push_str(&create_table(spec, e));
    }
    for e in order.iter().rev() {
        let _ = writeln!(downgrade, "    op.drop_table(\"{}\")", e.plural);
    }
    if spec.auth {
        downgrade.push_str(DROP_USERS);
    }
    render(
        TEMPLATE,
        &[
            ("upgrade", upgrade.trim_end()),
            ("downgrade", downgrade.trim_end()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_spec::Relation;

    fn entity(name: &str, fields: Vec<Field>) -> Entity {
        Entity {
            name: name.into(),
            plural: String::new(),
            fields,
            owned: false,
        }
    }

    /// Talks (listed first) are given in rooms; attendees bookmark talks.
    fn conference(auth: bool) -> Spec {
        Spec {
            name: "conference".into(),
            title: "Conference".into(),
            auth,
            entities: vec![
                entity(
                    "Talk",
                    vec![
                        Field::new("title", "string", true).unique(),
                        Field::new("level", "enum", false).choices(&["basic", "expert"]),
                        Field::new("minutes", "integer", true).range(Some(5.0), Some(90.0)),
                    ],
                ),
                entity("Room", vec![Field::new("name", "string", true)]),
                entity("Attendee", vec![Field::new("email", "email", true)]),
            ],
            relations: vec![
                Relation::many_to_one("Talk", "Room", true),
                Relation::many_to_many("Attendee", "Talk", "Bookmark"),
            ],
            features: Vec::new(),
        }
        .normalised()
        .unwrap()
    }

    /// The tables `op.create_table` (or `op.drop_table`) names, in order.
    fn tables(source: &str, call: &str) -> Vec<String> {
        source
            .split(call)
            .skip(1)
            .map(|rest| {
                let rest = rest.trim_start();
                rest[1..].split('"').next().unwrap().to_string()
            })
            .collect()
    }

    #[test]
    fn tables_are_created_after_the_tables_they_refer_to_and_dropped_in_reverse() {
        let source = source(&conference(true));
        let created = tables(&source, "op.create_table(");
        assert_eq!(
            created,
            ["users", "rooms", "talks", "attendees", "bookmarks"]
        );
        let mut dropped = tables(&source, "op.drop_table(");
        dropped.reverse();
        assert_eq!(dropped, created);
    }

    #[test]
    fn users_are_created_only_with_auth() {
        let source = source(&conference(false));
        assert!(!source.contains("\"users\""), "{source}");
        assert_eq!(tables(&source, "op.create_table(")[0], "rooms");
    }

    #[test]
    fn constraints_carry_the_names_the_naming_convention_gives_the_models() {
        let source = source(&conference(false));
        for line in [
            "sa.PrimaryKeyConstraint(\"id\", name=op.f(\"pk_talks\")),",
            "sa.ForeignKeyConstraint([\"room_id\"], [\"rooms.id\"], name=op.f(\"fk_talks_room_id_rooms\")),",
            "sa.UniqueConstraint(\"title\", name=op.f(\"uq_talks_title\")),",
            "sa.CheckConstraint(\"\\\"level\\\" IN ('basic', 'expert')\", name=op.f(\"ck_talks_level_choices\")),",
            "sa.CheckConstraint(\"\\\"minutes\\\" >= 5\", name=op.f(\"ck_talks_minutes_min\")),",
            "sa.CheckConstraint(\"\\\"minutes\\\" <= 90\", name=op.f(\"ck_talks_minutes_max\")),",
            "sa.UniqueConstraint(\"attendee_id\", \"talk_id\", name=op.f(\"uq_bookmarks_attendee_id_talk_id\")),",
        ] {
            assert!(source.contains(line), "{line} in\n{source}");
        }
    }

    #[test]
    fn columns_have_the_models_types_and_nullability() {
        let source = source(&conference(false));
        for line in [
            "sa.Column(\"id\", sa.Integer(), nullable=False),",
            "sa.Column(\"title\", sa.String(255), nullable=False),",
            "sa.Column(\"level\", sa.String(40), nullable=True),",
            "sa.Column(\"minutes\", sa.BigInteger(), nullable=False),",
            "sa.Column(\"room_id\", sa.Integer(), nullable=False),",
        ] {
            assert!(source.contains(line), "{line} in\n{source}");
        }
    }
}
