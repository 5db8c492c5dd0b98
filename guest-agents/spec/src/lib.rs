//! The spec the analyst produces and every generator reads: entities with
//! typed fields, many-to-one relations, auth and features.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const FIELD_TYPES: &[&str] = &[
    "string", "text", "integer", "number", "boolean", "date", "datetime", "email",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Spec {
    /// Project slug (`todo-app`).
    pub name: String,
    /// Human title (`Todo App`).
    pub title: String,
    pub auth: bool,
    pub entities: Vec<Entity>,
    #[serde(default)]
    pub relations: Vec<Relation>,
    #[serde(default)]
    pub features: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entity {
    /// PascalCase singular (`Product`).
    pub name: String,
    /// snake_case plural used for tables and routes (`products`); derived
    /// when missing.
    #[serde(default)]
    pub plural: String,
    pub fields: Vec<Field>,
    /// Rows belong to the user who created them (needs auth).
    #[serde(default)]
    pub owned: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Field {
    /// snake_case.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub required: bool,
}

/// `from` holds a foreign key to `to` (many `from` per `to`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Relation {
    pub from: String,
    pub to: String,
    /// The foreign-key field on `from` (`supplier_id`); derived when missing.
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub required: bool,
}

/// A `check-bodies` request to the QA agent: code an LLM wrote, to be
/// accepted or refused before anything keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BodyCheck {
    pub language: String,
    pub bodies: Vec<Body>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Body {
    /// What the body is for (`Book.isbn`); the verdict carries it back.
    pub id: String,
    pub source: String,
}

/// The QA agent's answer for one body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub id: String,
    pub accepted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// JSON schema the model's answer must match.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["name", "title", "auth", "entities"],
        "properties": {
            "name": {"type": "string"},
            "title": {"type": "string"},
            "auth": {"type": "boolean"},
            "features": {"type": "array", "items": {"type": "string"}},
            "entities": {
                "type": "array", "minItems": 1, "maxItems": 12,
                "items": {
                    "type": "object", "required": ["name", "fields"],
                    "properties": {
                        "name": {"type": "string", "pattern": "^[A-Z][A-Za-z0-9]*$"},
                        "plural": {"type": "string"},
                        "owned": {"type": "boolean"},
                        "fields": {
                            "type": "array", "minItems": 1, "maxItems": 30,
                            "items": {
                                "type": "object", "required": ["name", "type"],
                                "properties": {
                                    "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                                    "type": {"enum": FIELD_TYPES},
                                    "required": {"type": "boolean"}
                                }
                            }
                        }
                    }
                }
            },
            "relations": {
                "type": "array",
                "items": {
                    "type": "object", "required": ["from", "to"],
                    "properties": {
                        "from": {"type": "string"}, "to": {"type": "string"},
                        "field": {"type": "string"}, "required": {"type": "boolean"}
                    }
                }
            }
        }
    })
}

/// `Todo App!` → `todo-app`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out
        .trim_end_matches('-')
        .chars()
        .take(48)
        .collect::<String>();
    if out.is_empty() {
        "project".into()
    } else {
        out
    }
}

/// `ProductCategory` → `product_category`.
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// English plural of a snake_case noun, good enough for table names.
pub fn plural(word: &str) -> String {
    if let Some(stem) = word.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    if word.ends_with('s') || word.ends_with('x') || word.ends_with("ch") || word.ends_with("sh") {
        return format!("{word}es");
    }
    format!("{word}s")
}

/// Words the generated code cannot use as names.
const RESERVED: &[&str] = &[
    "id", "owner_id", "class", "def", "from", "import", "type", "return", "user", "users",
    "default", "delete", "new", "function", "var", "let", "const", "in", "is", "not", "and", "or",
    "with", "async", "await", "global", "lambda", "pass", "raise", "try", "while", "yield", "none",
    "true", "false", "self", "metadata",
];

fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Spec {
    /// Checks the spec holds together and fills what can be derived
    /// (plurals, foreign-key names).
    pub fn normalised(mut self) -> Result<Spec, String> {
        self.name = slug(if self.name.is_empty() {
            &self.title
        } else {
            &self.name
        });
        if self.title.trim().is_empty() {
            self.title = self.name.replace('-', " ");
        }
        if self.entities.is_empty() {
            return Err("there are no entities".into());
        }
        let names: Vec<String> = self.entities.iter().map(|e| e.name.clone()).collect();
        for e in &mut self.entities {
            let first_ok = e.name.starts_with(|c: char| c.is_ascii_uppercase());
            if !first_ok || !e.name.chars().all(|c| c.is_ascii_alphanumeric()) || e.name.len() > 40
            {
                return Err(format!("entity `{}` is not a PascalCase name", e.name));
            }
            if e.name == "User" {
                return Err("`User` comes from auth; do not list it as an entity".into());
            }
            if e.plural.is_empty() {
                e.plural = plural(&snake(&e.name));
            }
            if !valid_ident(&e.plural) || RESERVED.contains(&e.plural.as_str()) {
                return Err(format!(
                    "entity `{}` has an unusable plural `{}`",
                    e.name, e.plural
                ));
            }
            if e.owned && !self.auth {
                e.owned = false;
            }
            let mut seen = Vec::new();
            for f in &e.fields {
                if !valid_ident(&f.name) || RESERVED.contains(&f.name.as_str()) {
                    return Err(format!(
                        "field `{}.{}` is not a usable name",
                        e.name, f.name
                    ));
                }
                if !FIELD_TYPES.contains(&f.kind.as_str()) {
                    return Err(format!(
                        "field `{}.{}` has unknown type `{}`",
                        e.name, f.name, f.kind
                    ));
                }
                if seen.contains(&f.name) {
                    return Err(format!("field `{}.{}` appears twice", e.name, f.name));
                }
                seen.push(f.name.clone());
            }
            if e.fields.is_empty() {
                return Err(format!("entity `{}` has no fields", e.name));
            }
        }
        if names
            .iter()
            .enumerate()
            .any(|(i, n)| names[..i].contains(n))
        {
            return Err("two entities share a name".into());
        }
        let mut relations = Vec::new();
        for mut r in std::mem::take(&mut self.relations) {
            if r.to == "User" {
                // Ownership is expressed as `owned`.
                if let Some(e) = self.entities.iter_mut().find(|e| e.name == r.from) {
                    e.owned = self.auth;
                }
                continue;
            }
            if !names.contains(&r.from) || !names.contains(&r.to) || r.from == r.to {
                return Err(format!(
                    "relation {} -> {} names an unknown entity",
                    r.from, r.to
                ));
            }
            if r.field.is_empty() {
                r.field = format!("{}_id", snake(&r.to));
            }
            let from = self.entities.iter().find(|e| e.name == r.from).unwrap();
            if !valid_ident(&r.field) || from.fields.iter().any(|f| f.name == r.field) {
                return Err(format!(
                    "relation field `{}.{}` clashes with a field",
                    r.from, r.field
                ));
            }
            if !relations
                .iter()
                .any(|x: &Relation| x.from == r.from && x.field == r.field)
            {
                relations.push(r);
            }
        }
        self.relations = relations;
        // Rows are created parents first, so references may not go round.
        for start in &self.entities {
            let mut at = vec![start.name.clone()];
            let mut seen = Vec::new();
            while let Some(name) = at.pop() {
                for r in self.relations.iter().filter(|r| r.from == name) {
                    if r.to == start.name {
                        return Err(format!("relations go round through `{}`", start.name));
                    }
                    if !seen.contains(&r.to) {
                        seen.push(r.to.clone());
                        at.push(r.to.clone());
                    }
                }
            }
        }
        if self.auth && !self.features.iter().any(|f| f == "auth") {
            self.features.push("auth".into());
        }
        Ok(self)
    }
}

impl Spec {
    pub fn entity(&self, name: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| e.name == name)
    }

    /// Relations whose foreign key sits on `entity`.
    pub fn relations_from<'a>(
        &'a self,
        entity: &'a str,
    ) -> impl Iterator<Item = &'a Relation> + 'a {
        self.relations.iter().filter(move |r| r.from == entity)
    }
}

/// Fills `@@name@@` placeholders in a template file.
pub fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("@@{k}@@"), v);
    }
    out
}

/// The Pydantic annotation the generated backend uses for a field type
/// (shared by the backend generator and the integration check).
pub fn python_annotation(kind: &str) -> &'static str {
    match kind {
        "integer" => "int",
        "number" => "float",
        "boolean" => "bool",
        "date" => "dt.date",
        "datetime" => "dt.datetime",
        "email" => "EmailStr",
        _ => "str",
    }
}
