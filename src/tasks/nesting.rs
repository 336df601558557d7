//! A bound on how deeply a text's syntax tree can nest, read off its tokens before anything
//! recursive sees the text.
//!
//! Model text reaches three recursive consumers: the syntax tree the parser builds (dropping a
//! `Box` chain recurses once per level), the checks' visitors, and the literal readers. A
//! 6,000-character proposal such as `-` * 6000 + `x` nests 6,000 levels and overflowed the 2 MiB
//! stacks of rayon's threads, killing the host process. The lexer is not recursive, so one pass
//! over the tokens computes an upper bound on the depth of the tree the parser would build, and
//! text whose bound exceeds [`MAX_NESTING`] is rejected before it is parsed.
//!
//! How the bound is counted. Every node on a path of the tree either owns a token (an operator,
//! a keyword, a `.`, a bracket pair) or is a leaf (a name, a number, a plain string). Tokens
//! between brackets are grouped into *segments* separated by `,` (siblings in a call, a display
//! or a tuple are side by side, not nested); a segment can nest at most as deep as it has
//! operator tokens plus its deepest bracketed part. A bracket that follows an operand (`f(x)`,
//! `a[0]`, `g()()`) is a call or subscript in its segment's chain and counts there too; the commas of a
//! `lambda`'s parameter list do not end its segment (its body nests under all of it). Blocks
//! count one level per indentation and an `elif` chain one level per `elif`. An f-string's
//! expressions are parsed from inside one string token, so its replacement fields count one
//! level per punctuation character or word. Everything is counted from above, so the bound is
//! never below the real depth (tested against the parsed tree in this module and in
//! `tests/nesting.rs`); for ordinary programs it is a small multiple of it.

use rustpython_parser::{lexer, Mode, StringKind, Tok};

/// The deepest bound accepted. Ordinary code is far below it (CRUXEval's 800 programs: at most
/// 33, `tests/nesting.rs`), CPython itself refuses more than 200 nested brackets, and the
/// checks' recursion at this depth fits a 256 KiB stack with room to spare (also tested there).
pub const MAX_NESTING: usize = 200;

/// Levels every text has above its first token: module or expression, statement, leaf.
const BASE: usize = 3;
/// Levels a statement adds above its expressions (the statement and, for a one-line compound
/// statement such as `if x: return y`, the body statement under the header).
const STATEMENT: usize = 2;
/// Levels an indented block counts. A block is two levels of the tree (the compound statement and
/// its body), but visiting a statement takes ~2.7 KiB of stack against ~0.5 KiB for an expression
/// (measured on the release build), so a block counts as much stack as six expression levels: the
/// bound is in units of stack as much as of depth.
const BLOCK: usize = 6;

/// One open bracket (or the statement level): its finished segments and the one in progress.
#[derive(Default)]
struct Frame {
    /// Deepest finished segment.
    best: usize,
    /// Operator tokens in the current segment.
    ops: usize,
    /// Deepest bracketed part (or f-string) in the current segment.
    inner: usize,
    /// `lambda`s whose parameter list is still open: their commas separate parameters, not siblings,
    /// and the body after the `:` nests under everything before it.
    lambda_parameters: usize,
}

impl Frame {
    fn segment(&self) -> usize {
        self.ops + self.inner
    }

    fn depth(&self) -> usize {
        self.best.max(self.segment())
    }

    fn end_segment(&mut self) {
        self.best = self.depth();
        self.ops = 0;
        self.inner = 0;
        self.lambda_parameters = 0;
    }
}

/// Why a text was not given a bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NestingError {
    /// The text does not lex (the parser would reject it for the same reason).
    Lexical(String),
    /// The bound passed `max` (counting stops there).
    TooDeep { max: usize },
}

