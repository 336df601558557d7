//! Static checks of proposed programs and inputs, by AST: syntax, the entry
//! function, banned imports/calls/attributes, and size limits.

use std::collections::HashSet;

use rustpython_ast::{self as ast, Visitor};
use rustpython_parser::Parse;

use super::analysis::{analyse, Analysis};
use super::nesting::{nesting_bound, NestingError, MAX_NESTING};

/// What a program may contain. Defaults (see [`Default`]): entry `f`; at most
/// 10,000 characters and 2,000 AST nodes; bans listed in the `DEFAULT_*` constants.
#[derive(Debug, Clone)]
pub struct CheckPolicy {
    pub entry: String,
    /// Modules whose import (any form) rejects a program. An attribute of the same name
    /// (`statistics.sys`, `base64.binascii`) rejects it too: allowed modules hold banned ones.
    pub banned_modules: HashSet<String>,
    /// Modules whose values a solver cannot work out from the program (checksums, digests, seeded
    /// generators, the clock): importing one, or an attribute of its name, rejects a program as
    /// `opaque`.
    pub opaque_modules: HashSet<String>,
    /// Builtins whose values a solver cannot work out from the program (`hash`, `id`): naming one
    /// rejects a program as `opaque`.
    pub opaque_names: HashSet<String>,
    pub banned_calls: HashSet<String>,
    pub banned_names: HashSet<String>,
    pub banned_attributes: HashSet<String>,
    pub max_chars: usize,
    pub max_nodes: usize,
}

/// Modules whose import rejects a program: system access, concurrency, interpreter internals.
pub const DEFAULT_BANNED_MODULES: &[&str] = &[
    "os",
    "sys",
    "subprocess",
    "socket",
    "threading",
    "multiprocessing",
    "concurrent",
    "asyncio",
    "calendar",
    "shutil",
    "pathlib",
    "io",
    "tempfile",
    "glob",
    "ctypes",
    "signal",
    "importlib",
    "inspect",
    "gc",
    "builtins",
    "pickle",
    "marshal",
    "shelve",
    "code",
    "codeop",
    "pty",
    "resource",
    "platform",
    "sysconfig",
    "mmap",
    "select",
    "selectors",
    "fcntl",
    "faulthandler",
    "atexit",
    "traceback",
    "types",
    "urllib",
    "http",
    "ftplib",
    "smtplib",
    "ssl",
    "logging",
    "weakref",
    "posix",
    // Found in the guest's modules by `tests/test_static_checks.py`: import machinery, the site and
    // path plumbing, bytecode, and annotation evaluation (which runs strings as expressions).
    "_frozen_importlib",
    "_frozen_importlib_external",
    "site",
    "_sitebuiltins",
    "posixpath",
    "genericpath",
    "linecache",
    "dis",
    "opcode",
    "_opcode",
    "_opcode_metadata",
    "annotationlib",
    "_weakref",
    "_weakrefset",
    "_warnings",
    "copyreg",
    "_abc",
    "_types",
    // Import machinery reachable without `importlib` (found in review: `pkgutil.resolve_name`).
    "pkgutil",
    "runpy",
    "zipimport",
    "_imp",
    "_thread",
    "_io",
    "_os",
    // The guest's own plumbing: its harness and the bindings that report results.
    "azr_guest",
    "wit_world",
    "componentize_py_runtime",
    "componentize_py_types",
];

/// Modules whose values a solver cannot work out by reading the program: checksums and digests,
/// compression, seeded and unseeded generators, the clock, the platform.
pub const DEFAULT_OPAQUE_MODULES: &[&str] = &[
    "zlib",
    "binascii",
    "compression",
    "hashlib",
    "_hashlib",
    "hmac",
    "_hmac",
    "_md5",
    "_sha1",
    "_sha2",
    "_sha3",
    "_blake2",
    "random",
    "_random",
    "secrets",
    "uuid",
    "time",
    "datetime",
    "_datetime",
    "zoneinfo",
    "platform",
];

/// Builtins whose values a solver cannot work out by reading the program: `hash` (of a tuple, a
/// float, or a string under a secret), `id` (a memory address) and `dir` (the interpreter's own
/// attribute lists, which change between versions). A program that binds the name itself (`def
/// f(id)`) uses its own value, not the builtin.
pub const DEFAULT_OPAQUE_NAMES: &[&str] = &["hash", "id", "dir"];

/// Builtins whose call rejects a program: they only act when called (and fail in the guest,
/// which has no stdin or files), so a parameter or variable of that name is fine (`def f(input)`).
pub const DEFAULT_BANNED_CALLS: &[&str] = &["open", "input", "exit", "quit", "help"];

/// Builtins rejected wherever they are named, called or not: each runs code or reaches
/// interpreter state, and a reference is enough to call it under another name
/// (`[eval][0](...)`, `g = exec`, `lambda e=getattr: ...`).
pub const DEFAULT_BANNED_NAMES: &[&str] = &[
    "eval",
    "exec",
    "compile",
    "__import__",
    "globals",
    "locals",
    "vars",
    "breakpoint",
    "getattr",
    "setattr",
    "delattr",
    "memoryview",
];

