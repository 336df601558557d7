//! Per-store limits: memory (a `ResourceLimiter` that remembers it said no), and
//! wall-clock timeouts: a deadline instant per store, checked against the monotonic
//! clock each time the epoch ticker advances.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Engine, ResourceLimiter, StoreContextMut, StoreLimits, StoreLimitsBuilder, UpdateDeadline};

use super::engine::HostState;

/// How often the ticker advances the epoch, so how often a running guest checks its
/// deadline. Ticks only prompt the check: a tick delayed by a busy host delays the
/// interrupt by that much, but never adds up over the timeout (the deadline is an instant).
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// The epoch-deadline callback of every store: interrupt the guest (a `Trap::Interrupt`,
/// reported as a timeout) once the store's deadline has passed, else check again next tick.
pub fn check_deadline(store: StoreContextMut<'_, HostState>) -> wasmtime::Result<UpdateDeadline> {
    if Instant::now() >= store.data().deadline {
        Ok(UpdateDeadline::Interrupt)
    } else {
        Ok(UpdateDeadline::Continue(1))
    }
}

/// Memory and instance caps for one store. Growing past the memory cap traps
/// (so the host, not the guest, decides the outcome) and is remembered.
pub struct GuestLimiter {
    inner: StoreLimits,
    pub memory_exceeded: bool,
}

impl GuestLimiter {
    pub fn new(memory_bytes: usize) -> Self {
        let inner = StoreLimitsBuilder::new()
            .memory_size(memory_bytes)
            .table_elements(1 << 20)
            .instances(64)
            .tables(64)
            .memories(16)
            .trap_on_grow_failure(true)
            .build();
        GuestLimiter {
            inner,
            memory_exceeded: false,
        }
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let verdict = self.inner.memory_growing(current, desired, maximum);
        if !matches!(verdict, Ok(true)) {
            self.memory_exceeded = true;
        }
        verdict
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_exceeded = true;
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// A background thread that advances the engine's epoch every [`EPOCH_TICK`].
/// One per engine, shared by every store; stopped on drop.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let engine = engine.clone();
        let handle = std::thread::Builder::new().name("azr-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(EpochTicker {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
