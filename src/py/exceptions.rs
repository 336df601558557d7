//! The exception tree raised by `azr._core` (re-exported by `azr.exceptions`).

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    azr._core,
    AzrError,
    PyException,
    "Base class of every error raised by azr's core."
);
create_exception!(
    azr._core,
    SandboxError,
    AzrError,
    "The sandbox engine could not be set up or used."
);
create_exception!(
    azr._core,
    GuestModuleError,
    AzrError,
    "The guest component is missing, corrupt or cannot be built."
);
create_exception!(azr._core, ConfigError, AzrError, "A configuration value is invalid.");

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AzrError", py.get_type::<AzrError>())?;
    m.add("SandboxError", py.get_type::<SandboxError>())?;
    m.add("GuestModuleError", py.get_type::<GuestModuleError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    Ok(())
}
