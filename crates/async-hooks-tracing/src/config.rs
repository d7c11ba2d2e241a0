//! [`TracingHooksBuilder`] and [`ParentMode`]: how resources become spans.

use std::fmt;
use std::sync::Arc;

use async_hooks_context::AsyncLocalStorage;
use async_hooks_core::{AsyncHook, AttributeValue, create_hook};
use tracing_core::Level;

use crate::TracingHooks;

/// Where a resource's span sits in the span tree.
///
/// # Examples
///
/// ```
/// use async_hooks_tracing::{ParentMode, TracingHooks};
///
/// // Detached work (spawned threads) starts its own trace, linked to where it came from.
/// let hooks = TracingHooks::builder().parent_mode(ParentMode::FollowsFromForTypes(&["Thread"])).build();
/// # drop(hooks);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParentMode {
    /// The child of the current `tracing` span at `init` (so resources nest
    /// under the user's own `#[instrument]` spans and under the span of the
    /// resource whose scope created them); with no current span, the child
    /// of the trigger resource's span; with neither, a root.
    #[default]
    ChildOfCurrent,
    /// Every resource's span is a root (a trace of its own) with a
    /// follows-from link (an OpenTelemetry span link) to the span it would
    /// have been the child of.
    FollowsFrom,
    /// [`FollowsFrom`](ParentMode::FollowsFrom) for resources of the listed
    /// types, [`ChildOfCurrent`](ParentMode::ChildOfCurrent) for the others.
    FollowsFromForTypes(&'static [&'static str]),
}

impl ParentMode {
    pub(crate) fn is_detached(&self, resource_type: &str) -> bool {
        match self {
            ParentMode::ChildOfCurrent => false,
            ParentMode::FollowsFrom => true,
            ParentMode::FollowsFromForTypes(types) => types.contains(&resource_type),
        }
    }
}

/// Reads one opted-in context value at a resource's `init`.
pub(crate) type StoreReader = Arc<dyn Fn() -> Option<AttributeValue> + Send + Sync>;

/// An opted-in value recorded on every resource span: the attribute key and
/// how to read it.
#[derive(Clone)]
pub(crate) struct RecordedStore {
    pub(crate) key: &'static str,
    pub(crate) read: StoreReader,
}

impl fmt::Debug for RecordedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedStore").field("key", &self.key).finish_non_exhaustive()
    }
}

/// Builds a [`TracingHooks`].
///
/// # Examples
///
/// ```
/// use async_hooks_context::AsyncLocalStorage;
/// use async_hooks_tracing::TracingHooks;
///
/// static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
///
/// let hook = TracingHooks::builder()
///     .level(tracing::Level::DEBUG)
///     // Opt in: record the request id on every resource's span.
///     .record_store("request.id", &REQUEST_ID)
///     .enable();
/// assert!(hook.is_enabled());
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` or `enable`"]
pub struct TracingHooksBuilder {
    pub(crate) level: Level,
    pub(crate) parent_mode: ParentMode,
    pub(crate) stores: Vec<RecordedStore>,
}

impl Default for TracingHooksBuilder {
    fn default() -> Self {
        TracingHooksBuilder { level: Level::INFO, parent_mode: ParentMode::default(), stores: Vec::new() }
    }
}

impl TracingHooksBuilder {
    /// The level of every resource span (default `INFO`). Span targets are
    /// `async_hooks`, so `RUST_LOG=async_hooks=debug` style filters apply.
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Where spans sit in the tree (default
    /// [`ParentMode::ChildOfCurrent`]).
    pub fn parent_mode(mut self, parent_mode: ParentMode) -> Self {
        self.parent_mode = parent_mode;
        self
    }

    /// Opts in to recording the value of `store` (as the resource sees it at
    /// creation, formatted with `Display`) as attribute `key` on every
    /// resource span. Without such an opt-in, no store value is ever
    /// recorded.
    pub fn record_store<T>(self, key: &'static str, store: &'static AsyncLocalStorage<T>) -> Self
    where
        T: fmt::Display + Send + Sync + 'static,
    {
        self.record_value(key, move || store.with(|value| value.map(|value| value.to_string().into())))
    }

    /// Opts in to recording whatever `read` returns at a resource's creation
    /// (in the creator's context) as attribute `key` on its span; `None`
    /// records nothing. Use it for stores that are not `static`, or to
    /// redact.
    pub fn record_value(
        mut self,
        key: &'static str,
        read: impl Fn() -> Option<AttributeValue> + Send + Sync + 'static,
    ) -> Self {
        self.stores.push(RecordedStore { key, read: Arc::new(read) });
        self
    }

    /// The hook set. Register it with [`create_hook`] (or use
    /// [`enable`](Self::enable)).
    pub fn build(self) -> TracingHooks {
        TracingHooks::from_builder(self)
    }

    /// Builds the hook set, registers and enables it. Resources become spans
    /// until the returned hook is dropped or disabled.
    pub fn enable(self) -> AsyncHook<TracingHooks> {
        let hook = create_hook(self.build());
        hook.enable();
        hook
    }
}
