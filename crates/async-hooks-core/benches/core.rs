//! Benchmarks of the hooks core's hot paths (DESIGN §8): reading the
//! execution id, a resource lifecycle with 0, 1 and 4 hook sets, and the
//! per-poll cost of a future wrapped in a resource.

#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_hooks_core::{AsyncHook, AsyncResource, FutureExt, Hooks, create_hook, execution_async_id};
use criterion::{Criterion, criterion_group, criterion_main};

/// A hook set that implements every event with an empty body.
struct NoopHooks;

impl Hooks for NoopHooks {}

fn with_hooks(count: usize) -> Vec<AsyncHook<NoopHooks>> {
    let hooks: Vec<_> = (0..count).map(|_| create_hook(NoopHooks)).collect();
    for hook in &hooks {
        hook.enable();
    }
    hooks
}

fn ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("execution_async_id");
    group.bench_function("root", |b| b.iter(|| black_box(execution_async_id())));
    let resource = AsyncResource::new("Bench");
    resource.run_in_async_scope(|| {
        group.bench_function("inside_scope", |b| b.iter(|| black_box(execution_async_id())));
    });
    group.finish();
}

fn lifecycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("resource_lifecycle");
    for n_hooks in [0, 1, 4] {
        let _hooks = with_hooks(n_hooks);
        group.bench_function(format!("{n_hooks}_hooks"), |b| {
            b.iter(|| {
                let resource = AsyncResource::new("Bench");
                resource.run_in_async_scope(|| black_box(()));
                // Observed in place: moving it into `black_box` copies it with wide
                // loads of narrow stores, a stall that would measure the copy.
                black_box(&resource);
            })
        });
    }
    group.finish();
}

/// A future that is never ready, so every poll is a full scope.
struct AlwaysPending;

impl Future for AlwaysPending {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

fn future_poll(c: &mut Criterion) {
    let mut group = c.benchmark_group("future_poll");
    let mut cx = Context::from_waker(Waker::noop());
    {
        let mut bare = pin!(AlwaysPending);
        group.bench_function("bare", |b| b.iter(|| black_box(bare.as_mut().poll(&mut cx))));
    }
    for n_hooks in [0, 1] {
        let _hooks = with_hooks(n_hooks);
        let mut wrapped = pin!(AlwaysPending.in_async_resource("Bench"));
        group.bench_function(format!("in_async_resource_{n_hooks}_hooks"), |b| {
            b.iter(|| black_box(wrapped.as_mut().poll(&mut cx)))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = ids, lifecycle, future_poll
}
criterion_main!(benches);