/// Attribute and variable names that reach interpreter internals.
pub const DEFAULT_BANNED_ATTRIBUTES: &[&str] = &[
    "__globals__",
    "__builtins__",
    "__subclasses__",
    "__code__",
    "__closure__",
    "__getattribute__",
    "__import__",
    "__loader__",
    "__spec__",
    "__mro__",
    "__bases__",
    "__base__",
    "__dict__",
    "__class__",
    "f_globals",
    "f_locals",
    "f_back",
    "f_builtins",
    "gi_frame",
    "cr_frame",
    "tb_frame",
    "_getframe",
    // Attribute access by a string the checks cannot see (`attrgetter('_'*2 + 'code' + '_'*2)`).
    "attrgetter",
    "methodcaller",
    // A builtin function's module (`print.__self__` is `builtins`), and hashing by the dunder.
    "__self__",
    "__hash__",
    // Names under which allowed modules hold banned ones (`collections._sys`, `enum.bltns`,
    // `statistics._random`; listed from the guest by `tests/test_static_checks.py`).
    "_sys",
    "_os",
    "_random",
    "_types",
    "bltns",
    // Attribute access by a computed name: `string.Formatter().get_field("0.sys", [enum], {})` is a
    // `getattr` (found in review), and an object's size is the interpreter's own detail.
    "get_field",
    "__sizeof__",
    // Annotation evaluation runs a string as an expression (`typing.get_type_hints`).
    "get_type_hints",
    "ForwardRef",
    "_eval_type",
    "evaluate_forward_ref",
];

impl Default for CheckPolicy {
    fn default() -> Self {
        let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        CheckPolicy {
            entry: "f".into(),
            banned_modules: set(DEFAULT_BANNED_MODULES),
            opaque_modules: set(DEFAULT_OPAQUE_MODULES),
            opaque_names: set(DEFAULT_OPAQUE_NAMES),
            banned_calls: set(DEFAULT_BANNED_CALLS),
            banned_names: set(DEFAULT_BANNED_NAMES),
            banned_attributes: set(DEFAULT_BANNED_ATTRIBUTES),
            max_chars: 10_000,
            max_nodes: 2_000,
        }
    }
}

/// Why a program or input was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    TooLong {
        chars: usize,
        max: usize,
    },
    Syntax(String),
    TooManyNodes {
        nodes: usize,
        max: usize,
    },
    MissingEntry(String),
    BannedImport(String),
    BannedCall(String),
    BannedAttribute(String),
    ReservedName(String),
    /// Syntax not allowed in answers (walrus, dunder attributes).
    AnswerSyntax(String),
    /// Text that had to be a plain data literal is not.
    NotLiteral(String),
    /// Text that cannot be UTF-8 (a lone surrogate), so it cannot be Python source.
    NotUnicode,
    /// An identifier with non-ASCII characters: CPython NFKC-normalises identifiers
    /// (`ｅｖａｌ` is `eval`), rustpython does not, so such names would slip past the bans.
    NonAsciiName(String),
    /// A program whose value depends on something a solver cannot work out by reading it.
    Opaque(String),
    /// Text whose syntax tree could nest deeper than `max` levels (counted on its tokens, before
    /// parsing: a deeper tree would overflow the stacks of the recursive checks).
    TooDeep {
        max: usize,
    },
}

impl Rejection {
    /// A short machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::TooLong { .. } => "too_long",
            Rejection::Syntax(_) => "syntax_error",
            Rejection::TooManyNodes { .. } => "too_many_nodes",
            Rejection::MissingEntry(_) => "missing_entry",
            Rejection::BannedImport(_) => "banned_import",
            Rejection::BannedCall(_) => "banned_call",
            Rejection::BannedAttribute(_) => "banned_attribute",
            Rejection::ReservedName(_) => "reserved_name",
            Rejection::AnswerSyntax(_) => "answer_syntax",
            Rejection::NotLiteral(_) => "not_literal",
            Rejection::NotUnicode => "not_unicode",
            Rejection::NonAsciiName(_) => "non_ascii_name",
            Rejection::TooDeep { .. } => "too_deep",
            Rejection::Opaque(_) => "opaque",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::TooLong { chars, max } => write!(f, "text has {chars} characters (max {max})"),
            Rejection::Syntax(msg) => write!(f, "syntax error: {msg}"),
            Rejection::TooManyNodes { nodes, max } => write!(f, "program has {nodes} AST nodes (max {max})"),
            Rejection::MissingEntry(entry) => write!(f, "no top-level function `{entry}`"),
            Rejection::BannedImport(m) => write!(f, "imports banned module `{m}`"),
            Rejection::BannedCall(c) => write!(f, "uses banned builtin `{c}`"),
            Rejection::BannedAttribute(a) => write!(f, "uses banned name `{a}`"),
            Rejection::AnswerSyntax(what) => write!(f, "answers may not use {what}"),
            Rejection::NotLiteral(what) => write!(f, "not a plain data literal: {what}"),
            Rejection::NotUnicode => write!(f, "text holds a lone surrogate, so it is not valid UTF-8 source"),
            Rejection::NonAsciiName(n) => write!(f, "identifier `{n}` is not ASCII (Python would NFKC-normalise it)"),
            Rejection::ReservedName(n) => write!(f, "uses `{n}`: names starting with `{RESERVED_PREFIX}` are azr's"),
            Rejection::TooDeep { max } => write!(f, "nests deeper than {max} levels"),
            Rejection::Opaque(what) => write!(
                f,
                "uses {what}, whose values a solver cannot work out by reading the program"
            ),
        }
    }
}

