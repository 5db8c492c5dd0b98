//! The deeper check of Python bodies the LLM wrote (field validators): the
//! source must parse, be one `def name(cls, v)` and use only what a
//! validator needs — its arguments, its own locals, a short list of
//! builtins and `re` — and return `v` unchanged, so the value a client
//! sends is the value it reads back. Imports, loops without a bound, private attributes,
//! nested definitions and raising anything but `ValueError` are refused.

use nexus_sdk::TaskError;
use nexus_spec::{BodyCheck, Verdict};
use nexus_syntax::py::Ranged as _;
use nexus_syntax::{line_of, parse_python, py};
use std::collections::BTreeSet;

/// Most bodies checked in one task, and the largest body.
const MAX_BODIES: usize = 64;
const MAX_SOURCE: usize = 4000;
const MAX_LINES: usize = 40;

/// Names a validator may read besides its arguments and locals.
const ALLOWED: &[&str] = &[
    "len",
    "str",
    "int",
    "float",
    "bool",
    "isinstance",
    "any",
    "all",
    "min",
    "max",
    "abs",
    "round",
    "sum",
    "sorted",
    "set",
    "list",
    "tuple",
    "dict",
    "range",
    "enumerate",
    "zip",
    "ValueError",
    "re",
];

pub fn check(req: &BodyCheck) -> Result<Vec<Verdict>, TaskError> {
    if req.language != "python" {
        return Err(TaskError::Rejected(format!(
            "bodies in `{}` are not checked; only `python` is",
            req.language
        )));
    }
    if req.bodies.len() > MAX_BODIES {
        return Err(TaskError::Rejected(format!(
            "{} bodies; at most {MAX_BODIES} per task",
            req.bodies.len()
        )));
    }
    Ok(req
        .bodies
        .iter()
        .map(|b| {
            let reason = python_validator(&b.source).err();
            Verdict {
                id: b.id.clone(),
                accepted: reason.is_none(),
                reason,
            }
        })
        .collect())
}

/// `Ok` when `source` is an acceptable validator.
pub fn python_validator(source: &str) -> Result<(), String> {
    if source.len() > MAX_SOURCE || source.lines().count() > MAX_LINES {
        return Err(format!(
            "longer than {MAX_LINES} lines or {MAX_SOURCE} bytes"
        ));
    }
    let suite = parse_python(source, "<body>").map_err(|e| format!("does not parse: {e}"))?;
    let [py::Stmt::FunctionDef(def)] = suite.as_slice() else {
        return Err("is not a single function definition".into());
    };
    let args = &def.args;
    let names: Vec<&str> = args.args.iter().map(|a| a.def.arg.as_str()).collect();
    if names != ["cls", "v"]
        || !args.posonlyargs.is_empty()
        || !args.kwonlyargs.is_empty()
        || args.vararg.is_some()
        || args.kwarg.is_some()
        || args.args.iter().any(|a| a.default.is_some())
    {
        return Err("must take exactly (cls, v)".into());
    }
    if !def.decorator_list.is_empty() {
        return Err("must not carry decorators".into());
    }
    let mut scan = Scan {
        source,
        stored: ["cls", "v"].iter().map(|s| s.to_string()).collect(),
        loaded: Vec::new(),
        refused: Vec::new(),
        returns: 0,
    };
    {
        use py::Visitor;
        for stmt in def.body.iter().cloned() {
            scan.visit_stmt(stmt);
        }
    }
    if let Some(r) = scan.refused.first() {
        return Err(r.clone());
    }
    if let Some((name, line)) = scan
        .loaded
        .iter()
        .find(|(n, _)| !scan.stored.contains(n) && !ALLOWED.contains(&n.as_str()))
    {
        return Err(format!(
            "line {line}: uses `{name}`, which a validator may not"
        ));
    }
    if scan.returns == 0 {
        return Err("never returns the value".into());
    }
    Ok(())
}

struct Scan<'s> {
    source: &'s str,
    stored: BTreeSet<String>,
    loaded: Vec<(String, usize)>,
    refused: Vec<String>,
    returns: usize,
}

impl Scan<'_> {
    fn refuse(&mut self, range: py::text_size::TextRange, what: &str) {
        let line = line_of(self.source, range);
        self.refused.push(format!("line {line}: {what}"));
    }
}

fn is_value_error(e: &py::Expr) -> bool {
    match e {
        py::Expr::Name(n) => n.id.as_str() == "ValueError",
        py::Expr::Call(c) => matches!(&*c.func, py::Expr::Name(n) if n.id.as_str() == "ValueError"),
        _ => false,
    }
}

/// A literal format string whose fields are plain (`{}`, `{0}`, `{name}`):
/// no `.attr` or `[key]` lookups.
fn plain_format(receiver: &py::Expr) -> bool {
    let py::Expr::Constant(c) = receiver else {
        return false;
    };
    let Some(text) = c.value.as_str() else {
        return false;
    };
    text.split('{')
        .skip(1)
        .all(|field| !field.split('}').next().unwrap_or("").contains(['.', '[']))
}

