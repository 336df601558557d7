//! Host-controlled time for the guest: a virtual clock that advances only when
//! the guest reads it or sleeps, so the same job always sees the same times.
//! Sleeping never blocks the host thread (it would escape the epoch timeout).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};
use wasmtime_wasi_io::poll::{subscribe, DynPollable, Pollable};

use super::engine::HostState;

/// Nanoseconds that each clock read advances the virtual clock.
const READ_STEP_NS: u64 = 1_000;
/// Wall-clock time of virtual zero for seed 0: 2024-01-01T00:00:00Z.
const EPOCH_BASE_S: u64 = 1_704_067_200;
/// The interface version wasmtime-wasi 48 provides; guests importing any 0.2.x match it.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// A clock shared by the wall and monotonic views of one store.
#[derive(Clone)]
pub struct VirtualClock {
    elapsed_ns: Arc<AtomicU64>,
    wall_base_ns: u64,
}

impl VirtualClock {
    /// Both clocks start at a seed-dependent instant, so time-dependent programs give different
    /// results under different seeds: seed 0 at [`EPOCH_BASE_S`] with the monotonic clock at zero,
    /// other seeds spread over ten years of wall time and twelve days of monotonic time, so coarse
    /// readings (`time.time() // 1000`, the year, `time.monotonic() // 60`) differ too, not only
    /// the seconds (a validator replays under another seed to catch such programs).
    pub fn new(seed: u64) -> Self {
        let spread = if seed == 0 { 0 } else { splitmix64(seed) };
        let offset_s = spread % (10 * 365 * 24 * 3600);
        let start_ns = if seed == 0 {
            0
        } else {
            splitmix64(spread) % (12 * 24 * 3600 * 1_000_000_000)
        };
        VirtualClock {
            elapsed_ns: Arc::new(AtomicU64::new(start_ns)),
            wall_base_ns: (EPOCH_BASE_S + offset_s) * 1_000_000_000,
        }
    }

    fn read(&self) -> u64 {
        self.elapsed_ns.fetch_add(READ_STEP_NS, Ordering::Relaxed)
    }

    /// Advances the clock as if the guest had slept for `ns`.
    pub fn advance(&self, ns: u64) {
        let _ = self
            .elapsed_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_add(ns)));
    }

    /// The current virtual monotonic time without advancing it.
    pub fn peek(&self) -> u64 {
        self.elapsed_ns.load(Ordering::Relaxed)
    }
}

impl HostMonotonicClock for VirtualClock {
    fn resolution(&self) -> u64 {
        READ_STEP_NS
    }

    fn now(&self) -> u64 {
        self.read()
    }
}

impl HostWallClock for VirtualClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(READ_STEP_NS)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.wall_base_ns.saturating_add(self.read()))
    }
}

/// Spreads consecutive seeds over the whole range (Steele, Lea and Flood's SplitMix64 finaliser).
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A pollable that is ready at once: the virtual clock has already moved.
struct Elapsed;

#[wasmtime_wasi::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

/// Replaces `subscribe-duration`/`subscribe-instant` so that sleeping advances the
/// virtual clock instead of blocking. Call after `add_to_linker_sync`.
pub fn shadow_sleep(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |mut store, (ns,): (u64,)| {
        let state = store.data_mut();
        state.clock.advance(ns);
        Ok((subscribe_elapsed(state)?,))
    })?;
    clock.func_wrap("subscribe-instant", |mut store, (when,): (u64,)| {
        let state = store.data_mut();
        let now = state.clock.peek();
        state.clock.advance(when.saturating_sub(now));
        Ok((subscribe_elapsed(state)?,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

fn subscribe_elapsed(state: &mut HostState) -> wasmtime::Result<Resource<DynPollable>> {
    let resource = state.table.push(Elapsed)?;
    subscribe(&mut state.table, resource)
}
