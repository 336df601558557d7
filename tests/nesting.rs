//! Model text can nest as deeply as it likes: every check that reads it must give a verdict on a
//! small stack, never overflow it. Each construct that nests is driven at depths around and far
//! past the bound, through every check function, on a thread with a 256 KiB stack (rayon's
//! threads have 2 MiB, the main thread 8 MiB). The bound itself is checked against the depth of
//! the parsed tree (it must never be below it), on generated mixtures of the constructs and on
//! CRUXEval's programs.

use std::thread;

use _core::tasks::analysis::analyse;
use _core::tasks::check::{
    check_arguments, check_input, check_literal, check_program, check_value, CheckPolicy, Rejection,
};
use _core::tasks::dedup::{canonical_input, canonical_program, pair_fingerprint};
use _core::tasks::nesting::{nesting_bound, MAX_NESTING};
use rustpython_parser::Mode;

/// A small stack: the checks at [`MAX_NESTING`] must fit it with room to spare (measured need on
/// the release build, which `make test-rust` and the wheel use: ~100 KiB; unoptimised frames are
/// several times larger, so a debug build gets four times the room).
const SMALL_STACK: usize = if cfg!(debug_assertions) { 1 << 20 } else { 256 << 10 };

/// Writes a program that nests `n` levels deep through one construct.
type Construct = fn(usize) -> String;

/// Programs (defining `f`) that nest `n` levels deep through one construct each.
fn constructs() -> Vec<(&'static str, Construct)> {
    fn ret(expr: String) -> String {
        format!("def f(x):\n    return {expr}\n")
    }
    vec![
        ("unary minus", |n| ret(format!("{}x", "-".repeat(n)))),
        ("invert", |n| ret(format!("{}x", "~".repeat(n)))),
        ("not", |n| ret(format!("{}x", "not ".repeat(n)))),
        ("parentheses", |n| ret(format!("{}x{}", "(".repeat(n), ")".repeat(n)))),
        ("lists", |n| ret(format!("{}{}", "[".repeat(n), "]".repeat(n)))),
        ("tuples", |n| ret(format!("{}x{}", "(".repeat(n), ",)".repeat(n)))),
        ("dicts", |n| ret(format!("{}1{}", "{1: ".repeat(n), "}".repeat(n)))),
        ("sets", |n| ret(format!("{}1{}", "{".repeat(n), "}".repeat(n)))),
        ("sum chain", |n| ret(format!("x{}", " + x".repeat(n)))),
        ("power chain", |n| ret(format!("{}x", "x ** ".repeat(n)))),
        ("comparison chain", |n| ret(format!("{}x", "x < ".repeat(n)))),
        ("boolean chain", |n| ret(format!("{}x", "x and ".repeat(n)))),
        ("nested sums", |n| {
            ret(format!("{}x{}", "x + (".repeat(n), ")".repeat(n)))
        }),
        ("chain after brackets", |n| ret(format!("[[x]]{}", " + 1".repeat(n)))),
        ("attributes", |n| ret(format!("x{}", ".a".repeat(n)))),
        ("call chain", |n| ret(format!("x{}", "()".repeat(n)))),
        ("nested calls", |n| ret(format!("{}x{}", "g(".repeat(n), ")".repeat(n)))),
        ("keyword calls", |n| {
            ret(format!("{}x{}", "g(k=".repeat(n), ")".repeat(n)))
        }),
        ("subscript chain", |n| ret(format!("x{}", "[0]".repeat(n)))),
        ("nested subscripts", |n| {
            ret(format!("{}0{}", "x[".repeat(n), "]".repeat(n)))
        }),
        ("slices", |n| ret(format!("{}0{}", "x[1:".repeat(n), "]".repeat(n)))),
        ("lambdas", |n| ret(format!("{}x", "lambda: ".repeat(n)))),
        ("lambda defaults", |n| {
            ret(format!("{}x{}", "(lambda y=".repeat(n), ": y)".repeat(n)))
        }),
        // Found in review: commas in a parameter list once ended the segment, so the body went uncounted.
        ("lambda parameter lists", |n| {
            ret(format!("{}x", "lambda a, b: ".repeat(n)))
        }),
        ("keyword-only lambdas", |n| {
            ret(format!("{}x", "lambda *, a: ".repeat(n)))
        }),
        ("lambdas with tuple defaults", |n| {
            ret(format!("{}x", "lambda a=(1, 2), b=3: ".repeat(n)))
        }),
        ("conditional chain", |n| ret(format!("{}x", "x if x else ".repeat(n)))),
        ("conditional tests", |n| {
            ret(format!("{}x{}", "(1 if ".repeat(n), " else 2)".repeat(n)))
        }),
        ("starred", |n| ret(format!("{}x{}", "[*".repeat(n), "]".repeat(n)))),
        ("walrus", |n| ret(format!("{}x{}", "(y := ".repeat(n), ")".repeat(n)))),
        ("yield", |n| ret(format!("{}x{}", "(yield ".repeat(n), ")".repeat(n)))),
        ("generators", |n| {
            ret(format!("{}x{}", "(y for y in ".repeat(n), ")".repeat(n)))
        }),
        ("comprehensions", |n| {
            ret(format!("{}x{}", "[y for y in ".repeat(n), "]".repeat(n)))
        }),
        ("comprehension conditions", |n| {
            ret(format!("{}x{}", "[y for y in x if ".repeat(n), "]".repeat(n)))
        }),
        ("f-string field", |n| ret(format!("f'{{{}x}}'", "-".repeat(n)))),
        ("f-string brackets", |n| {
            ret(format!("f'{{{}x{}}}'", "(".repeat(n), ")".repeat(n)))
        }),
        ("await", |n| {
            format!("async def f(x):\n    return {}x\n", "await ".repeat(n))
        }),
        ("nested blocks", |n| {
            let mut text = String::from("def f(x):\n");
            for level in 1..=n {
                text.push_str(&format!("{}if x:\n", " ".repeat(level)));
            }
            text.push_str(&format!("{}return x\n", " ".repeat(n + 1)));
            text
        }),
        ("elif chain", |n| {
            let mut text = String::from("def f(x):\n    if x == -1:\n        return 0\n");
            for k in 0..n {
                text.push_str(&format!("    elif x == {k}:\n        return {k}\n"));
            }
            text
        }),
        ("nested functions", |n| {
            let mut text = String::new();
            for level in 0..n {
                text.push_str(&format!("{}def f(x):\n", " ".repeat(level)));
            }
            text.push_str(&format!("{}return x\n", " ".repeat(n)));
            text
        }),
        ("match patterns", |n| {
            format!(
                "def f(x):\n    match x:\n        case {}_{}:\n            return 1\n",
                "[".repeat(n),
                "]".repeat(n)
            )
        }),
        ("class patterns", |n| {
            format!(
                "def f(x):\n    match x:\n        case {}{}:\n            return 1\n",
                "P(".repeat(n),
                ")".repeat(n)
            )
        }),
    ]
}

