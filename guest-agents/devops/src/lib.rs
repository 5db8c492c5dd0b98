//! The devops agent: Kubernetes manifests, an nginx reverse proxy and a CI
//! workflow that runs both test suites.

use nexus_sdk::{Agent, AgentInfo, Outcome, Task, TaskError, workspace};
use nexus_spec::Spec;
use serde::Deserialize;
use serde_json::json;

struct Devops;

#[derive(Deserialize)]
struct Request {
    spec: Spec,
}

const FILES: &[(&str, &str)] = &[
    (
        "deploy/k8s/namespace.yaml",
        include_str!("../templates/k8s/namespace.yaml"),
    ),
    (
        "deploy/k8s/secrets.example.yaml",
        include_str!("../templates/k8s/secrets.example.yaml"),
    ),
    (
        "deploy/k8s/postgres.yaml",
        include_str!("../templates/k8s/postgres.yaml"),
    ),
    (
        "deploy/k8s/backend.yaml",
        include_str!("../templates/k8s/backend.yaml"),
    ),
    (
        "deploy/k8s/frontend.yaml",
        include_str!("../templates/k8s/frontend.yaml"),
    ),
    (
        "deploy/k8s/ingress.yaml",
        include_str!("../templates/k8s/ingress.yaml"),
    ),
    (
        "deploy/nginx/nginx.conf",
        include_str!("../templates/nginx.conf"),
    ),
    (
        ".github/workflows/ci.yml",
        include_str!("../templates/ci.yml"),
    ),
];

impl Agent for Devops {
    fn describe() -> AgentInfo {
        AgentInfo::new("devops", "DevOps", env!("CARGO_PKG_VERSION"))
            .description("Writes Kubernetes manifests, an nginx proxy and a CI workflow")
            .handles(&["deploy"])
            .capabilities(&["workspace"])
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        if task.kind != "deploy" {
            return Err(task.unsupported());
        }
        let Request { spec } = task.input()?;
        let spec = spec
            .normalised()
            .map_err(|e| TaskError::Rejected(format!("the spec: {e}")))?;
        // The slug is lowercase letters, digits and dashes: a valid DNS label.
        let files: Vec<(&str, String)> = FILES
            .iter()
            .map(|(path, text)| (*path, text.replace("@@name@@", &spec.name)))
            .collect();
        let written = workspace::write_files("", &files)?;
        Ok(Outcome::json(
            &json!({ "files": written.paths.len() }),
            "wrote deployment files",
        )?
        .with_artifacts(written.paths))
    }
}

nexus_sdk::export_agent!(Devops);
