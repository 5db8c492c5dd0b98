//! Python rules, applied to the syntax tree.

use crate::{Report, Severity};
use nexus_syntax::py::{self, Ranged as _, Visitor as _};
use nexus_syntax::{line_of, parse_python};

/// Parts of a variable name that say it holds a secret.
const SECRET_NAMES: &[&str] = &[
    "secret",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "private_key",
    "access_key",
    "auth_token",
];

/// Scans one file; `test` relaxes the rules that test fixtures break on
/// purpose (literal passwords).
pub fn scan(source: &str, test: bool, r: &mut Report) {
    let suite = match parse_python(source, r.path) {
        Ok(s) => s,
        Err(e) => {
            r.add(
                Severity::Medium,
                e.line,
                "unparsed",
                format!("does not parse, so it was not scanned ({})", e.message),
            );
            return;
        }
    };
    let mut v = Scan { source, test, r };
    for stmt in suite {
        v.visit_stmt(stmt);
    }
}

struct Scan<'s, 'r, 'a> {
    source: &'s str,
    test: bool,
    r: &'r mut Report<'a>,
}

/// `os.path.join` for an attribute chain of names.
fn dotted(e: &py::Expr) -> Option<String> {
    match e {
        py::Expr::Name(n) => Some(n.id.to_string()),
        py::Expr::Attribute(a) => Some(format!("{}.{}", dotted(&a.value)?, a.attr)),
        _ => None,
    }
}

fn str_const(e: &py::Expr) -> Option<&str> {
    match e {
        py::Expr::Constant(c) => c.value.as_str().map(String::as_str),
        _ => None,
    }
}

fn is_const(e: &py::Expr, want: bool) -> bool {
    matches!(e, py::Expr::Constant(c) if c.value == py::Constant::Bool(want))
}

fn keyword<'e>(call: &'e py::ExprCall, name: &str) -> Option<&'e py::Expr> {
    call.keywords
        .iter()
        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
        .map(|k| &k.value)
}

/// Text assembled at run time: an f-string with values, `+` or `%` on
/// strings, or `.format(...)`.
fn built_string(e: &py::Expr) -> bool {
    match e {
        py::Expr::JoinedStr(j) => j
            .values
            .iter()
            .any(|v| matches!(v, py::Expr::FormattedValue(_))),
        py::Expr::BinOp(b) if matches!(b.op, py::Operator::Add | py::Operator::Mod) => {
            str_const(&b.left).is_some()
                || str_const(&b.right).is_some()
                || built_string(&b.left)
                || built_string(&b.right)
        }
        py::Expr::Call(c) => {
            matches!(&*c.func, py::Expr::Attribute(a) if a.attr.as_str() == "format")
        }
        _ => false,
    }
}

fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| lower.contains(s))
        && !lower.starts_with("hashed")
        && !lower.contains("rounds")
}

