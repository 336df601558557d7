//! One pass over a program's AST collecting what the checks and the fingerprint need.

use std::collections::HashSet;

use rustpython_ast::{self as ast, Visitor};
use rustpython_parser::Parse;

/// Facts about a parsed program.
#[derive(Debug, Default, Clone)]
pub struct Analysis {
    /// Top-level module names of every `import x.y` / `from x.y import z`.
    pub imports: Vec<String>,
    /// Names called directly: `eval(...)` gives `eval`.
    pub called_names: Vec<String>,
    /// Every name loaded, stored or deleted.
    pub names: Vec<String>,
    /// Attribute names accessed: `a.b` gives `b`.
    pub attributes: Vec<String>,
    /// Names bound by the program (defs, classes, parameters, assignments, imports, ...).
    pub bound: HashSet<String>,
    /// Names of top-level functions.
    pub top_level_functions: Vec<String>,
    /// Statements plus expressions.
    pub nodes: usize,
    /// Assignment expressions (`x := v`).
    pub walrus: usize,
    /// String constants (including the literal parts of f-strings): `getattr(x, "__code__")`,
    /// `operator.attrgetter("__globals__")` and `"{0.__class__}".format(x)` name attributes in text.
    pub strings: Vec<String>,
    /// Deepest nesting of statements and expressions the visit went through (what
    /// `nesting::nesting_bound` bounds from the tokens before parsing).
    pub depth: usize,
    level: usize,
}

/// Parses `source` as a module. Errors carry the parser's message with its location.
pub fn analyse(source: &str) -> Result<Analysis, String> {
    let suite = ast::Suite::parse(source, "<program>").map_err(|e| e.to_string())?;
    let mut analysis = Analysis::default();
    for stmt in &suite {
        match stmt {
            ast::Stmt::FunctionDef(def) => analysis.top_level_functions.push(def.name.to_string()),
            ast::Stmt::AsyncFunctionDef(def) => analysis.top_level_functions.push(def.name.to_string()),
            _ => {}
        }
    }
    for stmt in suite {
        analysis.visit_stmt(stmt);
    }
    Ok(analysis)
}

impl Analysis {
    fn enter(&mut self) {
        self.level += 1;
        self.depth = self.depth.max(self.level);
    }

    fn bind(&mut self, name: &str) {
        self.bound.insert(name.to_string());
    }

    /// Names a statement imports or binds.
    fn note_statement(&mut self, node: &ast::Stmt) {
        match node {
            ast::Stmt::FunctionDef(def) => {
                self.bind(def.name.as_str());
                self.bind_arguments(&def.args);
            }
            ast::Stmt::AsyncFunctionDef(def) => {
                self.bind(def.name.as_str());
                self.bind_arguments(&def.args);
            }
            ast::Stmt::ClassDef(def) => self.bind(def.name.as_str()),
            ast::Stmt::Import(import) => {
                for alias in &import.names {
                    let module = alias.name.as_str();
                    self.imports
                        .push(module.split('.').next().unwrap_or(module).to_string());
                    let bound = alias
                        .asname
                        .as_ref()
                        .map_or(module.split('.').next().unwrap_or(module), |a| a.as_str());
                    self.bind(bound);
                }
            }
            ast::Stmt::ImportFrom(import) => {
                if let Some(module) = &import.module {
                    self.imports
                        .push(module.as_str().split('.').next().unwrap_or("").to_string());
                } else {
                    self.imports.push(String::from("."));
                }
                for alias in &import.names {
                    self.bind(alias.asname.as_ref().unwrap_or(&alias.name).as_str());
                }
            }
            ast::Stmt::Global(g) => g.names.iter().for_each(|n| self.bind(n.as_str())),
            ast::Stmt::Nonlocal(n) => n.names.iter().for_each(|n| self.bind(n.as_str())),
            ast::Stmt::Try(t) => {
                for handler in &t.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = handler;
                    if let Some(name) = &h.name {
                        self.bind(name.as_str());
                    }
                }
            }
            _ => {}
        }
    }

    fn bind_arguments(&mut self, args: &ast::Arguments) {
        for arg in args.posonlyargs.iter().chain(&args.args).chain(&args.kwonlyargs) {
            self.bind(arg.def.arg.as_str());
        }
        for arg in args.vararg.iter().chain(&args.kwarg) {
            self.bind(arg.arg.as_str());
        }
    }
}

