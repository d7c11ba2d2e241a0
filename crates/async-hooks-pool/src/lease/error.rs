//! [`LeaseError`]: why a checkout failed.

use std::fmt;

/// Why [`ResourcePool::get`](crate::ResourcePool::get) returned no lease.
///
/// # Examples
///
/// ```
/// use async_hooks_pool::{LeaseError, ResourcePool};
///
/// let pool = ResourcePool::builder(|| Err::<(), _>("no database")).build();
/// let error = pool.get().unwrap_err();
/// assert_eq!(error, LeaseError::Create("no database"));
/// assert_eq!(error.to_string(), "failed to create a pooled resource: no database");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseError<E> {
    /// No resource became free within the checkout timeout.
    TimedOut,
    /// The pool is closed.
    Closed,
    /// Creating a new resource failed with this error.
    Create(E),
}

impl<E: fmt::Display> fmt::Display for LeaseError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseError::TimedOut => f.write_str("timed out waiting for a pooled resource"),
            LeaseError::Closed => f.write_str("the resource pool is closed"),
            LeaseError::Create(error) => write!(f, "failed to create a pooled resource: {error}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for LeaseError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LeaseError::Create(error) => Some(error),
            LeaseError::TimedOut | LeaseError::Closed => None,
        }
    }
}
