//! The QA agent: the quality gate after integration. `review` parses every
//! Python and TypeScript file of the project inside the sandbox, measures
//! complexity, counts the tests and checks that every entity and the auth
//! flow have them; a syntax error or a missing suite fails the gate.
//! `check-bodies` is the deeper check of code the LLM wrote: a body is
//! accepted only if it parses and stays inside what such a body may do.

mod bodies;

use nexus_sdk::{Agent, AgentInfo, Outcome, Task, TaskError, workspace};
use nexus_spec::Spec;
use nexus_syntax::{
    Language, MAX_FILE, NOT_SOURCE, check_typescript, is_test_path, parse_python, py,
    python_complexity,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

struct Qa;

/// Functions above this cyclomatic complexity are reported.
const COMPLEXITY_THRESHOLD: u32 = 10;
/// Syntax errors reported per file.
const ERRORS_PER_FILE: usize = 5;

#[derive(Deserialize)]
struct ReviewRequest {
    spec: Spec,
}

#[derive(Default)]
struct Review {
    findings: Vec<String>,
    warnings: Vec<String>,
    python_files: usize,
    typescript_files: usize,
    documented: usize,
    functions: usize,
    max_complexity: Option<(u32, String)>,
    /// Test functions per backend test file.
    backend_tests: BTreeMap<String, usize>,
    frontend_tests: usize,
}

fn is_docstring(stmt: &py::Stmt) -> bool {
    matches!(stmt, py::Stmt::Expr(e) if matches!(&*e.value, py::Expr::Constant(c) if c.value.is_str()))
}

/// `def test_*` at module level or in a `Test*` class.
fn python_tests(suite: &py::Suite) -> usize {
    suite
        .iter()
        .map(|s| match s {
            py::Stmt::FunctionDef(f) if f.name.as_str().starts_with("test") => 1,
            py::Stmt::ClassDef(c) if c.name.as_str().starts_with("Test") => python_tests(&c.body),
            _ => 0,
        })
        .sum()
}

/// `it(` and `test(` calls in a test file (not `.it(` or `xit(`).
fn typescript_tests(source: &str) -> usize {
    let bytes = source.as_bytes();
    ["it(", "test("]
        .iter()
        .map(|pat| {
            source
                .match_indices(pat)
                .filter(|(i, _)| {
                    *i == 0 || {
                        let b = bytes[i - 1];
                        !(b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$')
                    }
                })
                .count()
        })
        .sum()
}

impl Review {
    fn python(&mut self, path: &str, source: &str) {
        let suite = match parse_python(source, path) {
            Ok(s) => s,
            Err(e) => {
                self.findings.push(format!("{path}: {e}"));
                return;
            }
        };
        self.python_files += 1;
        if suite.first().is_some_and(is_docstring) {
            self.documented += 1;
        }
        for f in python_complexity(source, &suite) {
            self.functions += 1;
            if f.complexity > COMPLEXITY_THRESHOLD {
                self.warnings.push(format!(
                    "{path}:{}: `{}` has cyclomatic complexity {} (threshold {COMPLEXITY_THRESHOLD})",
                    f.line, f.name, f.complexity
                ));
            }
            if self
                .max_complexity
                .as_ref()
                .is_none_or(|(c, _)| f.complexity > *c)
            {
                self.max_complexity = Some((f.complexity, format!("{path}:{}", f.name)));
            }
        }
        let file = path.rsplit('/').next().unwrap_or(path);
        if is_test_path(path) && file.starts_with("test_") {
            self.backend_tests
                .insert(path.to_string(), python_tests(&suite));
        }
    }

    fn typescript(&mut self, path: &str, source: &str) {
        let errors = check_typescript(source, path);
        if !errors.is_empty() {
            for e in errors.iter().take(ERRORS_PER_FILE) {
                self.findings.push(format!("{path}: {e}"));
            }
            return;
        }
        self.typescript_files += 1;
        if is_test_path(path) {
            self.frontend_tests += typescript_tests(source);
        }
    }

    fn coverage(&mut self, spec: &Spec) {
        let tests_in = |r: &Review, path: &str| r.backend_tests.get(path).copied().unwrap_or(0);
        for e in &spec.entities {
            let path = format!("backend/tests/test_{}.py", e.plural);
            if tests_in(self, &path) == 0 {
                self.findings
                    .push(format!("{}: no backend tests ({path} has none)", e.name));
            }
        }
        if spec.auth && tests_in(self, "backend/tests/test_auth.py") == 0 {
            self.findings
                .push("auth: no tests for the login flow (backend/tests/test_auth.py)".into());
        }
        if self.frontend_tests == 0 {
            self.findings
                .push("frontend: no tests (no it() or test() in a test file)".into());
        }
    }

    fn result(self) -> Value {
        let backend_tests: usize = self.backend_tests.values().sum();
        json!({
            "passed": self.findings.is_empty(),
            "findings": self.findings,
            "warnings": self.warnings,
            "metrics": {
                "python_files": self.python_files,
                "typescript_files": self.typescript_files,
                "functions": self.functions,
                "max_complexity": self.max_complexity.map(|(c, at)| json!({"value": c, "at": at})),
                "documented_modules": format!("{}/{}", self.documented, self.python_files),
                "backend_tests": backend_tests,
                "frontend_tests": self.frontend_tests,
            }
        })
    }
}

fn review(spec: &Spec) -> Result<Value, TaskError> {
    let mut r = Review::default();
    for dir in ["backend", "frontend"] {
        let entries = match workspace::walk(dir, NOT_SOURCE) {
            Ok(e) => e,
            Err(nexus_sdk::Error::NotFound(_)) => {
                r.findings.push(format!("{dir}/ is missing"));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let path = entry.path.as_str();
            let Some(language) = Language::of(path) else {
                continue;
            };
            if entry.size > MAX_FILE {
                r.warnings
                    .push(format!("{path}: {} bytes, too large to review", entry.size));
                continue;
            }
            let source = match workspace::read_text(path) {
                Ok(s) => s,
                Err(e) => {
                    r.findings.push(format!("{path}: cannot be read ({e})"));
                    continue;
                }
            };
            match language {
                Language::Python => r.python(path, &source),
                Language::TypeScript => r.typescript(path, &source),
            }
        }
    }
    r.coverage(spec);
    Ok(r.result())
}

impl Agent for Qa {
    fn describe() -> AgentInfo {
        AgentInfo::new("qa", "Quality Assurance", env!("CARGO_PKG_VERSION"))
            .description("Parses the generated code, measures complexity and test coverage, and checks code the LLM wrote")
            .handles(&["review", "check-bodies"])
            .capabilities(&["workspace"])
    }

    fn handle(task: Task) -> Result<Outcome, TaskError> {
        match task.kind.as_str() {
            "review" => {
                let ReviewRequest { spec } = task.input()?;
                let spec = spec
                    .normalised()
                    .map_err(|e| TaskError::Rejected(format!("the spec: {e}")))?;
                let result = review(&spec)?;
                let text = serde_json::to_string_pretty(&result)
                    .map_err(|e| TaskError::Failed(e.to_string()))?;
                workspace::write_text("reports/qa.json", &text)?;
                let m = &result["metrics"];
                let summary = match result["findings"].as_array().map_or(0, Vec::len) {
                    0 => format!(
                        "{} Python and {} TypeScript files parse; {} backend and {} frontend tests",
                        m["python_files"],
                        m["typescript_files"],
                        m["backend_tests"],
                        m["frontend_tests"]
                    ),
                    n => format!("{n} problems"),
                };
                Ok(Outcome::json(&result, &summary)?.with_artifacts(["reports/qa.json"]))
            }
            "check-bodies" => {
                let req: nexus_spec::BodyCheck = task.input()?;
                let verdicts = bodies::check(&req)?;
                let accepted = verdicts.iter().filter(|v| v.accepted).count();
                Outcome::json(
                    &verdicts,
                    &format!("{accepted} of {} bodies accepted", verdicts.len()),
                )
            }
            _ => Err(task.unsupported()),
        }
    }
}

nexus_sdk::export_agent!(Qa);
