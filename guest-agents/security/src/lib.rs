//! The security agent: the second half of the quality gate. `security-scan`
//! reads the generated project and reports what would make it unsafe to run:
//! code execution (`eval`, `exec`, shell commands), SQL built from strings,
//! unsafe deserialisation, disabled TLS or JWT checks, hard-coded secrets,
//! wide-open CORS with credentials, HTML injection in the frontend,
//! unpinned dependencies and containers that run as root. Python is read as
//! a syntax tree (parsed inside the sandbox), not with patterns over text.
//! A high-severity finding fails the gate; medium and low are warnings.

mod python;

use nexus_sdk::{Agent, AgentInfo, Outcome, Task, TaskError, workspace};
use nexus_syntax::{Language, MAX_FILE, NOT_SOURCE, is_test_path};
use serde::Serialize;
use serde_json::json;

struct Security;

#[derive(Serialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

#[derive(Serialize, Debug)]
pub struct Finding {
    pub severity: Severity,
    pub path: String,
    pub line: usize,
    pub rule: &'static str,
    pub message: String,
}

impl Finding {
    fn text(&self) -> String {
        let sev = match self.severity {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        };
        if self.line > 0 {
            format!(
                "{sev}: {}:{}: {} [{}]",
                self.path, self.line, self.message, self.rule
            )
        } else {
            format!("{sev}: {}: {} [{}]", self.path, self.message, self.rule)
        }
    }
}

/// Collects findings for one file.
pub struct Report<'a> {
    pub path: &'a str,
    pub found: &'a mut Vec<Finding>,
}

impl Report<'_> {
    pub fn add(
        &mut self,
        severity: Severity,
        line: usize,
        rule: &'static str,
        message: impl Into<String>,
    ) {
        self.found.push(Finding {
            severity,
            path: self.path.to_string(),
            line,
            rule,
            message: message.into(),
        });
    }
}

/// What a file is scanned as.
enum Kind {
    Code(Language),
    Requirements,
    Dockerfile,
    Compose,
}

impl Kind {
    fn of(path: &str) -> Option<Kind> {
        let name = path.rsplit('/').next().unwrap_or(path);
        match name {
            "requirements.txt" => Some(Kind::Requirements),
            "Dockerfile" => Some(Kind::Dockerfile),
            "docker-compose.yml" | "docker-compose.yaml" | "compose.yml" | "compose.yaml" => {
                Some(Kind::Compose)
            }
            _ => Language::of(path).map(Kind::Code),
        }
    }
}

