//! [`JoinSetExt`]: the wrapper tier for [`JoinSet`].

use std::future::Future;
use std::panic::Location;

use tokio::runtime::Handle;
use tokio::task::{AbortHandle, JoinSet};

use crate::spawn::{wrap_blocking, wrap_task};

/// Spawning into a [`JoinSet`] with the context and trigger of the spawn
/// site, as [`spawn`](crate::spawn) does for a single task.
///
/// Each task is a [`TASK_RESOURCE_TYPE`](crate::TASK_RESOURCE_TYPE) (or
/// [`BLOCKING_TASK_RESOURCE_TYPE`](crate::BLOCKING_TASK_RESOURCE_TYPE))
/// resource created at the call. Aborting the set, or dropping it, drops the
/// tasks' futures and so destroys their resources.
///
/// # Examples
///
/// ```
/// use async_hooks_context::AsyncLocalStorage;
/// use async_hooks_tokio::JoinSetExt;
/// use tokio::task::JoinSet;
///
/// static SHARD: AsyncLocalStorage<usize> = AsyncLocalStorage::new();
///
/// let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// let mut seen: Vec<_> = runtime.block_on(async {
///     let mut set = JoinSet::new();
///     for shard in 0..4 {
///         SHARD.run(shard, || set.spawn_in_context(async { SHARD.get() }));
///     }
///     set.join_all().await
/// });
/// seen.sort();
/// assert_eq!(seen, [Some(0), Some(1), Some(2), Some(3)]);
/// ```
pub trait JoinSetExt<T> {
    /// Like [`JoinSet::spawn`], with the task in a resource created here.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `JoinSet::spawn` does.
    #[track_caller]
    fn spawn_in_context<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send;

    /// Like [`JoinSet::spawn_on`], with the task in a resource created here.
    #[track_caller]
    fn spawn_on_in_context<F>(&mut self, future: F, handle: &Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send;

    /// Like [`JoinSet::spawn_blocking`], with `f` in a resource created
    /// here.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `JoinSet::spawn_blocking` does.
    #[track_caller]
    fn spawn_blocking_in_context<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send;
}

impl<T: 'static> JoinSetExt<T> for JoinSet<T> {
    #[track_caller]
    fn spawn_in_context<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        self.spawn(wrap_task(future))
    }

    #[track_caller]
    fn spawn_on_in_context<F>(&mut self, future: F, handle: &Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        self.spawn_on(wrap_task(future), handle)
    }

    #[track_caller]
    fn spawn_blocking_in_context<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        self.spawn_blocking(wrap_blocking(f, Location::caller()))
    }
}
