//! The cost of context-loss diagnostics per resource lifecycle (new +
//! `run_in_async_scope(noop)` + drop): off (nothing registered — the core's
//! own lifecycle cost), and on, with an empty frame and with a watched store
//! set.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use async_hooks_context::AsyncLocalStorage;
use async_hooks_context::diagnostics::ContextDiagnostics;
use async_hooks_core::AsyncResource;
use criterion::{Criterion, criterion_group, criterion_main};

static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();

fn lifecycle() {
    let resource = AsyncResource::new("Bench");
    resource.run_in_async_scope(|| black_box(()));
}

fn diagnostics(c: &mut Criterion) {
    let mut group = c.benchmark_group("diagnostics_lifecycle");
    group.bench_function("off", |b| b.iter(lifecycle));
    group.bench_function("off_with_store", |b| REQUEST_ID.run(1, || b.iter(lifecycle)));
    {
        // Small table: the bench creates millions of resources, and a full
        // table of destroyed ones is the steady state (evict one per insert).
        let diagnostics = ContextDiagnostics::builder().max_resources(4096).enable();
        diagnostics.watch("request_id", &REQUEST_ID);
        group.bench_function("on", |b| b.iter(lifecycle));
        group.bench_function("on_with_watched_store", |b| REQUEST_ID.run(1, || b.iter(lifecycle)));
    }
    group.bench_function("off_again", |b| b.iter(lifecycle));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = diagnostics
}
criterion_main!(benches);
