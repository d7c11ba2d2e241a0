//! [`OtlpGuard`]: keeps an OTLP pipeline running and flushes it on drop.

use std::fmt;
use std::sync::Arc;

use async_hooks_core::AsyncHook;
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::runtime::ExportRuntime;
use super::stats::{ExportCounters, ExportStats};
use crate::TracingHooks;

/// Keeps an OTLP pipeline running. Dropping it disables the resource hook
/// set, flushes the queued spans (waiting at most the export timeout),
/// shuts the exporter down and, if spans were lost, says how many on
/// stderr.
///
/// Destroy (drop) your resources before the guard: a span is exported when
/// it closes.
#[must_use = "dropping the guard shuts the pipeline down"]
pub struct OtlpGuard {
    pub(crate) hook: Option<AsyncHook<TracingHooks>>,
    pub(crate) provider: Option<SdkTracerProvider>,
    pub(crate) counters: Arc<ExportCounters>,
    pub(crate) runtime: Option<ExportRuntime>,
    pub(crate) report_losses: bool,
}

impl OtlpGuard {
    /// What happened to the spans so far.
    pub fn stats(&self) -> ExportStats {
        self.counters.snapshot()
    }

    /// Exports every queued span now, blocking the calling thread until the
    /// export finished or timed out.
    ///
    /// # Errors
    ///
    /// If the export failed (the spans are counted as failed) or the
    /// pipeline is shut down.
    pub fn flush(&self) -> Result<(), opentelemetry_sdk::error::OTelSdkError> {
        match &self.provider {
            Some(provider) => provider.force_flush(),
            None => Err(opentelemetry_sdk::error::OTelSdkError::AlreadyShutdown),
        }
    }

    /// The tracer provider, to create OpenTelemetry spans directly.
    pub fn provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }

    /// Shuts the pipeline down like drop does and returns the final
    /// counts; [`ExportStats::dropped`] then counts every span that never
    /// reached the collector.
    pub fn shutdown(mut self) -> ExportStats {
        self.report_losses = false;
        self.finish();
        self.counters.snapshot()
    }

    fn finish(&mut self) {
        drop(self.hook.take());
        if let Some(provider) = self.provider.take() {
            // Failures are counted by the exporter; nothing else to do.
            let _ = provider.shutdown();
        }
        self.counters.mark_shut_down();
        drop(self.runtime.take());
    }
}

impl Drop for OtlpGuard {
    fn drop(&mut self) {
        if self.provider.is_none() {
            return;
        }
        self.finish();
        let stats = self.counters.snapshot();
        if self.report_losses && stats.dropped() > 0 {
            eprintln!("async-hooks-tracing: {} spans were not exported ({stats})", stats.dropped());
        }
    }
}

impl fmt::Debug for OtlpGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpGuard")
            .field("stats", &self.stats())
            .field("hook", &self.hook)
            .field("background_runtime", &self.runtime.is_some())
            .finish_non_exhaustive()
    }
}
