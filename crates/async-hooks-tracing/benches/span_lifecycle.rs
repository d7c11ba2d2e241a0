//! Cost of one resource lifecycle as a span (TracingHooks) against the same
//! span made by hand, with a `Registry` as the global subscriber.
//!
//! The registry is wrapped in a no-op layer: a bare `Registry` never frees
//! closed spans (closing is driven by `Layered`), which would make both
//! sides measure page faults.

mod lifecycle_support;

use tracing_subscriber::layer::{Identity, SubscriberExt};

fn main() {
    let subscriber = tracing_subscriber::registry().with(Identity::new());
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    lifecycle_support::run("registry");
}
