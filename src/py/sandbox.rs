//! `azr._core.Sandbox`: the low-level sandbox. `azr.Sandbox` wraps it with
//! `Job`/`ExecResult` dataclasses and the `Status` enum.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::error::CoreError;
use crate::sandbox::{guest, ExecResult, InstanceMode, Job, Sandbox, SandboxConfig};

/// (status, value_repr, stdout, error_type, error_message, exit_code, elapsed_ms, fuel)
type RawResult = (
    &'static str,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<i32>,
    f64,
    Option<u64>,
);

/// (program, exprs, seed, timeout_s), as Python passes it: any `str`, even one that is
/// not valid Unicode (lone surrogates) and so cannot cross into the guest.
type PyJob<'py> = (Bound<'py, PyString>, Vec<Bound<'py, PyString>>, u64, Option<f64>);

/// The text, or `None` when it has lone surrogates (no UTF-8 form).
fn utf8(text: &Bound<'_, PyString>) -> Option<String> {
    text.to_str().ok().map(str::to_owned)
}

/// What a job whose text is not valid UTF-8 gets for each expression (as `azr.Sandbox` does).
fn unencodable() -> RawResult {
    (
        "syntax_error",
        None,
        String::new(),
        Some("UnicodeEncodeError".into()),
        Some("program or expression is not valid UTF-8".into()),
        None,
        0.0,
        None,
    )
}

fn raw(result: ExecResult) -> RawResult {
    (
        result.status.as_str(),
        result.value_repr,
        result.stdout,
        result.error_type,
        result.error_message,
        result.exit_code,
        result.elapsed_ms,
        result.fuel,
    )
}

fn duration(seconds: f64, name: &str) -> Result<Duration, CoreError> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| CoreError::Config(format!("{name} must be a positive number of seconds, got {seconds}")))
}

/// The job, or `Ok(None)` when its text cannot cross into the guest (it then gets
/// [`unencodable`] results, never an exception). A bad timeout is a config error.
fn job(raw: &PyJob<'_>) -> Result<Option<Job>, CoreError> {
    let (program, exprs, seed, timeout_s) = raw;
    let timeout = timeout_s.map(|t| duration(t, "timeout_s")).transpose()?;
    let Some(program) = utf8(program) else { return Ok(None) };
    let Some(exprs) = exprs.iter().map(utf8).collect::<Option<Vec<_>>>() else {
        return Ok(None);
    };
    Ok(Some(Job {
        program,
        exprs,
        seed: *seed,
        timeout,
    }))
}

#[pyclass(name = "Sandbox", module = "azr._core", frozen)]
pub struct PySandbox {
    inner: Sandbox,
}

