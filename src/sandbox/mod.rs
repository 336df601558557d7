//! The sandbox: runs untrusted Python in a fresh WebAssembly instance per job.
//!
//! Each job gets its own `Store` instantiated from one shared `InstancePre`
//! (pooling allocator, copy-on-write memory image of a pre-initialised CPython),
//! so no state crosses jobs. Limits are per expression: a wall-clock deadline
//! (epoch interruption), a memory cap (store limits, trap on failed growth), an
//! output cap (enforced by the harness) and an optional fuel budget. A trapped
//! instance is dropped; remaining expressions of the job continue in a new one.

pub mod clock;
pub mod engine;
pub mod guest;
pub mod limits;
pub mod outcome;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use self::clock::VirtualClock;
use self::engine::{GuestOutcome, GuestPre, GuestStatus, HostState};
use self::limits::{deadline_ticks, EpochTicker, GuestLimiter};
pub use self::outcome::{ExecResult, Status};
use crate::error::{CoreError, Result};

/// Native stack reserved for host frames on sandbox threads, beyond the guest's wasm stack.
const HOST_STACK_HEADROOM: usize = 4 << 20;

/// Sandbox settings. Defaults:
/// - `workers`: available parallelism (threads running jobs in `run_batch`)
/// - `timeout`: 2 s per expression (wall clock)
/// - `memory_mb`: 256 MiB of guest linear memory per instance
/// - `max_output_bytes`: 65,536 (captured stdout plus the value repr)
/// - `fuel`: `None` (no metering; `Some(n)` = n units per expression)
/// - `max_wasm_stack_bytes`: 4 MiB (deep Python recursion ends in RecursionError first)
/// - `pooling`: true (pooling allocator; false = allocate on demand)
/// - `keep_resident_bytes`: 16 MiB of each memory slot kept mapped between instances
/// - `guest`: `None` (locate or build, see [`guest::locate`])
/// - `cache_dir`: `None` (see [`guest::cache_dir`])
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub workers: usize,
    pub timeout: Duration,
    pub memory_mb: usize,
    pub max_output_bytes: usize,
    pub fuel: Option<u64>,
    pub max_wasm_stack_bytes: usize,
    pub pooling: bool,
    pub keep_resident_bytes: usize,
    pub guest: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            timeout: Duration::from_secs(2),
            memory_mb: 256,
            max_output_bytes: 65_536,
            fuel: None,
            max_wasm_stack_bytes: 4 << 20,
            pooling: true,
            keep_resident_bytes: 16 << 20,
            guest: None,
            cache_dir: None,
        }
    }
}

impl SandboxConfig {
    pub(crate) fn memory_bytes(&self) -> usize {
        self.memory_mb.saturating_mul(1 << 20)
    }