impl Visitor for Analysis {
    fn visit_stmt(&mut self, node: ast::Stmt) {
        // An `elif` is an `if` alone in the `orelse` of the one before it. The generic visitor
        // recursed once per `elif` (about 2.7 KiB of stack each); the chain is walked as a loop.
        let mut next = Some(node);
        while let Some(node) = next.take() {
            self.nodes += 1;
            self.enter();
            self.note_statement(&node);
            if let ast::Stmt::If(mut stmt) = node {
                let mut orelse = std::mem::take(&mut stmt.orelse);
                self.visit_expr(*stmt.test);
                for child in stmt.body {
                    self.visit_stmt(child);
                }
                if orelse.len() == 1 && matches!(orelse[0], ast::Stmt::If(_)) {
                    next = orelse.pop();
                } else {
                    for child in orelse {
                        self.visit_stmt(child);
                    }
                }
            } else {
                self.generic_visit_stmt(node);
            }
            self.level -= 1;
        }
    }

    // rustpython-ast 0.4's generic visitor does not descend into these nodes (its
    // `generic_visit_*` bodies are empty): without the overrides below, names in comprehensions,
    // keyword arguments, parameter defaults and annotations, `with` items and whole `match`
    // cases (bodies included) would escape every check.
    fn visit_comprehension(&mut self, node: ast::Comprehension) {
        self.nodes += 1;
        self.enter();
        self.visit_expr(node.target);
        self.visit_expr(node.iter);
        for condition in node.ifs {
            self.visit_expr(condition);
        }
        self.level -= 1;
    }

    fn visit_arguments(&mut self, node: ast::Arguments) {
        for arg in node.posonlyargs.into_iter().chain(node.args).chain(node.kwonlyargs) {
            self.visit_arg(arg.def);
            if let Some(default) = arg.default {
                self.visit_expr(*default);
            }
        }
        for arg in node.vararg.into_iter().chain(node.kwarg) {
            self.visit_arg(*arg);
        }
    }

    fn visit_arg(&mut self, node: ast::Arg) {
        self.nodes += 1;
        if let Some(annotation) = node.annotation {
            self.visit_expr(*annotation);
        }
    }

    fn visit_keyword(&mut self, node: ast::Keyword) {
        self.visit_expr(node.value);
    }

    fn visit_withitem(&mut self, node: ast::WithItem) {
        self.visit_expr(node.context_expr);
        if let Some(vars) = node.optional_vars {
            self.visit_expr(*vars);
        }
    }

    fn visit_match_case(&mut self, node: ast::MatchCase) {
        self.nodes += 1;
        self.enter();
        self.visit_pattern(node.pattern);
        if let Some(guard) = node.guard {
            self.visit_expr(*guard);
        }
        for stmt in node.body {
            self.visit_stmt(stmt);
        }
        self.level -= 1;
    }

    fn visit_pattern(&mut self, node: ast::Pattern) {
        self.enter();
        self.generic_visit_pattern(node);
        self.level -= 1;
    }

    fn visit_expr(&mut self, node: ast::Expr) {
        self.nodes += 1;
        self.enter();
        match &node {
            ast::Expr::Name(name) => {
                self.names.push(name.id.to_string());
                if !matches!(name.ctx, ast::ExprContext::Load) {
                    self.bind(name.id.as_str());
                }
            }
            ast::Expr::Attribute(attr) => self.attributes.push(attr.attr.to_string()),
            ast::Expr::Call(call) => {
                if let ast::Expr::Name(name) = call.func.as_ref() {
                    self.called_names.push(name.id.to_string());
                }
            }
            ast::Expr::Lambda(lambda) => self.bind_arguments(&lambda.args),
            ast::Expr::NamedExpr(_) => self.walrus += 1,
            ast::Expr::Constant(c) => match &c.value {
                ast::Constant::Str(text) => self.strings.push(text.clone()),
                // `b'__globals__'.decode()` names an attribute too.
                ast::Constant::Bytes(bytes) => self.strings.push(String::from_utf8_lossy(bytes).into_owned()),
                _ => {}
            },
            _ => {}
        }
        self.generic_visit_expr(node);
        self.level -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_facts() {
        let a = analyse("import os.path as p\nfrom math import sqrt\ndef f(x, *a, k=1):\n    '''doc'''\n    y = eval(x)\n    return p.join(y)\n")
            .unwrap_or_default();
        assert_eq!(a.imports, vec!["os", "math"]);
        assert_eq!(a.called_names, vec!["eval"]);
        assert_eq!(a.top_level_functions, vec!["f"]);
        assert!(["p", "sqrt", "f", "x", "a", "k", "y"]
            .iter()
            .all(|n| a.bound.contains(*n)));
        assert!(!a.bound.contains("eval"));
        assert_eq!(a.attributes, vec!["join"]);
        assert!(a.nodes > 5);
        assert!(analyse("def f(:\n").is_err());
    }
}
