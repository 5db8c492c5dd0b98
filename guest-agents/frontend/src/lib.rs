//! The frontend agent: writes a React + TypeScript + Vite app for a spec into
//! `frontend/` — an API client, a page per entity with list, create, edit and
//! delete, routing, loading and error states, login when the spec has auth,
//! Vitest tests, and an nginx Dockerfile. The templates are files under
//! `templates/`; the spec enters as JSON data and as one small page (and
//! test) file per entity.

use nexus_sdk::{Agent, AgentInfo, Outcome, Task, TaskError, workspace};
use nexus_spec::{Entity, Spec, render};
use serde::Deserialize;
use serde_json::{Value, json};

struct Frontend;

#[derive(Deserialize)]
struct Request {
    spec: Spec,
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
    ("src/main.tsx", include_str!("../templates/src/main.tsx")),
    ("src/App.tsx", include_str!("../templates/src/App.tsx")),
    (
        "src/components/EntityPage.tsx",
        include_str!("../templates/src/components/EntityPage.tsx"),
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
        "src/__tests__/App.test.tsx",
        include_str!("../templates/src/__tests__/App.test.tsx"),
    ),
];

fn label(e: &Entity) -> String {
    let words = e.plural.replace('_', " ");
    let mut c = words.chars();
    c.next().map_or(String::new(), |f| {
        f.to_ascii_uppercase().to_string() + c.as_str()
    })
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
                    "fields": e.fields.iter().map(|f| json!({"name": f.name, "type": f.kind, "required": f.required})).collect::<Vec<_>>(),
                    "references": spec.relations_from(&e.name).filter_map(|r| {
                        spec.entity(&r.to).map(|t| json!({"field": r.field, "target": t.plural, "required": r.required}))
                    }).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
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
        let values = [
            ("name", e.name.as_str()),
            ("plural", e.plural.as_str()),
            ("label", &label(e)),
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
        let Request { spec } = task.input()?;
        let spec = spec
            .normalised()
            .map_err(|e| TaskError::Rejected(format!("the spec: {e}")))?;
        let files = generate(&spec);
        let written = workspace::write_files("frontend", &files)?;
        let lines = written.lines;
        Ok(Outcome::json(
            &json!({ "files": written.paths.len(), "lines": lines }),
            &format!(
                "wrote {} frontend files ({lines} lines)",
                written.paths.len()
            ),
        )?
        .with_artifacts(written.paths))
    }
}

nexus_sdk::export_agent!(Frontend);
