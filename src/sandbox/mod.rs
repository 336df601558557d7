//! The sandbox: runs untrusted Python in a pristine WebAssembly instance per job.
//!
//! Every job starts from the same state: a pre-initialised CPython just after
//! instantiation. By default ([`InstanceMode::Reset`]) each worker keeps one live
//! instance and, after a job, copies the pages the job wrote back from a snapshot
//! taken right after instantiation (see [`snapshot`]); an instance that trapped,
//! grew its memory or kept a host resource is discarded instead. With
//! [`InstanceMode::Fresh`] every job instantiates a new instance from one shared
//! `InstancePre` (pooling allocator, copy-on-write memory image). Either way no
//! state crosses jobs. Limits are per expression: a wall-clock deadline
//! (a monotonic instant, checked on each epoch tick), a memory cap (store limits, trap on failed growth), an
//! output cap (counted by the host as the report crosses the boundary, before
//! anything is copied; the harness checks it too) and an optional fuel budget. A trapped
//! instance is dropped; remaining expressions of the job continue in a new one.

pub mod clock;
pub mod engine;
pub mod guest;
pub mod limits;
pub mod outcome;
#[cfg(target_os = "linux")]
pub mod snapshot;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use self::clock::VirtualClock;
use self::engine::{Guest, GuestPre, GuestStatus, HostState, LiftedOutcome, ProtocolViolation};
use self::limits::{check_deadline, EpochTicker, GuestLimiter};
pub use self::outcome::{ExecResult, Status};
use crate::error::{CoreError, Result};

/// Native stack reserved for host frames on sandbox threads, beyond the guest's wasm stack.
const HOST_STACK_HEADROOM: usize = 4 << 20;
/// Jobs one live instance serves before it is replaced (bounds any slow drift
/// in state the reset does not cover, such as the store's own bookkeeping).
const MAX_RUNS_PER_INSTANCE: u64 = 100_000;
/// Upper bound on instantiating the guest (its start code only; a broken guest ends here).
const INSTANTIATION_TIMEOUT: Duration = Duration::from_secs(30);

/// How each job gets a pristine interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceMode {
    /// Reuse one live instance per worker and restore the pages a job wrote from
    /// a snapshot taken right after instantiation (Linux 6.7+ `PAGEMAP_SCAN`;
    /// elsewhere the sandbox falls back to `Fresh`).
    Reset,
    /// Instantiate a new instance for every job.
    Fresh,
}

impl InstanceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceMode::Reset => "reset",
            InstanceMode::Fresh => "fresh",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "reset" => Ok(InstanceMode::Reset),
            "fresh" => Ok(InstanceMode::Fresh),
            other => Err(CoreError::Config(format!(
                "instance_mode must be \"reset\" or \"fresh\", got {other:?}"
            ))),
        }
    }
}

/// Sandbox settings. `SandboxConfig::default()` is the one definition of the defaults: the
/// `DEFAULT_*` constants below (also exported to Python as `azr._core.DEFAULT_*`, which
/// `azr.Sandbox` and the CLI read), plus:
/// - `workers`: available parallelism (threads running jobs in `run_batch`)
/// - `fuel`: `None` (no metering; `Some(n)` = n units per expression)
/// - `guest`: `None` (locate or build, see [`guest::locate`]; a path is for hash seed 0 only)
/// - `cache_dir`: `None` (see [`guest::cache_dir`]): where guests are built and compiled guests kept
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub workers: usize,
    pub timeout: Duration,
    pub memory_mb: usize,
    pub max_output_bytes: usize,
    pub fuel: Option<u64>,
    pub max_wasm_stack_bytes: usize,
    pub instance_mode: InstanceMode,
    pub pooling: bool,
    pub keep_resident_bytes: usize,
    pub hash_seed: u32,
    pub guest: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
}

