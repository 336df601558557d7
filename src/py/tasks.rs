//! Bindings for static checks and deduplication (`crate::tasks`).

use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyString;
use rayon::prelude::*;

use crate::tasks::check::{self, CheckPolicy, Rejection};
use crate::tasks::dedup::{self, Deduper};

fn reason(result: Result<(), Rejection>) -> Option<(&'static str, String)> {
    result.err().map(|r| (r.kind(), r.to_string()))
}

/// Model text as UTF-8, or `None` when it holds a lone surrogate (such text is never Python
/// source, and must be a verdict rather than a `UnicodeEncodeError`).
fn utf8<'a>(text: &'a Bound<'_, PyString>) -> Option<&'a str> {
    text.to_str().ok()
}

fn owned(texts: &[Bound<'_, PyString>]) -> Vec<Option<String>> {
    texts.iter().map(|t| utf8(t).map(str::to_owned)).collect()
}

/// `check(text)` for UTF-8 text; a `NotUnicode` rejection otherwise.
fn checked(
    text: &Bound<'_, PyString>,
    check: impl Fn(&str) -> Result<(), Rejection>,
) -> Option<(&'static str, String)> {
    reason(utf8(text).map_or(Err(Rejection::NotUnicode), check))
}

/// What a proposed program may contain; `check_*` return `None` or `(kind, message)`.
#[pyclass(name = "CheckPolicy", module = "azr._core", frozen)]
pub struct PyCheckPolicy {
    inner: CheckPolicy,
}

#[pymethods]
impl PyCheckPolicy {
    #[new]
    #[pyo3(signature = (*, entry="f".to_string(), banned_modules=None, banned_calls=None, banned_names=None,
                        banned_attributes=None, max_chars=10_000, max_nodes=2_000, opaque_modules=None,
                        opaque_names=None),
           text_signature = "(*, entry='f', banned_modules=None, banned_calls=None, banned_names=None, banned_attributes=None, max_chars=10000, max_nodes=2000, opaque_modules=None, opaque_names=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        entry: String,
        banned_modules: Option<Vec<String>>,
        banned_calls: Option<Vec<String>>,
        banned_names: Option<Vec<String>>,
        banned_attributes: Option<Vec<String>>,
        max_chars: usize,
        max_nodes: usize,
        opaque_modules: Option<Vec<String>>,
        opaque_names: Option<Vec<String>>,
    ) -> Self {
        let defaults = CheckPolicy::default();
        PyCheckPolicy {
            inner: CheckPolicy {
                entry,
                banned_modules: banned_modules.map_or(defaults.banned_modules, |v| v.into_iter().collect()),
                opaque_modules: opaque_modules.map_or(defaults.opaque_modules, |v| v.into_iter().collect()),
                opaque_names: opaque_names.map_or(defaults.opaque_names, |v| v.into_iter().collect()),
                banned_calls: banned_calls.map_or(defaults.banned_calls, |v| v.into_iter().collect()),
                banned_names: banned_names.map_or(defaults.banned_names, |v| v.into_iter().collect()),
                banned_attributes: banned_attributes.map_or(defaults.banned_attributes, |v| v.into_iter().collect()),
                max_chars,
                max_nodes,
            },
        }
    }

    fn check_program(&self, source: &Bound<'_, PyString>) -> Option<(&'static str, String)> {
        checked(source, |s| check::check_program(s, &self.inner).map(|_| ()))
    }

    fn check_programs(&self, py: Python<'_>, sources: Vec<Bound<'_, PyString>>) -> Vec<Option<(&'static str, String)>> {
        let sources = owned(&sources);
        py.detach(|| {
            sources
                .par_iter()
                .map(|s| {
                    let result = s.as_deref().map_or(Err(Rejection::NotUnicode), |s| {
                        check::check_program(s, &self.inner).map(|_| ())
                    });
                    reason(result)
                })
                .collect()
        })
    }

    fn check_input(&self, text: &Bound<'_, PyString>) -> Option<(&'static str, String)> {
        checked(text, |t| check::check_input(t, &self.inner))
    }

    fn check_value(&self, text: &Bound<'_, PyString>) -> Option<(&'static str, String)> {
        checked(text, |t| check::check_value(t, &self.inner))
    }

    #[pyo3(signature = (text, program=None))]
    fn check_pure_arguments(
        &self,
        text: &Bound<'_, PyString>,
        program: Option<&Bound<'_, PyString>>,
    ) -> Option<(&'static str, String)> {
        let Some(program) = program else {
            return checked(text, |t| check::check_pure_arguments(t, &self.inner));
        };
        let Some(source) = utf8(program) else {
            return reason(Err(Rejection::NotUnicode));
        };
        checked(text, |t| check::check_pure_call(Some(source), t, &self.inner))
    }

    #[getter]
    fn entry(&self) -> String {
        self.inner.entry.clone()
    }

    #[getter]
    fn banned_modules(&self) -> Vec<String> {
        sorted(&self.inner.banned_modules)
    }

    #[getter]
    fn opaque_modules(&self) -> Vec<String> {
        sorted(&self.inner.opaque_modules)
    }

    #[getter]
    fn opaque_names(&self) -> Vec<String> {
        sorted(&self.inner.opaque_names)
    }

    #[getter]
    fn banned_calls(&self) -> Vec<String> {
        sorted(&self.inner.banned_calls)
    }

    #[getter]
    fn banned_names(&self) -> Vec<String> {
        sorted(&self.inner.banned_names)
    }

    #[getter]
    fn banned_attributes(&self) -> Vec<String> {
        sorted(&self.inner.banned_attributes)
    }

    #[getter]
    fn max_chars(&self) -> usize {
        self.inner.max_chars
    }

    #[getter]
    fn max_nodes(&self) -> usize {
        self.inner.max_nodes
    }
}

