//! Per-task cost of each tier versus a bare `tokio::spawn`.
//!
//! One "task" is: spawn from `block_on`, one `yield_now` (two polls), join.
//! criterion measures batches of [`BATCH`] tasks per runtime flavour and
//! tier; then, under `cargo bench`, a hand-timed summary (best of 10
//! interleaved rounds of 10,000 tasks, same process) prints ns per task, the
//! overhead over bare `tokio::spawn` and the ratio, with no hook set and with
//! one hook set of no-op callbacks enabled.
//!
//! With `--cfg tokio_unstable` two more tiers run: a runtime whose four task
//! hooks are closures that do nothing (what tokio's hook machinery costs by
//! itself), and the hook tier, whose overhead over that baseline is printed
//! too: that part is this crate's code.
//!
//! `cargo bench --bench spawn -- <filter matching nothing>` skips criterion
//! and prints only the summary.

use std::time::{Duration, Instant};

use async_hooks_core::{AsyncHook, Hooks, create_hook};
use criterion::{BenchmarkId, Criterion, Throughput};
use tokio::runtime::Runtime;

#[path = "support/workload.rs"]
mod workload;

use workload::{Flavor, Tier, spawn_and_join};

const BATCH: usize = 1_000;

/// A hook set that implements every event and does nothing.
struct NoopHooks;

impl Hooks for NoopHooks {}

fn noop_hook() -> AsyncHook<NoopHooks> {
    let hook = create_hook(NoopHooks);
    hook.enable();
    hook
}

fn criterion_benches(criterion: &mut Criterion) {
    for flavor in Flavor::ALL {
        let mut group = criterion.benchmark_group(format!("spawn_join/{}", flavor.name()));
        group.throughput(Throughput::Elements(BATCH as u64));
        for tier in Tier::ALL {
            if !tier.available() {
                continue;
            }
            let runtime = tier.runtime(flavor);
            group.bench_function(BenchmarkId::from_parameter(tier.name()), |bencher| {
                bencher.iter(|| spawn_and_join(&runtime, tier, BATCH));
            });
        }
        group.finish();
    }
}

/// One spawn-and-join round of `n` tasks, in ns per task.
fn round_ns_per_task(runtime: &Runtime, tier: Tier, n: usize) -> f64 {
    let start = Instant::now();
    spawn_and_join(runtime, tier, n);
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Best ns per task of each tier over `rounds` interleaved rounds, so that
/// noise from other processes hits every tier alike.
fn best_of_interleaved(flavor: Flavor, tiers: &[Tier], n: usize, rounds: usize) -> Vec<f64> {
    let runtimes: Vec<Runtime> = tiers.iter().map(|tier| tier.runtime(flavor)).collect();
    let mut best = vec![f64::INFINITY; tiers.len()];
    for round in 0..=rounds {
        for (index, (tier, runtime)) in tiers.iter().zip(&runtimes).enumerate() {
            let ns = round_ns_per_task(runtime, *tier, n);
            // Round 0 warms up (allocator, table shards, thread pools).
            if round > 0 {
                best[index] = best[index].min(ns);
            }
        }
    }
    best
}

fn summary() {
    const N: usize = 10_000;
    const ROUNDS: usize = 10;
    let tiers: Vec<Tier> = Tier::ALL.into_iter().filter(|tier| tier.available()).collect();
    println!();
    println!(
        "per-task cost: spawn from block_on + 1 yield + join; best of {ROUNDS} interleaved rounds of {N} tasks; \
         2-core shared VM, expect noise"
    );
    println!(
        "{:<16} {:<44} {:>9} {:>11} {:>7} {:>22}",
        "runtime", "tier", "ns/task", "over bare", "ratio", "over no-op task hooks"
    );
    for flavor in Flavor::ALL {
        for with_hook in [false, true] {
            let hook = with_hook.then(noop_hook);
            let best = best_of_interleaved(flavor, &tiers, N, ROUNDS);
            drop(hook);
            let bare = best[0];
            let noop_task_hooks = tiers.iter().position(|tier| *tier == Tier::NoopTaskHooks).map(|index| best[index]);
            for (tier, ns) in tiers.iter().zip(&best) {
                let label = format!("{}{}", tier.name(), if with_hook { " + 1 no-op hook set" } else { "" });
                // The hook tier pays tokio's hook machinery too: how much it
                // adds on top of that is what this crate's code costs.
                let over_noop_task_hooks = match (tier, noop_task_hooks) {
                    (Tier::Hooks, Some(baseline)) => format!("{:+.0}", ns - baseline),
                    _ => String::new(),
                };
                println!(
                    "{:<16} {:<44} {:>9.0} {:>+11.0} {:>6.2}x {:>22}",
                    flavor.name(),
                    label,
                    ns,
                    ns - bare,
                    ns / bare,
                    over_noop_task_hooks
                );
            }
        }
        if !Tier::Hooks.available() {
            println!(
                "{:<16} {} and {} need --cfg tokio_unstable",
                flavor.name(),
                Tier::NoopTaskHooks.name(),
                Tier::Hooks.name()
            );
        }
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    criterion_benches(&mut criterion);
    criterion.final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // only checks that the benches run.
    if std::env::args().any(|arg| arg == "--bench") {
        summary();
    }
}
