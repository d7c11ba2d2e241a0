//! A fixed loop of pool round trips (submit + process + callback), for
//! instruction counts and quick wall-clock comparisons next to
//! `benches/round_trip.rs`:
//!
//! - `round_trip_loop bare|pool|timed|hook [TASKS]`: one batch through the
//!   bare crossbeam-channel pool, the `WorkerPool` with hooks off, the same
//!   with `timing(true)`, or with one no-op hook set; run it under
//!   `valgrind --tool=callgrind` for stable instruction counts (valgrind
//!   runs one thread at a time, so the counts hardly vary from run to run,
//!   unlike wall-clock time on a shared machine).
//! - `round_trip_loop compare [TASKS] [ROUNDS]`: interleaved rounds of the
//!   four, median ns/task of each and the ratios to the bare pool.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use async_hooks_core::{Hooks, create_hook};
use async_hooks_pool::WorkerPool;
#[path = "../benches/support/bare_pool.rs"]
mod bare_pool;
use bare_pool::{BareCrossbeamPool, process};

const THREADS: usize = 2;

/// A hook set of no-op callbacks for every event.
struct NoOpHooks;

impl Hooks for NoOpHooks {}

static DONE: AtomicU64 = AtomicU64::new(0);

fn wait_for(target: u64) {
    while DONE.load(Ordering::Acquire) < target {
        std::hint::spin_loop();
        thread::yield_now();
    }
}

/// One batch through the bare crossbeam-channel pool.
fn bare_batch(pool: &BareCrossbeamPool, tasks: u64) -> Duration {
    let target = DONE.load(Ordering::Acquire) + tasks;
    let start = Instant::now();
    for task in 0..tasks {
        pool.run_task(task, |result| {
            black_box(result);
            DONE.fetch_add(1, Ordering::Release);
        });
    }
    wait_for(target);
    start.elapsed()
}

fn pool_batch(pool: &WorkerPool<u64, u64>, tasks: u64) -> Duration {
    let target = DONE.load(Ordering::Acquire) + tasks;
    let start = Instant::now();
    for task in 0..tasks {
        let submitted = pool.run_task(task, |result| {
            let _ = black_box(result);
            DONE.fetch_add(1, Ordering::Release);
        });
        assert!(submitted.is_ok());
    }
    wait_for(target);
    start.elapsed()
}

fn main() {
    let mut arguments = std::env::args().skip(1);
    let variant = arguments.next().unwrap_or_else(|| "pool".to_owned());
    let tasks: u64 = arguments.next().and_then(|tasks| tasks.parse().ok()).unwrap_or(100_000);
    let rounds: usize = arguments.next().and_then(|rounds| rounds.parse().ok()).unwrap_or(7);
    let hook = create_hook(NoOpHooks);
    let new_pool = |timing: bool| {
        WorkerPool::builder().name("bench").num_threads(THREADS).timing(timing).build(process).expect("pool starts")
    };
    match variant.as_str() {
        "bare" => {
            let _ = bare_batch(&BareCrossbeamPool::new(THREADS), tasks);
        }
        "pool" => {
            let _ = pool_batch(&new_pool(false), tasks);
        }
        "timed" => {
            let _ = pool_batch(&new_pool(true), tasks);
        }
        "hook" => {
            hook.enable();
            let _ = pool_batch(&new_pool(false), tasks);
        }
        "compare" => {
            let (bare, pool, timed) = (BareCrossbeamPool::new(THREADS), new_pool(false), new_pool(true));
            let per_task = |duration: Duration| duration.as_nanos() as f64 / tasks as f64;
            let (mut bare_ns, mut off_ns, mut timed_ns, mut on_ns) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            bare_batch(&bare, tasks);
            pool_batch(&pool, tasks);
            pool_batch(&timed, tasks);
            for _ in 0..rounds {
                bare_ns.push(per_task(bare_batch(&bare, tasks)));
                off_ns.push(per_task(pool_batch(&pool, tasks)));
                timed_ns.push(per_task(pool_batch(&timed, tasks)));
                hook.enable();
                on_ns.push(per_task(pool_batch(&pool, tasks)));
                hook.disable();
            }
            let median = |mut values: Vec<f64>| {
                values.sort_by(f64::total_cmp);
                values[values.len() / 2]
            };
            let (bare, off, timed, on) = (median(bare_ns), median(off_ns), median(timed_ns), median(on_ns));
            println!("{THREADS} threads, {tasks} tasks per round, median of {rounds} interleaved rounds:");
            println!("  bare crossbeam-channel pool      {bare:8.1} ns/task  1.00x");
            println!("  WorkerPool, hooks off            {off:8.1} ns/task  {:.2}x", off / bare);
            println!("  WorkerPool, hooks off, timing    {timed:8.1} ns/task  {:.2}x", timed / bare);
            println!("  WorkerPool, one no-op hook set   {on:8.1} ns/task  {:.2}x", on / bare);
        }
        other => panic!("unknown variant {other}: bare, pool, timed, hook or compare"),
    }
}
