//! The result of running one expression in the guest.

use serde::Serialize;

/// How a job ended. Guest-reported statuses come from the harness; the others come
/// from the host (a trap, an exit, a limit). [`Status::description`] says what each means
/// (it is also the Python `Status` enum's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Exception,
    SyntaxError,
    Timeout,
    Memory,
    OutputLimit,
    OutOfFuel,
    Exit,
    Crash,
}

impl Status {
    /// Every status, in declaration order (`ALL[s as usize] == s`).
    pub const ALL: [Status; 9] = [
        Status::Ok,
        Status::Exception,
        Status::SyntaxError,
        Status::Timeout,
        Status::Memory,
        Status::OutputLimit,
        Status::OutOfFuel,
        Status::Exit,
        Status::Crash,
    ];

    /// The lowercase name used in JSON and as the Python `Status` enum's values.
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

    /// What the status means, in one sentence.
    pub fn description(self) -> &'static str {
        match self {
            Status::Ok => "The expression evaluated; `value_repr` holds its repr.",
            Status::Exception => "The program or expression raised (`error_type`/`error_message` say what).",
            Status::SyntaxError => "The program or expression does not parse (or is not valid UTF-8).",
            Status::Timeout => "The wall-clock timeout fired (epoch interruption).",
            Status::Memory => "The memory cap was hit (or the guest raised MemoryError).",
            Status::OutputLimit => "Printed output plus the value's repr exceeded `max_output_bytes`.",
            Status::OutOfFuel => "The fuel budget ran out (only when the sandbox meters fuel).",
            Status::Exit => "The program exited (`sys.exit`, `exit()`, `os._exit`); see `exit_code`.",
            Status::Crash => "The guest trapped for another reason (e.g. its WebAssembly stack was exhausted).",
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

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn all_lists_every_status_in_declaration_order() {
        for (i, status) in Status::ALL.into_iter().enumerate() {
            assert_eq!(status as usize, i, "{status:?}");
        }
        let mut names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Status::ALL.len());
    }
}
