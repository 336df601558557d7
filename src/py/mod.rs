//! Python bindings: thin wrappers that convert arguments, release the GIL, and
//! map errors. No logic lives here.

mod convert;
mod exceptions;
mod outcome;
mod reward;
mod sandbox;
mod tasks;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Rust `log` records (e.g. the reset -> fresh fallback warning) go to Python `logging`, under
    // loggers named after the Rust module (`_core.sandbox`, ...). Another init (a second import in
    // a subinterpreter) keeps the first logger: that is fine.
    let _ = pyo3_log::try_init();
    exceptions::register(m)?;
    m.add_class::<sandbox::PySandbox>()?;
    m.add_class::<outcome::PyExecResult>()?;
    m.add("Status", outcome::status_class(m.py())?)?;
    sandbox::add_defaults(m)?;
    m.add_function(wrap_pyfunction!(sandbox::locate_guest, m)?)?;
    m.add_function(wrap_pyfunction!(sandbox::build_guest, m)?)?;
    m.add_function(wrap_pyfunction!(sandbox::verify_guest, m)?)?;
    m.add_class::<tasks::PyCheckPolicy>()?;
    m.add_class::<tasks::PyDeduper>()?;
    m.add_function(wrap_pyfunction!(tasks::program_fingerprint, m)?)?;
    m.add_function(wrap_pyfunction!(tasks::canonical_program, m)?)?;
    m.add_function(wrap_pyfunction!(tasks::check_literal, m)?)?;
    m.add_function(wrap_pyfunction!(tasks::check_arguments, m)?)?;
    m.add_function(wrap_pyfunction!(reward::learnability, m)?)?;
    m.add_function(wrap_pyfunction!(reward::learnability_from_counts, m)?)?;
    m.add_function(wrap_pyfunction!(reward::composite_reward, m)?)?;
    m.add_function(wrap_pyfunction!(reward::task_relative_advantages, m)?)?;
    m.add(
        "COMPONENTIZE_PY_VERSION",
        crate::sandbox::guest::COMPONENTIZE_PY_VERSION,
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