/// Checks a proposed program; returns its analysis when it passes.
pub fn check_program(source: &str, policy: &CheckPolicy) -> Result<Analysis, Rejection> {
    within(source, policy.max_chars)?;
    shallow(source, rustpython_parser::Mode::Module)?;
    let analysis = analyse(source).map_err(Rejection::Syntax)?;
    ascii_names(source, rustpython_parser::Mode::Module)?;
    if analysis.nodes > policy.max_nodes {
        return Err(Rejection::TooManyNodes {
            nodes: analysis.nodes,
            max: policy.max_nodes,
        });
    }
    if !analysis.top_level_functions.contains(&policy.entry) {
        return Err(Rejection::MissingEntry(policy.entry.clone()));
    }
    check_facts(&analysis, policy)?;
    Ok(analysis)
}

/// Rejects text longer than `max` characters.
fn within(text: &str, max: usize) -> Result<(), Rejection> {
    let chars = text.chars().count();
    if chars > max {
        return Err(Rejection::TooLong { chars, max });
    }
    Ok(())
}

/// Rejects text whose tree could nest past [`MAX_NESTING`], before anything recursive (the
/// parser's tree and its drop, the visitors) sees it.
fn shallow(text: &str, mode: rustpython_parser::Mode) -> Result<(), Rejection> {
    match nesting_bound(text, mode, MAX_NESTING) {
        Ok(_) => Ok(()),
        Err(NestingError::TooDeep { max }) => Err(Rejection::TooDeep { max }),
        Err(NestingError::Lexical(message)) => Err(Rejection::Syntax(message)),
    }
}

/// Names azr's graders define next to model-written code; model code may not use them.
pub const RESERVED_PREFIX: &str = "__azr";

fn check_facts(analysis: &Analysis, policy: &CheckPolicy) -> Result<(), Rejection> {
    let mut all_names = analysis
        .names
        .iter()
        .chain(&analysis.attributes)
        .chain(analysis.bound.iter());
    if let Some(n) = all_names.find(|n| n.starts_with(RESERVED_PREFIX)) {
        return Err(Rejection::ReservedName(n.clone()));
    }
    if let Some(m) = analysis.imports.iter().find(|m| policy.opaque_modules.contains(*m)) {
        return Err(Rejection::Opaque(format!("module `{m}`")));
    }
    if let Some(m) = analysis.imports.iter().find(|m| policy.banned_modules.contains(*m)) {
        return Err(Rejection::BannedImport(m.clone()));
    }
    // A module reached as an attribute of another (`statistics.random`, `base64.binascii`).
    if let Some(m) = analysis.attributes.iter().find(|a| policy.opaque_modules.contains(*a)) {
        return Err(Rejection::Opaque(format!("module `{m}` (as an attribute)")));
    }
    if let Some(m) = analysis.attributes.iter().find(|a| policy.banned_modules.contains(*a)) {
        return Err(Rejection::BannedAttribute(format!(
            "{m} (a banned module, as an attribute)"
        )));
    }
    // By reference, not by call: `[eval][0](...)`, `g = exec`, `lambda e=eval: e(...)` and a
    // parameter named `getattr` all name the builtin without calling it by that name.
    let referenced = || analysis.names.iter().chain(analysis.bound.iter());
    let builtin = |n: &&String| policy.opaque_names.contains(*n) && !analysis.bound.contains(*n);
    if let Some(c) = analysis.names.iter().find(builtin) {
        return Err(Rejection::Opaque(format!("`{c}`")));
    }
    if let Some(c) = referenced().find(|c| policy.banned_names.contains(*c)) {
        return Err(Rejection::BannedCall(c.clone()));
    }
    if let Some(c) = analysis.called_names.iter().find(|c| policy.banned_calls.contains(*c)) {
        return Err(Rejection::BannedCall(c.clone()));
    }
    let names = analysis.attributes.iter().chain(referenced());
    if let Some(a) = names.into_iter().find(|a| policy.banned_attributes.contains(*a)) {
        return Err(Rejection::BannedAttribute(a.clone()));
    }
    if let Some(a) = analysis.strings.iter().find_map(|text| banned_in_text(text, policy)) {
        return Err(Rejection::BannedAttribute(a));
    }
    Ok(())
}

/// Rejects any non-ASCII identifier token (checked on the token stream, so no AST position
/// can hide one: names, attributes, parameters, imports, keywords, `match` captures).
fn ascii_names(source: &str, mode: rustpython_parser::Mode) -> Result<(), Rejection> {
    use rustpython_parser::{lexer, Tok};
    for token in lexer::lex(source, mode).flatten() {
        if let (Tok::Name { name }, _) = token {
            if !name.is_ascii() {
                return Err(Rejection::NonAsciiName(name.to_string()));
            }
        }
    }
    Ok(())
}

/// A banned attribute named inside a string constant: dunders anywhere in the text (they are
/// distinctive: `"__code__"`, `"{0.__globals__}"`), other names (`f_globals`) as a whole
/// dotted component (`"gi_frame.f_back"`), so ordinary words are not caught.
fn banned_in_text(text: &str, policy: &CheckPolicy) -> Option<String> {
    let mut banned: Vec<&String> = policy.banned_attributes.iter().collect();
    banned.sort();
    for name in banned {
        let found = if name.starts_with("__") {
            text.contains(name.as_str())
        } else {
            text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|part| part == name)
        };
        if found {
            return Some(format!("{name} (in a string)"));
        }
    }
    None
}

