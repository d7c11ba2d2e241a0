//! [`AsyncResource`]: a user-defined asynchronous operation.

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::dispatch::{self, in_hook};
use crate::frame::{self, ContextFrame};
use crate::stack;
use crate::{AsyncId, Attribute, AttributeSet, HookEvent, Resource, execution_async_id};

/// Options for [`AsyncResource::with_options`], as in Node.
///
/// # Examples
///
/// ```
/// use async_hooks_core::{AsyncId, AsyncResource, AsyncResourceOptions};
///
/// let resource = AsyncResource::with_options(
///     "Reply",
///     AsyncResourceOptions { trigger_async_id: Some(AsyncId::from_u64(111)), ..Default::default() },
/// );
/// assert_eq!(resource.trigger_async_id().as_u64(), 111);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsyncResourceOptions {
    /// The trigger id; `None` means the current [`execution_async_id`].
    pub trigger_async_id: Option<AsyncId>,
    /// If true, dropping the resource does not dispatch `destroy`: only
    /// [`AsyncResource::emit_destroy`] does.
    pub require_manual_destroy: bool,
}

/// An asynchronous operation of your own: a request, a job, a callback to be
/// run later.
///
/// Creating one allocates its [`AsyncId`], records its trigger (the resource
/// running now), its creation site and the current [`ContextFrame`], and
/// dispatches `init`. Each [`run_in_async_scope`](Self::run_in_async_scope)
/// runs code as that resource: its id is the execution id, its captured
/// context is current, and hooks see `before`/`after` around it. Dropping it
/// dispatches `destroy` (unless `require_manual_destroy`), so `destroy` is
/// never lost, not even at exit.
///
/// # Examples
///
/// ```
/// use async_hooks_core::{AsyncResource, execution_async_id};
///
/// let outer = AsyncResource::new("Request");
/// let inner = outer.run_in_async_scope(|| AsyncResource::new("Query"));
/// assert_eq!(inner.trigger_async_id(), outer.async_id());
/// assert_eq!(inner.run_in_async_scope(execution_async_id), inner.async_id());
/// ```
pub struct AsyncResource {
    /// Dropped by [`Drop`], which skips the call when there is nothing to
    /// release (no attributes).
    resource: ManuallyDrop<Resource>,
    /// As `resource` (nothing to release when empty).
    frame: ManuallyDrop<ContextFrame>,
    /// [`DESTROYED`], [`MANUAL_DESTROY`], [`UNOBSERVED`]: one byte, so that
    /// a drop with nothing to do tests one value.
    flags: AtomicU8,
}

/// `destroy` was dispatched (or the resource was marked destroyed without
/// being observed).
const DESTROYED: u8 = 1;
/// Created with `require_manual_destroy`: dropping it dispatches nothing.
const MANUAL_DESTROY: u8 = 1 << 1;
/// Created by a hook callback: its events are never dispatched, so hooks
/// never observe themselves.
const UNOBSERVED: u8 = 1 << 2;

impl AsyncResource {
    /// Creates a resource of `resource_type`, triggered by the current
    /// execution id.
    #[track_caller]
    #[inline]
    pub fn new(resource_type: &'static str) -> AsyncResource {
        AsyncResource::create(resource_type, AsyncResourceOptions::default(), None, Location::caller())
    }

    /// Creates a resource with explicit options.
    #[track_caller]
    #[inline]
    pub fn with_options(resource_type: &'static str, options: AsyncResourceOptions) -> AsyncResource {
        AsyncResource::create(resource_type, options, None, Location::caller())
    }

    /// A builder, for attributes or a creation site other than the caller's.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_core::AsyncResource;
    ///
    /// let resource = AsyncResource::builder("WorkerPoolTask").attribute("pool.name", "images").build();
    /// let attributes = resource.resource().attributes();
    /// assert_eq!(attributes[0].to_string(), "pool.name=images");
    /// ```
    #[track_caller]
    #[inline]
    pub fn builder(resource_type: &'static str) -> AsyncResourceBuilder {
        AsyncResourceBuilder {
            resource_type,
            options: AsyncResourceOptions::default(),
            attributes: Vec::new(),
            shared_attributes: None,
            location: Location::caller(),
        }
    }