impl SandboxConfig {
    /// Wall-clock limit per expression: 2 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
    /// Guest linear memory per instance: 256 MiB.
    pub const DEFAULT_MEMORY_MB: usize = 256;
    /// Cap on captured stdout plus the value repr: 64 KiB.
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 65_536;
    /// Guest WebAssembly stack: 4 MiB (deep Python recursion ends in RecursionError first).
    pub const DEFAULT_MAX_WASM_STACK_BYTES: usize = 4 << 20;
    /// Reuse and restore one instance per worker (`Fresh` = a new instance per job).
    pub const DEFAULT_INSTANCE_MODE: InstanceMode = InstanceMode::Reset;
    /// `Fresh` mode uses the pooling allocator (false = allocate on demand).
    pub const DEFAULT_POOLING: bool = true;
    /// Bytes of each pooled memory slot kept mapped between instances: 16 MiB.
    pub const DEFAULT_KEEP_RESIDENT_BYTES: usize = 16 << 20;
    /// Which guest build (each has its own string-hash secret, drawn when built): 0.
    pub const DEFAULT_HASH_SEED: u32 = 0;
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            timeout: Self::DEFAULT_TIMEOUT,
            memory_mb: Self::DEFAULT_MEMORY_MB,
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
            fuel: None,
            max_wasm_stack_bytes: Self::DEFAULT_MAX_WASM_STACK_BYTES,
            instance_mode: Self::DEFAULT_INSTANCE_MODE,
            pooling: Self::DEFAULT_POOLING,
            keep_resident_bytes: Self::DEFAULT_KEEP_RESIDENT_BYTES,
            hash_seed: Self::DEFAULT_HASH_SEED,
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
    /// The mode in use: `Reset` falls back to `Fresh` where the kernel lacks support.
    pub instance_mode: InstanceMode,
}

/// Counters of instance use since the sandbox was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceCounters {
    /// Instances created (each costs an instantiation).
    pub created: u64,
    /// Runs that started on a restored instance instead of a new one.
    pub reused: u64,
    /// Instances discarded after a run because they could not be restored
    /// (trap, memory growth, a live host resource).
    pub discarded: u64,
}

/// A live instance and what is needed to put it back to its initial state.
struct LiveGuest {
    store: Store<HostState>,
    guest: Guest,
    #[cfg(target_os = "linux")]
    memories: Vec<snapshot::MemorySnapshot>,
    runs: u64,
}

#[derive(Default)]
struct Counters {
    created: AtomicU64,
    reused: AtomicU64,
    discarded: AtomicU64,
}

/// A reusable sandbox: one engine, one compiled guest, one epoch ticker, and a
/// thread pool for batches. Cheap to share across threads (`&self` methods).
pub struct Sandbox {
    config: SandboxConfig,
    engine: Engine,
    pre: GuestPre<HostState>,
    pool: rayon::ThreadPool,
    info: GuestInfo,
    /// Idle restored instances (`Reset` mode).
    idle: Mutex<Vec<LiveGuest>>,
    #[cfg(target_os = "linux")]
    scanner: Option<snapshot::PageScanner>,
    /// Post-instantiation memory images shared by every instance (`Reset` mode).
    #[cfg(target_os = "linux")]
    images: Mutex<Vec<Arc<snapshot::SnapshotImage>>>,
    counters: Counters,
    _ticker: Arc<EpochTicker>,
}

