//! Cost of one resource lifecycle as a span (TracingHooks) against the same
//! span made by hand, with `Registry` + the OpenTelemetry layer (an SDK
//! provider without exporter, so nothing leaves the process) as the global
//! subscriber.

mod lifecycle_support;

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt;

fn main() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).expect("the only subscriber");
    lifecycle_support::run("registry+opentelemetry");
}
