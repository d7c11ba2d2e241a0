//! [`ResourcePool`]: lends out pooled resources as [`Lease`]s.

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use async_hooks_core::{AsyncResource, Attribute, AttributeValue};

use super::{Lease, LeaseError};
use crate::attributes::{LEASE_RESOURCE_TYPE, POOL_NAME, POOL_OUTCOME, POOL_QUEUE_WAIT_US, POOL_RESOURCE, micros};
use crate::sync::lock;

type CreateFn<C, E> = Box<dyn Fn() -> Result<C, E> + Send + Sync>;

/// One pooled resource and its number.
pub(crate) struct Pooled<C> {
    pub(crate) number: u64,
    pub(crate) value: C,
}

struct PoolSlots<C> {
    idle: Vec<Pooled<C>>,
    /// Resources that exist: idle, leased, or being created.
    live: usize,
    waiting: usize,
    closed: bool,
}

pub(crate) struct LeaseShared<C, E> {
    name: AttributeValue,
    create: CreateFn<C, E>,
    max_size: usize,
    checkout_timeout: Option<Duration>,
    slots: Mutex<PoolSlots<C>>,
    available: Condvar,
    next_number: AtomicU64,
}

impl<C, E> LeaseShared<C, E> {
    /// Takes a resource back from a lease (or forgets it, if discarded or
    /// the pool closed) and wakes one waiter.
    pub(crate) fn check_in(&self, pooled: Option<Pooled<C>>) -> bool {
        let mut slots = lock(&self.slots);
        let returned = match pooled {
            Some(pooled) if !slots.closed => {
                slots.idle.push(pooled);
                true
            }
            _ => {
                slots.live -= 1;
                false
            }
        };
        drop(slots);
        self.available.notify_one();
        returned
    }
}

/// A pool of resources (connections, clients) lent out as [`Lease`]s, each
/// an async resource. Clones share the pool.
///
/// Resources are created on demand by the `create` function, up to
/// `max_size`, and reused most-recently-returned first. A checkout with no
/// free resource waits (up to the checkout timeout, if set).
///
/// # Examples
///
/// ```
/// use async_hooks_context::AsyncLocalStorage;
/// use async_hooks_pool::ResourcePool;
///
/// static USER: AsyncLocalStorage<&'static str> = AsyncLocalStorage::new();
///
/// let pool = ResourcePool::builder(|| Ok::<_, std::convert::Infallible>(Vec::<String>::new()))
///     .name("buffers")
///     .max_size(2)
///     .build();
/// let mut lease = USER.run("ada", || pool.get()).unwrap();
/// // On another thread, later: the lease still runs in ada's context.
/// std::thread::spawn(move || {
///     lease.run(|buffer| buffer.push(format!("written for {}", USER.get().unwrap())));
///     assert_eq!(lease[0], "written for ada");
/// })
/// .join()
/// .unwrap();
/// assert_eq!(pool.state().idle, 1, "the buffer went back to the pool");
/// ```
pub struct ResourcePool<C, E> {
    shared: Arc<LeaseShared<C, E>>,
}

impl<C, E> Clone for ResourcePool<C, E> {
    fn clone(&self) -> Self {
        ResourcePool { shared: self.shared.clone() }
    }
}

impl ResourcePool<(), ()> {
    /// A builder for a pool whose resources `create` makes.
    pub fn builder<C, E>(create: impl Fn() -> Result<C, E> + Send + Sync + 'static) -> ResourcePoolBuilder<C, E> {
        ResourcePoolBuilder {
            name: Cow::Borrowed("resource-pool"),
            create: Box::new(create),
            max_size: 10,
            checkout_timeout: None,
        }
    }
}

impl<C, E> ResourcePool<C, E> {
    /// Checks a resource out: a free one, a new one if the pool is below
    /// `max_size`, or the next one returned.
    ///
    /// The lease's resource is created now (`init`, in the caller's
    /// execution and context).
    ///
    /// # Errors
    ///
    /// [`LeaseError::TimedOut`] after the checkout timeout,
    /// [`LeaseError::Closed`] if the pool is closed, [`LeaseError::Create`]
    /// if creating a resource failed. The lease's resource is destroyed then,
    /// its [`POOL_OUTCOME`] saying why.
    #[track_caller]
    pub fn get(&self) -> Result<Lease<C, E>, LeaseError<E>> {
        let shared = &*self.shared;
        let resource = AsyncResource::builder(LEASE_RESOURCE_TYPE)
            .attribute(POOL_NAME, shared.name.clone())
            .location(Location::caller())
            .build();
        let requested = Instant::now();
        let deadline = shared.checkout_timeout.and_then(|timeout| requested.checked_add(timeout));
        match self.check_out(deadline) {
            Ok(pooled) => {
                let waited = requested.elapsed();
                resource.record(&[
                    Attribute::new(POOL_RESOURCE, pooled.number),
                    Attribute::new(POOL_QUEUE_WAIT_US, micros(waited)),
                ]);
                Ok(Lease::new(resource, pooled, self.shared.clone()))
            }
            Err(error) => {
                let outcome = match error {
                    LeaseError::TimedOut => "timed_out",
                    LeaseError::Closed => "closed",
                    LeaseError::Create(_) => "create_failed",
                };
                resource.record(&[Attribute::new(POOL_OUTCOME, outcome)]);
                // Dropping `resource` dispatches its `destroy`.
                Err(error)
            }
        }
    }