/// The expression inside `def f(x):\n    return ...` (what an input or a value can nest).
fn expression(program: &str) -> Option<&str> {
    program
        .strip_prefix("def f(x):\n    return ")
        .map(|rest| rest.trim_end())
}

/// Runs every check on `text` on a thread with a small stack; panics (fails the test) if any
/// check overflows it, which aborts the process instead.
fn every_check_survives(name: &str, text: String) -> Vec<Option<&'static str>> {
    let handle = thread::Builder::new()
        .name(format!("small stack: {name}"))
        .stack_size(SMALL_STACK)
        .spawn(move || {
            let unlimited = CheckPolicy {
                max_chars: usize::MAX,
                max_nodes: usize::MAX,
                ..CheckPolicy::default()
            };
            let kind = |r: Result<(), Rejection>| r.err().map(|r| r.kind());
            let mut kinds = vec![
                kind(check_program(&text, &unlimited).map(|_| ())),
                kind(check_program(&text, &CheckPolicy::default()).map(|_| ())),
            ];
            if let Some(expr) = expression(&text) {
                kinds.push(kind(check_input(expr, &unlimited)));
                kinds.push(kind(check_value(expr, &unlimited)));
                kinds.push(kind(check_arguments(expr)));
                kinds.push(kind(check_literal(expr)));
                let _ = canonical_input(expr);
                let _ = pair_fingerprint(&text, expr);
            }
            let _ = canonical_program(&text);
            kinds
        })
        .expect("spawn");
    handle.join().unwrap_or_else(|_| panic!("{name}: a check panicked"))
}

#[test]
fn every_check_gives_a_verdict_on_a_small_stack_at_any_depth() {
    for (name, make) in constructs() {
        for depth in [1, 50, MAX_NESTING / 2, MAX_NESTING, 1_000, 6_000, 50_000] {
            let text = make(depth);
            if text.len() > 4 << 20 {
                continue; // indentation grows with the square of the depth
            }
            let kinds = every_check_survives(name, text);
            if depth >= MAX_NESTING {
                assert_eq!(
                    kinds[0],
                    Some("too_deep"),
                    "{name} at depth {depth}: the program must be refused for its depth"
                );
            }
        }
    }
}

