//! Counting what was exported and what was lost.
//!
//! The SDK's `BatchSpanProcessor` counts queue-full drops but does not expose
//! the count, so we count around it: [`CountingProcessor`] counts every span
//! handed to the processor, [`CountingExporter`] counts the spans of every
//! batch the collector accepted or that failed. Spans neither exported nor
//! failed were either still queued or dropped because the queue was full;
//! after shutdown nothing is queued, so the difference is exact.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};

/// The counters shared by the processor, the exporter and the guard.
#[derive(Debug, Default)]
pub(crate) struct ExportCounters {
    ended: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    shut_down: AtomicBool,
}

impl ExportCounters {
    pub(crate) fn snapshot(&self) -> ExportStats {
        // Read the outcome counters first: a span counted there was counted
        // as ended before, so the subtraction in `dropped` never underflows.
        let exported = self.exported.load(Ordering::Acquire);
        let failed = self.failed.load(Ordering::Acquire);
        let ended = self.ended.load(Ordering::Acquire);
        ExportStats { ended, exported, failed, shut_down: self.shut_down.load(Ordering::Acquire) }
    }

    pub(crate) fn mark_shut_down(&self) {
        self.shut_down.store(true, Ordering::Release);
    }
}

/// What happened to the spans of an OTLP pipeline.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "otlp")] {
/// use async_hooks_tracing::otlp::ExportStats;
///
/// let stats = ExportStats::default();
/// assert_eq!(stats.dropped(), 0);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Spans that ended and were handed to the batch processor.
    pub ended: u64,
    /// Spans in batches the collector accepted.
    pub exported: u64,
    /// Spans in batches whose export failed (collector down or
    /// unreachable, timeout, rejected): lost.
    pub failed: u64,
    /// Whether the pipeline was shut down: then [`pending_or_dropped`]
    /// holds only dropped spans.
    ///
    /// [`pending_or_dropped`]: ExportStats::pending_or_dropped
    pub shut_down: bool,
}

impl ExportStats {
    /// Spans neither exported nor failed: still queued, or dropped because
    /// the queue was full (or not flushed in time at shutdown).
    pub fn pending_or_dropped(&self) -> u64 {
        self.ended.saturating_sub(self.exported).saturating_sub(self.failed)
    }

    /// Spans lost so far: failed exports, plus — once shut down — every span
    /// that never reached the collector. Before shutdown, queued spans are
    /// not counted as lost, so queue-full drops show up here only at
    /// shutdown.
    pub fn dropped(&self) -> u64 {
        if self.shut_down { self.ended.saturating_sub(self.exported) } else { self.failed }
    }
}

impl fmt::Display for ExportStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} spans ended, {} exported, {} failed to export, {} pending or dropped",
            self.ended,
            self.exported,
            self.failed,
            self.pending_or_dropped()
        )
    }
}

/// Runs exports: on the background tokio runtime (gRPC), or on the batch
/// processor's own thread (HTTP with the blocking client).
#[derive(Clone, Debug)]
pub(crate) enum ExportPlace {
    BatchThread,
    Runtime(tokio::runtime::Handle),
}

/// A span exporter that counts the spans of accepted and failed batches.
#[derive(Debug)]
pub(crate) struct CountingExporter<E> {
    inner: Arc<E>,
    counters: Arc<ExportCounters>,
    place: ExportPlace,
}

impl<E> CountingExporter<E> {
    pub(crate) fn new(inner: E, counters: Arc<ExportCounters>, place: ExportPlace) -> Self {
        CountingExporter { inner: Arc::new(inner), counters, place }
    }
}

impl<E: SpanExporter + 'static> SpanExporter for CountingExporter<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let n_spans = batch.len() as u64;
        let inner = self.inner.clone();
        let counters = self.counters.clone();
        let place = self.place.clone();
        async move {
            let result = match place {
                ExportPlace::BatchThread => inner.export(batch).await,
                ExportPlace::Runtime(handle) => {
                    // The runtime's thread runs in a telemetry-suppressed
                    // context, so the export's own work is never traced.
                    let export = handle.spawn(async move { inner.export(batch).await });
                    match export.await {
                        Ok(result) => result,
                        Err(error) => Err(OTelSdkError::InternalFailure(format!("export task failed: {error}"))),
                    }
                }
            };
            let counter = if result.is_ok() { &counters.exported } else { &counters.failed };
            counter.fetch_add(n_spans, Ordering::AcqRel);
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.set_resource(resource),
            None => debug_assert!(false, "async-hooks-tracing bug: resource set while an export runs"),
        }
    }
}

/// A span processor that counts ended spans before handing them on.
#[derive(Debug)]
pub(crate) struct CountingProcessor<P> {
    inner: P,
    counters: Arc<ExportCounters>,
}

impl<P> CountingProcessor<P> {
    pub(crate) fn new(inner: P, counters: Arc<ExportCounters>) -> Self {
        CountingProcessor { inner, counters }
    }
}

impl<P: SpanProcessor> SpanProcessor for CountingProcessor<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.counters.ended.fetch_add(1, Ordering::AcqRel);
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
