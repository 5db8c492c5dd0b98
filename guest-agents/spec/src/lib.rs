//! The spec the analyst produces and every generator reads: entities with
//! typed fields (ranges, choices, uniqueness), many-to-one relations and
//! many-to-many relations through a join entity, auth and features.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Field types: `decimal` is money (two decimal places), `enum` is one of
/// the field's `choices`.
pub const FIELD_TYPES: &[&str] = &[
    "string", "text", "integer", "number", "decimal", "boolean", "date", "datetime", "email",
    "url", "enum",
];

/// Types that take a `min`/`max` range.
pub const NUMERIC_TYPES: &[&str] = &["integer", "number", "decimal"];

/// Types whose values may be required to be unique.
pub const UNIQUE_TYPES: &[&str] = &["string", "integer", "email", "url", "date"];

/// Most choices an `enum` field may have.
pub const MAX_CHOICES: usize = 20;

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
    /// Smallest value allowed (numeric types).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "whole_if_integral"
    )]
    pub min: Option<f64>,
    /// Largest value allowed (numeric types).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "whole_if_integral"
    )]
    pub max: Option<f64>,
    /// The values an `enum` field takes (snake_case words).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// No two rows share a value.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
}

/// `10`, not `10.0`, for a bound that is a whole number.
fn whole_if_integral<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => s.serialize_some(&(*x as i64)),
        Some(x) => s.serialize_some(x),
        None => s.serialize_none(),
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Field {
    /// A field with no constraints.
    pub fn new(name: &str, kind: &str, required: bool) -> Field {
        Field {
            name: name.into(),
            kind: kind.into(),
            required,
            min: None,
            max: None,
            choices: Vec::new(),
            unique: false,
        }
    }

    pub fn range(mut self, min: Option<f64>, max: Option<f64>) -> Field {
        self.min = min;
        self.max = max;
        self
    }

    pub fn choices(mut self, choices: &[&str]) -> Field {
        self.kind = "enum".into();
        self.choices = choices.iter().map(|c| c.to_string()).collect();
        self
    }

    pub fn unique(mut self) -> Field {
        self.unique = true;
        self
    }

    pub fn is_numeric(&self) -> bool {
        NUMERIC_TYPES.contains(&self.kind.as_str())
    }
}

/// Many-to-one: `from` holds a foreign key to `to` (many `from` per `to`).
/// Many-to-many (`through` is set): rows of `from` and `to` are linked by
/// rows of the join entity `through`, which holds a foreign key to each and
/// links a pair at most once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Relation {
    pub from: String,
    pub to: String,
    /// The foreign-key field on `from` (`supplier_id`); derived when missing.
    /// Empty for many-to-many.
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub required: bool,
    /// The join entity of a many-to-many relation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<String>,
}

impl Relation {
    /// A many-to-one relation with the default foreign-key name.
    pub fn many_to_one(from: &str, to: &str, required: bool) -> Relation {
        Relation {
            from: from.into(),
            to: to.into(),
            field: String::new(),
            required,
            through: None,
        }
    }

    /// A many-to-many relation through `through`.
    pub fn many_to_many(from: &str, to: &str, through: &str) -> Relation {
        Relation {
            from: from.into(),
            to: to.into(),
            field: String::new(),
            required: false,
            through: Some(through.into()),
        }
    }
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
                                    "required": {"type": "boolean"},
                                    "min": {"type": "number"},
                                    "max": {"type": "number"},
                                    "choices": {"type": "array", "maxItems": MAX_CHOICES, "items": {"type": "string"}},
                                    "unique": {"type": "boolean"}
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
                        "field": {"type": "string"}, "required": {"type": "boolean"},
                        "through": {"type": "string"}
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
    let last = word.rsplit('_').next().unwrap_or(word);
    let stem = &word[..word.len() - last.len()];
    match last {
        "person" => return format!("{stem}people"),
        "child" => return format!("{stem}children"),
        "species" | "series" => return word.to_string(),
        _ => {}
    }
    // "quiz" → "quizzes"
    if word.ends_with('z') && !word.ends_with("zz") {
        return format!("{word}zes");
    }
    if let Some(stem) = word.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    if word.ends_with('s')
        || word.ends_with('x')
        || word.ends_with('z')
        || word.ends_with("ch")
        || word.ends_with("sh")
    {
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

/// `in progress` or `In-Progress` → `in_progress`; None when nothing usable
/// is left.
pub fn choice_value(text: &str) -> Option<String> {
    let mut out = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if (c == ' ' || c == '-' || c == '_') && !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        } else if !(c == ' ' || c == '-' || c == '_') {
            return None;
        }
    }
    let out = out.trim_end_matches('_').to_string();
    (!out.is_empty() && out.len() <= 40).then_some(out)
}