/// TypeScript and JavaScript: constructs that put untrusted text into code
/// or markup. Comment lines are skipped.
fn scan_typescript(source: &str, r: &mut Report) {
    const RULES: &[(&str, Severity, &str, &str)] = &[
        (
            "dangerouslySetInnerHTML",
            Severity::High,
            "xss",
            "renders raw HTML (dangerouslySetInnerHTML)",
        ),
        (".innerHTML =", Severity::High, "xss", "assigns innerHTML"),
        (".outerHTML =", Severity::High, "xss", "assigns outerHTML"),
        (
            "document.write(",
            Severity::Medium,
            "xss",
            "writes markup with document.write",
        ),
        (
            "eval(",
            Severity::High,
            "code-execution",
            "evaluates a string as code (eval)",
        ),
        (
            "new Function(",
            Severity::High,
            "code-execution",
            "builds a function from a string",
        ),
    ];
    let mut token_in_storage = None;
    for (i, line) in source.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") || code.starts_with('*') || code.starts_with("/*") {
            continue;
        }
        for (pat, sev, rule, msg) in RULES {
            let hit = line.match_indices(pat).any(|(at, _)| {
                // `eval(` must not be the tail of another name.
                at == 0
                    || !pat.starts_with(char::is_alphabetic)
                    || !line.as_bytes()[at - 1].is_ascii_alphanumeric()
                        && line.as_bytes()[at - 1] != b'_'
            });
            if hit {
                r.add(*sev, i + 1, rule, *msg);
            }
        }
        if token_in_storage.is_none()
            && line.contains("localStorage.setItem")
            && line.to_ascii_lowercase().contains("token")
        {
            token_in_storage = Some(i + 1);
        }
    }
    if let Some(line) = token_in_storage {
        r.add(
            Severity::Medium,
            line,
            "token-storage",
            "keeps the bearer token in localStorage, where any script on the page can read it",
        );
    }
}

/// `requirements.txt`: every requirement pinned with `==`.
fn scan_requirements(source: &str, r: &mut Report) {
    for (i, line) in source.lines().enumerate() {
        let req = line.split('#').next().unwrap_or("").trim();
        if req.is_empty() || req.starts_with('-') {
            continue;
        }
        if !req.contains("==") {
            r.add(
                Severity::Medium,
                i + 1,
                "unpinned-dependency",
                format!("`{req}` is not pinned with =="),
            );
        }
    }
}

/// Dockerfiles: the last stage should switch to an unprivileged user.
fn scan_dockerfile(source: &str, r: &mut Report) {
    let last_stage = source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().to_ascii_uppercase().starts_with("FROM "))
        .last()
        .map_or(0, |(i, _)| i);
    let has_user = source
        .lines()
        .skip(last_stage)
        .any(|l| l.trim_start().to_ascii_uppercase().starts_with("USER "));
    if !has_user {
        let image = source.lines().nth(last_stage).unwrap_or("").trim();
        r.add(
            Severity::Medium,
            last_stage + 1,
            "container-root",
            format!("the final stage (`{image}`) sets no USER, so it runs as root"),
        );
    }
}

/// Compose and env files: literal passwords and secrets.
fn scan_config(source: &str, r: &mut Report) {
    for (i, line) in source.lines().enumerate() {
        let code = line.split('#').next().unwrap_or("");
        let Some((key, value)) = code.split_once(':').or_else(|| code.split_once('=')) else {
            continue;
        };
        let key = key.trim().trim_start_matches("- ").to_ascii_uppercase();
        if !(key.ends_with("PASSWORD") || key.ends_with("SECRET_KEY") || key.ends_with("TOKEN")) {
            continue;
        }
        let value = value.trim().trim_matches('"');
        if value.is_empty() || value.starts_with("${") && !value.contains(":-") {
            continue;
        }
        if value.starts_with("${") {
            r.add(
                Severity::Low,
                i + 1,
                "default-secret",
                format!("{key} falls back to a fixed default when unset"),
            );
        } else {
            r.add(
                Severity::High,
                i + 1,
                "hardcoded-secret",
                format!("{key} is written into the file"),
            );
        }
    }
}

fn scan() -> Result<(Vec<Finding>, usize), TaskError> {
    let mut found = Vec::new();
    let mut files = 0;
    for entry in workspace::walk("", NOT_SOURCE)? {
        let path = entry.path.as_str();
        let name = path.rsplit('/').next().unwrap_or(path);
        if name == ".env" || name.starts_with(".env.") && name != ".env.example" {
            found.push(Finding {
                severity: Severity::High,
                path: path.to_string(),
                line: 0,
                rule: "secret-file",
                message: "an environment file with real values is part of the project".into(),
            });
            continue;
        }
        let Some(kind) = Kind::of(path) else {
            continue;
        };
        let mut r = Report {
            path,
            found: &mut found,
        };
        if entry.size > MAX_FILE {
            r.add(
                Severity::Medium,
                0,
                "unscanned",
                format!("{} bytes, too large to scan (limit {MAX_FILE})", entry.size),
            );
            continue;
        }
        let source = match workspace::read_text(path) {
            Ok(s) => s,
            Err(e) => {
                r.add(
                    Severity::Medium,
                    0,
                    "unread",
                    format!("cannot be read, so it was not scanned ({e})"),
                );
                continue;
            }
        };
        files += 1;
        let test = is_test_path(path);
        match kind {
            Kind::Code(Language::Python) => python::scan(&source, test, &mut r),
            Kind::Code(Language::TypeScript) if !test => scan_typescript(&source, &mut r),
            Kind::Code(Language::TypeScript) => {}
            Kind::Requirements => scan_requirements(&source, &mut r),
            Kind::Dockerfile => scan_dockerfile(&source, &mut r),
            Kind::Compose => scan_config(&source, &mut r),
        }
    }
    found.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.path.cmp(&b.path))
            .then(a.line.cmp(&b.line))
    });
    Ok((found, files))
}

impl Agent for Security {
    fn describe() -> AgentInfo {
        AgentInfo::new("security", "Security", env!("CARGO_PKG_VERSION"))
            .description("Scans the generated project for injection, code execution, secrets and unsafe defaults")
            .handles(&["security-scan"])
            .capabilities(&["workspace"])
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        if task.kind != "security-scan" {
            return Err(task.unsupported());
        }
        let (found, files) = scan()?;
        let count = |s: Severity| found.iter().filter(|f| f.severity == s).count();
        let (high, medium, low) = (
            count(Severity::High),
            count(Severity::Medium),
            count(Severity::Low),
        );
        let score = 100usize.saturating_sub(25 * high + 5 * medium + low);
        let findings: Vec<String> = found
            .iter()
            .filter(|f| f.severity == Severity::High)
            .map(Finding::text)
            .collect();
        let warnings: Vec<String> = found
            .iter()
            .filter(|f| f.severity != Severity::High)
            .map(Finding::text)
            .collect();
        let result = json!({
            "passed": high == 0,
            "findings": findings,
            "warnings": warnings,
            "metrics": {"files_scanned": files, "high": high, "medium": medium, "low": low, "score": score},
        });
        let report = json!({ "score": score, "files_scanned": files, "findings": found });
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| TaskError::Failed(e.to_string()))?;
        workspace::write_text("reports/security.json", &text)?;
        let summary = format!(
            "{files} files scanned: {high} high, {medium} medium, {low} low (score {score})"
        );
        Ok(Outcome::json(&result, &summary)?.with_artifacts(["reports/security.json"]))
    }
}

nexus_sdk::export_agent!(Security);

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&str, &mut Report), source: &str) -> Vec<Finding> {
        let mut found = Vec::new();
        f(
            source,
            &mut Report {
                path: "x",
                found: &mut found,
            },
        );
        found
    }

    #[test]
    fn raw_html_and_eval_in_the_frontend_are_high() {
        let found = run(
            scan_typescript,
            "const a = <div dangerouslySetInnerHTML={{__html: x}} />;\nconst b = eval(text);\nconst c = retrieval(x);\n// eval(old)\n",
        );
        let rules: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(rules, [("xss", 1), ("code-execution", 2)]);
        assert!(found.iter().all(|f| f.severity == Severity::High));
    }

    #[test]
    fn unpinned_requirements_are_reported() {
        let found = run(
            scan_requirements,
            "fastapi==0.115.6\n# comment\nrequests>=2\n\n",
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 3);
    }

    #[test]
    fn a_literal_password_in_compose_is_high_and_a_default_is_low() {
        let found = run(
            scan_config,
            "      POSTGRES_PASSWORD: hunter2\n      SECRET_KEY: ${SECRET_KEY:?set it}\n      DB_PASSWORD: ${DB_PASSWORD:-app}\n",
        );
        let got: Vec<(Severity, usize)> = found.iter().map(|f| (f.severity, f.line)).collect();
        assert_eq!(got, [(Severity::High, 1), (Severity::Low, 3)]);
    }

    #[test]
    fn a_dockerfile_without_user_runs_as_root() {
        assert_eq!(run(scan_dockerfile, "FROM python:3.12\nRUN x\n").len(), 1);
        assert!(
            run(
                scan_dockerfile,
                "FROM node AS b\nFROM python:3.12\nUSER app\n"
            )
            .is_empty()
        );
    }
}
