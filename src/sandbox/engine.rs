//! The wasmtime engine, the compiled-guest cache, the linker and the
//! `InstancePre` shared by every run.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, ComponentType, Lift, Linker, ResourceTable, WasmStr};
use wasmtime::StoreContextMut;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::clock::{self, VirtualClock};
use super::limits::GuestLimiter;
use super::outcome::ExecResult;
use super::{InstanceMode, SandboxConfig};
use crate::error::{CoreError, Result};

wasmtime::component::bindgen!({
    path: "sandbox-wasm/wit/guest.wit",
    world: "guest",
});

pub use self::Status as GuestStatus;

/// Characters of an error type or message kept by the host (the harness keeps as many).
pub const MAX_ERROR_CHARS: usize = 2000;

/// The WIT `outcome` record as the host lifts it: its strings stay in guest memory
/// ([`WasmStr`] records where they are, bounds-checked) until the host has counted
/// their bytes, so a guest that defeats its own harness's caps still cannot make the
/// host copy more than `max_output_bytes` of stdout and value, or
/// [`MAX_ERROR_CHARS`] of error text.
#[derive(ComponentType, Lift)]
#[component(record)]
pub struct LazyOutcome {
    status: GuestStatus,
    #[component(name = "value-repr")]
    value_repr: Option<WasmStr>,
    stdout: WasmStr,
    #[component(name = "error-type")]
    error_type: Option<WasmStr>,
    #[component(name = "error-message")]
    error_message: Option<WasmStr>,
    #[component(name = "exit-code")]
    exit_code: i32,
}

/// The harness's report, copied under the host's caps:
/// (status, value repr, stdout, error type, error message, exit code).
pub type LiftedOutcome = (GuestStatus, Option<String>, String, Option<String>, Option<String>, i32);

/// Copies at most `max_bytes` of `text`, cut at a character boundary.
fn prefix(text: &str, max_bytes: usize) -> String {
    let mut end = max_bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Copies at most `max_chars` characters of `text`.
fn prefix_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

/// The guest's strings, copied under the host's caps. The checks read only lengths:
/// `to_str` borrows UTF-8 text in place (it validates, but does not copy).
fn lift_outcome(
    store: &StoreContextMut<'_, HostState>,
    outcome: &LazyOutcome,
    max_output_bytes: usize,
) -> wasmtime::Result<LiftedOutcome> {
    let text = |s: &WasmStr| s.to_str(store);
    let error = |s: &Option<WasmStr>| -> wasmtime::Result<Option<String>> {
        s.as_ref()
            .map(|s| text(s).map(|t| prefix_chars(&t, MAX_ERROR_CHARS)))
            .transpose()
    };
    let stdout = text(&outcome.stdout)?;
    let value = outcome.value_repr.as_ref().map(text).transpose()?;
    let total = stdout.len().saturating_add(value.as_ref().map_or(0, |v| v.len()));
    if total > max_output_bytes {
        return Ok((
            GuestStatus::OutputLimit,
            None,
            prefix(&stdout, max_output_bytes),
            Some("OutputLimit".into()),
            Some("output limit exceeded".into()),
            0,
        ));
    }
    Ok((
        outcome.status,
        value.map(|v| v.into_owned()),
        stdout.into_owned(),
        error(&outcome.error_type)?,
        error(&outcome.error_message)?,
        outcome.exit_code,
    ))
}

/// Everything one store owns: WASI state, limits, the virtual clock, and the
/// per-expression bookkeeping that `begin`/`report` update.
pub struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: GuestLimiter,
    pub clock: VirtualClock,
    /// The per-expression wall-clock limit, and when the current expression's runs out
    /// (monotonic; checked on every epoch tick by [`super::limits::check_deadline`]).
    pub timeout: Duration,
    pub deadline: Instant,
    /// Expressions this call must report (the harness protocol: `begin(i)`, then
    /// `report`, for i = 0, 1, ...; anything else traps the instance).
    pub expected: usize,
    /// `begin` calls accepted so far in this call.
    pub begun: usize,
    pub fuel_budget: Option<u64>,
    /// Cap on the bytes of stdout plus value repr one report may hand the host.
    pub max_output_bytes: usize,
    pub mark: Instant,
    pub reports: Vec<ExecResult>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The guest called `begin`/`report` outside the harness protocol: only guest
/// code reaching the harness's imports does that. The instance is discarded.
#[derive(Debug)]
pub struct ProtocolViolation(pub &'static str);

impl std::fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "guest broke the harness protocol: {}", self.0)
    }
}

impl std::error::Error for ProtocolViolation {}

/// The engine configuration. Anything here changes compiled code, so it is also
/// part of the compiled-artifact cache key (through wasmtime's compatibility hash).
pub fn build_engine(config: &SandboxConfig, mode: InstanceMode) -> Result<Engine> {
    let mut wasm = Config::new();
    wasm.epoch_interruption(true);
    wasm.consume_fuel(config.fuel.is_some());
    wasm.cranelift_opt_level(OptLevel::Speed);
    wasm.max_wasm_stack(config.max_wasm_stack_bytes);
    // wasmtime-wasi enables async support, which checks this bound even for sync calls.
    wasm.async_stack_size(config.max_wasm_stack_bytes + (1 << 20));
    if mode == InstanceMode::Reset {
        reset_memories(&mut wasm)?;
    } else if config.pooling {
        let slots = u32::try_from(config.workers.max(1) * 4 + 4).unwrap_or(u32::MAX);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(slots)
            .total_core_instances(slots * 16)
            .total_memories(slots * 4)
            .total_tables(slots * 8)
            .total_stacks(slots)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16)
            .max_memory_size(config.memory_bytes())
            .max_core_instance_size(1 << 20)
            .max_component_instance_size(1 << 20)
            .table_elements(1 << 16)
            // Keep the pages a typical run dirties mapped between instances
            // (the memory is reset, not unmapped), so reuse skips page faults.
            .linear_memory_keep_resident(config.keep_resident_bytes)
            .table_keep_resident(1 << 16);
        // PAGEMAP_SCAN-based resets (`pagemap_scan`) measured slower here: the
        // resident pages then fault back in on the next run (see sandbox-wasm/README.md).
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&wasm).map_err(|e| CoreError::Engine(format!("{e:#}")))
}