#[test]
fn the_bound_is_never_below_the_parsed_depth() {
    for (name, make) in constructs() {
        for depth in [1, 2, 5, 20, 60] {
            let text = make(depth);
            let bound = nesting_bound(&text, Mode::Module, usize::MAX).unwrap_or(usize::MAX);
            if let Ok(analysis) = analyse(&text) {
                assert!(
                    bound >= analysis.depth,
                    "{name} at {depth}: bound {bound} < depth {}",
                    analysis.depth
                );
            }
        }
    }
}

/// A deterministic generator of expressions that mix every construct (a property test without a
/// dependency: 3,000 cases from a fixed seed).
struct Mixer(u64);

impl Mixer {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    fn expr(&mut self, budget: usize) -> String {
        if budget == 0 {
            return ["x", "(1)", "'s'", "None", "2.5"][self.next(5) as usize].to_string();
        }
        let inner = |m: &mut Mixer| m.expr(budget - 1);
        match self.next(22) {
            0 => format!("-{}", inner(self)),
            1 => format!("not {}", inner(self)),
            2 => format!("({})", inner(self)),
            3 => format!("[{}, {}]", inner(self), inner(self)),
            4 => format!("{{{}: {}}}", inner(self), inner(self)),
            5 => format!("{} + {}", inner(self), inner(self)),
            6 => format!("{} ** {}", inner(self), inner(self)),
            7 => format!("{} < {} <= {}", inner(self), inner(self), inner(self)),
            8 => format!("{} or {}", inner(self), inner(self)),
            9 => format!("{}.a", inner(self)),
            10 => format!("{}({}, k={})", inner(self), inner(self), inner(self)),
            11 => format!("{}[{}:{}]", inner(self), inner(self), inner(self)),
            12 => format!("(lambda y={}, *z, w: {})", inner(self), inner(self)),
            13 => format!("{} if {} else {}", inner(self), inner(self), inner(self)),
            14 => format!("[y for y in {} if {}]", inner(self), inner(self)),
            15 => format!("f'{{{}}}'", inner(self).replace('\'', "\"")),
            16 => format!("(y := {})", inner(self)),
            17 => format!("{{*{}}}", inner(self)),
            18 => format!("{}()", inner(self)),
            19 => format!("({},)", inner(self)),
            20 => format!("~{} - {}", inner(self), inner(self)),
            _ => format!("{} and ({} | {})", inner(self), inner(self), inner(self)),
        }
    }
}

#[test]
fn the_bound_holds_on_generated_mixtures() {
    let mut mixer = Mixer(7);
    let mut parsed = 0;
    for case in 0..3_000 {
        let budget = 1 + (case % 7);
        let body = mixer.expr(budget);
        if body.len() > 20_000 {
            continue;
        }
        let text = if case % 3 == 0 {
            format!("def f(x):\n    if x:\n        return {body}\n    elif x:\n        return 1\n")
        } else {
            format!("def f(x):\n    return {body}\n")
        };
        let bound = nesting_bound(&text, Mode::Module, usize::MAX).unwrap_or(usize::MAX);
        if let Ok(analysis) = analyse(&text) {
            parsed += 1;
            assert!(
                bound >= analysis.depth,
                "bound {bound} < depth {}: {text}",
                analysis.depth
            );
        }
    }
    // Some mixtures are not Python (a nested f-string reusing its quotes): most are.
    assert!(
        parsed > 1_500,
        "the generator must mostly write valid Python ({parsed} of 3000)"
    );
}

#[test]
fn real_programs_are_far_below_the_bound() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/cruxeval/cruxeval.jsonl");
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("SKIP: {path} not found");
        return;
    };
    let mut deepest = 0;
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("json");
        let code = row["code"].as_str().unwrap_or_default();
        let input = row["input"].as_str().unwrap_or_default();
        let bound = nesting_bound(code, Mode::Module, usize::MAX).unwrap_or(usize::MAX);
        deepest = deepest.max(bound);
        let kind = |r: Option<Rejection>| r.map(|r| r.kind());
        assert_ne!(
            kind(check_program(code, &CheckPolicy::default()).err()),
            Some("too_deep")
        );
        assert_ne!(
            kind(check_input(input, &CheckPolicy::default()).err()),
            Some("too_deep")
        );
    }
    eprintln!("deepest bound over CRUXEval's programs: {deepest} (max {MAX_NESTING})");
    assert!(deepest <= MAX_NESTING / 4, "deepest bound {deepest}");
}