impl Scan<'_, '_, '_> {
    fn add(
        &mut self,
        range: py::text_size::TextRange,
        sev: Severity,
        rule: &'static str,
        msg: impl Into<String>,
    ) {
        let line = line_of(self.source, range);
        self.r.add(sev, line, rule, msg);
    }

    fn call(&mut self, call: &py::ExprCall) {
        let range = call.range;
        let name = dotted(&call.func).unwrap_or_default();
        let last = name.rsplit('.').next().unwrap_or("");
        match name.as_str() {
            "eval" | "exec" | "compile" | "__import__" => self.add(
                range,
                Severity::High,
                "code-execution",
                format!("`{name}` runs text as code"),
            ),
            "os.system" | "os.popen" | "commands.getoutput" => self.add(
                range,
                Severity::High,
                "command-execution",
                format!("`{name}` runs a shell command"),
            ),
            "pickle.load" | "pickle.loads" | "marshal.load" | "marshal.loads" | "shelve.open"
            | "dill.loads" => self.add(
                range,
                Severity::High,
                "unsafe-deserialisation",
                format!("`{name}` can run code from the data it reads"),
            ),
            "yaml.load" | "yaml.load_all" => {
                let safe = keyword(call, "Loader")
                    .and_then(dotted)
                    .is_some_and(|l| l.contains("SafeLoader"));
                if !safe {
                    self.add(
                        range,
                        Severity::High,
                        "unsafe-deserialisation",
                        "`yaml.load` without a SafeLoader can build arbitrary objects",
                    );
                }
            }
            "hashlib.md5" | "hashlib.sha1"
                if !keyword(call, "usedforsecurity").is_some_and(|v| is_const(v, false)) =>
            {
                self.add(
                    range,
                    Severity::Medium,
                    "weak-hash",
                    format!("`{name}` is not a safe hash for security"),
                );
            }
            "jwt.decode" => {
                let unverified = keyword(call, "options").is_some_and(|o| match o {
                    py::Expr::Dict(d) => d.keys.iter().zip(&d.values).any(|(k, v)| {
                        k.as_ref().and_then(str_const) == Some("verify_signature")
                            && is_const(v, false)
                    }),
                    _ => false,
                });
                let none_alg = keyword(call, "algorithms").is_some_and(|a| match a {
                    py::Expr::List(l) => l
                        .elts
                        .iter()
                        .any(|e| str_const(e).is_some_and(|s| s.eq_ignore_ascii_case("none"))),
                    _ => false,
                });
                if unverified || none_alg {
                    self.add(
                        range,
                        Severity::High,
                        "jwt-unverified",
                        "JWTs are decoded without checking the signature",
                    );
                }
            }
            "os.environ.get" | "os.getenv" => {
                let var = call.args.first().and_then(str_const).unwrap_or("");
                let fallback = call.args.get(1).and_then(str_const).unwrap_or("");
                if !self.test && secret_name(var) && !fallback.is_empty() {
                    self.add(
                        range,
                        Severity::High,
                        "default-secret",
                        format!("{var} falls back to a secret written in the code"),
                    );
                }
            }
            _ => {}
        }
        if name.starts_with("subprocess.")
            && keyword(call, "shell").is_some_and(|v| is_const(v, true))
        {
            self.add(
                range,
                Severity::High,
                "command-execution",
                format!("`{name}` with shell=True"),
            );
        }
        if matches!(
            last,
            "execute" | "executemany" | "executescript" | "exec_driver_sql" | "text" | "raw"
        ) && call.args.first().is_some_and(built_string)
        {
            self.add(
                range,
                Severity::High,
                "sql-injection",
                format!("SQL for `{last}` is assembled from strings; use bound parameters"),
            );
        }
        if keyword(call, "verify").is_some_and(|v| is_const(v, false)) {
            self.add(
                range,
                Severity::High,
                "tls-verification",
                "TLS certificate checks are turned off (verify=False)",
            );
        }
        if keyword(call, "debug").is_some_and(|v| is_const(v, true)) {
            self.add(range, Severity::Medium, "debug", "runs with debug=True");
        }
        if let Some(py::Expr::List(origins)) = keyword(call, "allow_origins")
            && origins.elts.iter().any(|e| str_const(e) == Some("*"))
        {
            if keyword(call, "allow_credentials").is_some_and(|v| is_const(v, true)) {
                self.add(range, Severity::High, "cors", "any origin may make credentialed requests (allow_origins=[\"*\"] with credentials)");
            } else {
                self.add(
                    range,
                    Severity::Medium,
                    "cors",
                    "any origin may call the API (allow_origins=[\"*\"])",
                );
            }
        }
    }

    fn assignment(&mut self, target: &py::Expr, value: &py::Expr) {
        let name = match target {
            py::Expr::Name(n) => n.id.to_string(),
            py::Expr::Attribute(a) => a.attr.to_string(),
            _ => return,
        };
        if !self.test && secret_name(&name) && str_const(value).is_some_and(|s| s.len() >= 6) {
            self.add(
                target.range(),
                Severity::High,
                "hardcoded-secret",
                format!("`{name}` is set to a literal secret; read it from the environment"),
            );
        }
    }
}

impl py::Visitor for Scan<'_, '_, '_> {
    nexus_syntax::visit_everything!();

    fn visit_stmt_assign(&mut self, node: py::StmtAssign) {
        for t in &node.targets {
            self.assignment(t, &node.value);
        }
        self.generic_visit_stmt_assign(node);
    }

    fn visit_stmt_ann_assign(&mut self, node: py::StmtAnnAssign) {
        if let Some(v) = &node.value {
            self.assignment(&node.target, v);
        }
        self.generic_visit_stmt_ann_assign(node);
    }

    fn visit_expr_call(&mut self, node: py::ExprCall) {
        self.call(&node);
        self.generic_visit_expr_call(node);
    }
}

#[cfg(test)]
mod tests {
    use crate::{Finding, Report};

    fn scan(source: &str) -> Vec<(&'static str, usize)> {
        let mut found: Vec<Finding> = Vec::new();
        super::scan(
            source,
            false,
            &mut Report {
                path: "app.py",
                found: &mut found,
            },
        );
        found.iter().map(|f| (f.rule, f.line)).collect()
    }

    #[test]
    fn sql_from_an_f_string_is_injection_but_bound_parameters_are_not() {
        let src = "from sqlalchemy import text\n\ndef find(db, name):\n    db.execute(text(f\"SELECT * FROM t WHERE name = '{name}'\"))\n    db.execute(text(\"SELECT * FROM t WHERE name = :n\"), {\"n\": name})\n";
        assert_eq!(scan(src), [("sql-injection", 4)]);
    }

    #[test]
    fn code_execution_inside_keyword_arguments_is_found() {
        assert_eq!(scan("x = dict(a=eval(s))\n"), [("code-execution", 1)]);
        assert_eq!(
            scan("import subprocess\nsubprocess.run(cmd, shell=True)\n"),
            [("command-execution", 2)]
        );
    }

    #[test]
    fn literal_secrets_are_found_and_environment_reads_are_not() {
        let src = "import os\nSECRET_KEY = \"s3cr3t-value\"\nKEY = os.environ.get(\"SECRET_KEY\") or make()\nAPI_KEY = os.getenv(\"API_KEY\", \"abc123def\")\nhashed_password = \"x\" * 10\n";
        assert_eq!(scan(src), [("hardcoded-secret", 2), ("default-secret", 4)]);
    }

    #[test]
    fn wildcard_cors_with_credentials_and_disabled_checks_are_high() {
        let src = "app.add_middleware(CORSMiddleware, allow_origins=[\"*\"], allow_credentials=True)\nrequests.get(u, verify=False)\njwt.decode(t, k, options={\"verify_signature\": False})\n";
        assert_eq!(
            scan(src),
            [("cors", 1), ("tls-verification", 2), ("jwt-unverified", 3)]
        );
    }
}