    /// Rejects values that cannot work, with the fix in the message.
    pub fn validate(&self) -> Result<()> {
        if self.workers == 0 || self.workers > 1024 {
            return Err(CoreError::Config(format!(
                "workers must be in 1..=1024, got {}",
                self.workers
            )));
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(24 * 3600) {
            return Err(CoreError::Config(format!(
                "timeout must be in (0 s, 1 day], got {:?}",
                self.timeout
            )));
        }
        if !(32..=65_536).contains(&self.memory_mb) {
            return Err(CoreError::Config(format!(
                "memory_mb must be in 32..=65536 (the guest interpreter alone needs ~30 MiB), got {}",
                self.memory_mb
            )));
        }
        if self.max_output_bytes == 0 || self.max_output_bytes > u32::MAX as usize {
            return Err(CoreError::Config(format!(
                "max_output_bytes must be in 1..=4294967295, got {}",
                self.max_output_bytes
            )));
        }
        if self.fuel == Some(0) {
            return Err(CoreError::Config("fuel must be positive or None (no metering)".into()));
        }
        if !(512 << 10..=256 << 20).contains(&self.max_wasm_stack_bytes) {
            return Err(CoreError::Config(
                "max_wasm_stack_bytes must be in 512 KiB..=256 MiB".into(),
            ));
        }
        Ok(())
    }
}

/// One unit of work: run `program` in a fresh namespace and evaluate each of
/// `exprs` there (a fresh namespace per expression, one instance for all).
#[derive(Debug, Clone)]
pub struct Job {
    pub program: String,
    pub exprs: Vec<String>,
    /// Seeds the guest's randomness and offsets its virtual wall clock.
    pub seed: u64,
    /// Overrides the sandbox's per-expression timeout.
    pub timeout: Option<Duration>,
}

impl Job {
    pub fn new(program: impl Into<String>, expr: impl Into<String>) -> Self {
        Job {
            program: program.into(),
            exprs: vec![expr.into()],
            seed: 0,
            timeout: None,
        }
    }
}

/// Where the sandbox's guest and compiled artifact came from.
#[derive(Debug, Clone)]
pub struct GuestInfo {
    pub guest_path: PathBuf,
    pub guest_sha256: String,
    pub artifact_path: PathBuf,
    pub setup_ms: f64,
}

/// A reusable sandbox: one engine, one compiled guest, one epoch ticker, and a
/// thread pool for batches. Cheap to share across threads (`&self` methods).
pub struct Sandbox {
    config: SandboxConfig,
    engine: Engine,
    pre: GuestPre<HostState>,
    pool: rayon::ThreadPool,
    info: GuestInfo,
    _ticker: Arc<EpochTicker>,
}

impl Sandbox {
    /// Builds the engine, loads (or compiles and caches) the guest, and starts
    /// the epoch ticker.
    pub fn new(config: SandboxConfig) -> Result<Self> {
        config.validate()?;
        let started = Instant::now();
        let guest_path = guest::locate(config.guest.as_deref())?;
        let guest_sha256 = guest::verify(&guest_path)?;
        let engine = engine::build_engine(&config)?;
        let cache = config.cache_dir.clone().unwrap_or_else(guest::cache_dir);
        let (component, artifact_path) = engine::load_component(&engine, &guest_path, &guest_sha256, &cache)?;
        let linker = engine::build_linker(&engine)?;
        let pre = engine::pre_instantiate(&linker, &component)?;
        let ticker = EpochTicker::start(&engine).map_err(|e| CoreError::Engine(format!("epoch ticker: {e}")))?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.workers)
            .thread_name(|i| format!("azr-sandbox-{i}"))
            // Guest wasm frames live on the host thread's stack: leave room beyond max_wasm_stack.
            .stack_size(config.max_wasm_stack_bytes + HOST_STACK_HEADROOM)
            .build()
            .map_err(|e| CoreError::Engine(format!("thread pool: {e}")))?;
        let info = GuestInfo {
            guest_path,
            guest_sha256,
            artifact_path,
            setup_ms: started.elapsed().as_secs_f64() * 1e3,
        };
        Ok(Sandbox {
            config,
            engine,
            pre,
            pool,
            info,
            _ticker: Arc::new(ticker),
        })
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    pub fn info(&self) -> &GuestInfo {
        &self.info
    }

    /// Runs one job: one result per expression, in order. Runs on a pool thread,
    /// whose stack is sized for the guest, whatever thread calls it.
    pub fn run(&self, job: &Job) -> Vec<ExecResult> {
        self.pool.install(|| self.run_on_pool_thread(job))
    }

    fn run_on_pool_thread(&self, job: &Job) -> Vec<ExecResult> {
        let timeout = job.timeout.unwrap_or(self.config.timeout);
        let mut results = Vec::with_capacity(job.exprs.len());
        while results.len() < job.exprs.len() {
            let start = results.len();
            match self.run_instance(job, start, timeout) {
                (mut done, None) => {
                    let complete = start + done.len() == job.exprs.len();
                    results.append(&mut done);
                    if !complete {
                        // The harness returned without reporting every expression: a bug, not the program's fault.
                        let missing = job.exprs.len() - results.len();
                        results.extend((0..missing).map(|_| {
                            ExecResult::host(Status::Crash, "HarnessError", "guest returned early".into(), 0.0)
                        }));
                    }
                }
                (mut done, Some(trapped)) => {
                    results.append(&mut done);
                    results.push(trapped);
                }
            }
        }
        results
    }

    /// Runs jobs in parallel over the worker pool; results are in input order.
    pub fn run_batch(&self, jobs: &[Job]) -> Vec<Vec<ExecResult>> {
        use rayon::prelude::*;
        self.pool
            .install(|| jobs.par_iter().map(|job| self.run_on_pool_thread(job)).collect())
    }