/// Checks an input (argument text for the entry function): `f(<text>)` must
/// parse as exactly one call of the entry function, with the same bans as programs.
pub fn check_input(text: &str, policy: &CheckPolicy) -> Result<(), Rejection> {
    check_wrapped(text, &policy.entry, policy, false)
}

/// Checks a value (e.g. a predicted output): `(<text>)` must be exactly one
/// expression, so it cannot escape the grader's expression it is placed in.
pub fn check_value(text: &str, policy: &CheckPolicy) -> Result<(), Rejection> {
    check_wrapped(text, "__azr_value", policy, true)
}

fn check_wrapped(text: &str, callee: &str, policy: &CheckPolicy, single: bool) -> Result<(), Rejection> {
    within(text, policy.max_chars)?;
    let call = format!("{callee}({text}\n)");
    shallow(&call, rustpython_parser::Mode::Expression)?;
    let expr = ast::Expr::parse(&call, "<input>").map_err(|e| Rejection::Syntax(e.to_string()))?;
    ascii_names(&call, rustpython_parser::Mode::Expression)?;
    let ast::Expr::Call(c) = &expr else {
        return Err(Rejection::Syntax("not a single argument list".into()));
    };
    let plain_callee = matches!(c.func.as_ref(), ast::Expr::Name(n) if n.id.as_str() == callee);
    let one_value = c.args.len() == 1 && c.keywords.is_empty() && !matches!(c.args[0], ast::Expr::Starred(_));
    if !plain_callee || (single && !one_value) {
        return Err(Rejection::Syntax(
            if single {
                "not a single value"
            } else {
                "not a plain argument list"
            }
            .into(),
        ));
    }
    let mut analysis = Analysis::default();
    analysis.visit_expr(expr);
    if analysis.nodes > policy.max_nodes {
        return Err(Rejection::TooManyNodes {
            nodes: analysis.nodes,
            max: policy.max_nodes,
        });
    }
    analysis.names.retain(|n| n != callee);
    check_facts(&analysis, policy)?;
    // An answer is evaluated next to the task's program: a walrus could rebind the program's
    // helpers and a dunder attribute could patch the classes it uses, before `f` runs.
    if analysis.walrus > 0 {
        return Err(Rejection::AnswerSyntax("assignment expressions (:=)".into()));
    }
    if let Some(a) = analysis.attributes.iter().find(|a| a.starts_with("__")) {
        return Err(Rejection::AnswerSyntax(format!("dunder attributes (`{a}`)")));
    }
    Ok(())
}

/// Checks that `text` is an argument list of plain data: `f(<text>)` must be one call
/// whose positional arguments are each a [`check_literal`] literal and whose keyword
/// arguments are `name=<literal>` with ASCII identifiers (no `*`/`**` unpacking). A
/// grader can then pass the values to a program without any of the text running as code.
pub fn check_arguments(text: &str) -> Result<(), Rejection> {
    literal_bounds(text)?;
    let c = argument_list(text, false)?;
    c.args.iter().try_for_each(element)?;
    for keyword in &c.keywords {
        let Some(name) = &keyword.arg else {
            return Err(Rejection::NotLiteral("`**` unpacking is not plain data".into()));
        };
        let name = name.as_str();
        let plain = name.is_ascii() && !name.starts_with("__") && !name.is_empty();
        if !plain {
            return Err(Rejection::NotLiteral(format!(
                "keyword `{name}` is not a plain ASCII name"
            )));
        }
        literal(&keyword.value)?;
    }
    Ok(())
}

/// Builtins a pure argument may name: functions of their arguments only (no code from a string, no
/// attribute by name, no access to modules, frames or globals).
pub const PURE_BUILTINS: &[&str] = &[
    "abs",
    "all",
    "any",
    "bin",
    "bool",
    "bytes",
    "chr",
    "dict",
    "divmod",
    "enumerate",
    "float",
    "frozenset",
    "hex",
    "int",
    "len",
    "list",
    "max",
    "min",
    "oct",
    "ord",
    "pow",
    "range",
    "reversed",
    "round",
    "set",
    "sorted",
    "str",
    "sum",
    "tuple",
    "zip",
];

/// Checks that `text` is an argument list of *pure* expressions, for CRUXEval's compatibility mode
/// (never for rewards): literals, operators, displays, subscripts, conditionals, calls of
/// [`PURE_BUILTINS`], method calls with plain (not dunder, not banned) names, and lambdas whose bodies
/// are pure and name only their own parameters: `[6, 4, 2], lambda x: x < 2`, `range(100, 120)`,
/// `''.join(['A'] * 20)`. Such an argument names nothing of the task's program (not `f`, no global),
/// so it cannot search for an answer by calling `f`; a grader may place it, as written, in the call
/// it runs. Keyword arguments must be plain ASCII names; no `*`/`**` unpacking.
pub fn check_pure_arguments(text: &str, policy: &CheckPolicy) -> Result<(), Rejection> {
    check_pure_call(None, text, policy)
}