/// Fingerprints of programs in parallel; text that is not UTF-8 has none (never new).
fn fingerprints(sources: &[Option<String>]) -> Vec<Option<dedup::Fingerprint>> {
    sources
        .par_iter()
        .map(|s| s.as_deref().and_then(dedup::program_fingerprint))
        .collect()
}

fn sorted(set: &std::collections::HashSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.iter().cloned().collect();
    v.sort();
    v
}

/// Canonical 128-bit fingerprint of a program, or `None` if it does not parse.
#[pyfunction]
pub fn program_fingerprint(py: Python<'_>, source: &Bound<'_, PyString>) -> Option<Py<pyo3::types::PyBytes>> {
    dedup::program_fingerprint(utf8(source)?).map(|f| pyo3::types::PyBytes::new(py, &f).unbind())
}

/// The canonical text a program's fingerprint is computed from.
/// `None` if `text` is a plain data literal (what `repr` writes for built-in
/// values), else `(kind, message)`.
#[pyfunction]
pub fn check_literal(text: &Bound<'_, PyString>) -> Option<(&'static str, String)> {
    checked(text, check::check_literal)
}

/// `None` if `text` is an argument list of plain data literals (`1, [2], k='v'`), else
/// `(kind, message)`.
#[pyfunction]
pub fn check_arguments(text: &Bound<'_, PyString>) -> Option<(&'static str, String)> {
    checked(text, check::check_arguments)
}

#[pyfunction]
pub fn canonical_program(source: &Bound<'_, PyString>) -> Option<String> {
    dedup::canonical_program(utf8(source)?).ok()
}

/// The deduper behind a mutex; a poisoned lock still holds a consistent set (inserts are atomic).
fn locked(deduper: &Mutex<Deduper>) -> MutexGuard<'_, Deduper> {
    deduper.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Remembers programs and (program, input) pairs it has admitted.
#[pyclass(name = "Deduper", module = "azr._core", frozen)]
pub struct PyDeduper {
    programs: Mutex<Deduper>,
    pairs: Mutex<Deduper>,
}

#[pymethods]
impl PyDeduper {
    #[new]
    fn new() -> Self {
        PyDeduper {
            programs: Mutex::new(Deduper::new()),
            pairs: Mutex::new(Deduper::new()),
        }
    }

    /// For each program in order: whether it is new (records it). Unparsable programs are never new.
    fn admit_programs(&self, py: Python<'_>, sources: Vec<Bound<'_, PyString>>) -> Vec<bool> {
        let sources = owned(&sources);
        py.detach(|| locked(&self.programs).admit(&fingerprints(&sources)))
    }

    /// Whether each program was admitted before, without recording.
    fn contains_programs(&self, py: Python<'_>, sources: Vec<Bound<'_, PyString>>) -> Vec<bool> {
        let sources = owned(&sources);
        py.detach(|| locked(&self.programs).contains(&fingerprints(&sources)))
    }

    /// For each (program, input) in order: whether the exact pair is new (records it).
    /// A pair whose text is not UTF-8 is never new.
    fn admit_pairs(&self, py: Python<'_>, pairs: Vec<(Bound<'_, PyString>, Bound<'_, PyString>)>) -> Vec<bool> {
        let pairs: Vec<Option<(String, String)>> = pairs
            .iter()
            .map(|(p, i)| Some((utf8(p)?.to_owned(), utf8(i)?.to_owned())))
            .collect();
        py.detach(|| {
            let fps: Vec<_> = pairs
                .par_iter()
                .map(|pair| pair.as_ref().and_then(|(p, i)| dedup::pair_fingerprint(p, i)))
                .collect();
            locked(&self.pairs).admit(&fps)
        })
    }

    #[getter]
    fn num_programs(&self) -> usize {
        locked(&self.programs).len()
    }

    #[getter]
    fn num_pairs(&self) -> usize {
        locked(&self.pairs).len()
    }
}
