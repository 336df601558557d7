//! The one mapping from Rust errors to Python exceptions.

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::PyErr;

use super::exceptions::{ConfigError, GuestModuleError, SandboxError};
use crate::error::CoreError;

impl From<CoreError> for PyErr {
    fn from(error: CoreError) -> PyErr {
        let message = error.to_string();
        match error {
            CoreError::GuestNotFound(_) => GuestModuleError::new_err(message),
            CoreError::GuestInvalid(_) => GuestModuleError::new_err(message),
            CoreError::GuestBuild(_) => GuestModuleError::new_err(message),
            CoreError::Config(_) => ConfigError::new_err(message),
            CoreError::InvalidArgument(_) => PyValueError::new_err(message),
            CoreError::Engine(_) => SandboxError::new_err(message),
            CoreError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
                _ => PyOSError::new_err(message),
            },
        }
    }
}
