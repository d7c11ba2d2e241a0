//! Subscribers for [async-hooks]: every async resource as a [`tracing`] span,
//! exported to Jaeger over OTLP, or written to a Chrome/Perfetto trace file.
//!
//! [`TracingHooks`] is a hook set (see `async_hooks_core::Hooks`) that gives
//! each resource a span: created at `init`, entered at `before`, exited at
//! `after`, closed at `destroy`. Spans are named after the resource type and
//! carry `async_id`, `trigger_async_id`, `code.filepath`, `code.lineno` and
//! the resource's attributes. Any `tracing` subscriber sees them; the
//! `otlp` module (feature `otlp`) sets up the whole pipeline to
//! Jaeger in one call, and `trace_file` writes a trace
//! you can open in Perfetto.
//!
//! # Examples
//!
//! ```
//! use async_hooks_core::{AsyncResource, Attribute};
//! use async_hooks_tracing::TracingHooks;
//!
//! // Any subscriber works; here, log lines to the test output.
//! let subscriber = tracing_subscriber::fmt().with_test_writer().finish();
//! tracing::subscriber::with_default(subscriber, || {
//!     let hook = TracingHooks::builder().enable();
//!
//!     let request = AsyncResource::new("Request");
//!     request.run_in_async_scope(|| {
//!         // Created inside the request's scope: its span is the request span's child.
//!         let task = AsyncResource::builder("WorkerPoolTask").attribute("pool.name", "p").build();
//!         task.record(&[Attribute::new("pool.worker", 1_u64)]);
//!         task.run_in_async_scope(|| tracing::info!("inside WorkerPoolTask inside Request"));
//!     });
//!     drop(request);
//!     drop(hook);
//! });
//! ```
//!
//! # Span names, fields and parents
//!
//! - **Name**: the resource type. `tracing` fixes a span's name and fields at
//!   its callsite, so this crate makes one callsite per resource type,
//!   creation location and set of extra attribute keys at run time, cached
//!   for the process. Every exporter (fmt, OpenTelemetry, Chrome) therefore
//!   shows the type as the span name, without `otel.name`.
//! - **Fields**: `async_id`, `trigger_async_id`, `code.filepath`,
//!   `code.lineno`, the pool keys `pool.name`, `pool.worker`,
//!   `pool.queue_wait_us`, `pool.run_us`, `pool.outcome`, `pool.resource`,
//!   `pool.use_us`, and each other key
//!   the resource had at creation. A key first seen in a later `record` that
//!   has no field goes to the catch-all field `attributes` as
//!   `key=value, ...` text.
//! - **Parent**: see [`ParentMode`]. By default, the current `tracing` span at
//!   `init` (your `#[instrument]` span, or the span of the resource whose scope
//!   you are in), else the trigger resource's span.
//! - **Store values** (`AsyncLocalStorage`) are never recorded unless you opt
//!   in per store with [`TracingHooksBuilder::record_store`].
//!
//! # Feature flags
//!
//! - `trace-file` (default): `trace_file`, Chrome/Perfetto JSON through
//!   `tracing-chrome`.
//! - `otlp`: `otlp`, export to Jaeger (or any OTLP collector)
//!   over gRPC or HTTP/protobuf. Pulls in the OpenTelemetry SDK, tonic,
//!   prost, reqwest and a small tokio runtime.
//!
//! # Limitations
//!
//! - A span is made with the default dispatcher of the thread that creates
//!   the resource and used from every thread after that; thread-scoped
//!   dispatchers (`with_default`) only see resources created under them.
//! - A `tracing` span holds its parent open, so a parent's end is exported
//!   after its children's (OpenTelemetry uses the last exit time as the end).
//!
//! [async-hooks]: https://github.com/async-hooks-rs/async-hooks
#![forbid(unsafe_code)]

mod callsite;
mod config;
mod entered;
mod hooks;
mod id_hasher;
#[cfg(feature = "otlp")]
pub mod otlp;
mod span_table;
mod sync;
#[cfg(feature = "trace-file")]
pub mod trace_file;
mod values;

pub use config::{ParentMode, TracingHooksBuilder};
pub use hooks::TracingHooks;
