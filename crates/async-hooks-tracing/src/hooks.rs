//! [`TracingHooks`]: the hook set that turns every async resource into a
//! `tracing` span.

use std::fmt;

use async_hooks_core::{AsyncId, Attribute, Hooks, Interest, Resource, execution_async_id};
use tracing_core::field::{Field, Value, ValueSet};
use tracing_core::span::{self, Attributes};
use tracing_core::{Dispatch, Level};

use crate::callsite::{
    ASYNC_ID, CODE_FILEPATH, CODE_LINENO, FIXED_FIELDS, MAX_FIELDS, ResourceCallsite, TRIGGER_ASYNC_ID, callsite_for,
    fixed_index, plain_callsite_for,
};
use crate::config::{ParentMode, RecordedStore, TracingHooksBuilder};
use crate::entered;
use crate::span_table::{SpanEntry, SpanHandle, SpanTable};
use crate::values::{Slot, Slots, append_undeclared, value_set};

/// A hook set that maps every async resource to a `tracing` span.
///
/// - `init` creates the span, named after the resource type, with fields
///   `async_id`, `trigger_async_id`, `code.filepath`, `code.lineno` (where the
///   resource was created; also the span's metadata file and line), and the
///   resource's attributes (`pool.name`, `pool.worker`, ... or any other key).
///   Its parent is chosen by [`ParentMode`].
/// - `before` enters the span on the running thread, `after` exits it.
/// - `record` records attributes learned later, such as a pool task's worker.
/// - `destroy` closes the span (subscribers such as the OpenTelemetry layer
///   export it once it and its children are closed). A resource destroyed
///   inside one of its own scopes, or while another thread runs one, keeps
///   its span open and entered until the last of those scopes ends, as a
///   span made by hand is kept alive by its guard; then it is closed.
/// - A scope whose `before` the hook set missed (it was disabled then) exits
///   nothing at its `after`, even while the resource has a scope open on
///   another thread (within one thread, nested scopes of one resource look
///   alike, and the outer one's span is exited then). A scope whose `after`
///   it misses (disabled meanwhile) keeps the span open, and entered on that
///   thread, until the hook set is dropped.
///
/// Spans are made with the dispatcher that is the default on the thread
/// creating the resource (normally the global one) and only when it is
/// interested in them (level `INFO`, target `async_hooks` by default). No
/// context store value is recorded unless you opt in with
/// [`TracingHooksBuilder::record_store`].
///
/// # Examples
///
/// ```
/// use async_hooks_core::AsyncResource;
/// use async_hooks_tracing::TracingHooks;
///
/// let subscriber = tracing_subscriber::fmt().with_test_writer().finish();
/// tracing::subscriber::with_default(subscriber, || {
///     let hook = TracingHooks::builder().enable();
///     let request = AsyncResource::new("Request");
///     // Inside the scope, the resource's span is the current span.
///     request.run_in_async_scope(|| tracing::info!("handling"));
///     drop(request);
///     drop(hook);
/// });
/// ```
pub struct TracingHooks {
    level: Level,
    parent_mode: ParentMode,
    stores: Vec<RecordedStore>,
    table: SpanTable,
}

impl TracingHooks {
    /// A hook set with the default options (level `INFO`,
    /// [`ParentMode::ChildOfCurrent`], no store values).
    pub fn new() -> TracingHooks {
        TracingHooks::builder().build()
    }

    /// A builder for the options.
    pub fn builder() -> TracingHooksBuilder {
        TracingHooksBuilder::default()
    }

    pub(crate) fn from_builder(builder: TracingHooksBuilder) -> TracingHooks {
        TracingHooks {
            level: builder.level,
            parent_mode: builder.parent_mode,
            stores: builder.stores,
            table: SpanTable::new(),
        }
    }

    /// How many resources currently have a span: created and not destroyed,
    /// or destroyed inside a scope of theirs that has not ended yet.
    pub fn live_spans(&self) -> usize {
        self.table.len()
    }

    fn table_tag(&self) -> u64 {
        self.table.serial()
    }

    /// A scope opened while the thread shuts down, which has no stack left to
    /// pair its `after` with: ends it at once (exits the span and uncounts
    /// the scope), so that the span can still be closed.
    #[cold]
    #[inline(never)]
    fn end_unpaired_scope(&self, id: AsyncId) {
        if let Some(span) = self.table.handle(id) {
            span.dispatch.exit(&span.id);
        }
        self.table.release(id);
    }

    /// The span the new resource's span should be the child of (or, when
    /// detached, link to): the current span, else the trigger's span, which
    /// is then held (another thread's `destroy` cannot close it while the
    /// child is made) until [`release_parent`](Self::release_parent).
    fn contextual_parent(&self, dispatch: &Dispatch, trigger: AsyncId) -> Parent {
        let current = dispatch.current_span();
        if let Some(current) = current.id() {
            return Parent::Current(current.clone());
        }
        match self.table.hold(trigger) {
            Some(handle) => Parent::Trigger(handle.id),
            None => Parent::None,
        }
    }

