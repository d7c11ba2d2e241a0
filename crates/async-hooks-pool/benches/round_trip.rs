//! Pool round trip: submit + process + callback, per task, against a bare
//! crossbeam-channel worker pool with the same number of threads.
//!
//! Each measurement submits a batch of tasks from one thread and waits for
//! all their callbacks, so it is the throughput cost per task (the queue
//! stays busy), not the latency of one isolated hand-off. Both pools use
//! the same unbounded crossbeam channel and thread count, and both run the
//! callback on the worker right after the processor. Criterion reports each
//! variant; the end of the run measures them side by side, interleaved, and
//! prints the ratios to the bare pool. The budget is for the default pool
//! with hooks off; the pool with `timing(true)` (three clock reads per task
//! for the wait/run histograms) is reported for its cost.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use async_hooks_core::{Hooks, create_hook};
use async_hooks_pool::WorkerPool;
#[path = "support/bare_pool.rs"]
mod bare_pool;
use bare_pool::{BareCrossbeamPool, process};
use criterion::{Criterion, criterion_group};

const THREADS: usize = 2;

/// A hook set of no-op callbacks for every event.
struct NoOpHooks;

impl Hooks for NoOpHooks {}

static BARE_DONE: AtomicU64 = AtomicU64::new(0);
static POOL_DONE: AtomicU64 = AtomicU64::new(0);

fn wait_for(counter: &AtomicU64, target: u64) {
    while counter.load(Ordering::Acquire) < target {
        std::hint::spin_loop();
        thread::yield_now();
    }
}

fn bare_batch(pool: &BareCrossbeamPool, tasks: u64) -> Duration {
    let target = BARE_DONE.load(Ordering::Acquire) + tasks;
    let start = Instant::now();
    for task in 0..tasks {
        pool.run_task(task, |result| {
            black_box(result);
            BARE_DONE.fetch_add(1, Ordering::Release);
        });
    }
    wait_for(&BARE_DONE, target);
    start.elapsed()
}

fn pool_batch(pool: &WorkerPool<u64, u64>, tasks: u64) -> Duration {
    let target = POOL_DONE.load(Ordering::Acquire) + tasks;
    let start = Instant::now();
    for task in 0..tasks {
        let submitted = pool.run_task(task, |result| {
            let _ = black_box(result);
            POOL_DONE.fetch_add(1, Ordering::Release);
        });
        debug_assert!(submitted.is_ok());
    }
    wait_for(&POOL_DONE, target);
    start.elapsed()
}

/// The pool with wait/run time histograms.
fn timed_pool() -> WorkerPool<u64, u64> {
    WorkerPool::builder().name("bench").num_threads(THREADS).timing(true).build(process).expect("pool starts")
}

fn round_trip(c: &mut Criterion) {
    let bare = BareCrossbeamPool::new(THREADS);
    let pool = WorkerPool::builder().name("bench").num_threads(THREADS).build(process).expect("pool starts");
    let timed = timed_pool();
    let mut group = c.benchmark_group("pool_round_trip");
    group.bench_function("bare_crossbeam_pool", |b| b.iter_custom(|iters| bare_batch(&bare, iters)));
    group.bench_function("worker_pool_hooks_off", |b| b.iter_custom(|iters| pool_batch(&pool, iters)));
    group.bench_function("worker_pool_hooks_off_timing", |b| b.iter_custom(|iters| pool_batch(&timed, iters)));
    let hook = create_hook(NoOpHooks);
    hook.enable();
    group.bench_function("worker_pool_one_noop_hook", |b| b.iter_custom(|iters| pool_batch(&pool, iters)));
    hook.disable();
    group.finish();
}

/// Interleaved rounds of each variant; the median ns/task of each.
fn side_by_side() {
    const TASKS: u64 = 200_000;
    const ROUNDS: usize = 7;
    let bare = BareCrossbeamPool::new(THREADS);
    let pool = WorkerPool::builder().name("bench").num_threads(THREADS).build(process).expect("pool starts");
    let timed = timed_pool();
    let hook = create_hook(NoOpHooks);
    let per_task = |duration: Duration| duration.as_nanos() as f64 / TASKS as f64;
    let (mut bare_ns, mut off_ns, mut timed_ns, mut on_ns) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Warm-up.
    bare_batch(&bare, TASKS);
    pool_batch(&pool, TASKS);
    pool_batch(&timed, TASKS);
    for _ in 0..ROUNDS {
        bare_ns.push(per_task(bare_batch(&bare, TASKS)));
        off_ns.push(per_task(pool_batch(&pool, TASKS)));
        timed_ns.push(per_task(pool_batch(&timed, TASKS)));
        hook.enable();
        on_ns.push(per_task(pool_batch(&pool, TASKS)));
        hook.disable();
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (bare, off, timed, on) = (median(bare_ns), median(off_ns), median(timed_ns), median(on_ns));
    println!();
    println!("pool round trip, {THREADS} threads, {TASKS} tasks per round, median of {ROUNDS} interleaved rounds:");
    println!("  bare crossbeam-channel pool      {bare:8.1} ns/task  1.00x");
    println!("  WorkerPool, hooks off            {off:8.1} ns/task  {:.2}x (budget <= 1.50x)", off / bare);
    println!("  WorkerPool, hooks off, timing    {timed:8.1} ns/task  {:.2}x", timed / bare);
    println!("  WorkerPool, one no-op hook set   {on:8.1} ns/task  {:.2}x", on / bare);
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = round_trip
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench -- <filter>` and `--list` skip the comparison.
    if std::env::args().skip(1).all(|argument| argument == "--bench") {
        side_by_side();
    }
}