/// [`check_pure_arguments`] for a call of `program`'s entry function: a pure builtin the program
/// binds itself (`def max(...)`, `sum = f`) would run the program's code, so an answer naming it is
/// not pure.
pub fn check_pure_call(program: Option<&str>, text: &str, policy: &CheckPolicy) -> Result<(), Rejection> {
    let shadowed = match program {
        Some(source) => {
            shallow(source, rustpython_parser::Mode::Module)?;
            analyse(source).map_err(Rejection::Syntax)?.bound
        }
        None => HashSet::new(),
    };
    within(text, policy.max_chars)?;
    let c = argument_list(text, true)?;
    let scope = Scope {
        parameters: Vec::new(),
        shadowed: &shadowed,
    };
    for arg in &c.args {
        pure(arg, &scope, policy)?;
    }
    for keyword in &c.keywords {
        let Some(name) = &keyword.arg else {
            return Err(Rejection::NotLiteral("`**` unpacking is not a pure argument".into()));
        };
        if !name.as_str().is_ascii() || name.as_str().starts_with("__") {
            return Err(Rejection::NotLiteral(format!(
                "keyword `{}` is not a plain ASCII name",
                name.as_str()
            )));
        }
        pure(&keyword.value, &scope, policy)?;
    }
    Ok(())
}

/// What a pure expression may name: the parameters of the lambdas around it, and the pure builtins
/// the program does not bind itself.
struct Scope<'a> {
    parameters: Vec<String>,
    shadowed: &'a HashSet<String>,
}

/// Whether `expr` is pure in `scope`.
fn pure(expr: &ast::Expr, scope: &Scope<'_>, policy: &CheckPolicy) -> Result<(), Rejection> {
    let not = |what: String| Err(Rejection::NotLiteral(format!("{what} is not a pure argument")));
    let all = |items: &[ast::Expr]| items.iter().try_for_each(|e| pure(e, scope, policy));
    match expr {
        ast::Expr::Constant(_) => Ok(()),
        ast::Expr::Name(n) => {
            let name = n.id.as_str();
            let builtin = PURE_BUILTINS.contains(&name) && !scope.shadowed.contains(name);
            if scope.parameters.iter().any(|p| p == name) || builtin {
                Ok(())
            } else {
                not(format!("the name `{name}`"))
            }
        }
        ast::Expr::UnaryOp(u) => pure(&u.operand, scope, policy),
        ast::Expr::BinOp(b) => pure(&b.left, scope, policy).and_then(|()| pure(&b.right, scope, policy)),
        ast::Expr::BoolOp(b) => all(&b.values),
        ast::Expr::Compare(c) => pure(&c.left, scope, policy).and_then(|()| all(&c.comparators)),
        ast::Expr::IfExp(i) => {
            pure(&i.test, scope, policy)?;
            pure(&i.body, scope, policy)?;
            pure(&i.orelse, scope, policy)
        }
        ast::Expr::Tuple(t) => all(&t.elts),
        ast::Expr::List(l) => all(&l.elts),
        ast::Expr::Set(s) => all(&s.elts),
        ast::Expr::Dict(d) => {
            if d.keys.iter().any(Option::is_none) {
                return not("dict unpacking".into());
            }
            d.keys.iter().flatten().try_for_each(|e| pure(e, scope, policy))?;
            all(&d.values)
        }
        ast::Expr::Subscript(s) => pure(&s.value, scope, policy).and_then(|()| pure(&s.slice, scope, policy)),
        ast::Expr::Slice(s) => [&s.lower, &s.upper, &s.step]
            .into_iter()
            .flatten()
            .try_for_each(|e| pure(e, scope, policy)),
        ast::Expr::Attribute(a) => {
            let attr = a.attr.as_str();
            let hidden = attr.starts_with('_')
                || policy.banned_attributes.contains(attr)
                || policy.banned_modules.contains(attr)
                || policy.opaque_modules.contains(attr);
            if hidden {
                return not(format!("the attribute `{attr}`"));
            }
            pure(&a.value, scope, policy)
        }
        ast::Expr::Call(call) => {
            let callee_ok = match call.func.as_ref() {
                ast::Expr::Name(n) => PURE_BUILTINS.contains(&n.id.as_str()) && !scope.shadowed.contains(n.id.as_str()),
                ast::Expr::Attribute(_) => true,
                _ => false,
            };
            if !callee_ok {
                return not("a call of anything but a pure builtin or a method".into());
            }
            pure(&call.func, scope, policy)?;
            if call.args.iter().any(|a| matches!(a, ast::Expr::Starred(_)))
                || call.keywords.iter().any(|k| k.arg.is_none())
            {
                return not("unpacking".into());
            }
            all(&call.args)?;
            call.keywords.iter().try_for_each(|k| pure(&k.value, scope, policy))
        }
        ast::Expr::Lambda(lambda) => {
            let args = &lambda.args;
            let mut inner = Scope {
                parameters: scope.parameters.clone(),
                shadowed: scope.shadowed,
            };
            for arg in args.posonlyargs.iter().chain(&args.args).chain(&args.kwonlyargs) {
                if let Some(default) = &arg.default {
                    pure(default, scope, policy)?;
                }
                inner.parameters.push(arg.def.arg.to_string());
            }
            for arg in args.vararg.iter().chain(&args.kwarg) {
                inner.parameters.push(arg.arg.to_string());
            }
            pure(&lambda.body, &inner, policy)
        }
        _ => not("this expression".into()),
    }
}

