//! `azr._core.Sandbox`: the low-level sandbox. It returns [`PyExecResult`]s (`azr.ExecResult`);
//! `azr.Sandbox` adds typed `Job`s, argument checks and running totals.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyString;

use super::outcome::PyExecResult;
use crate::error::CoreError;
use crate::sandbox::{guest, ExecResult, InstanceMode, Job, Sandbox, SandboxConfig, Status};

/// (program, exprs, seed, timeout_s), as Python passes it: any `str`, even one that is
/// not valid Unicode (lone surrogates) and so cannot cross into the guest.
type PyJob<'py> = (Bound<'py, PyString>, Vec<Bound<'py, PyString>>, u64, Option<f64>);

/// The text, or `None` when it has lone surrogates (no UTF-8 form).
fn utf8(text: &Bound<'_, PyString>) -> Option<String> {
    text.to_str().ok().map(str::to_owned)
}

/// What a job whose text is not valid UTF-8 gets for each expression: data, not an exception.
fn unencodable(count: usize) -> Vec<PyExecResult> {
    let result = ExecResult::host(
        Status::SyntaxError,
        "UnicodeEncodeError",
        "program or expression is not valid UTF-8".into(),
        0.0,
    );
    vec![PyExecResult(result); count]
}

fn wrap(results: Vec<ExecResult>) -> Vec<PyExecResult> {
    results.into_iter().map(PyExecResult).collect()
}

/// `seconds` as a positive duration, or the message saying it is not one.
fn duration(seconds: f64, name: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{name} must be a positive number of seconds, got {seconds}"))
}

/// The job, or `Ok(None)` when its text cannot cross into the guest (it then gets
/// [`unencodable`] results, never an exception). A bad timeout is the caller's argument
/// (`ValueError`), unlike the sandbox's own timeout setting (`ConfigError`).
fn job(raw: &PyJob<'_>) -> Result<Option<Job>, CoreError> {
    let (program, exprs, seed, timeout_s) = raw;
    let timeout = timeout_s
        .map(|t| duration(t, "timeout_s"))
        .transpose()
        .map_err(CoreError::InvalidArgument)?;
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
    #[pyo3(signature = (*, workers=None, timeout_s=SandboxConfig::DEFAULT_TIMEOUT.as_secs_f64(),
                        memory_mb=SandboxConfig::DEFAULT_MEMORY_MB,
                        max_output_bytes=SandboxConfig::DEFAULT_MAX_OUTPUT_BYTES, fuel=None,
                        max_wasm_stack_bytes=SandboxConfig::DEFAULT_MAX_WASM_STACK_BYTES,
                        instance_mode=SandboxConfig::DEFAULT_INSTANCE_MODE.as_str(),
                        pooling=SandboxConfig::DEFAULT_POOLING, hash_seed=SandboxConfig::DEFAULT_HASH_SEED,
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
            timeout: duration(timeout_s, "timeout_s").map_err(CoreError::Config)?,
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
    ) -> PyResult<Vec<PyExecResult>> {
        let count = exprs.len();
        let Some(job) = job(&(program, exprs, seed, timeout_s))? else {
            return Ok(unencodable(count));
        };
        Ok(wrap(py.detach(|| self.inner.run(&job))))
    }

    /// Runs many jobs in parallel; one list of results per job, in order.
    fn run_batch(&self, py: Python<'_>, jobs: Vec<PyJob<'_>>) -> PyResult<Vec<Vec<PyExecResult>>> {
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
                true => out.push(wrap(results.next().unwrap_or_default())),
                false => out.push(unencodable(count)),
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
#[pyo3(signature = (guest=None, hash_seed=SandboxConfig::DEFAULT_HASH_SEED, cache_dir=None))]
pub fn locate_guest(
    py: Python<'_>,
    guest: Option<PathBuf>,
    hash_seed: u32,
    cache_dir: Option<PathBuf>,
) -> PyResult<PathBuf> {
    let cache = cache_dir.unwrap_or_else(guest::cache_dir);
    Ok(py.detach(|| guest::locate(guest.as_deref(), hash_seed, &cache))?)
}

/// Builds the guest into the cache (replacing any cached one) and returns its path.
#[pyfunction]
#[pyo3(signature = (hash_seed=SandboxConfig::DEFAULT_HASH_SEED, cache_dir=None))]
pub fn build_guest(py: Python<'_>, hash_seed: u32, cache_dir: Option<PathBuf>) -> PyResult<PathBuf> {
    let cache = cache_dir.unwrap_or_else(guest::cache_dir);
    Ok(py.detach(|| guest::build(&guest::cached_guest_path(&cache, hash_seed), hash_seed))?)
}

/// Checks a guest against its recorded checksum; returns its SHA-256.
#[pyfunction]
pub fn verify_guest(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    Ok(py.detach(|| guest::verify(&path))?)
}

/// Exports the defaults of [`SandboxConfig`] as `DEFAULT_*` constants: the one definition that
/// `azr.Sandbox`, the CLI and the training config read.
pub fn add_defaults(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DEFAULT_TIMEOUT_S", SandboxConfig::DEFAULT_TIMEOUT.as_secs_f64())?;
    m.add("DEFAULT_MEMORY_MB", SandboxConfig::DEFAULT_MEMORY_MB)?;
    m.add("DEFAULT_MAX_OUTPUT_BYTES", SandboxConfig::DEFAULT_MAX_OUTPUT_BYTES)?;
    m.add(
        "DEFAULT_MAX_WASM_STACK_BYTES",
        SandboxConfig::DEFAULT_MAX_WASM_STACK_BYTES,
    )?;
    m.add("DEFAULT_INSTANCE_MODE", SandboxConfig::DEFAULT_INSTANCE_MODE.as_str())?;
    m.add("DEFAULT_POOLING", SandboxConfig::DEFAULT_POOLING)?;
    m.add("DEFAULT_HASH_SEED", SandboxConfig::DEFAULT_HASH_SEED)?;
    Ok(())
}
