//! The result of running one expression in the guest.

use serde::Serialize;

/// How a job ended. Guest-reported statuses come from the harness; the others come
/// from the host (a trap, an exit, a limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The expression evaluated; `value_repr` holds its repr.
    Ok,
    /// The program or expression raised an exception.
    Exception,
    /// The program or expression does not parse.
    SyntaxError,
    /// The wall-clock timeout fired (epoch interruption).
    Timeout,
    /// The memory cap was hit (or the guest raised MemoryError).
    Memory,
    /// Captured stdout plus the value repr exceeded `max_output_bytes`.
    OutputLimit,
    /// The fuel budget ran out.
    OutOfFuel,
    /// The program exited (`sys.exit`, `exit()`, `os._exit`); see `exit_code`.
    Exit,
    /// The guest trapped for another reason (e.g. wasm stack exhausted).
    Crash,
}

impl Status {
    /// The lowercase name used in JSON and by the Python `Status` enum values.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Exception => "exception",
            Status::SyntaxError => "syntax_error",
            Status::Timeout => "timeout",
            Status::Memory => "memory",
            Status::OutputLimit => "output_limit",
            Status::OutOfFuel => "out_of_fuel",
            Status::Exit => "exit",
            Status::Crash => "crash",
        }
    }
}

/// One expression's outcome. Failing programs are data, never errors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecResult {
    pub status: Status,
    /// `repr()` of the expression's value when `status` is `Ok`.
    pub value_repr: Option<String>,
    /// What the program printed (capped by `max_output_bytes`).
    pub stdout: String,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    /// Exit code when `status` is `Exit`.
    pub exit_code: Option<i32>,
    /// Wall time of this expression inside the guest (program exec + evaluation + repr);
    /// instantiation is not included.
    pub elapsed_ms: f64,
    /// Fuel consumed by this expression when the sandbox meters fuel.
    pub fuel: Option<u64>,
}

impl ExecResult {
    pub(crate) fn host(status: Status, error_type: &str, message: String, elapsed_ms: f64) -> Self {
        ExecResult {
            status,
            value_repr: None,
            stdout: String::new(),
            error_type: Some(error_type.to_string()),
            error_message: Some(message),
            exit_code: None,
            elapsed_ms,
            fuel: None,
        }
    }
}