/// An upper bound on the depth of the syntax tree of `source` parsed in `mode`, or an error once
/// it passes `max`. Linear in the text, with no recursion.
pub fn nesting_bound(source: &str, mode: Mode, max: usize) -> Result<usize, NestingError> {
    let mut counter = Counter::default();
    counter.frames.push(Frame::default());
    counter.blocks.push(0);
    let mut previous: Option<Tok> = None;
    for token in lexer::lex(source, mode) {
        let (token, _) = token.map_err(|e| NestingError::Lexical(format!("{:?}", e.error)))?;
        counter.token(&token, previous.as_ref());
        // A chain or a stack of brackets alone past `max` is enough to stop: no need to read on.
        if counter.deepest > max || counter.frames.len() > max || counter.current().ops > max {
            return Err(NestingError::TooDeep { max });
        }
        previous = Some(token);
    }
    counter.finish();
    if counter.deepest > max {
        return Err(NestingError::TooDeep { max });
    }
    Ok(counter.deepest)
}

#[derive(Default)]
struct Counter {
    /// The statement level, then one frame per open bracket.
    frames: Vec<Frame>,
    /// Per open block (the module first): the `elif` chain in progress at that level.
    blocks: Vec<usize>,
    /// Levels of the open blocks and their `elif` chains.
    block_depth: usize,
    /// The next token starts a statement.
    statement_start: bool,
    deepest: usize,
}