    #[inline(always)]
    fn create(
        resource_type: &'static str,
        options: AsyncResourceOptions,
        attributes: Option<AttributeSet>,
        location: &'static Location<'static>,
    ) -> AsyncResource {
        let id = AsyncId::allocate();
        let trigger = options.trigger_async_id.unwrap_or_else(execution_async_id);
        // Only hook callbacks can create unobserved resources, and with no
        // hook enabled none is running: skip the thread-local read.
        let observed = !dispatch::any_interest() || !in_hook();
        let frame = ContextFrame::current();
        if observed && dispatch::is_interested(HookEvent::Init) {
            // SAFETY: a bitwise copy, for the copy of the resource that
            // `init` borrows and then forgets: the `Arc` it shares stays
            // owned by `attributes`, which is neither dropped nor changed
            // while the copy is lent.
            let attributes_copy = ManuallyDrop::new(unsafe { std::ptr::read(&attributes) });
            AsyncResource::dispatch_init(id, trigger, resource_type, location, attributes_copy);
        }
        let flags =
            if options.require_manual_destroy { MANUAL_DESTROY } else { 0 } | if observed { 0 } else { UNOBSERVED };
        AsyncResource {
            resource: ManuallyDrop::new(Resource::new(id, trigger, resource_type, location, attributes)),
            frame: ManuallyDrop::new(frame),
            flags: AtomicU8::new(flags),
        }
    }

    /// Dispatches `init` for a copy of the resource built from its parts:
    /// `init` borrows the copy, which is then forgotten (`attributes` is a
    /// copy of the resource's own, which it still owns).
    ///
    /// Why a copy: taking the resource's own address in
    /// [`create`](Self::create) makes the compiler build every resource on
    /// the stack and copy it out, hooks or not; and handing the built
    /// resource to an out-of-line call to be returned copies it with wide
    /// loads of narrow stores, a stall. Scalars in registers cost neither.
    #[inline(never)]
    fn dispatch_init(
        id: AsyncId,
        trigger: AsyncId,
        resource_type: &'static str,
        location: &'static Location<'static>,
        attributes: ManuallyDrop<Option<AttributeSet>>,
    ) {
        let copy = ManuallyDrop::new(Resource::new(
            id,
            trigger,
            resource_type,
            location,
            ManuallyDrop::into_inner(attributes),
        ));
        dispatch::dispatch_init(&copy);
    }

    /// The resource's id.
    #[inline]
    pub fn async_id(&self) -> AsyncId {
        self.resource.id()
    }

    /// The id of the resource that caused this one.
    #[inline]
    pub fn trigger_async_id(&self) -> AsyncId {
        self.resource.trigger_async_id()
    }

    /// What hooks see of this resource.
    #[inline]
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// The context frame captured at creation, entered by every scope.
    #[inline]
    pub fn frame(&self) -> &ContextFrame {
        &self.frame
    }

    /// Whether `destroy` was dispatched (by [`emit_destroy`](Self::emit_destroy)
    /// or because the wrapped operation finished).
    #[inline]
    pub fn is_destroyed(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & DESTROYED != 0
    }

