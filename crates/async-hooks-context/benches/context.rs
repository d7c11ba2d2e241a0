//! Benchmarks of context storage (DESIGN §8): reads inside `run`, `run` +
//! `get`, reads with 10 nested storages, snapshot capture + run, and the
//! per-resource propagation cost with 0, 1, 10 and 100 storages set.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use async_hooks_context::{AsyncLocalStorage, Snapshot};
use async_hooks_core::AsyncResource;
use criterion::{Criterion, criterion_group, criterion_main};

static STORE: AsyncLocalStorage<u64> = AsyncLocalStorage::new();

/// Consumes a read's result without reloading it: `black_box(value)` of a
/// 16-byte `Option<u64>` (what criterion does with a routine's output)
/// makes the compiler store it as two words and load it back as one, a
/// store-forwarding stall of a few ns that would measure the harness, not
/// the read.
#[inline(always)]
fn consume<T>(value: T) {
    black_box(&value);
}

fn reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("context_read");
    STORE.run(7, || {
        group.bench_function("get_inside_run", |b| b.iter(|| consume(STORE.get())));
        group.bench_function("with_inside_run", |b| b.iter(|| STORE.with(|value| consume(value.copied()))));
    });
    // What the harness costs by itself: consuming an `Option<u64>` that
    // needs no lookup (a counter, so it is not a constant). Part of every
    // read row above; reported so that a read's own cost can be told apart.
    let mut counter = 0_u64;
    group.bench_function("harness_only", |b| {
        b.iter(|| {
            counter = counter.wrapping_add(1);
            consume(Some(counter))
        })
    });
    group.bench_function("run_plus_get", |b| b.iter(|| consume(STORE.run(black_box(7), || STORE.get()))));
    group.finish();
}

fn nested(c: &mut Criterion) {
    let stores: Vec<AsyncLocalStorage<u64>> = (0..10).map(|_| AsyncLocalStorage::new()).collect();
    fn nest(stores: &[AsyncLocalStorage<u64>], f: &mut dyn FnMut()) {
        match stores.split_first() {
            Some((first, rest)) => first.run(1, || nest(rest, f)),
            None => f(),
        }
    }
    let mut group = c.benchmark_group("context_read");
    nest(&stores, &mut || {
        // The first store set is the outermost; read the middle one.
        group.bench_function("get_with_10_nested_stores", |b| b.iter(|| consume(stores[5].get())));
    });
    group.finish();
}

fn snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    STORE.run(7, || {
        group.bench_function("capture_plus_run", |b| {
            b.iter(|| {
                let snapshot = Snapshot::capture();
                snapshot.run(|| black_box(()))
            })
        });
    });
    group.finish();
}

fn propagation(c: &mut Criterion) {
    let mut group = c.benchmark_group("resource_propagation");
    for n_stores in [0_usize, 1, 10, 100] {
        let stores: Vec<AsyncLocalStorage<u64>> = (0..n_stores).map(|_| AsyncLocalStorage::new()).collect();
        for store in &stores {
            store.enter_with(1);
        }
        group.bench_function(format!("{n_stores}_stores"), |b| {
            b.iter(|| {
                let resource = AsyncResource::new("Bench");
                resource.run_in_async_scope(|| black_box(()));
                // Observed in place: moving it into `black_box` copies it with wide
                // loads of narrow stores, a stall that would measure the copy.
                black_box(&resource);
            })
        });
        for store in &stores {
            store.disable();
        }
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = reads, nested, snapshot, propagation
}
criterion_main!(benches);
