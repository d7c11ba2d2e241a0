//! Shared by the lifecycle benches: the two workloads and the side-by-side
//! ratio.

use std::hint::black_box;
use std::time::Instant;

use async_hooks_core::{AsyncId, AsyncResource, Hooks, Interest, Resource, create_hook};
use criterion::Criterion;

/// A hook set that wants the same events as `TracingHooks` and does
/// nothing: what the core costs before any span work.
pub(crate) struct NoopHooks;

impl Hooks for NoopHooks {
    fn init(&self, _id: AsyncId, _resource_type: &str, _trigger: AsyncId, _resource: &Resource) {}

    fn interest(&self) -> Interest {
        Interest::INIT | Interest::BEFORE | Interest::AFTER | Interest::DESTROY | Interest::RECORD
    }
}

/// One resource lifecycle through the hooks: `init` (span created),
/// `before` (entered), `after` (exited), `destroy` (closed).
#[inline(never)]
pub(crate) fn resource_lifecycle() {
    let resource = AsyncResource::new("BenchResource");
    resource.run_in_async_scope(|| black_box(()));
    drop(resource);
}

/// The same span by hand: created with the same four fields, entered,
/// exited, closed. The ids are `i64`, as `TracingHooks` records them (so
/// that OpenTelemetry gets integers: tracing-opentelemetry records a `u64`
/// as text), so both sides export the same attributes.
#[inline(never)]
pub(crate) fn span_by_hand(async_id: i64) {
    let span = tracing::info_span!(
        "BenchResource",
        async_id,
        trigger_async_id = 1_i64,
        code.filepath = file!(),
        code.lineno = line!(),
    );
    {
        let _entered = span.enter();
        black_box(());
    }
    drop(span);
}

/// The floor of any hook set that makes spans: the span by hand's own
/// calls (the same macro, then enter, exit and close on the dispatcher),
/// made from the hook callbacks, with the least bookkeeping there can be:
/// the live span ids on a thread-local stack, matched at the top. That is
/// only correct for this bench's lifecycles (one thread, strictly nested,
/// destroyed in order, the global dispatcher), so it measures what the
/// core's dispatch adds to the span by hand, not a usable hook set.
pub(crate) struct FloorHooks;

thread_local! {
    static FLOOR_SPANS: std::cell::RefCell<Vec<(AsyncId, tracing::span::Id)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn top_floor_span(id: AsyncId) -> Option<tracing::span::Id> {
    FLOOR_SPANS.with_borrow(|spans| spans.last().filter(|(live, _)| *live == id).map(|(_, span)| span.clone()))
}

impl Hooks for FloorHooks {
    fn init(&self, id: AsyncId, _resource_type: &str, trigger: AsyncId, _resource: &Resource) {
        let span = tracing::info_span!(
            "BenchResource",
            async_id = id.as_u64() as i64,
            trigger_async_id = trigger.as_u64() as i64,
            code.filepath = file!(),
            code.lineno = line!(),
        );
        if let Some(span_id) = span.id() {
            // Closed by `destroy`, through the dispatcher.
            std::mem::forget(span);
            FLOOR_SPANS.with_borrow_mut(|spans| spans.push((id, span_id)));
        }
    }

    fn before(&self, id: AsyncId) {
        if let Some(span) = top_floor_span(id) {
            tracing::dispatcher::get_default(|dispatch| dispatch.enter(&span));
        }
    }

    fn after(&self, id: AsyncId) {
        if let Some(span) = top_floor_span(id) {
            tracing::dispatcher::get_default(|dispatch| dispatch.exit(&span));
        }
    }

    fn destroy(&self, id: AsyncId) {
        if let Some(span) = top_floor_span(id) {
            FLOOR_SPANS.with_borrow_mut(Vec::pop);
            tracing::dispatcher::get_default(|dispatch| dispatch.try_close(span.clone()));
        }
    }

    fn interest(&self) -> Interest {
        Interest::INIT | Interest::BEFORE | Interest::AFTER | Interest::DESTROY
    }
}

fn ns_per_op(mut f: impl FnMut(i64)) -> f64 {
    const N: i64 = 100_000;
    let mut best = f64::MAX;
    for _ in 0..7 {
        let start = Instant::now();
        for i in 0..N {
            f(i);
        }
        best = best.min(start.elapsed().as_nanos() as f64 / N as f64);
    }
    best
}

/// Runs both under criterion, then prints the ratio (best of 7 runs each,
/// interleaved, so drift hits both).
pub(crate) fn run(subscriber_name: &str) {
    let mut criterion = Criterion::default().configure_from_args();
    let hook = async_hooks_tracing::TracingHooks::builder().enable();
    criterion
        .bench_function(&format!("{subscriber_name}/tracing_hooks/resource_lifecycle"), |b| b.iter(resource_lifecycle));
    criterion.bench_function(&format!("{subscriber_name}/by_hand/span_lifecycle"), |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            span_by_hand(i)
        })
    });
    let (mut hooks, mut by_hand) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        hooks = hooks.min(ns_per_op(|_| resource_lifecycle()));
        by_hand = by_hand.min(ns_per_op(span_by_hand));
    }
    drop(hook);
    let bare = ns_per_op(|_| resource_lifecycle());
    let noop_hook = create_hook(NoopHooks);
    noop_hook.enable();
    let noop = ns_per_op(|_| resource_lifecycle());
    drop(noop_hook);
    let floor_hook = create_hook(FloorHooks);
    floor_hook.enable();
    let floor = ns_per_op(|_| resource_lifecycle());
    drop(floor_hook);
    println!(
        "{subscriber_name}: resource lifecycle with TracingHooks {hooks:.0} ns, span by hand {by_hand:.0} ns, \
         ratio {:.2}x (budget 1.2x); resource lifecycle without hooks {bare:.1} ns (TracingHooks minus that: \
         {:.0} ns, {:.2}x the span by hand), with a no-op hook set {noop:.1} ns (TracingHooks minus that: \
         {:.0} ns, {:.2}x the span by hand); the floor of any span-making hook set (the span by hand's calls \
         from hooks over a bare thread-local stack) {floor:.0} ns, {:.2}x the span by hand",
        hooks / by_hand,
        hooks - bare,
        (hooks - bare) / by_hand,
        hooks - noop,
        (hooks - noop) / by_hand,
        floor / by_hand,
    );
    criterion.final_summary();
}