impl py::Visitor for Scan<'_> {
    fn visit_stmt(&mut self, node: py::Stmt) {
        use py::Stmt as S;
        let refused = match &node {
            S::Import(_) | S::ImportFrom(_) => Some("imports"),
            S::Global(_) | S::Nonlocal(_) => Some("reaches outside its scope"),
            S::While(_) => Some("loops without a bound (`while`)"),
            S::FunctionDef(_) | S::AsyncFunctionDef(_) | S::ClassDef(_) => {
                Some("defines a function or class")
            }
            S::Delete(_) => Some("deletes names"),
            S::With(_) | S::AsyncWith(_) | S::AsyncFor(_) => {
                Some("uses a context manager or async")
            }
            S::Match(_) | S::TypeAlias(_) | S::TryStar(_) => {
                Some("uses a construct validators do not need")
            }
            _ => None,
        };
        if let Some(what) = refused {
            self.refuse(node.range(), what);
            return;
        }
        match &node {
            S::Return(r) if matches!(r.value.as_deref(), Some(py::Expr::Name(n)) if n.id.as_str() == "v") => {
                self.returns += 1
            }
            S::Return(r) => {
                self.refuse(r.range, "returns something other than `v` unchanged");
                return;
            }
            S::Raise(r) if !r.exc.as_deref().is_some_and(is_value_error) => {
                self.refuse(r.range, "raises something other than ValueError");
                return;
            }
            _ => {}
        }
        self.generic_visit_stmt(node);
    }

    fn visit_expr(&mut self, node: py::Expr) {
        use py::Expr as E;
        let refused = match &node {
            E::Await(_) | E::Yield(_) | E::YieldFrom(_) => Some("awaits or yields"),
            E::Lambda(_) => Some("defines a lambda"),
            E::Attribute(a) if a.attr.as_str().starts_with('_') => {
                Some("reads a private attribute")
            }
            E::Attribute(a)
                if matches!(a.attr.as_str(), "format" | "format_map")
                    && !plain_format(&a.value) =>
            {
                Some("formats with a template that can look up attributes")
            }
            _ => None,
        };
        if let Some(what) = refused {
            self.refuse(node.range(), what);
            return;
        }
        if let E::Name(n) = &node {
            match n.ctx {
                py::ExprContext::Load => {
                    let line = line_of(self.source, n.range);
                    self.loaded.push((n.id.to_string(), line));
                }
                _ => {
                    self.stored.insert(n.id.to_string());
                }
            }
        }
        self.generic_visit_expr(node);
    }

    nexus_syntax::visit_everything!();

    fn visit_excepthandler(&mut self, node: py::ExceptHandler) {
        let py::ExceptHandler::ExceptHandler(h) = &node;
        if let Some(name) = &h.name {
            self.stored.insert(name.to_string());
        }
        self.generic_visit_excepthandler(node);
    }
}

#[cfg(test)]
mod tests {
    use super::python_validator;

    #[test]
    fn a_plain_validator_is_accepted() {
        let src = "def check_isbn(cls, v):\n    digits = [c for c in v if c.isdigit()]\n    if len(digits) not in (10, 13):\n        raise ValueError(\"{} has {} digits\".format(v, len(digits)))\n    return v\n";
        assert_eq!(python_validator(src), Ok(()));
    }

    #[test]
    fn a_body_that_does_not_parse_is_refused_with_its_line() {
        let err =
            python_validator("def check_x(cls, v):\n    if v >:\n        return v\n").unwrap_err();
        assert!(err.starts_with("does not parse: line 2"), "{err}");
    }

    #[test]
    fn imports_unknown_names_and_private_attributes_are_refused() {
        for (src, why) in [
            ("def c(cls, v):\n    import os\n    return v\n", "imports"),
            (
                "def c(cls, v):\n    open('/etc/passwd')\n    return v\n",
                "`open`",
            ),
            (
                "def c(cls, v):\n    t = v.__class__\n    return v\n",
                "private attribute",
            ),
            (
                "def c(cls, v):\n    while True:\n        pass\n    return v\n",
                "while",
            ),
            ("def c(cls, v):\n    raise SystemExit(1)\n", "ValueError"),
            ("def c(cls, v):\n    v.strip()\n", "never returns"),
            ("def c(cls, v):\n    return v.strip()\n", "unchanged"),
            ("def c(self, value):\n    return value\n", "(cls, v)"),
            (
                "def c(cls, v):\n    n = len(v, key=open('x'))\n    return v\n",
                "`open`",
            ),
            (
                "def c(cls, v):\n    m = '{0.__class__}'.format(v)\n    return v\n",
                "template",
            ),
        ] {
            let err = python_validator(src).unwrap_err();
            assert!(err.contains(why), "{src}: {err}");
        }
    }
}