/// Guest memories come from [`super::snapshot::HostMemoryCreator`], so the host can
/// map each one over its snapshot; wasmtime then initialises memory by copying
/// (once per instance) rather than with its own copy-on-write image.
#[cfg(target_os = "linux")]
fn reset_memories(wasm: &mut Config) -> Result<()> {
    wasm.with_host_memory(std::sync::Arc::new(super::snapshot::HostMemoryCreator));
    wasm.memory_init_cow(false);
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn reset_memories(_wasm: &mut Config) -> Result<()> {
    Err(CoreError::Config("instance reset needs Linux".into()))
}

/// Key of a compiled guest: wasmtime's own engine-compatibility hash plus the
/// guest's SHA-256 and the wasmtime version.
pub fn artifact_key(engine: &Engine, guest_sha256: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_hash = hasher.finish();
    let text = format!("{}\0{guest_sha256}\0{engine_hash:016x}", wasmtime_version());
    crate::sandbox::guest::sha256_hex(text.as_bytes())[..24].to_string()
}

/// The wasmtime crate version this build links.
pub fn wasmtime_version() -> &'static str {
    "48"
}

/// Loads the compiled guest from the cache, compiling (and caching) it on a miss
/// or when the cached artifact is unusable.
pub fn load_component(engine: &Engine, guest: &Path, guest_sha256: &str, cache: &Path) -> Result<(Component, PathBuf)> {
    let artifact = cache.join(format!("compiled-{}.cwasm", artifact_key(engine, guest_sha256)));
    if artifact.is_file() {
        // SAFETY: the file was written by `Component::serialize` for an engine with
        // the same compatibility hash (it is in the name), in azr's own cache dir.
        match unsafe { Component::deserialize_file(engine, &artifact) } {
            Ok(component) => return Ok((component, artifact)),
            Err(e) => log::warn!("discarding unusable compiled guest {}: {e:#}", artifact.display()),
        }
    }
    let started = Instant::now();
    let component = Component::from_file(engine, guest)
        .map_err(|e| CoreError::GuestInvalid(format!("{} does not compile: {e:#}", guest.display())))?;
    log::info!("compiled the sandbox guest in {:.1} s", started.elapsed().as_secs_f64());
    match component.serialize() {
        Ok(bytes) => write_atomic(&artifact, &bytes),
        Err(e) => log::warn!("could not serialize the compiled guest: {e:#}"),
    }
    Ok((component, artifact))
}

fn write_atomic(path: &Path, bytes: &[u8]) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    ));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        log::warn!("could not cache the compiled guest at {}: {e}", path.display());
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The linker: WASI preview 2 (no preopens, env, args or network in the context),
/// the virtual-sleep shadow, and the two harness imports.
pub fn build_linker(engine: &Engine) -> Result<Linker<HostState>> {
    let mut linker: Linker<HostState> = Linker::new(engine);
    let setup = || -> wasmtime::Result<Linker<HostState>> {
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        clock::shadow_sleep(&mut linker)?;
        let mut root = linker.root();
        root.func_wrap("begin", |mut store, (index,): (u32,)| {
            let state = store.data_mut();
            let in_order = usize::try_from(index).is_ok_and(|i| i == state.begun)
                && state.begun < state.expected
                && state.reports.len() == state.begun;
            if !in_order {
                // Guest code calling the import itself (e.g. to reset its own deadline).
                return Err(wasmtime::Error::new(ProtocolViolation("`begin` out of order")));
            }
            state.begun += 1;
            // The expression's deadline is an instant, so ticks delayed by a busy host
            // cannot stretch it: the next tick after it passes interrupts the guest.
            state.deadline = Instant::now() + state.timeout;
            store.set_epoch_deadline(1);
            if let Some(budget) = store.data().fuel_budget {
                store.set_fuel(budget)?;
            }
            store.data_mut().mark = Instant::now();
            Ok(())
        })?;
        root.func_wrap(
            "report",
            |mut store: StoreContextMut<'_, HostState>, (outcome,): (LazyOutcome,)| {
                if store.data().reports.len() + 1 != store.data().begun {
                    return Err(wasmtime::Error::new(ProtocolViolation("`report` without `begin`")));
                }
                let fuel = match store.data().fuel_budget {
                    Some(budget) => Some(budget.saturating_sub(store.get_fuel()?)),
                    None => None,
                };
                let max_output = store.data().max_output_bytes;
                let lifted = lift_outcome(&store, &outcome, max_output)?;
                let state = store.data_mut();
                let elapsed_ms = state.mark.elapsed().as_secs_f64() * 1e3;
                state.reports.push(super::from_guest(lifted, elapsed_ms, fuel));
                Ok(())
            },
        )?;
        Ok(linker)
    };
    setup().map_err(|e| CoreError::Engine(format!("{e:#}")))
}

/// Pre-resolves imports once so each run only instantiates.
pub fn pre_instantiate(linker: &Linker<HostState>, component: &Component) -> Result<GuestPre<HostState>> {
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| CoreError::GuestInvalid(format!("guest imports cannot be satisfied: {e:#}")))?;
    GuestPre::new(pre).map_err(|e| CoreError::GuestInvalid(format!("guest does not export the azr world: {e:#}")))
}
