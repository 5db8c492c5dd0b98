//! The integration agent: checks that the frontend and the backend agree on
//! every route, field name and type, and writes what both share
//! (`docker-compose.yml`, `.env.example`). A mismatch fails the gate
//! (`passed: false` with the findings).

use nexus_sdk::{Agent, AgentInfo, Outcome, Task, TaskError, workspace};
use nexus_spec::{Field, Spec, number_literal, python_annotation};
use serde::Deserialize;
use serde_json::{Value, json};

struct Integration;

#[derive(Deserialize)]
struct Request {
    spec: Spec,
}

/// A field of a Pydantic class: its annotation and the default after `=`
/// (which holds `Field(...)` and its constraints).
struct ClassField {
    name: String,
    annotation: String,
    default: String,
}

/// `field: annotation [= default]` lines of `class <name>(...)` in Python
/// source.
fn class_fields(source: &str, class: &str) -> Option<Vec<ClassField>> {
    let start = source.find(&format!("class {class}("))?;
    let body = &source[start..];
    let body = body.split_once('\n')?.1;
    let mut fields = Vec::new();
    for line in body.lines() {
        if line.starts_with("class ") {
            break;
        }
        let Some(rest) = line.strip_prefix("    ") else {
            continue;
        };
        if let Some((name, ann)) = rest.split_once(':')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !name.is_empty()
            && name != "model_config"
        {
            let (annotation, default) = ann.split_once('=').unwrap_or((ann, ""));
            fields.push(ClassField {
                name: name.to_string(),
                annotation: annotation.trim().to_string(),
                default: default.trim().to_string(),
            });
        }
    }
    Some(fields)
}

/// The number a keyword argument (`ge`, `le`) is given in a default such as
/// `Field(default=None, ge=1, le=10)`.
fn keyword_number(default: &str, keyword: &str) -> Option<f64> {
    let pattern = format!("{keyword}=");
    let at = default.match_indices(&pattern).find(|(i, _)| {
        default[..*i]
            .chars()
            .next_back()
            .is_some_and(|c| c == '(' || c == ' ')
    })?;
    let rest = &default[at.0 + pattern.len()..];
    let end = rest.find([',', ')']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

/// Whether two bounds are the same, as far as code writes them (six
/// decimals).
fn same_bound(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(1.0),
        (a, b) => a.is_none() && b.is_none(),
    }
}

/// `1 to 10`, `at least 0`, `at most 5` or `any value`.
fn range_text(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("{} to {}", number_literal(lo), number_literal(hi)),
        (Some(lo), None) => format!("at least {}", number_literal(lo)),
        (None, Some(hi)) => format!("at most {}", number_literal(hi)),
        (None, None) => "any value".into(),
    }
}

/// Where a frontend field and the backend's schema field disagree on the
/// type (the Pydantic annotation) or the range.
fn field_findings(entity: &str, front: &Field, back: &ClassField) -> Vec<String> {
    let mut out = Vec::new();
    let name = &front.name;
    let want = python_annotation(front);
    if !back.annotation.contains(want.as_str()) {
        out.push(format!(
            "{entity}.{name}: the frontend treats it as {} (`{want}`), the backend as `{}`",
            front.kind, back.annotation
        ));
    }
    let (min, max) = (
        keyword_number(&back.default, "ge"),
        keyword_number(&back.default, "le"),
    );
    if !same_bound(min, front.min) || !same_bound(max, front.max) {
        out.push(format!(
            "{entity}.{name}: the frontend allows {}, the backend {}",
            range_text(front.min, front.max),
            range_text(min, max)
        ));
    }
    out
}

/// The `ENTITIES` array of the frontend's `src/spec.ts`.
fn frontend_entities(source: &str) -> Option<Vec<Value>> {
    let start = source.find("ENTITIES: EntityMeta[] = ")? + "ENTITIES: EntityMeta[] = ".len();
    let end = source[start..].find(";\n")? + start;
    serde_json::from_str::<Vec<Value>>(&source[start..end]).ok()
}