    /// Runs `f` as this resource: pushes it on the execution stack, enters
    /// its captured context, dispatches `before`, calls `f`, dispatches
    /// `after`, restores the context and pops, also if `f` panics.
    ///
    /// After [`emit_destroy`](Self::emit_destroy), `f` still runs in the
    /// resource's scope, but no more events are dispatched for it.
    #[inline]
    pub fn run_in_async_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        self.in_scope(f)
    }

    /// Runs `f` in a scope of this resource on this thread.
    ///
    /// The guard lives in this frame and is never returned: moving it (a
    /// returned guard is copied into the caller) made the compiler copy
    /// the saved state with mixed-width moves that stall store forwarding.
    #[inline(always)]
    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let dispatches = self.dispatches_events();
        let mut guard = ScopeGuard {
            resource: self,
            saved: stack::SavedState::detached(),
            dispatch_after: dispatches,
            _not_send: PhantomData,
        };
        // SAFETY: the guard borrows `self` for its whole life and passes the
        // saved state to `stack::exit` at the end of this function, or in its
        // `Drop` when `f` panics; it is never exposed, so it cannot be
        // forgotten.
        unsafe { self.enter_into(&mut guard.saved, dispatches) };
        let result = f();
        // The normal exit, inline; the guard's `Drop` (an out-of-line call)
        // is left for unwinding.
        guard.exit();
        std::mem::forget(guard);
        result
    }

    /// Opens a scope of this resource, writing what to restore into
    /// `saved` in place, and dispatches `before` if `dispatches`.
    ///
    /// # Safety
    ///
    /// `saved` must be passed to [`leave`](Self::leave) on this thread,
    /// with `self` alive and in place and every scope opened later closed.
    #[inline(always)]
    unsafe fn enter_into(&self, saved: &mut stack::SavedState, dispatches: bool) {
        // SAFETY: the caller's guarantee is what `stack::enter_into` needs.
        crate::thread_state::THREAD_STATE
            .with(|state| unsafe { stack::enter_into(state, &self.resource, &self.frame, saved) });
        if dispatches {
            dispatch::dispatch(HookEvent::Before, self.async_id());
        }
    }

    /// Closes the scope `saved` was filled for by
    /// [`enter_into`](Self::enter_into): `after` (if `dispatch_after`),
    /// then restore.
    #[inline(always)]
    fn leave(&self, saved: &mut stack::SavedState, dispatch_after: bool) {
        stack::exit(self.async_id(), dispatch_after, saved, &self.frame);
    }

    #[inline]
    fn dispatches_events(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & (DESTROYED | UNOBSERVED) == 0
    }

    /// Embedder API: opens a scope of this resource without a guard, for
    /// runtimes whose "before" and "after" are separate callbacks. Must be
    /// matched by [`emit_after`](Self::emit_after) on the same thread, in
    /// stack order; a mismatch is reported as stack corruption.
    pub fn emit_before(&self) {
        // The scope may outlive any borrow of `self`: it owns a copy.
        stack::emit_embedder_before(Resource::clone(&self.resource), Some(&self.frame), self.dispatches_events());
    }

    /// Embedder API: closes the scope opened by [`emit_before`](Self::emit_before).
    pub fn emit_after(&self) {
        stack::emit_embedder_after(self.async_id(), self.dispatches_events(), Some(&self.frame));
    }

    /// Embedder API, unchecked: opens a scope of this resource and
    /// dispatches `before`, like [`emit_before`](Self::emit_before), but
    /// with the cost of a guarded scope (nothing copied, the frame lent, no
    /// thread-local list). For runtimes whose "before" and "after" are
    /// separate callbacks and that keep the resource alive in between.
    ///
    /// # Safety
    ///
    /// Until the returned scope is passed to
    /// [`exit_unguarded`](Self::exit_unguarded), on this thread:
    /// - `self` stays alive and in place (for example, inside an `Arc` the
    ///   caller holds);
    /// - every scope opened after this one on this thread is closed before
    ///   it (scopes nest).
    ///
    /// The scope must be passed to `exit_unguarded`: dropping or forgetting
    /// it leaves this resource current after it may be gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_core::{AsyncId, AsyncResource, execution_async_id};
    ///
    /// let resource = AsyncResource::new("Task");
    /// // SAFETY: `resource` outlives the scope, which is closed below, with
    /// // nothing opened in between.
    /// let scope = unsafe { resource.enter_unguarded() };
    /// assert_eq!(execution_async_id(), resource.async_id());
    /// // SAFETY: the scope `enter_unguarded` returned, on this thread.
    /// unsafe { resource.exit_unguarded(scope) };
    /// assert_eq!(execution_async_id(), AsyncId::ROOT);
    /// ```
    #[inline]
    pub unsafe fn enter_unguarded(&self) -> UnguardedScope {
        let dispatches = self.dispatches_events();
        let mut scope =
            UnguardedScope { saved: stack::SavedState::detached(), dispatch_after: dispatches, _not_send: PhantomData };
        // SAFETY: the caller keeps `self` alive and in place until the scope
        // is exited, on this thread and in stack order (this function's
        // contract), which is what `enter_into` requires.
        unsafe { self.enter_into(&mut scope.saved, dispatches) };
        scope
    }

    /// Closes a scope opened by [`enter_unguarded`](Self::enter_unguarded):
    /// dispatches `after` and restores what was current before it.
    ///
    /// Embedder scopes ([`emit_before`](Self::emit_before)) left open
    /// inside it are reported as stack corruption and closed, as when a
    /// guarded scope ends.
    ///
    /// # Safety
    ///
    /// `scope` was returned by `self.enter_unguarded()` on this thread, and
    /// that call's conditions held until now.
    #[inline]
    pub unsafe fn exit_unguarded(&self, scope: UnguardedScope) {
        let mut scope = scope;
        self.leave(&mut scope.saved, scope.dispatch_after);
    }

    /// Dispatches `promise_resolve`: the operation produced its result.
    #[inline]
    pub fn emit_promise_resolve(&self) {
        if self.dispatches_events() {
            dispatch::dispatch(HookEvent::PromiseResolve, self.async_id());
        }
    }

    /// Tells hooks new facts about this resource (the `record` event).
    #[inline]
    pub fn record(&self, attributes: &[Attribute]) {
        if self.dispatches_events() {
            dispatch::dispatch_record(self.async_id(), attributes);
        }
    }

    /// Dispatches `destroy`. No event follows it.
    ///
    /// # Errors
    ///
    /// [`DestroyError::AlreadyDestroyed`] if `destroy` was dispatched before;
    /// nothing is dispatched then.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_core::{AsyncResource, DestroyError};
    ///
    /// let resource = AsyncResource::new("Once");
    /// assert!(resource.emit_destroy().is_ok());
    /// assert_eq!(resource.emit_destroy(), Err(DestroyError::AlreadyDestroyed { id: resource.async_id() }));
    /// ```
    pub fn emit_destroy(&self) -> Result<(), DestroyError> {
        if self.flags.fetch_or(DESTROYED, Ordering::AcqRel) & DESTROYED != 0 {
            return Err(DestroyError::AlreadyDestroyed { id: self.async_id() });
        }
        if self.flags.load(Ordering::Relaxed) & UNOBSERVED == 0 {
            dispatch::dispatch(HookEvent::Destroy, self.async_id());
        }
        Ok(())
    }

    /// Binds `f` to this resource: calling the result runs `f` in its scope,
    /// then drops the resource (dispatching `destroy`).
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_core::{AsyncResource, execution_async_id};
    ///
    /// let resource = AsyncResource::new("Callback");
    /// let id = resource.async_id();
    /// let callback = resource.bind(execution_async_id);
    /// assert_eq!(callback(), id);
    /// ```
    pub fn bind<R>(self, f: impl FnOnce() -> R) -> impl FnOnce() -> R {
        move || self.run_in_async_scope(f)
    }

    /// Binds `f` to a new resource of `resource_type` created now, as Node's
    /// static `AsyncResource.bind`.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_core::{AsyncResource, execution_async_id, trigger_async_id};
    ///
    /// let callback = AsyncResource::bind_fn(|| (execution_async_id(), trigger_async_id()), "Callback");
    /// let (id, trigger) = callback();
    /// assert_ne!(id, execution_async_id());
    /// assert_eq!(trigger, execution_async_id());
    /// ```
    #[track_caller]
    pub fn bind_fn<R>(f: impl FnOnce() -> R, resource_type: &'static str) -> impl FnOnce() -> R {
        AsyncResource::new(resource_type).bind(f)
    }
}

