//! Fixed loops of the lifecycle bench's workloads (`benches/span_lifecycle.rs`)
//! for instruction counts under `valgrind --tool=callgrind`:
//! `span_loop hooks|by_hand|noop|bare [N]`.

use std::hint::black_box;

use async_hooks_core::{AsyncId, AsyncResource, Hooks, Interest, Resource, create_hook};
use tracing_subscriber::layer::{Identity, SubscriberExt};

struct NoopHooks;

impl Hooks for NoopHooks {
    fn init(&self, _id: AsyncId, _resource_type: &str, _trigger: AsyncId, _resource: &Resource) {}

    fn interest(&self) -> Interest {
        Interest::INIT | Interest::BEFORE | Interest::AFTER | Interest::DESTROY | Interest::RECORD
    }
}

#[inline(never)]
fn resource_lifecycle() {
    let resource = AsyncResource::new("BenchResource");
    resource.run_in_async_scope(|| black_box(()));
    drop(resource);
}

#[inline(never)]
fn span_by_hand(async_id: i64) {
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

fn main() {
    let mut arguments = std::env::args().skip(1);
    let mode = arguments.next().unwrap_or_else(|| "hooks".to_owned());
    let n: i64 = arguments.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Identity::new()))
        .expect("the only subscriber");
    let tracing_hook = (mode == "hooks").then(|| async_hooks_tracing::TracingHooks::builder().enable());
    let noop_hook = (mode == "noop").then(|| {
        let hook = create_hook(NoopHooks);
        hook.enable();
        hook
    });
    for i in 0..n {
        match mode.as_str() {
            "by_hand" => span_by_hand(i),
            _ => resource_lifecycle(),
        }
    }
    drop((tracing_hook, noop_hook));
}