    /// One fresh instance running `job.exprs[start..]`. Returns what the guest
    /// reported and, if the instance trapped, the result for the expression it
    /// trapped in.
    fn run_instance(&self, job: &Job, start: usize, timeout: Duration) -> (Vec<ExecResult>, Option<ExecResult>) {
        let mut store = self.new_store(job.seed, timeout);
        let max_output = u32::try_from(self.config.max_output_bytes).unwrap_or(u32::MAX);
        let call = self
            .pre
            .instantiate(&mut store)
            .and_then(|guest| guest.call_run(&mut store, &job.program, &job.exprs[start..], max_output));
        let fuel = self
            .config
            .fuel
            .and_then(|budget| store.get_fuel().ok().map(|left| budget.saturating_sub(left)));
        let state = store.data_mut();
        let reports = std::mem::take(&mut state.reports);
        match call {
            Ok(()) => (reports, None),
            Err(error) => {
                let elapsed_ms = state.mark.elapsed().as_secs_f64() * 1e3;
                let mut trapped = classify_trap(&error, state.limiter.memory_exceeded, elapsed_ms);
                trapped.fuel = fuel;
                (reports, Some(trapped))
            }
        }
    }

    fn new_store(&self, seed: u64, timeout: Duration) -> Store<HostState> {
        let clock = VirtualClock::new(seed);
        let mut wasi = WasiCtxBuilder::new();
        wasi.wall_clock(clock.clone())
            .monotonic_clock(clock.clone())
            .secure_random(rand::rngs::StdRng::seed_from_u64(seed))
            .insecure_random(rand::rngs::StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15))
            .insecure_random_seed(u128::from(seed))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let state = HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: GuestLimiter::new(self.config.memory_bytes()),
            clock,
            deadline_ticks: deadline_ticks(timeout),
            fuel_budget: self.config.fuel,
            mark: Instant::now(),
            reports: Vec::new(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(deadline_ticks(timeout));
        if let Some(budget) = self.config.fuel {
            // Instantiation and compiling the program count against the first expression.
            let _ = store.set_fuel(budget);
        }
        store
    }
}

/// Turns a failed guest call into the status the job ended with.
fn classify_trap(error: &wasmtime::Error, memory_exceeded: bool, elapsed_ms: f64) -> ExecResult {
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        let mut result = ExecResult::host(
            Status::Exit,
            "SystemExit",
            format!("exited with code {}", exit.0),
            elapsed_ms,
        );
        result.exit_code = Some(exit.0);
        return result;
    }
    if memory_exceeded {
        return ExecResult::host(
            Status::Memory,
            "MemoryError",
            "memory limit exceeded".into(),
            elapsed_ms,
        );
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => ExecResult::host(Status::Timeout, "Timeout", "wall-clock timeout".into(), elapsed_ms),
        Some(Trap::OutOfFuel) => ExecResult::host(
            Status::OutOfFuel,
            "OutOfFuel",
            "fuel budget exhausted".into(),
            elapsed_ms,
        ),
        Some(Trap::StackOverflow) => ExecResult::host(
            Status::Crash,
            "StackOverflow",
            "guest wasm stack exhausted".into(),
            elapsed_ms,
        ),
        Some(trap) => ExecResult::host(Status::Crash, "Trap", trap.to_string(), elapsed_ms),
        None => ExecResult::host(Status::Crash, "HostError", format!("{error:#}"), elapsed_ms),
    }
}

/// Converts the harness's record to a result.
pub(crate) fn from_guest(outcome: GuestOutcome, elapsed_ms: f64, fuel: Option<u64>) -> ExecResult {
    let status = match outcome.status {
        GuestStatus::Ok => Status::Ok,
        GuestStatus::Exception => Status::Exception,
        GuestStatus::SyntaxError => Status::SyntaxError,
        GuestStatus::OutputLimit => Status::OutputLimit,
        GuestStatus::Memory => Status::Memory,
        GuestStatus::Exited => Status::Exit,
    };
    ExecResult {
        status,
        value_repr: outcome.value_repr,
        stdout: outcome.stdout,
        error_type: outcome.error_type,
        error_message: outcome.error_message,
        exit_code: (status == Status::Exit).then_some(outcome.exit_code),
        elapsed_ms,
        fuel,
    }
}
