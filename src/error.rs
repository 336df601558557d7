//! Host-side failures. A failing guest program is never a `CoreError`: it is an
//! [`crate::sandbox::ExecResult`] with a status.

use std::path::PathBuf;

/// Problems with the host: a missing or broken guest, a bad configuration, I/O,
/// or engine setup; and a caller's argument outside a function's domain.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// No guest component could be found or built.
    #[error("sandbox guest not found: {0}")]
    GuestNotFound(String),
    /// The guest component exists but cannot be compiled, loaded or run.
    #[error("sandbox guest is invalid: {0}")]
    GuestInvalid(String),
    /// Building the guest with componentize-py failed.
    #[error("building the sandbox guest failed: {0}")]
    GuestBuild(String),
    /// A sandbox setting (the user's configuration) is out of range.
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    /// A function was called with an argument outside its domain (a caller's mistake, not the
    /// user's configuration): Python's `ValueError`.
    #[error("{0}")]
    InvalidArgument(String),
    /// Wasmtime could not create the engine, linker or pre-instance.
    #[error("sandbox engine error: {0}")]
    Engine(String),
    /// A file operation on the host failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
