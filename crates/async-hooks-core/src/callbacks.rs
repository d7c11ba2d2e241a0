//! [`HookCallbacks`]: a hook set made of closures, like Node's
//! `createHook({ init, destroy })`.

use std::fmt;

use crate::{AsyncId, Attribute, Hooks, Interest, Resource};

type InitFn = Box<dyn Fn(AsyncId, &str, AsyncId, &Resource) + Send + Sync>;
type IdFn = Box<dyn Fn(AsyncId) + Send + Sync>;
type RecordFn = Box<dyn Fn(AsyncId, &[Attribute]) + Send + Sync>;

/// A hook set built from closures. Its [`interest`](Hooks::interest) is
/// exactly the events given a closure, so it costs nothing for the others.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use async_hooks_core::{create_hook, AsyncResource, HookCallbacks};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let (on_init, on_destroy) = (log.clone(), log.clone());
/// let hook = create_hook(
///     HookCallbacks::new()
///         .on_init(move |id, resource_type, _trigger, _resource| {
///             on_init.lock().unwrap().push(format!("init {resource_type} {id}"))
///         })
///         .on_destroy(move |id| on_destroy.lock().unwrap().push(format!("destroy {id}"))),
/// );
/// hook.enable();
/// let resource = AsyncResource::new("Example");
/// let id = resource.async_id();
/// drop(resource);
/// hook.disable();
/// assert_eq!(*log.lock().unwrap(), [format!("init Example {id}"), format!("destroy {id}")]);
/// ```
#[derive(Default)]
pub struct HookCallbacks {
    name: Option<String>,
    init: Option<InitFn>,
    before: Option<IdFn>,
    after: Option<IdFn>,
    destroy: Option<IdFn>,
    promise_resolve: Option<IdFn>,
    record: Option<RecordFn>,
}

impl HookCallbacks {
    /// A hook set with no callbacks.
    pub fn new() -> HookCallbacks {
        HookCallbacks::default()
    }

    /// Names the set, for fault reports.
    pub fn named(mut self, name: impl Into<String>) -> HookCallbacks {
        self.name = Some(name.into());
        self
    }

    /// Calls `f(id, resource_type, trigger, resource)` at every `init`.
    pub fn on_init(mut self, f: impl Fn(AsyncId, &str, AsyncId, &Resource) + Send + Sync + 'static) -> Self {
        self.init = Some(Box::new(f));
        self
    }

    /// Calls `f(id)` at every `before`.
    pub fn on_before(mut self, f: impl Fn(AsyncId) + Send + Sync + 'static) -> Self {
        self.before = Some(Box::new(f));
        self
    }

    /// Calls `f(id)` at every `after`.
    pub fn on_after(mut self, f: impl Fn(AsyncId) + Send + Sync + 'static) -> Self {
        self.after = Some(Box::new(f));
        self
    }

    /// Calls `f(id)` at every `destroy`.
    pub fn on_destroy(mut self, f: impl Fn(AsyncId) + Send + Sync + 'static) -> Self {
        self.destroy = Some(Box::new(f));
        self
    }

    /// Calls `f(id)` at every `promise_resolve`.
    pub fn on_promise_resolve(mut self, f: impl Fn(AsyncId) + Send + Sync + 'static) -> Self {
        self.promise_resolve = Some(Box::new(f));
        self
    }

    /// Calls `f(id, attributes)` at every `record`.
    pub fn on_record(mut self, f: impl Fn(AsyncId, &[Attribute]) + Send + Sync + 'static) -> Self {
        self.record = Some(Box::new(f));
        self
    }
}

impl Hooks for HookCallbacks {
    fn init(&self, id: AsyncId, resource_type: &str, trigger: AsyncId, resource: &Resource) {
        if let Some(init) = &self.init {
            init(id, resource_type, trigger, resource);
        }
    }

    fn before(&self, id: AsyncId) {
        if let Some(before) = &self.before {
            before(id);
        }
    }

    fn after(&self, id: AsyncId) {
        if let Some(after) = &self.after {
            after(id);
        }
    }

    fn destroy(&self, id: AsyncId) {
        if let Some(destroy) = &self.destroy {
            destroy(id);
        }
    }

    fn promise_resolve(&self, id: AsyncId) {
        if let Some(promise_resolve) = &self.promise_resolve {
            promise_resolve(id);
        }
    }

    fn record(&self, id: AsyncId, attributes: &[Attribute]) {
        if let Some(record) = &self.record {
            record(id, attributes);
        }
    }

    fn interest(&self) -> Interest {
        let mut interest = Interest::NONE;
        let given = [
            (self.init.is_some(), Interest::INIT),
            (self.before.is_some(), Interest::BEFORE),
            (self.after.is_some(), Interest::AFTER),
            (self.destroy.is_some(), Interest::DESTROY),
            (self.promise_resolve.is_some(), Interest::PROMISE_RESOLVE),
            (self.record.is_some(), Interest::RECORD),
        ];
        for (is_given, event) in given {
            if is_given {
                interest |= event;
            }
        }
        interest
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("HookCallbacks")
    }
}

impl fmt::Debug for HookCallbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookCallbacks").field("name", &self.name()).field("interest", &self.interest()).finish()
    }
}
