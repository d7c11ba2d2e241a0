//! [`Lease`]: a checked-out resource, and an async resource itself.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Instant;

use async_hooks_core::{AsyncId, AsyncResource, Attribute};

use super::resource_pool::{LeaseShared, Pooled};
use crate::attributes::{POOL_OUTCOME, POOL_USE_US, micros};

/// A resource checked out of a [`ResourcePool`](crate::ResourcePool); it
/// goes back when the lease is dropped.
///
/// The lease is an async resource created at checkout: [`run`](Self::run)
/// uses the pooled resource inside its scope, so code there sees the
/// context of the checkout (its `AsyncLocalStorage` values) and subscribers
/// see it as the lease's work, wherever the lease has moved. `Deref` gives
/// plain access without a scope.
pub struct Lease<C, E> {
    resource: AsyncResource,
    pooled: Option<Pooled<C>>,
    pool: Arc<LeaseShared<C, E>>,
    checked_out: Instant,
}

impl<C, E> Lease<C, E> {
    pub(crate) fn new(resource: AsyncResource, pooled: Pooled<C>, pool: Arc<LeaseShared<C, E>>) -> Lease<C, E> {
        Lease { resource, pooled: Some(pooled), pool, checked_out: Instant::now() }
    }

    fn pooled(&self) -> &Pooled<C> {
        self.pooled.as_ref().expect("a lease holds its resource until it is dropped (bug in async-hooks-pool)")
    }

    fn pooled_mut(&mut self) -> &mut Pooled<C> {
        self.pooled.as_mut().expect("a lease holds its resource until it is dropped (bug in async-hooks-pool)")
    }

    /// Runs `f` with the pooled resource, in the lease's scope.
    pub fn run<Out>(&mut self, f: impl FnOnce(&mut C) -> Out) -> Out {
        let Lease { resource, pooled, .. } = self;
        let pooled = pooled.as_mut().expect("a lease holds its resource until it is dropped (bug in async-hooks-pool)");
        resource.run_in_async_scope(|| f(&mut pooled.value))
    }

    /// The async id of the lease.
    pub fn async_id(&self) -> AsyncId {
        self.resource.async_id()
    }

    /// The lease's async resource.
    pub fn async_resource(&self) -> &AsyncResource {
        &self.resource
    }

    /// The number of the pooled resource (its
    /// [`POOL_RESOURCE`](crate::attributes::POOL_RESOURCE)).
    pub fn resource_number(&self) -> u64 {
        self.pooled().number
    }

    /// Ends the lease without returning the resource (it is broken): it is
    /// dropped and the pool may create a new one.
    pub fn discard(mut self) {
        let pooled = self.pooled.take();
        drop(pooled);
    }
}

impl<C, E> Deref for Lease<C, E> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.pooled().value
    }
}

impl<C, E> DerefMut for Lease<C, E> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.pooled_mut().value
    }
}

impl<C, E> Drop for Lease<C, E> {
    fn drop(&mut self) {
        let used = self.checked_out.elapsed();
        let pooled = self.pooled.take();
        let offered = pooled.is_some();
        let returned = self.pool.check_in(pooled);
        let outcome = match (offered, returned) {
            (true, true) => "returned",
            (true, false) => "closed",
            (false, _) => "discarded",
        };
        self.resource.record(&[Attribute::new(POOL_USE_US, micros(used)), Attribute::new(POOL_OUTCOME, outcome)]);
        // The lease's last event; dropping the resource afterwards is a no-op.
        let _ = self.resource.emit_destroy();
    }
}

impl<C, E> fmt::Debug for Lease<C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("async_id", &self.async_id())
            .field("resource_number", &self.pooled.as_ref().map(|pooled| pooled.number))
            .finish_non_exhaustive()
    }
}
