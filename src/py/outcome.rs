//! `azr._core.ExecResult` and `azr._core.Status`: one expression's outcome as Python sees it.
//!
//! `Status` is an `enum.StrEnum` built here from [`Status::ALL`], so its members, values and
//! documentation have one definition (in Rust) and behave like any `StrEnum` (`Status("ok")`,
//! `str(s) == "ok"`, `s is Status.OK`). `ExecResult` holds the Rust result and converts a
//! field only when Python reads it.

use std::hash::{Hash, Hasher};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyType};

use crate::sandbox::{ExecResult, Status};

/// The Python `Status` class and its members, indexed by `Status as usize`.
struct StatusEnum {
    class: Py<PyType>,
    members: Vec<Py<PyAny>>,
}

static STATUS: PyOnceLock<StatusEnum> = PyOnceLock::new();

fn build_status_enum(py: Python<'_>) -> PyResult<StatusEnum> {
    let names = Status::ALL.map(|s| (s.as_str().to_ascii_uppercase(), s.as_str()));
    let kwargs = PyDict::new(py);
    kwargs.set_item("module", "azr._core")?;
    kwargs.set_item("qualname", "Status")?;
    let class = py
        .import("enum")?
        .getattr("StrEnum")?
        .call(("Status", PyList::new(py, &names)?), Some(&kwargs))?
        .cast_into::<PyType>()?;
    let mut doc = String::from("How a job ended: a value, an exception or a limit, never a Python error.\n");
    for status in Status::ALL {
        let name = status.as_str().to_ascii_uppercase();
        doc.push_str(&format!(
            "\n{name} ({:?})\n    {}",
            status.as_str(),
            status.description()
        ));
    }
    class.setattr("__doc__", doc)?;
    let members = names
        .iter()
        .map(|(name, _)| class.getattr(name.as_str()).map(Bound::unbind))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(StatusEnum {
        class: class.unbind(),
        members,
    })
}

fn status_enum(py: Python<'_>) -> PyResult<&'static StatusEnum> {
    STATUS.get_or_try_init(py, || build_status_enum(py))
}

/// The `Status` class, for the module to export.
pub fn status_class(py: Python<'_>) -> PyResult<&'static Py<PyType>> {
    Ok(&status_enum(py)?.class)
}

/// The Python `Status` member of `status`.
fn status_member(py: Python<'_>, status: Status) -> PyResult<Py<PyAny>> {
    let members = &status_enum(py)?.members;
    members
        .get(status as usize)
        .map(|member| member.clone_ref(py))
        .ok_or_else(|| PyRuntimeError::new_err(format!("{status:?} is missing from Status::ALL")))
}

/// The outcome of one expression. Equal results compare equal and hash alike; a result is
/// immutable and made only by the sandbox.
#[pyclass(name = "ExecResult", module = "azr._core", frozen, eq, hash)]
#[derive(Clone, PartialEq)]
pub struct PyExecResult(pub ExecResult);

impl Hash for PyExecResult {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let r = &self.0;
        (
            r.status,
            &r.value_repr,
            &r.stdout,
            &r.error_type,
            &r.error_message,
            r.exit_code,
            r.fuel,
        )
            .hash(state);
        // Equal floats hash alike: 0.0 and -0.0 are equal, so both hash as 0.0.
        let ms = if r.elapsed_ms == 0.0 { 0.0 } else { r.elapsed_ms };
        ms.to_bits().hash(state);
    }
}

impl PyExecResult {
    /// The fields as (name, value) pairs, in declaration order: the one list behind
    /// `to_dict` and `__repr__`.
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<[(&'static str, Bound<'py, PyAny>); 8]> {
        let r = &self.0;
        Ok([
            ("status", status_member(py, r.status)?.into_bound(py)),
            ("value_repr", r.value_repr.as_deref().into_pyobject(py)?),
            ("stdout", r.stdout.as_str().into_pyobject(py)?.into_any()),
            ("error_type", r.error_type.as_deref().into_pyobject(py)?),
            ("error_message", r.error_message.as_deref().into_pyobject(py)?),
            ("exit_code", r.exit_code.into_pyobject(py)?),
            ("elapsed_ms", r.elapsed_ms.into_pyobject(py)?.into_any()),
            ("fuel", r.fuel.into_pyobject(py)?),
        ])
    }
}

#[pymethods]
impl PyExecResult {
    /// How the job ended.
    #[getter]
    fn status(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        status_member(py, self.0.status)
    }

    /// Whether `status` is `Status.OK`.
    #[getter]
    fn ok(&self) -> bool {
        self.0.status == Status::Ok
    }

    /// `repr()` of the value when `status` is OK.
    #[getter]
    fn value_repr(&self) -> Option<&str> {
        self.0.value_repr.as_deref()
    }

    /// What the program printed (capped by `max_output_bytes`).
    #[getter]
    fn stdout(&self) -> &str {
        &self.0.stdout
    }

    /// The exception's type name when the program raised or could not run.
    #[getter]
    fn error_type(&self) -> Option<&str> {
        self.0.error_type.as_deref()
    }

    /// The exception's message when the program raised or could not run.
    #[getter]
    fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }

    /// The exit code when `status` is EXIT (WASI reports only 0 or 1 for `os._exit`).
    #[getter]
    fn exit_code(&self) -> Option<i32> {
        self.0.exit_code
    }

    /// Wall time inside the guest (program, evaluation and repr; not instantiation).
    #[getter]
    fn elapsed_ms(&self) -> f64 {
        self.0.elapsed_ms
    }

    /// Fuel consumed, when the sandbox meters fuel.
    #[getter]
    fn fuel(&self) -> Option<u64> {
        self.0.fuel
    }

    /// The fields as a dict (`status` is a `Status`, which is a `str`): ready for `json.dumps`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in self.fields(py)? {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut parts = Vec::with_capacity(8);
        for (name, value) in self.fields(py)? {
            parts.push(format!("{name}={}", value.repr()?));
        }
        Ok(format!("ExecResult({})", parts.join(", ")))
    }
}