    /// Ends the hold [`contextual_parent`](Self::contextual_parent) took on
    /// the trigger's span, if it took one.
    fn release_parent(&self, parent: &Parent, trigger: AsyncId) {
        if let Parent::Trigger(_) = parent {
            self.table.release(trigger);
        }
    }

    /// `init`'s second half for a resource without attributes or store
    /// values (the common case): creates its span on `callsite` (if the
    /// default dispatcher wants it) with only the four id and location
    /// fields, and keeps it in the table.
    #[inline]
    fn init_plain_span(&self, id: AsyncId, callsite: &'static ResourceCallsite, resource: &Resource) {
        tracing_core::dispatcher::get_default(|dispatch| {
            if !callsite.is_enabled(dispatch) {
                return;
            }
            let span_id = self.new_plain_span(dispatch, callsite, resource);
            let span = SpanHandle { id: span_id, dispatch: dispatch.clone() };
            self.table.insert(id, SpanEntry::new(span, callsite), None);
        });
    }

    /// `init`'s second half: creates the span of `resource` on `callsite`
    /// (if the default dispatcher wants it) and keeps it in the table.
    #[inline]
    fn init_span(&self, id: AsyncId, callsite: &'static ResourceCallsite, resource: &Resource, stores: &[Attribute]) {
        tracing_core::dispatcher::get_default(|dispatch| {
            if !callsite.is_enabled(dispatch) {
                return;
            }
            let mut undeclared = String::new();
            let span_id = if callsite.fields().len() <= FIXED_FIELDS.len() {
                self.new_span::<{ FIXED_FIELDS.len() }>(dispatch, callsite, resource, stores, &mut undeclared)
            } else {
                self.new_span::<MAX_FIELDS>(dispatch, callsite, resource, stores, &mut undeclared)
            };
            let undeclared = if undeclared.is_empty() { None } else { Some(undeclared) };
            let span = SpanHandle { id: span_id, dispatch: dispatch.clone() };
            self.table.insert(id, SpanEntry::new(span, callsite), undeclared);
        });
    }

    /// Creates the span of `resource` with `N` value slots.
    fn new_span<const N: usize>(
        &self,
        dispatch: &Dispatch,
        callsite: &'static ResourceCallsite,
        resource: &Resource,
        stores: &[Attribute],
        undeclared: &mut String,
    ) -> span::Id {
        let mut slots = Slots::<N>::new();
        let any_undeclared = slots.fill(callsite, resource.attributes()) | slots.fill(callsite, stores);
        if any_undeclared {
            append_undeclared(undeclared, callsite, resource.attributes());
            append_undeclared(undeclared, callsite, stores);
        }
        let location = resource.location();
        slots.set(ASYNC_ID, Slot::unsigned(resource.id().as_u64()));
        slots.set(TRIGGER_ASYNC_ID, Slot::unsigned(resource.trigger_async_id().as_u64()));
        slots.set(CODE_FILEPATH, Slot::Str(location.file()));
        slots.set(CODE_LINENO, Slot::I64(i64::from(location.line())));
        if !undeclared.is_empty() {
            slots.set_catch_all(undeclared);
        }
        let pairs = slots.pairs(callsite);
        self.create_span(dispatch, callsite, resource, &value_set(callsite, &pairs))
    }

    /// Creates the span of a resource without attributes or store values
    /// (the common case): only the four id and location fields have values,
    /// so the value set has just those four.
    #[inline]
    fn new_plain_span(
        &self,
        dispatch: &Dispatch,
        callsite: &'static ResourceCallsite,
        resource: &Resource,
    ) -> span::Id {
        let async_id = Slot::unsigned(resource.id().as_u64());
        let trigger_async_id = Slot::unsigned(resource.trigger_async_id().as_u64());
        let location = resource.location();
        let filepath = location.file();
        let lineno = i64::from(location.line());
        let fields = callsite.fields();
        let pairs: [(&Field, Option<&dyn Value>); 4] = [
            (&fields[ASYNC_ID], async_id.as_value()),
            (&fields[TRIGGER_ASYNC_ID], trigger_async_id.as_value()),
            (&fields[CODE_FILEPATH], Some(&filepath)),
            (&fields[CODE_LINENO], Some(&lineno)),
        ];
        self.create_span(dispatch, callsite, resource, &callsite.metadata().fields().value_set(&pairs))
    }

    /// Creates a span of `callsite` with `values`, under the parent that
    /// [`ParentMode`] chooses.
    #[inline]
    fn create_span(
        &self,
        dispatch: &Dispatch,
        callsite: &'static ResourceCallsite,
        resource: &Resource,
        values: &ValueSet<'_>,
    ) -> span::Id {
        let trigger = resource.trigger_async_id();
        let metadata = callsite.metadata();
        if self.parent_mode.is_detached(resource.resource_type()) {
            let parent = self.contextual_parent(dispatch, trigger);
            let span_id = dispatch.new_span(&Attributes::new_root(metadata, values));
            if let Parent::Current(parent) | Parent::Trigger(parent) = &parent {
                dispatch.record_follows_from(&span_id, parent);
            }
            self.release_parent(&parent, trigger);
            span_id
        } else if trigger == execution_async_id() {
            // Created in the scope of its trigger (the common case): the
            // trigger's span, if it has one, was entered at `before`, so the
            // current span is the right parent — the trigger's, or the
            // user's span inside it.
            dispatch.new_span(&Attributes::new(metadata, values))
        } else {
            let parent = self.contextual_parent(dispatch, trigger);
            let span_id = match &parent {
                Parent::Trigger(trigger_span) => {
                    dispatch.new_span(&Attributes::child_of(trigger_span.clone(), metadata, values))
                }
                _ => dispatch.new_span(&Attributes::new(metadata, values)),
            };
            self.release_parent(&parent, trigger);
            span_id
        }
    }
}