impl Drop for AsyncResource {
    /// Dispatches `destroy` (unless it was dispatched, manual, or the
    /// resource is unobserved) and releases the attributes and the frame.
    ///
    /// Inline, it tests whether there is anything to do, and gives a frame
    /// that is the thread's current one back to the slot; dispatching and
    /// releasing are out of line, so a resource with neither hooks,
    /// attributes nor context of its own costs no call.
    #[inline]
    fn drop(&mut self) {
        if *self.flags.get_mut() == 0 {
            // With no hook set wanting `destroy`, one load and a branch.
            dispatch::dispatch(HookEvent::Destroy, self.async_id());
        }
        // A frame given back to the slot is the slot's count now: nothing
        // to release.
        if self.resource.has_attributes() || (!self.frame.is_empty() && !frame::give_back_to_slot(&self.frame)) {
            self.release_fields();
        }
    }
}

impl AsyncResource {
    #[inline(never)]
    fn release_fields(&mut self) {
        // SAFETY: called once, from `drop`; the fields are not used after.
        unsafe {
            ManuallyDrop::drop(&mut self.frame);
            ManuallyDrop::drop(&mut self.resource);
        }
    }
}

impl fmt::Debug for AsyncResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResource")
            .field("resource", &*self.resource)
            .field("destroyed", &self.is_destroyed())
            .field("require_manual_destroy", &(self.flags.load(Ordering::Relaxed) & MANUAL_DESTROY != 0))
            .finish()
    }
}

/// A scope opened by [`AsyncResource::enter_unguarded`], to be passed to
/// [`AsyncResource::exit_unguarded`] on the same thread. It holds what to
/// restore (the previous execution id, resource and frame).
#[must_use = "an unguarded scope must be passed to `AsyncResource::exit_unguarded`"]
pub struct UnguardedScope {
    saved: stack::SavedState,
    dispatch_after: bool,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for UnguardedScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnguardedScope").field("dispatch_after", &self.dispatch_after).finish_non_exhaustive()
    }
}

