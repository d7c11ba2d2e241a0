//! The memory check of DESIGN §8:
//!
//! ```text
//! cargo run --release --example memory
//! ```
//!
//! 1. Resident memory (`VmRSS` of `/proc/self/status`) before and after
//!    10M resource lifecycles (new + `run_in_async_scope(noop)` + drop),
//!    after a warm-up of 1M, in three settings: no hooks, one enabled hook
//!    set of no-op callbacks, and that hook set inside an
//!    `AsyncLocalStorage::run` (so every resource captures a store).
//! 2. Resident memory of 1M live resources, in bytes per resource, with no
//!    hooks and with the hook set inside a store's `run`.
//!
//! Exits with status 1 if any setting grew by more than 1 MiB, so it can
//! run as a check. Linux only (it reads `/proc`); elsewhere it says so and
//! exits 0.

use std::hint::black_box;
use std::process::ExitCode;

use async_hooks::context::AsyncLocalStorage;
use async_hooks::{AsyncResource, Hooks, create_hook};

const LIFECYCLES: u64 = 10_000_000;
const WARM_UP: u64 = 1_000_000;
const LIVE: usize = 1_000_000;
const GROWTH_LIMIT_KIB: i64 = 1024;

/// A hook set that implements every event with an empty body.
struct NoopHooks;

impl Hooks for NoopHooks {}

static STORE: AsyncLocalStorage<u64> = AsyncLocalStorage::new();

/// Resident memory of this process in KiB, if the platform reports it.
fn resident_kib() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn lifecycles(count: u64) {
    for _ in 0..count {
        let resource = AsyncResource::new("Memory");
        resource.run_in_async_scope(|| black_box(()));
        // Observed in place: moving it into `black_box` copies it with wide
        // loads of narrow stores, a stall that would measure the copy.
        black_box(&resource);
    }
}

/// Warms up, then returns the RSS growth in KiB over `LIFECYCLES`.
fn growth_kib(setting: &str, run: impl Fn(u64)) -> i64 {
    run(WARM_UP);
    let before = resident_kib().unwrap_or(0);
    let start = std::time::Instant::now();
    run(LIFECYCLES);
    let elapsed = start.elapsed();
    let after = resident_kib().unwrap_or(0);
    let growth = after - before;
    println!(
        "{setting:<34} RSS {before:>7} KiB -> {after:>7} KiB  growth {growth:>5} KiB  ({:.1} ns/lifecycle)",
        elapsed.as_nanos() as f64 / LIFECYCLES as f64
    );
    growth
}

/// Prints the resident bytes per live resource made by `make`.
///
/// The vector is allocated first, so its pages become resident as the
/// resources are written in; both are counted, and the vector's slot is
/// reported separately. Dropping the vector returns its pages (it is one
/// large allocation), so measurements do not hide each other.
fn live_bytes(setting: &str, make: impl Fn() -> AsyncResource) {
    let before = resident_kib().unwrap_or(0);
    let mut live = Vec::with_capacity(LIVE);
    for _ in 0..LIVE {
        live.push(make());
    }
    let after = resident_kib().unwrap_or(0);
    let per_resource = (after - before) as f64 * 1024.0 / LIVE as f64;
    let slot = size_of::<AsyncResource>();
    println!(
        "{LIVE} live resources, {setting:<34} RSS {before:>7} KiB -> {after:>7} KiB = {per_resource:.1} bytes each \
         ({slot} inline in the Vec slot, {:.1} on the heap)",
        per_resource - slot as f64
    );
    drop(black_box(live));
}

fn main() -> ExitCode {
    if resident_kib().is_none() {
        println!("no /proc/self/status VmRSS on this platform: skipping the memory check");
        return ExitCode::SUCCESS;
    }
    println!("{LIFECYCLES} resource lifecycles after a warm-up of {WARM_UP}:");
    let mut growths = Vec::new();
    growths.push(growth_kib("no hooks", lifecycles));
    let hook = create_hook(NoopHooks);
    hook.enable();
    growths.push(growth_kib("one no-op hook set", lifecycles));
    growths.push(growth_kib("one hook set, inside a store's run", |count| STORE.run(7, || lifecycles(count))));
    hook.disable();

    println!();
    live_bytes("no hooks", || AsyncResource::new("Memory"));
    hook.enable();
    live_bytes("one hook set, inside a store's run", || STORE.run(7, || AsyncResource::new("Memory")));
    hook.disable();

    let worst = growths.iter().copied().max().unwrap_or(0);
    if worst > GROWTH_LIMIT_KIB {
        println!(
            "FAIL: resident memory grew by {worst} KiB over {LIFECYCLES} lifecycles (limit {GROWTH_LIMIT_KIB} KiB)"
        );
        ExitCode::FAILURE
    } else {
        println!(
            "ok: resident memory grew by at most {worst} KiB over {LIFECYCLES} lifecycles (limit {GROWTH_LIMIT_KIB} KiB)"
        );
        ExitCode::SUCCESS
    }
}
