//! Bindings for static checks and deduplication (`crate::tasks`).

use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use rayon::prelude::*;

use crate::tasks::check::{self, CheckPolicy, Rejection};
use crate::tasks::dedup::{self, Deduper};

fn reason(result: Result<(), Rejection>) -> Option<(&'static str, String)> {
    result.err().map(|r| (r.kind(), r.to_string()))
}

/// What a proposed program may contain; `check_*` return `None` or `(kind, message)`.
#[pyclass(name = "CheckPolicy", module = "azr._core", frozen)]
pub struct PyCheckPolicy {
    inner: CheckPolicy,
}

#[pymethods]
impl PyCheckPolicy {
    #[new]
    #[pyo3(signature = (*, entry="f".to_string(), banned_modules=None, banned_calls=None, banned_attributes=None,
                        max_chars=10_000, max_nodes=2_000),
           text_signature = "(*, entry='f', banned_modules=None, banned_calls=None, banned_attributes=None, max_chars=10000, max_nodes=2000)")]
    fn new(
        entry: String,
        banned_modules: Option<Vec<String>>,
        banned_calls: Option<Vec<String>>,
        banned_attributes: Option<Vec<String>>,
        max_chars: usize,
        max_nodes: usize,
    ) -> Self {
        let defaults = CheckPolicy::default();
        PyCheckPolicy {
            inner: CheckPolicy {
                entry,
                banned_modules: banned_modules.map_or(defaults.banned_modules, |v| v.into_iter().collect()),
                banned_calls: banned_calls.map_or(defaults.banned_calls, |v| v.into_iter().collect()),
                banned_attributes: banned_attributes.map_or(defaults.banned_attributes, |v| v.into_iter().collect()),
                max_chars,
                max_nodes,
            },
        }
    }

    fn check_program(&self, source: &str) -> Option<(&'static str, String)> {
        reason(check::check_program(source, &self.inner).map(|_| ()))
    }

    fn check_programs(&self, py: Python<'_>, sources: Vec<String>) -> Vec<Option<(&'static str, String)>> {
        py.detach(|| {
            sources
                .par_iter()
                .map(|s| reason(check::check_program(s, &self.inner).map(|_| ())))
                .collect()
        })
    }

    fn check_input(&self, text: &str) -> Option<(&'static str, String)> {
        reason(check::check_input(text, &self.inner))
    }

    fn check_value(&self, text: &str) -> Option<(&'static str, String)> {
        reason(check::check_value(text, &self.inner))
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
    fn banned_calls(&self) -> Vec<String> {
        sorted(&self.inner.banned_calls)
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

fn sorted(set: &std::collections::HashSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.iter().cloned().collect();
    v.sort();
    v
}

/// Canonical 128-bit fingerprint of a program, or `None` if it does not parse.
#[pyfunction]
pub fn program_fingerprint(py: Python<'_>, source: &str) -> Option<Py<pyo3::types::PyBytes>> {
    dedup::program_fingerprint(source).map(|f| pyo3::types::PyBytes::new(py, &f).unbind())
}

/// The canonical text a program's fingerprint is computed from.
/// `None` if `text` is a plain data literal (what `repr` writes for built-in
/// values), else `(kind, message)`.
#[pyfunction]
pub fn check_literal(text: &str) -> Option<(&'static str, String)> {
    reason(check::check_literal(text))
}

#[pyfunction]
pub fn canonical_program(source: &str) -> Option<String> {
    dedup::canonical_program(source).ok()
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
    fn admit_programs(&self, py: Python<'_>, sources: Vec<String>) -> Vec<bool> {
        py.detach(|| {
            let fps: Vec<_> = sources.par_iter().map(|s| dedup::program_fingerprint(s)).collect();
            locked(&self.programs).admit(&fps)
        })
    }

    /// Whether each program was admitted before, without recording.
    fn contains_programs(&self, py: Python<'_>, sources: Vec<String>) -> Vec<bool> {
        py.detach(|| {
            let fps: Vec<_> = sources.par_iter().map(|s| dedup::program_fingerprint(s)).collect();
            locked(&self.programs).contains(&fps)
        })
    }

    /// For each (program, input) in order: whether the exact pair is new (records it).
    fn admit_pairs(&self, py: Python<'_>, pairs: Vec<(String, String)>) -> Vec<bool> {
        py.detach(|| {
            let fps: Vec<_> = pairs.par_iter().map(|(p, i)| dedup::pair_fingerprint(p, i)).collect();
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