/// Where a new resource's span goes, as [`TracingHooks::contextual_parent`]
/// finds it.
enum Parent {
    /// Under the current span of the creating thread.
    Current(span::Id),
    /// Under the trigger resource's span, held by the caller.
    Trigger(span::Id),
    /// A root.
    None,
}

impl Default for TracingHooks {
    fn default() -> Self {
        TracingHooks::new()
    }
}

impl fmt::Debug for TracingHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracingHooks")
            .field("level", &self.level)
            .field("parent_mode", &self.parent_mode)
            .field("stores", &self.stores)
            .field("live_spans", &self.live_spans())
            .finish()
    }
}

impl Hooks for TracingHooks {
    fn init(&self, id: AsyncId, _resource_type: &str, _trigger: AsyncId, resource: &Resource) {
        if self.stores.is_empty() && resource.attributes().is_empty() {
            let callsite = plain_callsite_for(self.level, resource.resource_type(), resource.location());
            self.init_plain_span(id, callsite, resource);
            return;
        }
        let stores: Vec<Attribute> = self
            .stores
            .iter()
            .filter_map(|store| (store.read)().map(|value| Attribute::new(store.key, value)))
            .collect();
        let has_extras =
            resource.attributes().iter().chain(&stores).any(|attribute| fixed_index(attribute.key()).is_none());
        let callsite = if has_extras {
            // Keys without a fixed field, deduplicated, in order; too many
            // and the callsite declares none (they go to the catch-all).
            let mut extras: Vec<&'static str> = Vec::new();
            for attribute in resource.attributes().iter().chain(&stores) {
                let key = attribute.key();
                if fixed_index(key).is_none() && !extras.contains(&key) {
                    extras.push(key);
                }
            }
            if extras.len() > MAX_FIELDS - FIXED_FIELDS.len() {
                extras.clear();
            }
            callsite_for(self.level, resource.resource_type(), resource.location(), &extras)
        } else {
            callsite_for(self.level, resource.resource_type(), resource.location(), &[])
        };
        self.init_span(id, callsite, resource, &stores);
    }

    fn before(&self, id: AsyncId) {
        // Counted before it is entered, so that a `destroy` on another
        // thread leaves the close to the scope.
        if let Some(span) = self.table.hold(id) {
            span.dispatch.enter(&span.id);
            if !entered::push(self.table_tag(), id, span) {
                self.end_unpaired_scope(id);
            }
        }
    }

    fn after(&self, id: AsyncId) {
        // Only a scope whose `before` this thread saw is ended, and only
        // once its span is exited.
        if entered::exit(self.table_tag(), id) {
            self.table.release(id);
        }
    }

    fn record(&self, id: AsyncId, attributes: &[Attribute]) {
        // Held for the call, so that a `destroy` on another thread leaves the
        // close until the values are recorded.
        let Some((span, callsite)) = self.table.hold_with_callsite(id) else {
            return;
        };
        let any_undeclared = attributes.iter().any(|attribute| callsite.index_of(attribute.key()).is_none());
        let undeclared = if any_undeclared {
            self.table.append_undeclared(id, |text| append_undeclared(text, callsite, attributes))
        } else {
            None
        };
        if callsite.fields().len() <= FIXED_FIELDS.len() {
            record_values::<{ FIXED_FIELDS.len() }>(&span, callsite, attributes, undeclared.as_deref());
        } else {
            record_values::<MAX_FIELDS>(&span, callsite, attributes, undeclared.as_deref());
        }
        self.table.release(id);
    }

    fn destroy(&self, id: AsyncId) {
        // Inside one of its scopes, the span is closed when the last one
        // ends (see the table).
        self.table.close(id);
    }

    fn interest(&self) -> Interest {
        Interest::INIT | Interest::BEFORE | Interest::AFTER | Interest::DESTROY | Interest::RECORD
    }

    fn name(&self) -> &str {
        "async_hooks_tracing::TracingHooks"
    }
}

/// Records `attributes` (and the catch-all text) on `span`.
fn record_values<const N: usize>(
    span: &SpanHandle,
    callsite: &'static ResourceCallsite,
    attributes: &[Attribute],
    undeclared: Option<&str>,
) {
    let mut slots = Slots::<N>::new();
    slots.fill(callsite, attributes);
    if let Some(text) = undeclared {
        slots.set_catch_all(text);
    }
    let pairs = slots.pairs(callsite);
    let values = value_set(callsite, &pairs);
    span.dispatch.record(&span.id, &span::Record::new(&values));
}
