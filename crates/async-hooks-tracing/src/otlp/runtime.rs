//! The background tokio runtime that drives the gRPC exporter.
//!
//! tonic needs a tokio runtime; the application needn't have one. A
//! current-thread runtime on a thread of its own ("async-hooks-otlp") runs
//! the channel and every export, inside a telemetry-suppressed OpenTelemetry
//! context, until the pipeline shuts down.

use std::io;
use std::thread::JoinHandle;

use opentelemetry::Context;
use tokio::sync::oneshot;

#[derive(Debug)]
pub(crate) struct ExportRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ExportRuntime {
    pub(crate) fn start() -> io::Result<ExportRuntime> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("async-hooks-otlp".into()).spawn(move || {
            let _suppressed = Context::enter_telemetry_suppressed_scope();
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })?;
        Ok(ExportRuntime { handle, stop: Some(stop), thread: Some(thread) })
    }

    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The runtime thread only waits for `stop`; joining is quick.
            // Never panic in Drop: a panicked thread is simply gone.
            let _ = thread.join();
        }
    }
}