    fn check_out(&self, deadline: Option<Instant>) -> Result<Pooled<C>, LeaseError<E>> {
        let shared = &*self.shared;
        let mut slots = lock(&shared.slots);
        loop {
            if slots.closed {
                return Err(LeaseError::Closed);
            }
            if let Some(pooled) = slots.idle.pop() {
                return Ok(pooled);
            }
            if slots.live < shared.max_size {
                slots.live += 1;
                drop(slots);
                // Create outside the lock: it may take long (a connect).
                return match (shared.create)() {
                    Ok(value) => Ok(Pooled { number: shared.next_number.fetch_add(1, Ordering::Relaxed), value }),
                    Err(error) => {
                        lock(&shared.slots).live -= 1;
                        shared.available.notify_one();
                        Err(LeaseError::Create(error))
                    }
                };
            }
            slots.waiting += 1;
            slots = match deadline {
                None => shared.available.wait(slots).unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        slots.waiting -= 1;
                        return Err(LeaseError::TimedOut);
                    }
                    shared
                        .available
                        .wait_timeout(slots, deadline - now)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
            slots.waiting -= 1;
        }
    }

    /// Closes the pool: later checkouts fail with [`LeaseError::Closed`],
    /// idle resources are dropped now, leased ones when their lease ends.
    pub fn close(&self) {
        let idle = {
            let mut slots = lock(&self.shared.slots);
            slots.closed = true;
            slots.live -= slots.idle.len();
            std::mem::take(&mut slots.idle)
        };
        self.shared.available.notify_all();
        // Dropped outside the lock: a resource's drop may take long.
        drop(idle);
    }

    /// How many resources exist, are idle, and how many checkouts wait.
    pub fn state(&self) -> ResourcePoolState {
        let slots = lock(&self.shared.slots);
        ResourcePoolState { live: slots.live, idle: slots.idle.len(), waiting: slots.waiting, closed: slots.closed }
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        match &self.shared.name {
            AttributeValue::Str(name) => name,
            _ => "",
        }
    }
}

impl<C, E> fmt::Debug for ResourcePool<C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourcePool")
            .field("name", &self.name())
            .field("max_size", &self.shared.max_size)
            .field("state", &self.state())
            .finish()
    }
}

/// A snapshot of a [`ResourcePool`]'s occupancy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourcePoolState {
    /// Resources that exist (idle, leased, or being created).
    pub live: usize,
    /// Resources waiting in the pool.
    pub idle: usize,
    /// Checkouts waiting for a resource.
    pub waiting: usize,
    /// Whether the pool was closed.
    pub closed: bool,
}

/// Configures a [`ResourcePool`].
#[must_use = "a builder does nothing until `build`"]
pub struct ResourcePoolBuilder<C, E> {
    name: Cow<'static, str>,
    create: CreateFn<C, E>,
    max_size: usize,
    checkout_timeout: Option<Duration>,
}

impl<C, E> ResourcePoolBuilder<C, E> {
    /// The pool's name, the [`POOL_NAME`] of its leases (default
    /// `resource-pool`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The most resources that may exist at once (default 10, at least 1).
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size.max(1);
        self
    }

    /// How long a checkout may wait for a free resource (default: forever).
    pub fn checkout_timeout(mut self, timeout: Duration) -> Self {
        self.checkout_timeout = Some(timeout);
        self
    }

    /// The pool. Resources are created on first demand.
    pub fn build(self) -> ResourcePool<C, E> {
        ResourcePool {
            shared: Arc::new(LeaseShared {
                name: AttributeValue::Str(self.name),
                create: self.create,
                max_size: self.max_size,
                checkout_timeout: self.checkout_timeout,
                slots: Mutex::new(PoolSlots { idle: Vec::new(), live: 0, waiting: 0, closed: false }),
                available: Condvar::new(),
                next_number: AtomicU64::new(0),
            }),
        }
    }
}

impl<C, E> fmt::Debug for ResourcePoolBuilder<C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourcePoolBuilder")
            .field("name", &self.name)
            .field("max_size", &self.max_size)
            .field("checkout_timeout", &self.checkout_timeout)
            .finish_non_exhaustive()
    }
}
