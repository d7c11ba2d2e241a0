//! OTLP export to Jaeger (or any OpenTelemetry collector), feature `otlp`.
//!
//! One call sets up `tracing-subscriber` + `tracing-opentelemetry` +
//! `opentelemetry-otlp` and enables a [`TracingHooks`](crate::TracingHooks)
//! set, so every async resource is exported as a span:
//!
//! ```no_run
//! # fn main() -> Result<(), async_hooks_tracing::otlp::OtlpError> {
//! // Jaeger's all-in-one container listens on localhost:4317 (gRPC).
//! let guard = async_hooks_tracing::otlp::init("my-service")?;
//! // ... run the application ...
//! println!("{}", guard.stats());
//! drop(guard); // flushes the queued spans
//! # Ok(()) }
//! ```
//!
//! # Architecture
//!
//! - Spans that end are handed to the SDK's `BatchSpanProcessor`: a bounded
//!   queue (2048 spans by default) drained by its own thread. Application
//!   threads only `try_send` into it; they never wait for the collector.
//!   When the queue is full, spans are dropped and counted.
//! - gRPC (tonic) runs on a small tokio runtime on a background thread of
//!   our own (`async-hooks-otlp`), so the application needn't use tokio.
//!   HTTP uses reqwest's blocking client on the batch thread.
//! - Exporting is never traced: the export thread runs in a
//!   telemetry-suppressed OpenTelemetry context, the exporter's dependencies
//!   (tonic, hyper, h2, reqwest, opentelemetry) are filtered out of the
//!   exported spans, and no async resource is created by the export path.
//!
//! # What is counted
//!
//! [`OtlpGuard::stats`] returns [`ExportStats`]: spans ended, spans in
//! batches the collector accepted, spans in batches whose export failed.
//! The SDK does not expose its queue-full drop count, so queue drops are
//! known only as the difference (spans ended but neither exported nor
//! failed), which is exact once the pipeline is shut down
//! ([`OtlpGuard::shutdown`] returns the final count). A batch the collector
//! accepted "partially" counts as exported.
//!
//! # Span mapping
//!
//! Span names are resource types (see the crate docs); fields become span
//! attributes of the same name (`async_id`, `trigger_async_id`,
//! `code.filepath`, `code.lineno`, `pool.*`, ...). tracing-opentelemetry adds
//! `code.file.path`, `code.line.number`, `thread.id`, `thread.name`,
//! `busy_ns` and `idle_ns`.

mod config;
mod error;
mod guard;
mod runtime;
mod stats;

pub use config::{OtlpConfig, OtlpLayer, OtlpProtocol};
pub use error::OtlpError;
pub use guard::OtlpGuard;
pub use stats::ExportStats;

/// Installs the OTLP pipeline for `service_name` with every option from the
/// `OTEL_*` environment variables or the defaults (gRPC to
/// `http://localhost:4317`, Jaeger's OTLP port); see [`OtlpConfig`].
///
/// # Errors
///
/// See [`OtlpError`].
pub fn init(service_name: impl Into<String>) -> Result<OtlpGuard, OtlpError> {
    OtlpConfig::new(service_name).install()
}
