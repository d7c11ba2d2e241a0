//! The wrapper tier: spawn functions that make each task an async resource
//! created at the spawn site.
//!
//! Every function here creates the task's [`AsyncResource`] *before* handing
//! the work to tokio, on the spawning thread, so the resource captures the
//! spawner's execution id (its trigger) and context frame. The work then runs
//! inside that resource: a future polls in its scope (`before`/`after` per
//! poll), a blocking closure runs in one scope. The resource is destroyed
//! when the work ends, whichever way it ends: completion, panic, `abort()`,
//! or runtime shutdown (tokio drops the future or closure, and dropping the
//! resource dispatches `destroy`).
//!
//! These work with or without `--cfg tokio_unstable` and on every runtime
//! flavour, `LocalSet` included (through [`spawn_local`]).

use std::future::Future;
use std::panic::Location;

use async_hooks_core::{AsyncResource, InAsyncResource};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// The resource type of tokio tasks: those spawned through this crate's
/// wrappers, and every task of a runtime with
/// [automatic propagation](crate::install) installed.
pub const TASK_RESOURCE_TYPE: &str = "TokioTask";

/// The resource type of closures run through [`spawn_blocking`] and
/// [`spawn_blocking_on`].
pub const BLOCKING_TASK_RESOURCE_TYPE: &str = "TokioBlockingTask";

/// Wraps `future` in a [`TASK_RESOURCE_TYPE`] resource created here, for
/// spawners this crate has no wrapper for (`JoinSet::spawn_on`,
/// `LocalSet::spawn_local`, `Builder::spawn`, an executor of your own).
///
/// The resource's creation site is the caller of `wrap_task`.
///
/// # Examples
///
/// ```
/// use async_hooks_context::AsyncLocalStorage;
/// use async_hooks_tokio::wrap_task;
///
/// static REQUEST: AsyncLocalStorage<u32> = AsyncLocalStorage::new();
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let local = tokio::task::LocalSet::new();
/// let seen = local.block_on(&runtime, async {
///     let task = REQUEST.run(9, || wrap_task(async { REQUEST.get() }));
///     tokio::task::spawn_local(task).await.unwrap()
/// });
/// assert_eq!(seen, Some(9));
/// ```
#[track_caller]
pub fn wrap_task<F: Future>(future: F) -> InAsyncResource<F> {
    InAsyncResource::new(future, task_resource(TASK_RESOURCE_TYPE, Location::caller()))
}

#[inline]
pub(crate) fn task_resource(resource_type: &'static str, location: &'static Location<'static>) -> AsyncResource {
    AsyncResource::builder(resource_type).location(location).build()
}

/// Spawns `future` on the current runtime, like [`tokio::spawn`], as a
/// [`TASK_RESOURCE_TYPE`] resource created here: the task's trigger is the
/// caller's execution id and every poll sees the caller's context.
///
/// `init` is dispatched here, `before`/`after` around each poll,
/// `promise_resolve` and `destroy` when the future completes; if it panics,
/// is aborted or is dropped at runtime shutdown, `destroy` is dispatched
/// when tokio drops it.
///
/// # Panics
///
/// Outside a tokio runtime, as [`tokio::spawn`] does. The resource created
/// for the task is destroyed then.
///
/// # Examples
///
/// ```
/// use async_hooks_context::AsyncLocalStorage;
/// use async_hooks_core::{execution_async_id, trigger_async_id};
///
/// static REQUEST: AsyncLocalStorage<&'static str> = AsyncLocalStorage::new();
///
/// let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// runtime.block_on(async {
///     let spawner = execution_async_id();
///     let task = REQUEST.run("req-1", || {
///         async_hooks_tokio::spawn(async {
///             tokio::task::yield_now().await;
///             (REQUEST.get(), trigger_async_id())
///         })
///     });
///     assert_eq!(task.await.unwrap(), (Some("req-1"), spawner));
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(wrap_task(future))
}

/// Spawns `future` on the runtime of `handle`, like [`Handle::spawn`], as a
/// resource created here; see [`spawn`].
///
/// # Examples
///
/// ```
/// use async_hooks_context::AsyncLocalStorage;
///
/// static USER: AsyncLocalStorage<&'static str> = AsyncLocalStorage::new();
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// // Spawned from outside the runtime, still in the caller's context.
/// let task = USER.run("ada", || async_hooks_tokio::spawn_on(async { USER.get() }, runtime.handle()));
/// assert_eq!(runtime.block_on(task).unwrap(), Some("ada"));
/// ```
#[track_caller]
pub fn spawn_on<F>(future: F, handle: &Handle) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle.spawn(wrap_task(future))
}

/// Spawns a `!Send` future on the current `LocalSet` or `LocalRuntime`,
/// like [`tokio::task::spawn_local`], as a resource created here; see
/// [`spawn`].
///
/// # Panics
///
/// Outside a `LocalSet` or `LocalRuntime`, as `tokio::task::spawn_local`
/// does.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use async_hooks_context::AsyncLocalStorage;
///
/// static USER: AsyncLocalStorage<&'static str> = AsyncLocalStorage::new();
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let local = tokio::task::LocalSet::new();
/// let seen = local.block_on(&runtime, async {
///     let not_send = Rc::new(());
///     let task = USER.run("ada", || {
///         async_hooks_tokio::spawn_local(async move {
///             let _keep = not_send;
///             USER.get()
///         })
///     });
///     task.await.unwrap()
/// });
/// assert_eq!(seen, Some("ada"));
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    tokio::task::spawn_local(wrap_task(future))
}

/// Runs `f` on tokio's blocking pool, like [`tokio::task::spawn_blocking`],
/// inside a [`BLOCKING_TASK_RESOURCE_TYPE`] resource created here: `f`
/// sees the caller's context and its trigger is the caller's execution id.
///
/// `init` is dispatched here, `before`/`after` around `f`, `destroy` when
/// `f` returns or panics, or when the runtime shuts down before `f` started
/// (tokio drops it).
///
/// This is needed in both tiers: tokio's task hooks never see blocking
/// tasks start, so automatic propagation cannot reach them.
///
/// # Panics
///
/// Outside a tokio runtime, as `tokio::task::spawn_blocking` does.
///
/// # Examples
///
/// ```
/// use async_hooks_context::AsyncLocalStorage;
///
/// static REQUEST: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let seen = runtime.block_on(async {
///     REQUEST.run(42, || async_hooks_tokio::spawn_blocking(|| REQUEST.get())).await.unwrap()
/// });
/// assert_eq!(seen, Some(42));
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(wrap_blocking(f, Location::caller()))
}

/// Runs `f` on the blocking pool of `handle`'s runtime, like
/// [`Handle::spawn_blocking`], inside a resource created here; see
/// [`spawn_blocking`].
#[track_caller]
pub fn spawn_blocking_on<F, R>(f: F, handle: &Handle) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    handle.spawn_blocking(wrap_blocking(f, Location::caller()))
}

/// `f`, bound to a blocking-task resource created now. Dropping the closure
/// unrun drops the resource, which dispatches `destroy`.
pub(crate) fn wrap_blocking<F, R>(f: F, location: &'static Location<'static>) -> impl FnOnce() -> R + Send + 'static
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    task_resource(BLOCKING_TASK_RESOURCE_TYPE, location).bind(f)
}