/// `text` parsed as the argument list of one call (`__azr_args(<text>)`), after the nesting bound and,
/// with `ascii`, the identifier check.
fn argument_list(text: &str, ascii: bool) -> Result<ast::ExprCall, Rejection> {
    let call = format!("__azr_args({text}\n)");
    shallow(&call, rustpython_parser::Mode::Expression)?;
    if ascii {
        ascii_names(&call, rustpython_parser::Mode::Expression)?;
    }
    let expr = ast::Expr::parse(&call, "<arguments>").map_err(|e| Rejection::Syntax(e.to_string()))?;
    match expr {
        ast::Expr::Call(c) if matches!(c.func.as_ref(), ast::Expr::Name(n) if n.id.as_str() == "__azr_args") => Ok(c),
        _ => Err(Rejection::NotLiteral("not an argument list".into())),
    }
}

/// Longest text [`check_literal`] accepts (the sandbox's default output cap).
pub const LITERAL_MAX_CHARS: usize = 65_536;
/// Deepest nesting of brackets [`check_literal`] accepts.
pub const LITERAL_MAX_DEPTH: usize = 100;

/// Checks that `text` is plain data written as a literal, as `repr` writes
/// built-in values: numbers (signed, complex), strings, bytes, `True`/`False`/
/// `None`, and tuples, lists, dicts and sets of those, plus `set()` and
/// `frozenset(...)`. Evaluating such text runs no code, so a grader may
/// evaluate a value reported by a model's program without that program being
/// able to influence the verdict.
pub fn check_literal(text: &str) -> Result<(), Rejection> {
    literal_bounds(text)?;
    let expr = ast::Expr::parse(text, "<value>").map_err(|e| Rejection::Syntax(e.to_string()))?;
    literal(&expr)
}

/// Size and nesting bounds of literal text, checked before the (recursive) parser sees it.
fn literal_bounds(text: &str) -> Result<(), Rejection> {
    within(text, LITERAL_MAX_CHARS)?;
    literal_shape(text)?;
    shallow(text, rustpython_parser::Mode::Expression)
}

/// Checks the token stream (the lexer is not recursive): bracket nesting at most
/// [`LITERAL_MAX_DEPTH`] and no sign directly after a sign (`--1` nests too).
fn literal_shape(text: &str) -> Result<(), Rejection> {
    use rustpython_parser::{lexer, Mode, Tok};
    let mut depth = 0usize;
    let mut after_sign = false;
    for token in lexer::lex(text, Mode::Expression) {
        let (token, _) = token.map_err(|e| Rejection::Syntax(format!("{:?}", e.error)))?;
        match token {
            Tok::Lpar | Tok::Lsqb | Tok::Lbrace => {
                depth += 1;
                if depth > LITERAL_MAX_DEPTH {
                    return Err(Rejection::NotLiteral(format!("nested deeper than {LITERAL_MAX_DEPTH}")));
                }
            }
            Tok::Rpar | Tok::Rsqb | Tok::Rbrace => depth = depth.saturating_sub(1),
            _ => {}
        }
        let sign = matches!(token, Tok::Minus | Tok::Plus);
        if sign && after_sign {
            return Err(Rejection::NotLiteral("repeated signs".into()));
        }
        after_sign = sign;
    }
    Ok(())
}

/// Bits of the largest integer Python writes in decimal (`sys.int_info.default_max_str_digits`
/// is 4300 digits): a bigger one, spelled in hex, would make `repr` raise.
const LITERAL_MAX_INT_BITS: u64 = 14_280;

fn literal(expr: &ast::Expr) -> Result<(), Rejection> {
    let not = |what: &str| Err(Rejection::NotLiteral(format!("{what} is not plain data")));
    match expr {
        ast::Expr::Constant(c) if matches!(&c.value, ast::Constant::Int(i) if i.bits() > LITERAL_MAX_INT_BITS) => {
            not("an integer of more than 4300 digits")
        }
        ast::Expr::Constant(c) if !matches!(c.value, ast::Constant::Ellipsis) => Ok(()),
        ast::Expr::UnaryOp(u) if matches!(u.op, ast::UnaryOp::USub | ast::UnaryOp::UAdd) => number(&u.operand),
        // Complex numbers: `(1+2j)`, `(-0-1j)`.
        ast::Expr::BinOp(b) if matches!(b.op, ast::Operator::Add | ast::Operator::Sub) => {
            number(&b.left)?;
            match b.right.as_ref() {
                ast::Expr::Constant(c) if matches!(c.value, ast::Constant::Complex { .. }) => Ok(()),
                _ => not("arithmetic"),
            }
        }
        ast::Expr::Tuple(t) => t.elts.iter().try_for_each(element),
        ast::Expr::List(l) => l.elts.iter().try_for_each(element),
        ast::Expr::Set(s) => s.elts.iter().try_for_each(element),
        ast::Expr::Dict(d) => {
            // A `None` key is a `**mapping` unpacking.
            if d.keys.iter().any(Option::is_none) {
                return not("dict unpacking");
            }
            d.keys.iter().flatten().chain(d.values.iter()).try_for_each(literal)
        }
        ast::Expr::Call(call) => {
            let name = match call.func.as_ref() {
                ast::Expr::Name(n) => n.id.as_str(),
                _ => "",
            };
            let arg_ok = match call.args.as_slice() {
                [] => true,
                [ast::Expr::Set(_)] => name == "frozenset",
                _ => false,
            };
            if (name == "set" || name == "frozenset") && arg_ok && call.keywords.is_empty() {
                call.args.iter().try_for_each(literal)
            } else {
                not("a call")
            }
        }
        _ => not("this expression"),
    }
}

