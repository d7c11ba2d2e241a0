//! Futures as async resources: [`FutureExt::in_async_resource`].

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::AsyncResource;

/// Extension methods that make a future an async resource.
pub trait FutureExt: Future + Sized {
    /// Wraps `self` in a resource of `resource_type` created *now*, so it
    /// captures the current execution id (its trigger) and context.
    ///
    /// Every poll runs in the resource's scope (`before`/`after` per poll,
    /// with its creation-time context current). When the future returns
    /// `Ready`, `promise_resolve` and then `destroy` are dispatched; if it is
    /// dropped before that, `destroy` is dispatched at the drop. Polling
    /// allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use async_hooks_core::{execution_async_id, AsyncId, FutureExt};
    ///
    /// let future = async { execution_async_id() }.in_async_resource("Job");
    /// let mut future = pin!(future);
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let Poll::Ready(id) = future.as_mut().poll(&mut cx) else { unreachable!() };
    /// assert_ne!(id, AsyncId::ROOT);
    /// ```
    #[track_caller]
    fn in_async_resource(self, resource_type: &'static str) -> InAsyncResource<Self> {
        let resource = AsyncResource::builder(resource_type).location(Location::caller()).build();
        InAsyncResource::new(self, resource)
    }
}

impl<F: Future> FutureExt for F {}

/// A future running inside an [`AsyncResource`]; see
/// [`FutureExt::in_async_resource`].
#[must_use = "futures do nothing unless polled"]
pub struct InAsyncResource<F> {
    future: F,
    resource: AsyncResource,
}

impl<F: Future> InAsyncResource<F> {
    /// Runs `future` inside `resource`, which it then owns.
    pub fn new(future: F, resource: AsyncResource) -> InAsyncResource<F> {
        InAsyncResource { future, resource }
    }

    /// The resource the future runs in.
    pub fn resource(&self) -> &AsyncResource {
        &self.resource
    }
}

impl<F: Future> Future for InAsyncResource<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of
        // `self`, `InAsyncResource` has no `Unpin` impl that would allow it
        // (the auto impl requires `F: Unpin`), and its `Drop` (the
        // resource's) never touches `future`. `resource` is not pinned and
        // only used through `&`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this.future` stays in place.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if this.resource.is_destroyed() {
            // Polled after completion: whatever the inner future does, it
            // does outside the (finished) resource.
            return future.poll(cx);
        }
        let resource = &this.resource;
        let poll = resource.in_scope(|| {
            let poll = future.poll(cx);
            if poll.is_ready() {
                resource.emit_promise_resolve();
            }
            poll
        });
        if poll.is_ready() {
            // The only way to be here is the first completion, so this
            // cannot fail.
            let _ = this.resource.emit_destroy();
        }
        poll
    }
}

impl<F> fmt::Debug for InAsyncResource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InAsyncResource").field("resource", &self.resource).finish_non_exhaustive()
    }
}