#[pymethods]
impl PySandbox {
    #[new]
    #[pyo3(signature = (*, workers=None, timeout_s=2.0, memory_mb=256, max_output_bytes=65536, fuel=None,
                        max_wasm_stack_bytes=4194304, instance_mode="reset", pooling=true, hash_seed=0,
                        guest=None, cache_dir=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        workers: Option<usize>,
        timeout_s: f64,
        memory_mb: usize,
        max_output_bytes: usize,
        fuel: Option<u64>,
        max_wasm_stack_bytes: usize,
        instance_mode: &str,
        pooling: bool,
        hash_seed: u32,
        guest: Option<PathBuf>,
        cache_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        let defaults = SandboxConfig::default();
        let config = SandboxConfig {
            workers: workers.unwrap_or(defaults.workers),
            timeout: duration(timeout_s, "timeout_s")?,
            memory_mb,
            max_output_bytes,
            fuel,
            max_wasm_stack_bytes,
            instance_mode: InstanceMode::parse(instance_mode)?,
            pooling,
            hash_seed,
            guest,
            cache_dir,
            ..defaults
        };
        let inner = py.detach(|| Sandbox::new(config))?;
        Ok(PySandbox { inner })
    }

    /// Runs one program against expressions in one pristine instance.
    #[pyo3(signature = (program, exprs, seed=0, timeout_s=None))]
    fn run(
        &self,
        py: Python<'_>,
        program: Bound<'_, PyString>,
        exprs: Vec<Bound<'_, PyString>>,
        seed: u64,
        timeout_s: Option<f64>,
    ) -> PyResult<Vec<RawResult>> {
        let count = exprs.len();
        let Some(job) = job(&(program, exprs, seed, timeout_s))? else {
            return Ok(vec![unencodable(); count]);
        };
        let results = py.detach(|| self.inner.run(&job));
        Ok(results.into_iter().map(raw).collect())
    }

    /// Runs many jobs in parallel; one list of results per job, in order.
    fn run_batch(&self, py: Python<'_>, jobs: Vec<PyJob<'_>>) -> PyResult<Vec<Vec<RawResult>>> {
        let parsed = jobs.iter().map(job).collect::<Result<Vec<_>, _>>()?;
        // (expression count, whether it runs) per job, then the runnable jobs alone.
        let shape: Vec<(usize, bool)> = jobs
            .iter()
            .zip(&parsed)
            .map(|(j, p)| (j.1.len(), p.is_some()))
            .collect();
        drop(jobs);
        let runnable: Vec<Job> = parsed.into_iter().flatten().collect();
        let mut results = py.detach(|| self.inner.run_batch(&runnable)).into_iter();
        let mut out = Vec::with_capacity(shape.len());
        for (count, runs) in shape {
            match runs {
                true => out.push(results.next().unwrap_or_default().into_iter().map(raw).collect()),
                false => out.push(vec![unencodable(); count]),
            }
        }
        Ok(out)
    }

    #[getter]
    fn workers(&self) -> usize {
        self.inner.config().workers
    }

    #[getter]
    fn timeout_s(&self) -> f64 {
        self.inner.config().timeout.as_secs_f64()
    }

    #[getter]
    fn memory_mb(&self) -> usize {
        self.inner.config().memory_mb
    }

    #[getter]
    fn max_output_bytes(&self) -> usize {
        self.inner.config().max_output_bytes
    }

    #[getter]
    fn fuel(&self) -> Option<u64> {
        self.inner.config().fuel
    }

    /// The number of the guest build (each build has its own string-hash secret).
    #[getter]
    fn hash_seed(&self) -> u32 {
        self.inner.config().hash_seed
    }

    #[getter]
    fn guest_path(&self) -> PathBuf {
        self.inner.info().guest_path.clone()
    }

    #[getter]
    fn guest_sha256(&self) -> String {
        self.inner.info().guest_sha256.clone()
    }

    #[getter]
    fn setup_ms(&self) -> f64 {
        self.inner.info().setup_ms
    }

    /// The instance mode in use ("reset" falls back to "fresh" without kernel support).
    #[getter]
    fn instance_mode(&self) -> &'static str {
        self.inner.info().instance_mode.as_str()
    }

    /// (created, reused, discarded) instance counts so far.
    fn instance_counts(&self) -> (u64, u64, u64) {
        let counters = self.inner.counters();
        (counters.created, counters.reused, counters.discarded)
    }

    /// Whether every idle instance's memory equals its post-instantiation snapshot.
    fn idle_instances_pristine(&self, py: Python<'_>) -> bool {
        py.detach(|| self.inner.idle_instances_pristine())
    }
}

/// Path of the guest the sandbox would use, building it if needed.
#[pyfunction]
#[pyo3(signature = (guest=None, hash_seed=0))]
pub fn locate_guest(py: Python<'_>, guest: Option<PathBuf>, hash_seed: u32) -> PyResult<PathBuf> {
    Ok(py.detach(|| guest::locate(guest.as_deref(), hash_seed))?)
}

/// Builds the guest into the cache (replacing any cached one) and returns its path.
#[pyfunction]
#[pyo3(signature = (hash_seed=0))]
pub fn build_guest(py: Python<'_>, hash_seed: u32) -> PyResult<PathBuf> {
    Ok(py.detach(|| guest::build(&guest::cached_guest_path(hash_seed), hash_seed))?)
}

/// Checks a guest against its recorded checksum; returns its SHA-256.
#[pyfunction]
pub fn verify_guest(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    Ok(py.detach(|| guest::verify(&path))?)
}
