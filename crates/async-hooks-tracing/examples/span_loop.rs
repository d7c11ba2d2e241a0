//! The tracing lifecycle bench's workloads (`benches/span_lifecycle.rs`,
//! from the same source) as plain loops, for instruction counts under
//! `valgrind --tool=callgrind`, with a `Registry` as the bench has it:
//!
//! `span_loop hooks|by_hand|floor|noop|bare [N]` runs N (default 100,000)
//! resource lifecycles with `TracingHooks`, spans by hand, the floor hook
//! set, a no-op hook set, or no hooks.

#[allow(dead_code, reason = "the criterion side of the bench support is not used here")]
#[path = "../benches/lifecycle_support/mod.rs"]
mod lifecycle_support;

use async_hooks_core::{AsyncHook, Hooks, create_hook};
use lifecycle_support::{FloorHooks, NoopHooks, resource_lifecycle, span_by_hand};
use tracing_subscriber::layer::{Identity, SubscriberExt};

fn enabled<H: Hooks>(hooks: H) -> AsyncHook<H> {
    let hook = create_hook(hooks);
    hook.enable();
    hook
}

fn main() {
    let mut arguments = std::env::args().skip(1);
    let mode = arguments.next().unwrap_or_else(|| "hooks".to_owned());
    let n: i64 = arguments.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Identity::new()))
        .expect("the only subscriber");
    let tracing_hook = (mode == "hooks").then(|| async_hooks_tracing::TracingHooks::builder().enable());
    let floor_hook = (mode == "floor").then(|| enabled(FloorHooks));
    let noop_hook = (mode == "noop").then(|| enabled(NoopHooks));
    match mode.as_str() {
        "by_hand" => (0..n).for_each(span_by_hand),
        "hooks" | "floor" | "noop" | "bare" => (0..n).for_each(|_| resource_lifecycle()),
        unknown => {
            eprintln!("unknown workload {unknown:?}: one of hooks, by_hand, floor, noop, bare");
            std::process::exit(2);
        }
    }
    drop((tracing_hook, floor_hook, noop_hook));
}