/// Closes a resource scope: `after`, restore the frame, pop.
pub(crate) struct ScopeGuard<'a> {
    resource: &'a AsyncResource,
    /// Detached until `enter_into` fills it; stays so only if entering
    /// never happened (under loom, whose thread-locals can panic when gone),
    /// and then there is nothing to restore.
    saved: stack::SavedState,
    dispatch_after: bool,
    _not_send: PhantomData<*const ()>,
}

impl ScopeGuard<'_> {
    /// Leaves the scope. Called once: by `in_scope`, which then forgets the
    /// guard, or by `Drop` when `f` unwinds.
    #[inline(always)]
    fn exit(&mut self) {
        self.resource.leave(&mut self.saved, self.dispatch_after);
    }
}

impl Drop for ScopeGuard<'_> {
    fn drop(&mut self) {
        self.exit();
    }
}

/// Builds an [`AsyncResource`] with attributes or a given creation site.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build`"]
pub struct AsyncResourceBuilder {
    resource_type: &'static str,
    options: AsyncResourceOptions,
    attributes: Vec<Attribute>,
    shared_attributes: Option<AttributeSet>,
    location: &'static Location<'static>,
}

impl AsyncResourceBuilder {
    /// Sets the trigger id (default: the current execution id).
    #[inline]
    pub fn trigger_async_id(mut self, trigger: AsyncId) -> Self {
        self.options.trigger_async_id = Some(trigger);
        self
    }

    /// Only [`AsyncResource::emit_destroy`] dispatches `destroy`.
    #[inline]
    pub fn require_manual_destroy(mut self, require: bool) -> Self {
        self.options.require_manual_destroy = require;
        self
    }

    /// Adds an attribute hooks can read from [`Resource::attributes`].
    pub fn attribute(mut self, key: &'static str, value: impl Into<crate::AttributeValue>) -> Self {
        self.attributes.push(Attribute::new(key, value));
        self
    }

    /// Attaches a shared [`AttributeSet`] (one reference-count increment;
    /// no allocation). Attributes added with [`attribute`](Self::attribute)
    /// come after the set's.
    #[inline]
    pub fn attribute_set(mut self, set: AttributeSet) -> Self {
        self.shared_attributes = Some(set);
        self
    }

    /// Sets the creation site hooks see, for wrappers that are themselves
    /// `#[track_caller]`.
    #[inline]
    pub fn location(mut self, location: &'static Location<'static>) -> Self {
        self.location = location;
        self
    }

    /// Creates the resource (dispatching `init`).
    #[inline]
    pub fn build(self) -> AsyncResource {
        let attributes = match (self.shared_attributes, self.attributes.is_empty()) {
            (shared, true) => shared.filter(|set| !set.is_empty()),
            (None, false) => Some(AttributeSet::new(self.attributes)),
            (Some(shared), false) => Some(AttributeSet::new(shared.as_slice().iter().cloned().chain(self.attributes))),
        };
        AsyncResource::create(self.resource_type, self.options, attributes, self.location)
    }
}

/// The error of [`AsyncResource::emit_destroy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestroyError {
    /// `destroy` was already dispatched for this resource.
    AlreadyDestroyed {
        /// The resource's id.
        id: AsyncId,
    },
}

impl fmt::Display for DestroyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DestroyError::AlreadyDestroyed { id } => write!(f, "async resource {id} was already destroyed"),
        }
    }
}

impl std::error::Error for DestroyError {}

#[cfg(all(test, not(async_hooks_loom)))]
mod tests {
    use super::*;

    /// Dropping a resource releases its attribute set, on the path where
    /// there is nothing else to do (no `destroy` owed, an empty frame) as
    /// on the others.
    #[test]
    fn dropping_a_resource_releases_its_attribute_set() {
        let set = AttributeSet::new([Attribute::new("pool.name", "images")]);
        let plain = AsyncResource::builder("Job").attribute_set(set.clone()).build();
        let manual = AsyncResource::builder("Job").attribute_set(set.clone()).require_manual_destroy(true).build();
        let destroyed = AsyncResource::builder("Job").attribute_set(set.clone()).build();
        destroyed.emit_destroy().unwrap();
        assert!(plain.frame().is_empty());
        assert_eq!(set.handles(), 4);
        drop(plain);
        assert_eq!(set.handles(), 3);
        drop(manual);
        assert_eq!(set.handles(), 2);
        drop(destroyed);
        assert_eq!(set.handles(), 1);
    }
}
