//! Syntax checks for generated code, run inside the sandbox: Python through
//! `rustpython-parser`, TypeScript and TSX through `oxc_parser`. Errors carry
//! the line and column they point at, so findings can name them.

pub use rustpython_ast as py;
use rustpython_ast::text_size::TextRange;
use std::fmt;

/// Directories of installed dependencies, caches and build output: what a
/// review of a project's own source leaves out.
pub const NOT_SOURCE: &[&str] = &[
    "node_modules",
    "dist",
    "build",
    ".venv",
    "venv",
    "__pycache__",
    ".pytest_cache",
    ".git",
];

/// Largest file a review parses or scans; larger ones are reported unread.
pub const MAX_FILE: u64 = 1 << 20;

/// The languages this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Python,
    /// TypeScript, TSX, JavaScript or JSX.
    TypeScript,
}

impl Language {
    /// The language of a file, from its extension.
    pub fn of(path: &str) -> Option<Language> {
        match path.rsplit_once('.').map(|(_, ext)| ext) {
            Some("py") => Some(Language::Python),
            Some("ts" | "tsx" | "js" | "jsx" | "mjs") => Some(Language::TypeScript),
            _ => None,
        }
    }
}

/// A file of a test suite: under `tests/` or `__tests__/`, or named
/// `*.test.*` / `*.spec.*`.
pub fn is_test_path(path: &str) -> bool {
    path.contains("/tests/")
        || path.starts_with("tests/")
        || path.contains("/__tests__/")
        || path.contains(".test.")
        || path.contains(".spec.")
}

/// A syntax error at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}:{}: {}", self.line, self.column, self.message)
    }
}

