//! Trace files: resources as slices on a timeline you can open in
//! [Perfetto](https://ui.perfetto.dev) or `chrome://tracing`.
//!
//! The file is Chrome's JSON trace format, written by the maintained
//! [`tracing-chrome`](https://docs.rs/tracing-chrome) layer on a background
//! thread. Each scope of a resource (`before` to `after`) is a slice on the
//! thread that ran it, named after the resource type, with its fields
//! (`async_id`, `trigger_async_id`, attributes) as arguments.
//!
//! # Examples
//!
//! ```
//! use async_hooks_core::AsyncResource;
//! use async_hooks_tracing::trace_file::TraceFile;
//!
//! let path = std::env::temp_dir().join(format!("async-hooks-doc-{}.json", std::process::id()));
//! let (layer, guard) = TraceFile::new(&path).layer();
//! let subscriber = tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     let hook = async_hooks_tracing::TracingHooks::builder().enable();
//!     AsyncResource::new("Request").run_in_async_scope(|| {});
//!     drop(hook);
//! });
//! drop(guard); // flushes and closes the file
//! assert!(std::fs::read_to_string(&path).unwrap().contains("\"Request\""));
//! # std::fs::remove_file(&path).unwrap();
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use async_hooks_core::AsyncHook;
use tracing_chrome::{ChromeLayer, ChromeLayerBuilder, FlushGuard, TraceStyle};
use tracing_core::Subscriber;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};

use crate::{TracingHooks, TracingHooksBuilder};

/// How slices are laid out in the trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceFileStyle {
    /// One track per thread; each resource scope is a slice on the thread
    /// that ran it (pool workers show their tasks side by side).
    #[default]
    Threads,
    /// One track per trace root; resources are async slices from creation
    /// to destroy.
    Async,
}

/// Options for a Chrome/Perfetto JSON trace file.
#[derive(Debug, Clone)]
#[must_use = "a TraceFile does nothing until `layer` or `install`"]
pub struct TraceFile {
    path: PathBuf,
    style: TraceFileStyle,
    hooks: TracingHooksBuilder,
}

impl TraceFile {
    /// A trace file at `path` (created or truncated when the layer is built).
    pub fn new(path: impl AsRef<Path>) -> TraceFile {
        TraceFile { path: path.as_ref().to_owned(), style: TraceFileStyle::default(), hooks: TracingHooks::builder() }
    }

    /// How slices are laid out (default [`TraceFileStyle::Threads`]).
    pub fn style(mut self, style: TraceFileStyle) -> TraceFile {
        self.style = style;
        self
    }

    /// The options of the hook set [`install`](Self::install) enables.
    pub fn hooks(mut self, hooks: TracingHooksBuilder) -> TraceFile {
        self.hooks = hooks;
        self
    }

    /// The layer, to compose with your own subscriber, and the guard that
    /// flushes the file when dropped. Enable a [`TracingHooks`] yourself.
    pub fn layer<S>(self) -> (ChromeLayer<S>, TraceFileGuard)
    where
        S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
    {
        let style = match self.style {
            TraceFileStyle::Threads => TraceStyle::Threaded,
            TraceFileStyle::Async => TraceStyle::Async,
        };
        let (layer, flush) = ChromeLayerBuilder::new().file(&self.path).include_args(true).trace_style(style).build();
        (layer, TraceFileGuard { flush, hook: None, path: self.path })
    }

    /// Installs a global subscriber that writes the trace file and enables
    /// the resource hook set; everything is flushed when the guard drops.
    ///
    /// # Errors
    ///
    /// If a global subscriber is already set.
    pub fn install(self) -> Result<TraceFileGuard, TryInitError> {
        let hooks = self.hooks.clone();
        let (layer, mut guard) = self.layer();
        tracing_subscriber::registry().with(layer).try_init()?;
        guard.hook = Some(hooks.enable());
        Ok(guard)
    }
}

/// Flushes the trace file when dropped (and disables the hook set that
/// [`TraceFile::install`] enabled).
#[must_use = "dropping the guard flushes and closes the trace file"]
pub struct TraceFileGuard {
    // Field order: the hook is disabled before the file is flushed.
    hook: Option<AsyncHook<TracingHooks>>,
    flush: FlushGuard,
    path: PathBuf,
}

impl TraceFileGuard {
    /// Where the trace is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes what was recorded so far to the file.
    pub fn flush(&self) {
        self.flush.flush();
    }
}

impl fmt::Debug for TraceFileGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceFileGuard").field("path", &self.path).field("hook", &self.hook).finish_non_exhaustive()
    }
}
