//! azr core: a Wasmtime sandbox for untrusted Python and (later) the task
//! semantics of Absolute-Zero self-play. The Python bindings live in `py` behind
//! the default `python` feature; everything else builds and tests without Python.

pub mod error;
pub mod reward;
pub mod sandbox;
pub mod tasks;

#[cfg(feature = "python")]
mod py;

pub use error::CoreError;
pub use sandbox::{ExecResult, Job, Sandbox, SandboxConfig, Status};