/// 1-based (line, column) of a byte offset.
pub fn position(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source.as_bytes()[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    (line, offset - start + 1)
}

/// 1-based line of a Python node's range.
pub fn line_of(source: &str, range: TextRange) -> usize {
    position(source, usize::from(range.start())).0
}

/// Deepest bracket nesting a file may have before it is refused unparsed.
pub const MAX_NESTING: usize = 200;
/// Deepest block nesting (CPython's own limit is 100).
pub const MAX_INDENT: usize = 100;
/// Most operators in one Python logical line (each can add a level to the
/// syntax tree: `a + b + c ...`, `- - - a`, `a.b.c ...`).
pub const MAX_OPERATORS: usize = 400;

/// Parsers and tree walks recurse once per level of nesting, and a sandboxed
/// agent has a small stack. Source that nests deeper than any real program
/// is refused with an error, before it can exhaust the stack.
fn python_depth(
    source: &str,
    tokens: &[rustpython_parser::lexer::LexResult],
) -> Result<(), SyntaxError> {
    use rustpython_parser::Tok;
    let (mut depth, mut operators, mut indent) = (0usize, 0usize, 0usize);
    let too_deep = |offset: usize, what: String| {
        let (line, column) = position(source, offset);
        Err(SyntaxError {
            line,
            column,
            message: what,
        })
    };
    for token in tokens {
        // Lexical errors are the parser's to report.
        let Ok((tok, range)) = token else { break };
        match tok {
            Tok::Lpar | Tok::Lsqb | Tok::Lbrace => {
                depth += 1;
                if depth > MAX_NESTING {
                    return too_deep(
                        usize::from(range.start()),
                        format!("brackets nest more than {MAX_NESTING} levels deep; not parsed"),
                    );
                }
            }
            Tok::Rpar | Tok::Rsqb | Tok::Rbrace => depth = depth.saturating_sub(1),
            Tok::Indent => {
                indent += 1;
                if indent > MAX_INDENT {
                    return too_deep(
                        usize::from(range.start()),
                        format!("blocks nest more than {MAX_INDENT} levels deep; not parsed"),
                    );
                }
            }
            Tok::Dedent => indent = indent.saturating_sub(1),
            Tok::Newline => operators = 0,
            Tok::Plus
            | Tok::Minus
            | Tok::Star
            | Tok::Slash
            | Tok::DoubleSlash
            | Tok::Percent
            | Tok::DoubleStar
            | Tok::Vbar
            | Tok::Amper
            | Tok::CircumFlex
            | Tok::Tilde
            | Tok::LeftShift
            | Tok::RightShift
            | Tok::Less
            | Tok::Greater
            | Tok::EqEqual
            | Tok::NotEqual
            | Tok::LessEqual
            | Tok::GreaterEqual
            | Tok::Dot
            | Tok::Not
            | Tok::And
            | Tok::Or
            | Tok::If
            | Tok::Else
            | Tok::Lambda
            | Tok::At => {
                operators += 1;
                if operators > MAX_OPERATORS {
                    return too_deep(
                        usize::from(range.start()),
                        format!("more than {MAX_OPERATORS} operators in one statement; not parsed"),
                    );
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses a Python module.
pub fn parse_python(source: &str, path: &str) -> Result<py::Suite, SyntaxError> {
    // Lexed once: the depth check reads the tokens, the parser takes them.
    let mode = rustpython_parser::Mode::Module;
    let mut tokens = Vec::new();
    for token in rustpython_parser::lexer::lex(source, mode) {
        // After an error the lexer keeps yielding errors; the first is the
        // one the parser reports.
        let error = token.is_err();
        tokens.push(token);
        if error {
            break;
        }
    }
    python_depth(source, &tokens)?;
    match rustpython_parser::parse_tokens(tokens, mode, path) {
        Ok(py::Mod::Module(m)) => Ok(m.body),
        Ok(_) => Err(SyntaxError {
            line: 1,
            column: 1,
            message: "not a module".into(),
        }),
        Err(e) => {
            let (line, column) = position(source, usize::from(e.offset));
            Err(SyntaxError {
                line,
                column,
                message: e.error.to_string(),
            })
        }
    }
}

/// Deepest bracket nesting in TypeScript, skipping strings, template text
/// and comments (an estimate: a `/` starting a regular expression is read
/// as division, which can only count brackets inside it too).
fn typescript_depth(source: &str) -> Result<(), SyntaxError> {
    let bytes = source.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    let (line, column) = position(source, i);
                    return Err(SyntaxError {
                        line,
                        column,
                        message: format!(
                            "brackets nest more than {MAX_NESTING} levels deep; not parsed"
                        ),
                    });
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Syntax errors in TypeScript, TSX, JavaScript or JSX; the dialect follows
/// the file name's extension. Empty when the source parses.
pub fn check_typescript(source: &str, path: &str) -> Vec<SyntaxError> {
    if let Err(e) = typescript_depth(source) {
        return vec![e];
    }
    let source_type = oxc_span::SourceType::from_path(path).unwrap_or_else(|_| {
        if path.ends_with(".tsx") {
            oxc_span::SourceType::tsx()
        } else {
            oxc_span::SourceType::ts()
        }
    });
    let allocator = oxc_allocator::Allocator::default();
    let parsed = oxc_parser::Parser::new(&allocator, source, source_type).parse();
    let mut errors: Vec<SyntaxError> = parsed
        .diagnostics
        .iter()
        .map(|d| {
            let offset = d.labels.first().map_or(0, |l| l.offset() as usize);
            let (line, column) = position(source, offset);
            SyntaxError {
                line,
                column,
                message: d.message.to_string(),
            }
        })
        .collect();
    if parsed.panicked && errors.is_empty() {
        errors.push(SyntaxError {
            line: 1,
            column: 1,
            message: "the parser gave up".into(),
        });
    }
    errors
}

/// rustpython-ast's generic visitor stops at comprehensions, keywords,
/// `with` items, match cases and argument defaults; these walk into them.
/// Visitors that must see every expression use [`visit_everything!`].
pub mod walk {
    use super::py::{self, Visitor};

    pub fn comprehension<V: Visitor + ?Sized>(v: &mut V, node: py::Comprehension) {
        v.visit_expr(node.target);
        v.visit_expr(node.iter);
        for e in node.ifs {
            v.visit_expr(e);
        }
    }

    pub fn keyword<V: Visitor + ?Sized>(v: &mut V, node: py::Keyword) {
        v.visit_expr(node.value);
    }

    pub fn withitem<V: Visitor + ?Sized>(v: &mut V, node: py::WithItem) {
        v.visit_expr(node.context_expr);
        if let Some(e) = node.optional_vars {
            v.visit_expr(*e);
        }
    }

    pub fn match_case<V: Visitor + ?Sized>(v: &mut V, node: py::MatchCase) {
        if let Some(g) = node.guard {
            v.visit_expr(*g);
        }
        for s in node.body {
            v.visit_stmt(s);
        }
    }

    pub fn arguments<V: Visitor + ?Sized>(v: &mut V, node: py::Arguments) {
        let all = node
            .posonlyargs
            .into_iter()
            .chain(node.args)
            .chain(node.kwonlyargs);
        for a in all {
            if let Some(d) = a.default {
                v.visit_expr(*d);
            }
        }
    }
}

/// Inside `impl py::Visitor for ...`: the visits [`walk`] completes.
#[macro_export]
macro_rules! visit_everything {
    () => {
        fn visit_comprehension(&mut self, node: $crate::py::Comprehension) {
            $crate::walk::comprehension(self, node)
        }
        fn visit_keyword(&mut self, node: $crate::py::Keyword) {
            $crate::walk::keyword(self, node)
        }
        fn visit_withitem(&mut self, node: $crate::py::WithItem) {
            $crate::walk::withitem(self, node)
        }
        fn visit_match_case(&mut self, node: $crate::py::MatchCase) {
            $crate::walk::match_case(self, node)
        }
        fn visit_arguments(&mut self, node: $crate::py::Arguments) {
            $crate::walk::arguments(self, node)
        }
    };
}

/// Cyclomatic complexity of each function in a Python module: one plus a
/// point per branch (`if`/`elif`, loop, `except`, `case`, boolean operator,
/// conditional expression, comprehension condition).
pub fn python_complexity(source: &str, suite: &py::Suite) -> Vec<FunctionComplexity> {
    use py::Visitor;
    let mut v = Complexity {
        source,
        stack: Vec::new(),
        done: Vec::new(),
    };
    for stmt in suite.iter().cloned() {
        v.visit_stmt(stmt);
    }
    v.done
}

/// One function's complexity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionComplexity {
    pub name: String,
    pub line: usize,
    pub complexity: u32,
}

struct Complexity<'s> {
    source: &'s str,
    stack: Vec<FunctionComplexity>,
    done: Vec<FunctionComplexity>,
}

impl Complexity<'_> {
    fn point(&mut self, n: u32) {
        if let Some(f) = self.stack.last_mut() {
            f.complexity += n;
        }
    }

    fn function(&mut self, name: &str, range: TextRange, body: Vec<py::Stmt>) {
        use py::Visitor;
        self.stack.push(FunctionComplexity {
            name: name.to_string(),
            line: line_of(self.source, range),
            complexity: 1,
        });
        for s in body {
            self.visit_stmt(s);
        }
        let f = self.stack.pop().expect("pushed above");
        self.done.push(f);
    }
}

impl py::Visitor for Complexity<'_> {
    fn visit_stmt_function_def(&mut self, node: py::StmtFunctionDef) {
        self.function(node.name.as_str(), node.range, node.body);
    }
    fn visit_stmt_async_function_def(&mut self, node: py::StmtAsyncFunctionDef) {
        self.function(node.name.as_str(), node.range, node.body);
    }
    fn visit_stmt_if(&mut self, node: py::StmtIf) {
        self.point(1);
        self.generic_visit_stmt_if(node);
    }
    fn visit_stmt_for(&mut self, node: py::StmtFor) {
        self.point(1);
        self.generic_visit_stmt_for(node);
    }
    fn visit_stmt_async_for(&mut self, node: py::StmtAsyncFor) {
        self.point(1);
        self.generic_visit_stmt_async_for(node);
    }
    fn visit_stmt_while(&mut self, node: py::StmtWhile) {
        self.point(1);
        self.generic_visit_stmt_while(node);
    }
    fn visit_excepthandler(&mut self, node: py::ExceptHandler) {
        self.point(1);
        self.generic_visit_excepthandler(node);
    }
    fn visit_match_case(&mut self, node: py::MatchCase) {
        self.point(1);
        walk::match_case(self, node);
    }
    fn visit_expr_bool_op(&mut self, node: py::ExprBoolOp) {
        self.point(node.values.len().saturating_sub(1) as u32);
        self.generic_visit_expr_bool_op(node);
    }
    fn visit_expr_if_exp(&mut self, node: py::ExprIfExp) {
        self.point(1);
        self.generic_visit_expr_if_exp(node);
    }
    fn visit_comprehension(&mut self, node: py::Comprehension) {
        self.point(node.ifs.len() as u32);
        walk::comprehension(self, node);
    }
    fn visit_keyword(&mut self, node: py::Keyword) {
        walk::keyword(self, node)
    }
    fn visit_withitem(&mut self, node: py::WithItem) {
        walk::withitem(self, node)
    }
    fn visit_arguments(&mut self, node: py::Arguments) {
        walk::arguments(self, node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_and_test_files_are_told_by_path() {
        assert_eq!(Language::of("backend/main.py"), Some(Language::Python));
        assert_eq!(
            Language::of("frontend/src/App.tsx"),
            Some(Language::TypeScript)
        );
        assert_eq!(Language::of("backend/requirements.txt"), None);
        assert!(is_test_path("backend/tests/test_todos.py"));
        assert!(is_test_path("frontend/src/__tests__/api.test.ts"));
        assert!(!is_test_path("frontend/src/api.ts"));
    }

    #[test]
    fn python_error_names_its_line() {
        let err = parse_python("x = 1\ndef f(:\n    pass\n", "a.py").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        // A lexical error ends the token stream (the lexer would repeat it).
        let err = parse_python("x = 1\ny = 'open\n", "a.py").unwrap_err();
        assert!(err.message.contains("string literal"), "{err}");
    }

    #[test]
    fn typescript_error_names_its_line() {
        let errs = check_typescript("const a = 1;\nconst b = ;\n", "a.ts");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].line, 2);
        assert!(check_typescript("export const A = () => <div>{1}</div>;\n", "a.tsx").is_empty());
    }

    #[test]
    fn nesting_deeper_than_any_program_is_refused_unparsed() {
        let lists = format!("x = 1\nt = {}1{}\n", "[".repeat(5000), "]".repeat(5000));
        let err = parse_python(&lists, "a.py").unwrap_err();
        assert_eq!((err.line, err.column), (2, 5 + MAX_NESTING), "{err}");
        let chain = format!("t = v{}\n", " + v".repeat(5000));
        assert!(
            parse_python(&chain, "a.py")
                .unwrap_err()
                .message
                .contains("operators")
        );
        let unary = format!("t = {}v\n", "-".repeat(5000));
        assert!(parse_python(&unary, "a.py").is_err());
        // Brackets inside strings and comments do not count.
        let quoted = format!("t = \"{}\"  # {}\n", "[".repeat(5000), "(".repeat(5000));
        assert!(parse_python(&quoted, "a.py").is_ok());
        let ts = format!(
            "// {}\nconst s = '{}';\nconst a = {}1{};\n",
            "(".repeat(500),
            "[".repeat(500),
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let errs = check_typescript(&ts, "a.ts");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].line, 3);
        let blocks: String = (0..150)
            .map(|i| format!("{}if v:\n", "    ".repeat(i)))
            .chain(std::iter::once(format!("{}pass\n", "    ".repeat(150))))
            .collect();
        assert!(
            parse_python(&blocks, "a.py")
                .unwrap_err()
                .message
                .contains("blocks nest")
        );
        // Real code is far from the limits.
        let program = "def f(a):\n    return [(a + 1) * 2 for _ in range(3)] if a and not a.b.c else {'k': (1, 2)}\n";
        assert!(parse_python(program, "a.py").is_ok());
    }

    #[test]
    fn complexity_counts_branches_per_function() {
        let src = "def f(a, b):\n    if a and b:\n        return 1\n    for x in a:\n        pass\n    return 0\n\ndef g():\n    return 1\n";
        let suite = parse_python(src, "a.py").unwrap();
        let c = python_complexity(src, &suite);
        let f = c.iter().find(|f| f.name == "f").unwrap();
        assert_eq!((f.line, f.complexity), (1, 4));
        assert_eq!(c.iter().find(|f| f.name == "g").unwrap().complexity, 1);
    }
}
