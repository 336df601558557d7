//! Canonical fingerprints of programs and (program, input) pairs, and a
//! `Deduper` that remembers what it has seen.
//!
//! Canonical form: the token stream (comments, blank lines and formatting
//! dropped by the lexer), without docstrings and bare string statements, with
//! every identifier renamed in order of first appearance except builtins,
//! imported names, attribute names and keyword-argument names; literals are
//! kept. So `len(x)` and `sum(x)` differ, and renaming variables does not matter.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use rustpython_parser::lexer::lex;
use rustpython_parser::{Mode, Tok};
use sha2::{Digest, Sha256};

use rustpython_ast::text_size::TextRange;

/// A 128-bit fingerprint.
pub type Fingerprint = [u8; 16];

fn digest(text: &str) -> Fingerprint {
    let full = Sha256::digest(text.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Python's builtin names (sorted): never renamed.
const BUILTINS: &[&str] = &[
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BaseExceptionGroup",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "Ellipsis",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "False",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "None",
    "NotADirectoryError",
    "NotImplemented",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "True",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
    "__build_class__",
    "__import__",
    "__name__",
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

/// The canonical text of a program (see the module docs). Token-based, so it
/// needs no full parse (that is what makes 100k programs take well under 2 s);
/// errors only when the program does not tokenize.
pub fn canonical_program(source: &str) -> Result<String, String> {
    let tokens: Vec<(Tok, TextRange)> = lex(source, Mode::Module)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e:?}"))?;
    // Imported modules and names keep their spelling: `math.sqrt` must not equal `cmath.sqrt`.
    let mut keep: HashSet<&str> = HashSet::new();
    let mut in_import = false;
    for (tok, _) in &tokens {
        match tok {
            Tok::Import | Tok::From => in_import = true,
            Tok::Newline => in_import = false,
            Tok::Name { name } if in_import => {
                keep.insert(name.as_str());
            }
            _ => {}
        }
    }
    let mut renames: HashMap<&str, usize> = HashMap::new();
    let mut out = String::with_capacity(source.len());
    let mut line_open = false;
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let tok = &tokens[i].0;
        if !line_open && matches!(tok, Tok::String { .. }) {
            // A statement made only of string literals (docstrings included) does nothing: drop it.
            let mut j = i;
            while j < tokens.len() && matches!(tokens[j].0, Tok::String { .. }) {
                j += 1;
            }
            if j == tokens.len() || matches!(tokens[j].0, Tok::Newline) {
                i = j + 1;
                continue;
            }
        }
        match tok {
            // A dropped statement leaves its line break behind: drop breaks that end no statement.
            Tok::Newline if !line_open => {
                i += 1;
                continue;
            }
            Tok::Newline | Tok::Indent | Tok::Dedent => line_open = false,
            Tok::Lpar | Tok::Lsqb | Tok::Lbrace => {
                depth += 1;
                line_open = true;
            }
            Tok::Rpar | Tok::Rsqb | Tok::Rbrace => {
                depth = depth.saturating_sub(1);
                line_open = true;
            }
            _ => line_open = true,
        }
        let after_dot = i > 0 && matches!(tokens[i - 1].0, Tok::Dot);
        let keyword_argument = depth > 0 && matches!(tokens.get(i + 1), Some((Tok::Equal, _)));
        match tok {
            Tok::Name { name }
                if !after_dot
                    && !keyword_argument
                    && !keep.contains(name.as_str())
                    && BUILTINS.binary_search(&name.as_str()).is_err() =>
            {
                let next = renames.len();
                let id = *renames.entry(name.as_str()).or_insert(next);
                let _ = write!(out, "v{id}");
            }
            Tok::Name { name } => out.push_str(name),
            other => {
                let _ = write!(out, "{other:?}");
            }
        }
        out.push(' ');
        i += 1;
    }
    Ok(out)
}

/// The canonical text of an input (argument text): its tokens, formatting dropped.
pub fn canonical_input(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for token in lex(&format!("({text}\n)"), Mode::Expression) {
        let (tok, _) = token.map_err(|e| format!("{e:?}"))?;
        let _ = write!(out, "{tok:?} ");
    }
    Ok(out)
}

/// Fingerprint of a program; `None` when it does not parse.
pub fn program_fingerprint(source: &str) -> Option<Fingerprint> {
    canonical_program(source).ok().map(|c| digest(&c))
}

/// Fingerprint of an exact (program, input) pair, both canonicalised.
pub fn pair_fingerprint(source: &str, input: &str) -> Option<Fingerprint> {
    let program = canonical_program(source).ok()?;
    let input = canonical_input(input).ok()?;
    Some(digest(&format!("{program}\0{input}")))
}

/// Remembers fingerprints. `admit` answers, for each item in order, whether it
/// is new (not seen before and not earlier in the same batch) and records it.
#[derive(Debug, Default, Clone)]
pub struct Deduper {
    seen: HashSet<Fingerprint>,
}

impl Deduper {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Records fingerprints; `None` (unparsable) is never new.
    pub fn admit(&mut self, fingerprints: &[Option<Fingerprint>]) -> Vec<bool> {
        fingerprints
            .iter()
            .map(|fp| fp.is_some_and(|fp| self.seen.insert(fp)))
            .collect()
    }

    /// Whether each fingerprint has been recorded, without recording.
    pub fn contains(&self, fingerprints: &[Option<Fingerprint>]) -> Vec<bool> {
        fingerprints
            .iter()
            .map(|fp| fp.is_some_and(|fp| self.seen.contains(&fp)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(src: &str) -> Option<Fingerprint> {
        program_fingerprint(src)
    }

    #[test]
    fn renaming_formatting_comments_and_docstrings_do_not_matter() {
        let a = "def f(xs):\n    '''Sum.'''\n    total = 0\n    for x in xs:\n        total += x  # add\n    return total\n";
        let b = "def f(values):\n\n    acc = 0\n    for v in values:\n        acc += v\n    return (acc)\n";
        assert_ne!(fp(a), None);
        // Redundant parentheses are tokens: they make a different canonical form.
        assert_ne!(fp(a), fp(b));
        let c = "def f(values):\n    acc = 0\n    for v in values:\n        acc   +=   v\n    return acc";
        assert_eq!(fp(a), fp(c));
    }

    #[test]
    fn semantics_that_matter_are_kept() {
        assert_ne!(fp("def f(x):\n    return len(x)"), fp("def f(x):\n    return sum(x)"));
        assert_ne!(
            fp("def f(x):\n    return x.upper()"),
            fp("def f(x):\n    return x.lower()")
        );
        assert_ne!(fp("def f(x):\n    return x + 1"), fp("def f(x):\n    return x + 2"));
        assert_eq!(fp("def f(x):\n    return 'a'"), fp("def f(y):\n    return \"a\""));
    }

    #[test]
    fn builtins_are_sorted_for_binary_search() {
        assert!(BUILTINS.windows(2).all(|w| w[0] < w[1]));
        assert_ne!(
            fp("import math\ndef f(x):\n    return math.sqrt(x)"),
            fp("import cmath\ndef f(x):\n    return cmath.sqrt(x)")
        );
        assert_ne!(
            fp("def f(x):\n    return sorted(x, key=abs)"),
            fp("def f(x):\n    return sorted(x, reverse=abs)")
        );
    }

    #[test]
    fn deduper_admits_once() {
        let mut d = Deduper::new();
        let a = fp("def f(x):\n    return x");
        let b = fp("def f(y):\n    return y");
        let c = fp("def f(x):\n    return -x");
        assert_eq!(d.admit(&[a, b, c, None]), vec![true, false, true, false]);
        assert_eq!(d.contains(&[a, fp("def f(z):\n    return z * 2")]), vec![true, false]);
        assert_eq!(d.len(), 2);
        assert_ne!(
            pair_fingerprint("def f(x):\n    return x", "[1, 2]"),
            pair_fingerprint("def f(x):\n    return x", "[1, 3]")
        );
        assert_eq!(
            pair_fingerprint("def f(x):\n    return x", "[1,2]"),
            pair_fingerprint("def f(y):\n    return y", "[1, 2]")
        );
    }
}