fn check(spec: &Spec) -> Result<Vec<String>, TaskError> {
    let mut findings = Vec::new();
    let main = workspace::read_text("backend/main.py")?;
    let schemas = workspace::read_text("backend/schemas.py")?;
    let spec_ts = workspace::read_text("frontend/src/spec.ts")?;
    let Some(front) = frontend_entities(&spec_ts) else {
        return Ok(vec!["frontend/src/spec.ts has no ENTITIES table".into()]);
    };
    if front.len() != spec.entities.len() {
        findings.push(format!(
            "the frontend knows {} entities, the spec {}",
            front.len(),
            spec.entities.len()
        ));
    }
    for e in &spec.entities {
        if !main.contains(&format!("\"{}\",", e.plural)) {
            findings.push(format!("the backend serves no /api/{} routes", e.plural));
        }
        let Some(back) = class_fields(&schemas, &format!("{}Base", e.name)) else {
            findings.push(format!("backend/schemas.py has no {}Base", e.name));
            continue;
        };
        let Some(fe) = front.iter().find(|f| f["plural"] == e.plural.as_str()) else {
            findings.push(format!("the frontend has no page for /api/{}", e.plural));
            continue;
        };
        for field in fe["fields"].as_array().into_iter().flatten() {
            let Ok(front) = serde_json::from_value::<Field>(field.clone()) else {
                findings.push(format!(
                    "{}: frontend/src/spec.ts has a field entry that is not a field: {field}",
                    e.name
                ));
                continue;
            };
            match back.iter().find(|b| b.name == front.name) {
                None => findings.push(format!(
                    "{}.{}: the frontend sends it, the backend does not accept it",
                    e.name, front.name
                )),
                Some(b) => findings.extend(field_findings(&e.name, &front, b)),
            }
        }
        for r in fe["references"].as_array().into_iter().flatten() {
            let field = r["field"].as_str().unwrap_or("");
            if !back.iter().any(|b| b.name == field) {
                findings.push(format!(
                    "{}.{field}: the frontend links it, the backend has no such reference",
                    e.name
                ));
            }
        }
        for ClassField { name, .. } in &back {
            let known = fe["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["name"] == name.as_str())
                || fe["references"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|r| r["field"] == name.as_str());
            if !known {
                findings.push(format!(
                    "{}.{name}: the backend expects it, the frontend never sends it",
                    e.name
                ));
            }
        }
    }
    let login = workspace::exists("frontend/src/pages/LoginPage.tsx")?;
    if spec.auth && !workspace::exists("backend/auth.py")? {
        findings.push("the spec has auth but the backend has no auth.py".into());
    }
    if spec.auth && !login {
        findings.push("the spec has auth but the frontend has no login page".into());
    }
    Ok(findings)
}

impl Agent for Integration {
    fn describe() -> AgentInfo {
        AgentInfo::new("integration", "Integration", env!("CARGO_PKG_VERSION"))
            .description("Checks that frontend and backend agree and writes docker-compose.yml and .env.example")
            .handles(&["integrate"])
            .capabilities(&["workspace"])
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        if task.kind != "integrate" {
            return Err(task.unsupported());
        }
        let Request { spec } = task.input()?;
        let spec = spec
            .normalised()
            .map_err(|e| TaskError::Rejected(format!("the spec: {e}")))?;
        let findings = check(&spec)?;
        if !findings.is_empty() {
            // The check ran; the gate failed. The orchestrator decides what
            // happens next, so this is an outcome, not a task error.
            return Outcome::json(
                &json!({ "passed": false, "checked": spec.entities.len(), "findings": findings }),
                &format!("frontend and backend disagree in {} places", findings.len()),
            );
        }
        let title: String = spec
            .title
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ')
            .collect();
        let compose = include_str!("../templates/docker-compose.yml").replace("@@title@@", &title);
        workspace::write_text("docker-compose.yml", &compose)?;
        workspace::write_text(".env.example", include_str!("../templates/env.example"))?;
        Ok(Outcome::json(
            &json!({ "passed": true, "checked": spec.entities.len(), "findings": [] }),
            &format!(
                "frontend and backend agree on {} entities",
                spec.entities.len()
            ),
        )?
        .with_artifacts(["docker-compose.yml", ".env.example"]))
    }
}

nexus_sdk::export_agent!(Integration);

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMAS: &str = "class PlantBase(BaseModel):
    price: Optional[Money] = Field(default=None, ge=0)
    rating: int = Field(ge=1, le=10)
    light: Optional[Literal[\"low\", \"high\"]] = None
    name: str = Field(min_length=1, max_length=255)


class PlantCreate(PlantBase):
    pass
";

    fn field(name: &str) -> ClassField {
        class_fields(SCHEMAS, "PlantBase")
            .unwrap()
            .into_iter()
            .find(|f| f.name == name)
            .unwrap()
    }

    #[test]
    fn a_class_field_keeps_its_annotation_and_its_default() {
        let price = field("price");
        assert_eq!(price.annotation, "Optional[Money]");
        assert_eq!(price.default, "Field(default=None, ge=0)");
    }

    #[test]
    fn bounds_are_read_from_ge_and_le_only() {
        assert_eq!(keyword_number(&field("rating").default, "ge"), Some(1.0));
        assert_eq!(keyword_number(&field("rating").default, "le"), Some(10.0));
        assert_eq!(keyword_number(&field("name").default, "le"), None);
    }

    #[test]
    fn a_frontend_field_agrees_when_type_choices_and_range_match() {
        let rating = Field::new("rating", "integer", true).range(Some(1.0), Some(10.0));
        assert!(field_findings("Plant", &rating, &field("rating")).is_empty());
        let light = Field::new("light", "enum", false).choices(&["low", "high"]);
        assert!(field_findings("Plant", &light, &field("light")).is_empty());
    }

    #[test]
    fn other_choices_or_another_range_is_a_finding() {
        let light = Field::new("light", "enum", false).choices(&["low", "medium", "high"]);
        assert_eq!(field_findings("Plant", &light, &field("light")).len(), 1);
        let rating = Field::new("rating", "integer", true).range(Some(0.0), Some(10.0));
        assert_eq!(
            field_findings("Plant", &rating, &field("rating")),
            ["Plant.rating: the frontend allows 0 to 10, the backend 1 to 10"]
        );
    }
}