impl Sandbox {
    /// Builds the engine, loads (or compiles and caches) the guest, and starts
    /// the epoch ticker.
    pub fn new(config: SandboxConfig) -> Result<Self> {
        config.validate()?;
        let started = Instant::now();
        let cache = config.cache_dir.clone().unwrap_or_else(guest::cache_dir);
        let guest_path = guest::locate(config.guest.as_deref(), config.hash_seed, &cache)?;
        let guest_sha256 = guest::verify(&guest_path)?;
        #[cfg(target_os = "linux")]
        let scanner = match config.instance_mode {
            InstanceMode::Reset => match snapshot::PageScanner::new() {
                Ok(scanner) => Some(scanner),
                Err(e) => {
                    log::warn!("instance reset unavailable ({e}); using a fresh instance per job");
                    None
                }
            },
            InstanceMode::Fresh => None,
        };
        #[cfg(target_os = "linux")]
        let instance_mode = if scanner.is_some() {
            InstanceMode::Reset
        } else {
            InstanceMode::Fresh
        };
        #[cfg(not(target_os = "linux"))]
        let instance_mode = InstanceMode::Fresh;
        let engine = engine::build_engine(&config, instance_mode)?;
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
            instance_mode,
        };
        Ok(Sandbox {
            config,
            engine,
            pre,
            pool,
            info,
            idle: Mutex::new(Vec::new()),
            #[cfg(target_os = "linux")]
            scanner,
            #[cfg(target_os = "linux")]
            images: Mutex::new(Vec::new()),
            counters: Counters::default(),
            _ticker: Arc::new(ticker),
        })
    }

    /// How many instances were created, reused and discarded so far.
    pub fn counters(&self) -> InstanceCounters {
        InstanceCounters {
            created: self.counters.created.load(Ordering::Relaxed),
            reused: self.counters.reused.load(Ordering::Relaxed),
            discarded: self.counters.discarded.load(Ordering::Relaxed),
        }
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
                        let missing = job.exprs.len().saturating_sub(results.len());
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

    /// One pristine instance running `job.exprs[start..]`. Returns what the guest
    /// reported and, if the instance trapped, the result for the expression it
    /// trapped in.
    fn run_instance(&self, job: &Job, start: usize, timeout: Duration) -> (Vec<ExecResult>, Option<ExecResult>) {
        let mut state = self.host_state(job.seed, timeout);
        state.expected = job.exprs.len() - start;
        let mut live = match self.checkout(state) {
            Ok(live) => live,
            Err(error) => {
                let trapped = classify_trap(&error, false, 0.0);
                return (Vec::new(), Some(trapped));
            }
        };
        if let Some(budget) = self.config.fuel {
            // `begin` resets the budget per expression; this covers the call's prologue.
            let _ = live.store.set_fuel(budget);
        }
        // This covers the call's prologue; `begin` sets each expression's own deadline.
        live.store.data_mut().deadline = Instant::now() + timeout;
        live.store.set_epoch_deadline(1);
        let max_output = u32::try_from(self.config.max_output_bytes).unwrap_or(u32::MAX);
        let call = live
            .guest
            .call_run(&mut live.store, &job.program, &job.exprs[start..], max_output);
        let fuel = self
            .config
            .fuel
            .and_then(|budget| live.store.get_fuel().ok().map(|left| budget.saturating_sub(left)));
        let state = live.store.data_mut();
        let mut reports = std::mem::take(&mut state.reports);
        match call {
            Ok(()) => {
                self.checkin(live);
                (reports, None)
            }
            Err(error) => {
                // A report counts once the harness moves on (the next `begin`, or returning). If the
                // instance trapped first, the expression in progress may have been reported by guest
                // code calling the import itself: it gets the trap's status instead.
                if state.begun > 0 && reports.len() == state.begun {
                    reports.pop();
                }
                let elapsed_ms = state.mark.elapsed().as_secs_f64() * 1e3;
                let mut trapped = classify_trap(&error, state.limiter.memory_exceeded, elapsed_ms);
                trapped.fuel = fuel;
                if self.info.instance_mode == InstanceMode::Reset {
                    self.counters.discarded.fetch_add(1, Ordering::Relaxed);
                }
                (reports, Some(trapped))
            }
        }
    }

    /// An idle restored instance, or a new one, with the job's `state` installed.
    fn checkout(&self, state: HostState) -> wasmtime::Result<LiveGuest> {
        let idle = match self.info.instance_mode {
            InstanceMode::Reset => self.idle.lock().ok().and_then(|mut idle| idle.pop()),
            InstanceMode::Fresh => None,
        };
        let mut live = match idle {
            Some(live) => {
                self.counters.reused.fetch_add(1, Ordering::Relaxed);
                live
            }
            None => self.instantiate()?,
        };
        *live.store.data_mut() = state;
        Ok(live)
    }

    /// A new instance. It is created under a fixed host state (seed 0), so its
    /// start code sees the same clock and randomness whichever job triggered it.
    fn instantiate(&self) -> wasmtime::Result<LiveGuest> {
        let mut store = Store::new(&self.engine, self.host_state(0, INSTANTIATION_TIMEOUT));
        store.limiter(|state| &mut state.limiter);
        // Every epoch tick compares the clock with the store's deadline. Instantiation runs
        // only the guest's own start code, under its own deadline (`host_state` above); a
        // job's deadline is set when its call starts, so a new instance never eats into it.
        store.epoch_deadline_callback(check_deadline);
        store.set_epoch_deadline(1);
        if self.config.fuel.is_some() {
            // Likewise for fuel: the job's budget is set before its call.
            store.set_fuel(u64::MAX)?;
        }
        #[cfg(target_os = "linux")]
        let _ = snapshot::take_created();
        let guest = self.pre.instantiate(&mut store)?;
        self.counters.created.fetch_add(1, Ordering::Relaxed);
        #[cfg(target_os = "linux")]
        let memories = if self.info.instance_mode == InstanceMode::Reset {
            self.capture_memories()
                .map_err(|e| wasmtime::Error::msg(format!("snapshotting guest memory: {e}")))?
        } else {
            Vec::new()
        };
        Ok(LiveGuest {
            store,
            guest,
            #[cfg(target_os = "linux")]
            memories,
            runs: 0,
        })
    }

    /// Maps each memory of the instance just created on this thread over its
    /// image, sharing the images of earlier instances (the first one's become shared).
    #[cfg(target_os = "linux")]
    fn capture_memories(&self) -> std::io::Result<Vec<snapshot::MemorySnapshot>> {
        let shared = self.images.lock().map(|images| images.clone()).unwrap_or_default();
        let memories = snapshot::take_created()
            .into_iter()
            .enumerate()
            // SAFETY: the store is idle and owns the memory for the snapshot's lifetime
            // (both live in the returned `LiveGuest`).
            .map(|(index, view)| unsafe { snapshot::MemorySnapshot::capture(view, shared.get(index)) })
            .collect::<std::io::Result<Vec<_>>>()?;
        if shared.is_empty() {
            if let Ok(mut images) = self.images.lock() {
                *images = memories.iter().map(|memory| Arc::clone(memory.image())).collect();
            }
        }
        Ok(memories)
    }

    /// After a run that returned normally: restore the instance and keep it, or
    /// drop it when it cannot be put back exactly.
    fn checkin(&self, mut live: LiveGuest) {
        if self.info.instance_mode != InstanceMode::Reset {
            return;
        }
        live.runs += 1;
        if self.restore(&mut live) {
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(live);
                return;
            }
        }
        self.counters.discarded.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(target_os = "linux")]
    fn restore(&self, live: &mut LiveGuest) -> bool {
        let Some(scanner) = &self.scanner else { return false };
        if live.runs >= MAX_RUNS_PER_INSTANCE || !live.store.data().table.is_empty() {
            return false;
        }
        for memory in &mut live.memories {
            // SAFETY: the store's call has returned and nothing else uses it.
            if let Err(e) = unsafe { memory.restore(scanner) } {
                if let snapshot::RestoreError::Io(e) = e {
                    log::warn!("could not restore a guest memory ({e}); discarding the instance");
                }
                return false;
            }
        }
        true
    }

    #[cfg(not(target_os = "linux"))]
    fn restore(&self, _live: &mut LiveGuest) -> bool {
        false
    }

    /// Whether every idle instance's memory equals its snapshot byte for byte
    /// (a full comparison: for tests and debugging).
    pub fn idle_instances_pristine(&self) -> bool {
        #[cfg(target_os = "linux")]
        if let Ok(idle) = self.idle.lock() {
            // SAFETY: idle instances are not running.
            return idle
                .iter()
                .all(|live| live.memories.iter().all(|memory| unsafe { memory.matches() }));
        }
        true
    }

    fn host_state(&self, seed: u64, timeout: Duration) -> HostState {
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
        HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: GuestLimiter::new(self.config.memory_bytes()),
            clock,
            timeout,
            deadline: Instant::now() + timeout,
            expected: 0,
            begun: 0,
            fuel_budget: self.config.fuel,
            max_output_bytes: self.config.max_output_bytes,
            mark: Instant::now(),
            reports: Vec::new(),
        }
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
    if let Some(violation) = error.downcast_ref::<ProtocolViolation>() {
        return ExecResult::host(Status::Crash, "ProtocolViolation", violation.to_string(), elapsed_ms);
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
pub(crate) fn from_guest(outcome: LiftedOutcome, elapsed_ms: f64, fuel: Option<u64>) -> ExecResult {
    let (status, value_repr, stdout, error_type, error_message, exit_code) = outcome;
    let status = match status {
        GuestStatus::Ok => Status::Ok,
        GuestStatus::Exception => Status::Exception,
        GuestStatus::SyntaxError => Status::SyntaxError,
        GuestStatus::OutputLimit => Status::OutputLimit,
        GuestStatus::Memory => Status::Memory,
        GuestStatus::Exited => Status::Exit,
    };
    ExecResult {
        status,
        value_repr: if status == Status::Ok { value_repr } else { None },
        stdout,
        error_type,
        error_message,
        exit_code: (status == Status::Exit).then_some(exit_code),
        elapsed_ms,
        fuel,
    }
}
