//! [`AsyncLocalStorage`]: one store of values that follow execution.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use async_hooks_core::{ContextFrame, LookupHint, StoreKey};

/// A value in a frame, tagged with the store's epoch at the time it was set:
/// [`AsyncLocalStorage::disable`] bumps the epoch, which hides every older
/// value at once, wherever frames holding it are.
struct StoreValue<T> {
    epoch: u64,
    value: T,
}

/// Storage whose value follows the logical flow of execution: through
/// [`AsyncResource`](async_hooks_core::AsyncResource) scopes, futures wrapped
/// with `in_async_resource`, [`thread::spawn`](async_hooks_core::thread::spawn),
/// pool tasks and spawned tokio tasks. Node's `AsyncLocalStorage`; "a
/// thread-local for async code".
///
/// The value is set for the duration of a closure ([`run`](Self::run)), a
/// future ([`scope`](Self::scope)), or the rest of the current scope
/// ([`enter_with`](Self::enter_with)), and read with [`with`](Self::with)
/// (by reference) or [`get`](Self::get) (a clone).
///
/// Storages are independent: each has its own key in the context frame, and
/// propagating context costs the same however many storages exist.
///
/// # Examples
///
/// ```
/// use async_hooks_context::AsyncLocalStorage;
/// use async_hooks_core::thread;
///
/// static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
///
/// REQUEST_ID.run(7, || {
///     assert_eq!(REQUEST_ID.get(), Some(7));
///     // The value follows into threads spawned through async-hooks.
///     let seen = thread::spawn(|| REQUEST_ID.get()).join().unwrap();
///     assert_eq!(seen, Some(7));
/// });
/// assert_eq!(REQUEST_ID.get(), None);
/// ```
pub struct AsyncLocalStorage<T> {
    /// The frame key, allocated on first use (0 until then) so that `new`
    /// can be `const`.
    key: AtomicU64,
    epoch: AtomicU64,
    /// Where this storage's value sat in the last frame with several values.
    hint: LookupHint,
    _value: PhantomData<fn() -> T>,
}