impl Counter {
    fn current(&mut self) -> &mut Frame {
        // `frames` always holds the statement level: `close` never pops it.
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    fn note(&mut self, depth: usize) {
        self.deepest = self.deepest.max(depth);
    }

    /// The depth the open brackets reach now, counted as if they all closed here. Only a closing
    /// bracket or the end of a statement can raise it past what was noted before, so it is
    /// computed there (at most [`MAX_NESTING`] frames each time).
    fn open_depth(&self) -> usize {
        let mut depth = 0;
        for frame in self.frames.iter().skip(1).rev() {
            depth = frame.best.max(frame.ops + frame.inner.max(depth)) + 1;
        }
        let root = &self.frames[0];
        let statement = root.best.max(root.ops + root.inner.max(depth)) + STATEMENT;
        self.block_depth + statement + BASE
    }

    fn token(&mut self, token: &Tok, previous: Option<&Tok>) {
        if self.statement_start && self.frames.len() == 1 {
            self.start_statement(token);
        }
        match token {
            Tok::Lpar | Tok::Lsqb | Tok::Lbrace => {
                if previous.is_some_and(ends_operand) {
                    self.current().ops += 1; // a call or subscript in the chain
                }
                self.frames.push(Frame::default());
            }
            Tok::Rpar | Tok::Rsqb | Tok::Rbrace => self.close(),
            Tok::Comma if self.current().lambda_parameters > 0 => self.current().ops += 1,
            Tok::Comma => self.current().end_segment(),
            Tok::Lambda => {
                let frame = self.current();
                frame.lambda_parameters += 1;
                frame.ops += 1;
            }
            Tok::Colon if self.current().lambda_parameters > 0 => {
                let frame = self.current();
                frame.lambda_parameters -= 1;
                frame.ops += 1;
            }
            Tok::Newline | Tok::Semi if self.frames.len() == 1 => self.end_statement(),
            Tok::Indent => {
                self.end_statement();
                self.blocks.push(0);
                self.block_depth += BLOCK;
            }
            Tok::Dedent => {
                self.end_statement();
                if self.blocks.len() > 1 {
                    let chain = self.blocks.pop().unwrap_or(0);
                    self.block_depth = self.block_depth.saturating_sub(BLOCK + chain);
                }
            }
            Tok::EndOfFile | Tok::StartModule | Tok::StartExpression | Tok::StartInteractive => {}
            Tok::String { value, kind, .. } => {
                if matches!(kind, StringKind::FString | StringKind::RawFString) {
                    let fields = fstring_fields(value);
                    let frame = self.current();
                    frame.inner = frame.inner.max(fields);
                }
            }
            token if is_leaf(token) => {}
            _ => self.current().ops += 1,
        }
    }

    fn close(&mut self) {
        if self.frames.len() > 1 {
            let frame = self.frames.pop().unwrap_or_default();
            let depth = frame.depth() + 1;
            let parent = self.current();
            parent.inner = parent.inner.max(depth);
            let depth = self.open_depth();
            self.note(depth);
        }
    }

    fn start_statement(&mut self, token: &Tok) {
        self.statement_start = false;
        let level = self.blocks.len() - 1;
        match token {
            // `elif` nests the rest of its `if` chain one level deeper.
            Tok::Elif => {
                self.blocks[level] += 1;
                self.block_depth += 1;
            }
            Tok::Else | Tok::Except | Tok::Finally | Tok::Indent | Tok::Dedent | Tok::Newline => {}
            _ => {
                let chain = std::mem::take(&mut self.blocks[level]);
                self.block_depth -= chain;
            }
        }
    }

    fn end_statement(&mut self) {
        if self.frames.len() == 1 {
            let depth = self.open_depth();
            self.note(depth);
            self.frames[0] = Frame::default();
            self.statement_start = true;
        }
    }

    fn finish(&mut self) {
        while self.frames.len() > 1 {
            self.close();
        }
        let depth = self.open_depth();
        self.note(depth);
    }
}

/// Tokens that never own a node above another (names, numbers, plain strings, constants).
fn is_leaf(token: &Tok) -> bool {
    matches!(
        token,
        Tok::Name { .. }
            | Tok::Int { .. }
            | Tok::Float { .. }
            | Tok::Complex { .. }
            | Tok::True
            | Tok::False
            | Tok::None
            | Tok::Ellipsis
    )
}

/// Whether an opening bracket after `token` is a call or subscript of what came before.
fn ends_operand(token: &Tok) -> bool {
    is_leaf(token) || matches!(token, Tok::String { .. } | Tok::Rpar | Tok::Rsqb | Tok::Rbrace)
}

/// Levels an f-string's replacement fields can nest: two for the string and its field, plus one
/// per punctuation character or word between the first `{` and the last `}` (every node of an
/// expression inside owns at least one of those).
fn fstring_fields(value: &str) -> usize {
    let (Some(first), Some(last)) = (value.find('{'), value.rfind('}')) else {
        return 0;
    };
    if last < first {
        return 0;
    }
    let mut count = 2;
    let mut in_word = false;
    for c in value[first..=last].chars() {
        let word = c.is_alphanumeric() || c == '_';
        if word {
            count += usize::from(!in_word);
        } else if !c.is_whitespace() {
            count += 1;
        }
        in_word = word;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(text: &str) -> usize {
        nesting_bound(text, Mode::Module, usize::MAX).unwrap_or(usize::MAX)
    }

    #[test]
    fn ordinary_code_is_shallow() {
        assert!(bound("def f(x):\n    return x") < 16);
        let wide = format!("x = [{}]\n", vec!["1 + 2"; 2000].join(", "));
        assert!(bound(&wide) < 16, "siblings do not nest: {}", bound(&wide));
    }

    #[test]
    fn chains_count_per_link() {
        for (unit, n) in [("-", 1), ("not ", 1), ("~", 1)] {
            let text = format!("{}x", unit.repeat(500));
            assert!(bound(&text) >= 500 * n, "{unit}");
        }
        assert!(bound(&format!("x{}", "()".repeat(500))) >= 500);
        assert!(bound(&format!("x{}", "[0]".repeat(500))) >= 500);
        assert!(bound(&format!("x{}", ".a".repeat(500))) >= 500);
        assert!(bound(&format!("{}x{}", "(".repeat(300), ")".repeat(300))) >= 300);
        assert!(bound(&format!("{}1", "1 + ".repeat(500))) >= 500);
        // The ops after a bracket wrap it too: `(((x))) + 1 + 1 ...` is a left-deep chain over it.
        assert!(bound(&format!("[[[x]]]{}", " + 1".repeat(500))) >= 500);
        let elifs: String = (0..300).map(|k| format!("elif x == {k}:\n    pass\n")).collect();
        assert!(bound(&format!("if x:\n    pass\n{elifs}")) >= 300);
        let fstring = format!("f'{{{}x}}'", "-".repeat(500));
        assert!(bound(&fstring) >= 500);
    }

    #[test]
    fn a_deep_text_stops_early_and_a_broken_one_is_lexical() {
        let deep = format!("{}x", "-".repeat(1_000_000));
        assert_eq!(
            nesting_bound(&deep, Mode::Module, MAX_NESTING),
            Err(NestingError::TooDeep { max: MAX_NESTING })
        );
        assert!(matches!(
            nesting_bound("'unterminated", Mode::Module, MAX_NESTING),
            Err(NestingError::Lexical(_))
        ));
    }
}
