//! [`ContextDiagnostics`]: the handle that enables the diagnostic hook set
//! and answers questions about it.

use std::fmt;
use std::panic::Location;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_hooks_core::{AsyncHook, ContextFrame, StoreKey, create_hook, execution_async_resource};

use super::graph::{self, RenderError, ResourceInfo, TreeSnapshot};
use super::recorder::{DiagnosticHooks, Shared, StoreState, Table, WatchedStore, current_invoker};
use super::report::{self, Analysis, LeakReport, LossReport, MissingReport};
use crate::AsyncLocalStorage;

/// Context-loss and leak diagnostics: while enabled, a hook set records
/// every resource (id, trigger, type, creation site, creation thread, the
/// stores its frame carries, the frame and thread of its scopes, whether it
/// was destroyed) in a bounded table, and the handle explains from it where
/// a store was lost and which resources leaked.
///
/// Enabling registers the hook set; dropping the handle disables it. When no
/// `ContextDiagnostics` is enabled nothing is registered, so nothing runs:
/// the core's no-hook fast path is untouched.
///
/// # Examples
///
/// ```
/// use async_hooks_context::AsyncLocalStorage;
/// use async_hooks_context::diagnostics::{ContextDiagnostics, LossCause};
/// use async_hooks_core::AsyncResource;
///
/// static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
///
/// let diagnostics = ContextDiagnostics::enable();
/// diagnostics.watch("request_id", &REQUEST_ID);
///
/// // A callback resource created once, outside any request ...
/// let callback = AsyncResource::new("Callback");
/// let request = REQUEST_ID.run(7, || AsyncResource::new("Request"));
/// // ... invoked while handling a request: it runs in its creation context.
/// let report = request.run_in_async_scope(|| {
///     callback.run_in_async_scope(|| diagnostics.why_missing(&REQUEST_ID))
/// });
/// assert!(report.is_missing());
/// let loss = report.loss().unwrap();
/// assert_eq!(loss.resource().unwrap().id(), callback.async_id());
/// assert!(matches!(loss.cause(), LossCause::CreatedBeforeScopeInvokedInside { .. }));
/// println!("{report}");
/// ```
#[must_use = "dropping the diagnostics disables them"]
pub struct ContextDiagnostics {
    shared: Arc<Shared>,
    hook: AsyncHook<DiagnosticHooks>,
}

/// Options of [`ContextDiagnostics`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `enable`"]
pub struct DiagnosticsBuilder {
    max_resources: usize,
}

impl DiagnosticsBuilder {
    /// The most resources the table holds (default
    /// [`ContextDiagnostics::DEFAULT_MAX_RESOURCES`]). When it is full, the
    /// resource destroyed longest ago is evicted; when every entry is alive,
    /// new resources are not recorded (reports count them).
    pub fn max_resources(mut self, max_resources: usize) -> Self {
        self.max_resources = max_resources.max(1);
        self
    }

    /// Registers the hook set and returns the enabled diagnostics.
    pub fn enable(self) -> ContextDiagnostics {
        let shared = Arc::new(Shared::new(self.max_resources));
        let hook = create_hook(DiagnosticHooks { shared: shared.clone() });
        hook.enable();
        ContextDiagnostics { shared, hook }
    }
}

impl ContextDiagnostics {
    /// The default bound of the resource table. One record is a few hundred
    /// bytes, so the default table stays in the tens of megabytes at most.
    pub const DEFAULT_MAX_RESOURCES: usize = 65_536;

    /// Enables the diagnostics with default options.
    pub fn enable() -> ContextDiagnostics {
        ContextDiagnostics::builder().enable()
    }

    /// Options before enabling.
    pub fn builder() -> DiagnosticsBuilder {
        DiagnosticsBuilder { max_resources: ContextDiagnostics::DEFAULT_MAX_RESOURCES }
    }

    /// Whether the hook set is still enabled (a panic inside it would have
    /// disabled it).
    pub fn is_enabled(&self) -> bool {
        self.hook.is_enabled()
    }