fn element(expr: &ast::Expr) -> Result<(), Rejection> {
    if matches!(expr, ast::Expr::Starred(_)) {
        return Err(Rejection::NotLiteral("unpacking is not plain data".into()));
    }
    literal(expr)
}

fn number(expr: &ast::Expr) -> Result<(), Rejection> {
    match expr {
        ast::Expr::Constant(c)
            if matches!(
                c.value,
                ast::Constant::Int(_) | ast::Constant::Float(_) | ast::Constant::Complex { .. }
            ) =>
        {
            Ok(())
        }
        ast::Expr::UnaryOp(u) if matches!(u.op, ast::UnaryOp::USub | ast::UnaryOp::UAdd) => number(&u.operand),
        _ => Err(Rejection::NotLiteral("a sign on a non-number".into())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn literals_are_what_repr_writes_for_plain_data() {
        for text in [
            "1",
            "-2.5",
            "(1+2j)",
            "(-0-1j)",
            "'a\\'b'",
            "b'\\x00'",
            "None",
            "True",
            "[1, (2, 3), {'k': [4]}, {5, 6}]",
            "set()",
            "frozenset({1, 2})",
            "frozenset()",
            "()",
            "{}",
            "'[[[[[['",
            "0xffff",
        ] {
            assert_eq!(check_literal(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn anything_that_could_run_code_is_not_a_literal() {
        for text in [
            "f(1)",
            "x",
            "inf",
            "1 + 1",
            "[i for i in range(3)]",
            "set([1])",
            "frozenset({1}, key=1)",
            "{**d}",
            "[*a]",
            "-x",
            "'a'.upper()",
            "lambda: 0",
            "(x := 1)",
            "...",
            "1; 2",
            "'unterminated",
            "--1",
            "-+1",
        ] {
            assert!(check_literal(text).is_err(), "{text}");
        }
        let deep = format!(
            "{}{}",
            "[".repeat(LITERAL_MAX_DEPTH + 1),
            "]".repeat(LITERAL_MAX_DEPTH + 1)
        );
        assert!(matches!(check_literal(&deep), Err(Rejection::NotLiteral(_))));
        let huge = format!("0x{}", "f".repeat(5000));
        assert!(
            matches!(check_literal(&huge), Err(Rejection::NotLiteral(_))),
            "an int repr cannot write"
        );
        let ok = format!("{}{}", "[".repeat(LITERAL_MAX_DEPTH), "]".repeat(LITERAL_MAX_DEPTH));
        assert_eq!(check_literal(&ok), Ok(()));
        assert!(matches!(
            check_literal(&"1".repeat(LITERAL_MAX_CHARS + 1)),
            Err(Rejection::TooLong { .. })
        ));
        // Ways past a character-level depth count (found in review): triple-quoted strings and
        // comments that hide brackets, and long chains of signs. All rejected before parsing.
        let many = 20_000;
        let deep = format!("{}{}", "[".repeat(many), "]".repeat(many));
        let hidden = [
            format!("'''a'b''', {deep}, '''c'd'''"),
            format!("[#'\n{deep}\n#']"),
            format!("{}1", "-".repeat(60_000)),
            format!("{}1{}", "-(".repeat(30_000), ")".repeat(30_000)),
        ];
        for text in hidden {
            assert!(check_literal(&text).is_err(), "{}", &text[..40]);
        }
        assert_eq!(check_literal("[1, # a comment\n 2]"), Ok(()));
    }

    use super::*;

    fn reason(src: &str) -> Option<&'static str> {
        check_program(src, &CheckPolicy::default()).err().map(|r| r.kind())
    }

    #[test]
    fn accepts_plain_programs_with_helpers() {
        assert_eq!(
            reason("def g(x):\n    return x\n\ndef f(a):\n    def h():\n        return 1\n    return g(a) + h()"),
            None
        );
        assert_eq!(
            reason("import math\nfrom collections import Counter\ndef f(a):\n    return math.sqrt(a)"),
            None
        );
    }

    #[test]
    fn rejects_with_reasons() {
        assert_eq!(reason("def f(:"), Some("syntax_error"));
        assert_eq!(reason("def g(a):\n    return a"), Some("missing_entry"));
        assert_eq!(reason("import os\ndef f(a):\n    return a"), Some("banned_import"));
        assert_eq!(
            reason("from os.path import join\ndef f(a):\n    return a"),
            Some("banned_import")
        );
        assert_eq!(reason("def f(a):\n    return eval(a)"), Some("banned_call"));
        assert_eq!(reason("def f(a):\n    return f.__globals__"), Some("banned_attribute"));
        assert_eq!(reason("def f(a):\n    return __builtins__"), Some("banned_attribute"));
        assert_eq!(
            reason(&format!("def f(a):\n    return [{}]", "1, ".repeat(2500))),
            Some("too_many_nodes")
        );
        assert_eq!(
            reason(&format!("def f(a):\n    return {}", "1 + ".repeat(1500) + "1")),
            Some("too_deep")
        );
        assert_eq!(reason(&"#".repeat(20_000)), Some("too_long"));
    }

    #[test]
    fn banned_names_are_rejected_wherever_they_are_referenced() {
        for (src, kind) in [
            ("def f(a):\n    return [eval][0](a)", "banned_call"),
            ("def f(a):\n    g = exec\n    return g(a)", "banned_call"),
            ("def f(a, e=eval):\n    return e(a)", "banned_call"),
            ("def f(a):\n    return (lambda e=getattr: e(a, 'x'))()", "banned_call"),
            ("def f(getattr):\n    return 1", "banned_call"),
            ("def f(a):\n    return {'k': compile}['k']", "banned_call"),
            ("def f(a):\n    return __import__('sys')", "banned_call"),
            (
                "import operator\ndef f(a):\n    return operator.attrgetter('__code__')(f)",
                "banned_attribute",
            ),
            ("def f(a):\n    return '{0.__globals__}'.format(f)", "banned_attribute"),
            ("def f(a):\n    return f'{a.__class__}'", "banned_attribute"),
            ("def f(a):\n    return 'gi_frame'", "banned_attribute"),
            ("def f(a):\n    return type(a).__subclasses__", "banned_attribute"),
            // Nodes rustpython-ast's generic visitor skips (found in review).
            ("def f(a):\n    return [x for x in [eval(a)]]", "banned_call"),
            ("def f(a):\n    return [x for x in a if exec(x)]", "banned_call"),
            ("def f(a):\n    return sorted(a, key=eval)", "banned_call"),
            ("def f(a: eval = 1):\n    return a", "banned_call"),
            ("def f(a):\n    with open(a) as h:\n        return h", "banned_call"),
            (
                "def f(a):\n    match a:\n        case _:\n            import os\n    return 1",
                "banned_import",
            ),
            (
                "def f(a):\n    match a:\n        case _ if eval(a):\n            return 1",
                "banned_call",
            ),
            (
                "def f(a):\n    return {k: v for k, v in vars(a).items()}",
                "banned_call",
            ),
        ] {
            assert_eq!(reason(src), Some(kind), "{src}");
        }
        // Ordinary words that merely contain a banned name are fine.
        assert_eq!(reason("def f(a):\n    return 'my_frame tb and evaluation'"), None);
        let p = CheckPolicy::default();
        assert_eq!(
            check_input("[eval][0]('1')", &p).err().map(|r| r.kind()),
            Some("banned_call")
        );
    }

    #[test]
    fn argument_lists_of_plain_data() {
        for text in [
            "",
            "1",
            "[1, 2], 'a'",
            "x=1",
            "1, (2, 3), k={'a': b'b'}",
            "frozenset({1}), -2.5, (1+2j)",
        ] {
            assert_eq!(check_arguments(text), Ok(()), "{text}");
        }
        for text in [
            "f(1)",
            "*[1]",
            "**{'a': 1}",
            "1) or (True",
            "[exec][0]('x')",
            "next(x for x in range(3))",
            "a",
            "1, 2 if 1 else 3",
            "(lambda: 1)()",
        ] {
            assert!(check_arguments(text).is_err(), "{text}");
        }
    }

    #[test]
    fn pure_arguments_name_nothing_of_the_program() {
        let p = CheckPolicy::default();
        for text in [
            "[6, 4, 2, 8, 15], (lambda x: x.reverse())",
            "[0, 3, 0, 1], lambda x: x < 2",
            "range(100, 120)",
            "''.join(['A'] * 20)",
            "dict(e=1, d=2, c=3)",
            "[3, 1], key=lambda a, b=2: (a * b) % 3 if a else -a",
            "lambda x: lambda y: x + y",
            "sorted([3, 1], key=len)",
        ] {
            assert_eq!(check_pure_arguments(text, &p), Ok(()), "{text}");
        }
        for text in [
            "f(1)",
            "lambda x: f(x)",
            "lambda x: g",
            "lambda x: globals()",
            "lambda x: getattr(x, 'a')",
            "lambda x: __import__('os')",
            "lambda x: x.__class__",
            "lambda x: x._private",
            "lambda x: x.sys",
            "lambda g: g(g)",
            "(lambda: 1)()",
            "[y for y in range(3)]",
            "next(x for x in range(9) if x)",
            "*[1]",
            "**{'a': 1}",
            "lambda x: (y := x)",
            "type('X', (), {})()",
            "lambda x=f: x",
        ] {
            assert!(check_pure_arguments(text, &p).is_err(), "{text}");
        }
        // A builtin the program rebinds runs the program's code: not pure there.
        let shadowing = "def f(x):\n    return x\n\nmax = f";
        assert!(check_pure_call(Some(shadowing), "max([1, 2])", &p).is_err());
        assert_eq!(check_pure_call(Some(shadowing), "min([1, 2])", &p), Ok(()));
    }

    #[test]
    fn inputs() {
        let p = CheckPolicy::default();
        assert!(check_input("[1, 2], 'a', k=3", &p).is_ok());
        assert!(check_input("", &p).is_ok());
        assert_eq!(
            check_input("1)\nimport os\n(", &p).err().map(|r| r.kind()),
            Some("syntax_error")
        );
        assert_eq!(
            check_input("open('/etc/passwd')", &p).err().map(|r| r.kind()),
            Some("banned_call")
        );
        assert_eq!(
            check_input("1, 2) + g(3", &p).err().map(|r| r.kind()),
            Some("syntax_error")
        );
    }
}
