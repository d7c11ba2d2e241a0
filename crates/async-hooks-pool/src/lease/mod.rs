//! The resource-pool model: "other resource pools, such as database
//! connection pools, can follow a similar model" (Node's docs), done.
//!
//! A [`ResourcePool`] lends out pooled resources (connections, clients,
//! buffers). Each checkout ([`ResourcePool::get`]) is an async resource of
//! type [`ResourcePoolLease`](crate::attributes::LEASE_RESOURCE_TYPE) with
//! the worker pool's guarantees:
//!
//! - `init` at the `get` call, in the caller's execution (trigger = the
//!   caller) — the wait for a free resource is part of the lease's life;
//! - [`Lease::run`] runs code against the resource in the lease's scope
//!   (`before`/`after`), in the context of the checkout, wherever the lease
//!   has moved since;
//! - `destroy` last, at checkin (dropping the lease), also for a checkout
//!   that failed (timeout, closed pool, failed create).
//!
//! Subscribers read [`POOL_NAME`](crate::attributes::POOL_NAME) at `init`;
//! [`POOL_RESOURCE`](crate::attributes::POOL_RESOURCE) and
//! [`POOL_QUEUE_WAIT_US`](crate::attributes::POOL_QUEUE_WAIT_US) when the
//! checkout succeeds; [`POOL_USE_US`](crate::attributes::POOL_USE_US) and
//! [`POOL_OUTCOME`](crate::attributes::POOL_OUTCOME) at checkin.
//!
//! See `examples/db_pool.rs` for SQLite connections.

mod error;
mod guard;
mod resource_pool;

pub use error::LeaseError;
pub use guard::Lease;
pub use resource_pool::{ResourcePool, ResourcePoolBuilder, ResourcePoolState};