    /// Registers `storage` under `name`: reports name it, and tell a value
    /// hidden by `disable()` from one that was never set. Stores that are
    /// not watched are still tracked (by key), just less precisely.
    pub fn watch<T: Send + Sync + 'static>(&self, name: &'static str, storage: &'static AsyncLocalStorage<T>) -> &Self {
        self.shared.watch(WatchedStore {
            name,
            key: storage.key(),
            is_visible: Box::new(move || storage.with(|value| value.is_some())),
        });
        self
    }

    /// Marks this point (typically just before a spawn the hooks core
    /// cannot see, such as a raw `std::thread::spawn` or `tokio::spawn`):
    /// a later loss at the root of a thread names the latest checkpoints
    /// where the store was set, with their file:line.
    #[track_caller]
    pub fn checkpoint(&self, label: &'static str) {
        self.shared.checkpoint(label, Location::caller());
    }

    /// Explains, at the point where you noticed, why `storage.get()` is
    /// `None` here: the resource running here (if any), its trigger chain
    /// back to the last resource that had the store, and the likely cause.
    /// If the store is set, the report says so.
    ///
    /// The answer is also kept, so [`loss_report`](Self::loss_report) lists
    /// it (bounded: the latest 256).
    #[track_caller]
    pub fn why_missing<T: Send + Sync + 'static>(&self, storage: &AsyncLocalStorage<T>) -> MissingReport {
        let observed = report::observation(Location::caller());
        let key = storage.key();
        let state = if storage.with(|value| value.is_some()) {
            StoreState::Visible
        } else if ContextFrame::with_current(|frame| frame.get(key).is_some()) {
            StoreState::Disabled
        } else {
            StoreState::Absent
        };
        let current = execution_async_resource().map(|resource| resource.id());
        let invoker = current.and_then(|_| current_invoker(self.shared.instance));
        let name = self.store_name(key);
        let mut table = self.shared.table();
        let answer = Analysis { table: &table, key, store: &name }.why_missing(state, observed, current, invoker);
        if let Some(loss) = answer.loss() {
            Table::push_note(&mut table.observations, loss.clone());
        }
        answer
    }

    /// Every loss of `storage` the table shows: the resources that ran
    /// without it although their trigger chain (or their invoker) had it,
    /// one entry per break, plus the losses `why_missing` observed at the
    /// root of a thread.
    pub fn loss_report<T: Send + Sync + 'static>(&self, storage: &AsyncLocalStorage<T>) -> LossReport {
        self.loss_report_for(storage.key())
    }

    /// [`loss_report`](Self::loss_report) for every watched store.
    pub fn loss_reports(&self) -> Vec<LossReport> {
        self.shared.watched().iter().map(|store| self.loss_report_for(store.key)).collect()
    }

    fn loss_report_for(&self, key: StoreKey) -> LossReport {
        let name = self.store_name(key);
        let table = self.shared.table();
        report::loss_report(&Analysis { table: &table, key, store: &name })
    }

    /// Every resource created but not destroyed, grouped by type and
    /// creation site.
    pub fn leak_report(&self) -> LeakReport {
        self.leak_report_older_than(Duration::ZERO)
    }

    /// Like [`leak_report`](Self::leak_report), for resources at least
    /// `min_age` old.
    pub fn leak_report_older_than(&self, min_age: Duration) -> LeakReport {
        report::leak_report(&self.shared.table(), min_age)
    }

    /// The recorded resource tree, oldest first.
    pub fn resources(&self) -> Vec<ResourceInfo> {
        self.snapshot().nodes().to_vec()
    }

    /// The resource tree as Graphviz DOT, every watched store's breaks
    /// marked in red.
    pub fn to_dot(&self) -> String {
        self.snapshot().to_dot()
    }

    /// The resource tree as a Mermaid flowchart, breaks marked.
    pub fn to_mermaid(&self) -> String {
        self.snapshot().to_mermaid()
    }

    /// Renders the tree to an SVG file with Graphviz (`dot -Tsvg`).
    ///
    /// # Errors
    ///
    /// [`RenderError::GraphvizNotFound`] when `dot` is not on `PATH` (write
    /// [`to_dot`](Self::to_dot) to a file instead); the I/O error or
    /// Graphviz's complaint otherwise.
    pub fn render_svg(&self, path: impl AsRef<Path>) -> Result<(), RenderError> {
        graph::render_svg(&self.to_dot(), path.as_ref())
    }

    fn snapshot(&self) -> TreeSnapshot {
        let watched = self.shared.watched();
        let table = self.shared.table();
        TreeSnapshot::build(&table, &watched)
    }

    fn store_name(&self, key: StoreKey) -> String {
        self.shared
            .watched()
            .iter()
            .find(|store| store.key == key)
            .map_or_else(|| format!("store#{}", key.as_u64()), |store| store.name.to_owned())
    }
}

impl fmt::Debug for ContextDiagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.shared.table();
        f.debug_struct("ContextDiagnostics")
            .field("enabled", &self.hook.is_enabled())
            .field("resources", &table.records.len())
            .field("max_resources", &table.max_resources)
            .finish()
    }
}