/// A number written as code: `10`, `0.5` (never `1e300`-style surprises:
/// values are checked to be finite and below 1e12 first).
pub fn number_literal(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn check_field(entity: &str, f: &mut Field) -> Result<(), String> {
    let at = format!("{entity}.{}", f.name);
    if !valid_ident(&f.name) || RESERVED.contains(&f.name.as_str()) {
        return Err(format!("field `{at}` is not a usable name"));
    }
    if f.kind == "string" && !f.choices.is_empty() {
        f.kind = "enum".into();
    }
    if !FIELD_TYPES.contains(&f.kind.as_str()) {
        return Err(format!("field `{at}` has unknown type `{}`", f.kind));
    }
    if f.kind == "enum" {
        let mut choices: Vec<String> = Vec::new();
        for c in &f.choices {
            let v = choice_value(c)
                .ok_or_else(|| format!("field `{at}` has an unusable choice `{c}`"))?;
            if !choices.contains(&v) {
                choices.push(v);
            }
        }
        if choices.len() < 2 || choices.len() > MAX_CHOICES {
            return Err(format!(
                "field `{at}` is an enum with {} choices; give 2 to {MAX_CHOICES}",
                choices.len()
            ));
        }
        f.choices = choices;
    } else if !f.choices.is_empty() {
        return Err(format!("field `{at}` has choices but is a {}", f.kind));
    }
    if f.min.is_some() || f.max.is_some() {
        if !f.is_numeric() {
            return Err(format!("field `{at}` has a range but is a {}", f.kind));
        }
        for v in [f.min, f.max].into_iter().flatten() {
            if !v.is_finite() || v.abs() >= 1e12 {
                return Err(format!("field `{at}` has a range bound out of reach ({v})"));
            }
            if f.kind == "integer" && v.fract() != 0.0 {
                return Err(format!("field `{at}` is an integer with a bound of {v}"));
            }
        }
        if let (Some(lo), Some(hi)) = (f.min, f.max)
            && lo > hi
        {
            return Err(format!("field `{at}` has min {lo} above max {hi}"));
        }
    }
    if f.unique && !UNIQUE_TYPES.contains(&f.kind.as_str()) {
        f.unique = false;
    }
    Ok(())
}

impl Spec {
    /// Checks the spec holds together and fills what can be derived
    /// (plurals, foreign-key names, the join entities and foreign keys of
    /// many-to-many relations).
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
        if self.entities.len() > 24 {
            return Err(format!("{} entities; at most 24", self.entities.len()));
        }
        // Join entities a many-to-many relation names but nobody listed.
        for r in &self.relations {
            if let Some(t) = &r.through
                && !self.entities.iter().any(|e| &e.name == t)
            {
                self.entities.push(Entity {
                    name: t.clone(),
                    plural: String::new(),
                    fields: Vec::new(),
                    owned: false,
                });
            }
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
            for f in &mut e.fields {
                check_field(&e.name, f)?;
                if seen.contains(&f.name) {
                    return Err(format!("field `{}.{}` appears twice", e.name, f.name));
                }
                seen.push(f.name.clone());
            }
        }
        if names
            .iter()
            .enumerate()
            .any(|(i, n)| names[..i].contains(n))
        {
            return Err("two entities share a name".into());
        }
        let plurals: Vec<&str> = self.entities.iter().map(|e| e.plural.as_str()).collect();
        if plurals
            .iter()
            .enumerate()
            .any(|(i, n)| plurals[..i].contains(n))
        {
            return Err("two entities share a plural".into());
        }
        // Many-to-many relations bring the join entity's two foreign keys.
        let mut relations = Vec::new();
        let mut links = Vec::new();
        for r in std::mem::take(&mut self.relations) {
            match r.through.clone() {
                Some(through) => {
                    if !names.contains(&r.from) || !names.contains(&r.to) || r.from == r.to {
                        return Err(format!(
                            "relation {} <-> {} names an unknown entity",
                            r.from, r.to
                        ));
                    }
                    if through == r.from || through == r.to {
                        return Err(format!(
                            "relation {} <-> {} goes through one of its ends",
                            r.from, r.to
                        ));
                    }
                    for end in [&r.from, &r.to] {
                        relations.push(Relation::many_to_one(&through, end, true));
                    }
                    let link = Relation {
                        field: String::new(),
                        required: false,
                        ..r
                    };
                    if !links.contains(&link) {
                        links.push(link);
                    }
                }
                None => relations.push(r),
            }
        }
        let mut many_to_one: Vec<Relation> = Vec::new();
        for mut r in relations {
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
                // `owner_id` is the logged-in owner's column.
                if RESERVED.contains(&r.field.as_str()) {
                    r.field = format!("{}_ref_id", snake(&r.to));
                }
            }
            let from = self.entities.iter().find(|e| e.name == r.from).unwrap();
            if !valid_ident(&r.field)
                || RESERVED.contains(&r.field.as_str())
                || !r.field.ends_with("_id")
                || from.fields.iter().any(|f| f.name == r.field)
            {
                return Err(format!(
                    "relation field `{}.{}` is unusable or clashes with a field",
                    r.from, r.field
                ));
            }
            match many_to_one
                .iter_mut()
                .find(|x| x.from == r.from && x.field == r.field)
            {
                Some(x) if x.to != r.to => {
                    return Err(format!(
                        "`{}.{}` points at both {} and {}",
                        r.from, r.field, x.to, r.to
                    ));
                }
                Some(x) => x.required |= r.required,
                None => many_to_one.push(r),
            }
        }
        for e in &self.entities {
            let refs = many_to_one.iter().filter(|r| r.from == e.name).count();
            if e.fields.is_empty() && refs == 0 {
                return Err(format!("entity `{}` has no fields", e.name));
            }
        }
        // Rows are created parents first, so references may not go round.
        for start in &self.entities {
            let mut at = vec![start.name.clone()];
            let mut seen = Vec::new();
            while let Some(name) = at.pop() {
                for r in many_to_one.iter().filter(|r| r.from == name) {
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
        many_to_one.extend(links);
        self.relations = many_to_one;
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

    /// Many-to-one relations whose foreign key sits on `entity`.
    pub fn relations_from<'a>(
        &'a self,
        entity: &'a str,
    ) -> impl Iterator<Item = &'a Relation> + 'a {
        self.relations
            .iter()
            .filter(move |r| r.from == entity && r.through.is_none())
    }

    /// Many-to-many relations whose join entity is `entity`.
    pub fn links_through<'a>(&'a self, entity: &'a str) -> impl Iterator<Item = &'a Relation> + 'a {
        self.relations
            .iter()
            .filter(move |r| r.through.as_deref() == Some(entity))
    }

    /// The field that names a row of `entity` in lists and selects (its
    /// `name`, `title` or first short text field), if it has one.
    pub fn display_field(&self, entity: &str) -> Option<&Field> {
        let e = self.entity(entity)?;
        const NAMES: &[&str] = &["name", "title", "label", "full_name", "username", "code"];
        NAMES
            .iter()
            .find_map(|n| e.fields.iter().find(|f| f.name == *n))
            .or_else(|| {
                e.fields.iter().find(|f| {
                    f.kind == "string" && (f.name.ends_with("name") || f.name.ends_with("title"))
                })
            })
            .or_else(|| e.fields.iter().find(|f| f.kind == "string" && f.required))
            .or_else(|| {
                e.fields
                    .iter()
                    .find(|f| matches!(f.kind.as_str(), "string" | "email"))
            })
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

/// The Pydantic annotation the generated backend uses for a field (shared
/// by the backend generator and the integration check).
pub fn python_annotation(f: &Field) -> String {
    match f.kind.as_str() {
        "integer" => "int".into(),
        "number" => "float".into(),
        "decimal" => "Money".into(),
        "boolean" => "bool".into(),
        "date" => "dt.date".into(),
        "datetime" => "dt.datetime".into(),
        "email" => "EmailStr".into(),
        "url" => "Url".into(),
        "enum" => format!(
            "Literal[{}]",
            f.choices
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "str".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn plurals_of_table_names() {
        for (one, many) in [
            ("quiz", "quizzes"),
            ("category", "categories"),
            ("day", "days"),
            ("box", "boxes"),
            ("match", "matches"),
            ("status", "statuses"),
            ("person", "people"),
            ("contact_person", "contact_people"),
            ("child", "children"),
            ("species", "species"),
            ("buzz", "buzzes"),
            ("book", "books"),
        ] {
            assert_eq!(plural(one), many, "{one}");
        }
    }
}