impl<T: Send + Sync + 'static> AsyncLocalStorage<T> {
    /// A storage with no value anywhere; usable in a `static`.
    pub const fn new() -> AsyncLocalStorage<T> {
        AsyncLocalStorage {
            key: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            hint: LookupHint::new(),
            _value: PhantomData,
        }
    }

    /// This storage's key in context frames.
    #[inline(always)]
    pub fn key(&self) -> StoreKey {
        match StoreKey::from_u64(self.key.load(Ordering::Relaxed)) {
            Some(key) => key,
            None => self.allocate_key(),
        }
    }

    #[cold]
    fn allocate_key(&self) -> StoreKey {
        let fresh = StoreKey::allocate();
        match self.key.compare_exchange(0, fresh.as_u64(), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => fresh,
            // Another thread won the race: use its key.
            Err(existing) => StoreKey::from_u64(existing).expect("a stored key is never 0"),
        }
    }

    fn tagged(&self, store: T) -> StoreValue<T> {
        StoreValue { epoch: self.epoch.load(Ordering::Relaxed), value: store }
    }

    /// The current frame with `store` set for this storage.
    fn frame_with(&self, store: T) -> ContextFrame {
        let key = self.key();
        let value = self.tagged(store);
        ContextFrame::with_current(|current| current.with_value(key, value))
    }

    /// Runs `f` with `store` as this storage's value, then restores the
    /// previous value, also if `f` panics. Resources created inside `f`
    /// keep `store`.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_context::AsyncLocalStorage;
    ///
    /// let storage = AsyncLocalStorage::new();
    /// storage.run("outer", || {
    ///     storage.run("inner", || assert_eq!(storage.get(), Some("inner")));
    ///     assert_eq!(storage.get(), Some("outer"));
    /// });
    /// ```
    #[inline]
    pub fn run<R>(&self, store: T, f: impl FnOnce() -> R) -> R {
        let _entered = ContextFrame::enter_with_value(self.key(), self.tagged(store));
        f()
    }

    /// Runs `f` with no value for this storage (other storages are
    /// untouched), then restores it. Resources created inside `f` have none.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_context::AsyncLocalStorage;
    ///
    /// let storage = AsyncLocalStorage::new();
    /// storage.run(1, || {
    ///     storage.exit(|| assert_eq!(storage.get(), None));
    ///     assert_eq!(storage.get(), Some(1));
    /// });
    /// ```
    pub fn exit<R>(&self, f: impl FnOnce() -> R) -> R {
        let key = self.key();
        let _entered = ContextFrame::with_current(|current| current.without(key)).enter_owned();
        f()
    }

    /// Sets `store` for the rest of the current scope: until the enclosing
    /// resource scope (or `run`, or `scope` poll) ends. Resources created
    /// after the call keep it. At the top level of a thread it lasts on that
    /// thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_context::AsyncLocalStorage;
    /// use async_hooks_core::AsyncResource;
    ///
    /// let storage = AsyncLocalStorage::new();
    /// let resource = AsyncResource::new("Request");
    /// resource.run_in_async_scope(|| {
    ///     storage.enter_with(5);
    ///     assert_eq!(storage.get(), Some(5));
    /// });
    /// assert_eq!(storage.get(), None, "it ended with the scope");
    /// ```
    pub fn enter_with(&self, store: T) {
        ContextFrame::set_current(self.frame_with(store));
    }

    /// Calls `f` with a reference to the current value, without cloning it
    /// or touching a reference count.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_context::AsyncLocalStorage;
    ///
    /// let storage = AsyncLocalStorage::new();
    /// let length = storage.run(String::from("request-17"), || storage.with(|id| id.map(String::len)));
    /// assert_eq!(length, Some(10));
    /// ```
    #[inline(always)]
    pub fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let key = self.key();
        let epoch = self.epoch.load(Ordering::Relaxed);
        ContextFrame::with_current(
            #[inline(always)]
            |frame| {
                let value = frame
                    .get_as_hinted::<StoreValue<T>>(key, &self.hint)
                    .filter(|value| value.epoch == epoch)
                    .map(|value| &value.value);
                f(value)
            },
        )
    }

    /// A clone of the current value.
    #[inline(always)]
    pub fn get(&self) -> Option<T>
    where
        T: Clone,
    {
        self.with(|value| value.cloned())
    }

    /// Hides every value of this storage — in the current frame and in
    /// every frame captured earlier, such as resources already created —
    /// until the next [`run`](Self::run) or [`enter_with`](Self::enter_with).
    /// The current frame's value is released at once; values captured by
    /// live resources are released when those resources are.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_context::AsyncLocalStorage;
    /// use async_hooks_core::AsyncResource;
    ///
    /// let storage = AsyncLocalStorage::new();
    /// let earlier = storage.run(1, || AsyncResource::new("Continuation"));
    /// storage.disable();
    /// assert_eq!(earlier.run_in_async_scope(|| storage.get()), None);
    /// assert_eq!(storage.run(2, || storage.get()), Some(2));
    /// ```
    pub fn disable(&self) {
        self.epoch.fetch_add(1, Ordering::Relaxed);
        let key = self.key();
        let without =
            ContextFrame::with_current(
                |current| {
                    if current.get(key).is_some() { Some(current.without(key)) } else { None }
                },
            );
        if let Some(frame) = without {
            ContextFrame::set_current(frame);
        }
    }

    /// Runs `future` with `store` as this storage's value: every poll, and
    /// every resource created during a poll, sees it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use async_hooks_context::AsyncLocalStorage;
    ///
    /// static USER: AsyncLocalStorage<&'static str> = AsyncLocalStorage::new();
    ///
    /// let future = USER.scope("ada", async { USER.get() });
    /// let mut future = pin!(future);
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(Some("ada")));
    /// ```
    pub fn scope<F: Future>(&self, store: T, future: F) -> Scoped<F> {
        Scoped { frame: self.frame_with(store), future }
    }
}

impl<T: Send + Sync + 'static> Default for AsyncLocalStorage<T> {
    fn default() -> Self {
        AsyncLocalStorage::new()
    }
}

impl<T> fmt::Debug for AsyncLocalStorage<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncLocalStorage")
            .field("type", &std::any::type_name::<T>())
            .field("key", &self.key.load(Ordering::Relaxed))
            .finish()
    }
}

/// A future that polls inside a context frame; see
/// [`AsyncLocalStorage::scope`].
#[must_use = "futures do nothing unless polled"]
pub struct Scoped<F> {
    frame: ContextFrame,
    future: F,
}

impl<F> Scoped<F> {
    /// Polls `future` inside `frame`.
    pub fn new(frame: ContextFrame, future: F) -> Scoped<F> {
        Scoped { frame, future }
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of
        // `self`, `Scoped` is `Unpin` only if `F` is (auto impl), and it has
        // no `Drop` impl. `frame` is not pinned and only read.
        let this = unsafe { self.get_unchecked_mut() };
        let (frame, future) = (&this.frame, &mut this.future);
        // SAFETY: see above.
        frame.run(|| unsafe { Pin::new_unchecked(future) }.poll(cx))
    }
}

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped").field("frame", &self.frame).finish_non_exhaustive()
    }
}
