//! A build sent back by a gate: the model's validation rules its findings
//! name are dropped (the template's validation stays for those fields), so
//! the next build does not repeat what failed.

use crate::rules::Rule;

/// `backend/schemas.py:42` in a finding: the line it names.
fn schemas_lines(finding: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = finding;
    while let Some(at) = rest.find("backend/schemas.py:") {
        rest = &rest[at + "backend/schemas.py:".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse() {
            out.push(n);
        }
    }
    out
}

/// For each line of `schemas.py` (1-based), the `(class, field)` of the
/// validator it belongs to.
fn validator_lines(schemas: &str) -> Vec<Option<(String, String)>> {
    let mut out = vec![None];
    let mut class = String::new();
    let mut inside: Option<(String, String)> = None;
    for line in schemas.lines() {
        if let Some(rest) = line.strip_prefix("class ") {
            class = rest.split(['(', ':']).next().unwrap_or("").to_string();
            inside = None;
        } else if let Some(rest) = line.trim_start().strip_prefix("@field_validator(\"") {
            let field = rest.split('"').next().unwrap_or("").to_string();
            inside = Some((class.clone(), field));
        } else if !line.is_empty()
            && !line.starts_with("        ")
            && !line.trim_start().starts_with('@')
            && !line.trim_start().starts_with("def ")
        {
            inside = None;
        }
        out.push(inside.clone());
    }
    out
}

/// The rules `findings` name, each with the finding that names it: by its
/// id (`Book.isbn`) or by a line of `schemas.py` inside its validator.
pub fn named(rules: &[Rule], schemas: &str, findings: &[String]) -> Vec<(String, String)> {
    let lines = validator_lines(schemas);
    let mut out: Vec<(String, String)> = Vec::new();
    for r in rules {
        let id = r.id();
        let classes = [format!("{}Base", r.entity), format!("{}Update", r.entity)];
        let hit = findings.iter().find(|f| {
            f.contains(&format!("`{id}`"))
                || f.contains(&format!(" {id}:"))
                || schemas_lines(f).iter().any(|n| {
                    lines
                        .get(*n)
                        .cloned()
                        .flatten()
                        .is_some_and(|(class, field)| field == r.field && classes.contains(&class))
                })
        });
        if let Some(f) = hit {
            out.push((id, f.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(entity: &str, field: &str) -> Rule {
        Rule {
            entity: entity.into(),
            plural: format!("{}s", entity.to_lowercase()),
            field: field.into(),
            source: String::new(),
            valid: json!("x"),
            invalid: json!("y"),
        }
    }

    #[test]
    fn a_finding_on_a_validator_line_names_its_rule() {
        let schemas = "class BookBase(BaseModel):\n    isbn: str\n\n    @field_validator(\"isbn\")\n    @classmethod\n    def check_isbn(cls, v):\n        key = \"sk-live-1\"\n        return v\n\n\nclass AuthorBase(BaseModel):\n    name: str\n";
        let rules = [rule("Book", "isbn"), rule("Author", "name")];
        let findings = ["security: high: backend/schemas.py:7: `key` is set to a literal secret [hardcoded-secret]".to_string()];
        let named = named(&rules, schemas, &findings);
        assert_eq!(named.len(), 1);
        assert_eq!(named[0].0, "Book.isbn");
        // A line outside every validator names none.
        let elsewhere = ["security: high: backend/schemas.py:12: something".to_string()];
        assert!(super::named(&rules, schemas, &elsewhere).is_empty());
    }
}
