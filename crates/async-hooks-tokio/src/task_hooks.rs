//! The hook tier: tokio's runtime task hooks, turned into the lifecycle of
//! one [`AsyncResource`] per task (`--cfg tokio_unstable` only).
//!
//! | tokio hook | where it runs | what it does here |
//! |---|---|---|
//! | `on_task_spawn` | the spawning thread, inside `spawn` | creates the task's resource (`init`; it captures the spawner's execution id as trigger and the spawner's context frame) and stores it in the [task table](crate::task_table) |
//! | `on_before_task_poll` | the worker, before each poll | looks the resource up, `emit_before` (enters the task's frame), keeps the handle on this thread's polling stack |
//! | `on_after_task_poll` | the worker, after each poll | takes the entry off the polling stack, `emit_after` (restores the frame the poll started with, discarding whatever the task wrote into the context), drops the stack's handle |
//! | `on_task_terminate` | inside the final poll, or at shutdown for idle tasks | removes the task from the table and drops the table's handle |
//!
//! `destroy` is dispatched by dropping the resource's last handle (the
//! `AsyncResource`'s `Drop`), so it comes after every open scope of the task
//! was closed, on whichever thread closed the last one.
//!
//! Quirks handled (research §1.3):
//! - `terminate` fires *between* `before` and `after` of the final poll, so
//!   `destroy` is deferred past that `after`: the lifecycle stays `init`,
//!   paired `before`/`after`, one `destroy`, last.
//! - `terminate` arrives for ids the table never saw (`spawn_blocking`
//!   tasks, and the multi-thread runtime's own worker threads at shutdown):
//!   ignored.
//! - `tokio::task::try_id()` is wrong inside poll hooks: only `meta.id()` is
//!   used.
//! - The poll hooks never look at the map in `after`: the entry pushed in
//!   `before` is on this thread's polling stack.
//!
//! Architecture invariant: no lock and no `RefCell` borrow is held while a
//! core event is dispatched (user hooks run there and may spawn tasks).

use std::cell::RefCell;
use std::sync::Arc;

use async_hooks_core::AsyncResource;
use tokio::runtime::TaskMeta;
use tokio::task::Id;

use crate::spawn::{TASK_RESOURCE_TYPE, task_resource};
use crate::task_table::TASK_TABLE;

/// A task being polled on this thread, with this thread's handle to its
/// resource.
struct PollingTask {
    id: Id,
    resource: Arc<AsyncResource>,
}

thread_local! {
    /// The tasks being polled on this thread, innermost last. Polls do not
    /// nest in tokio, so it holds at most one entry in practice; a stack
    /// keeps the bookkeeping right even if a future runtime nests them.
    static POLLING: RefCell<Vec<PollingTask>> = const { RefCell::new(Vec::new()) };
}

/// `on_task_spawn`: the task becomes a resource, created on the spawning
/// thread in the spawner's scope.
#[inline]
pub(crate) fn on_task_spawn(meta: &TaskMeta<'_>) {
    let resource = Arc::new(task_resource(TASK_RESOURCE_TYPE, meta.spawned_at()));
    if let Some(stale) = TASK_TABLE.insert(meta.id(), resource) {
        // tokio reused the id of a task whose end we never saw (possible
        // in principle once a task and all its handles are gone): close
        // the old lifecycle rather than lose it (dropping the last handle
        // dispatches `destroy`).
        drop(stale);
    }
}

/// `on_before_task_poll`: enter the task's scope.
#[inline]
pub(crate) fn on_before_task_poll(meta: &TaskMeta<'_>) {
    let id = meta.id();
    let Some(resource) = TASK_TABLE.get(id) else {
        return;
    };
    // The scope keeps its own copy of what it needs, so the handle can move
    // to the polling stack afterwards; no borrow of the stack is held while
    // `before` is dispatched to user hooks.
    resource.emit_before();
    let mut task = Some(PollingTask { id, resource });
    let _ = POLLING.try_with(|polling| polling.borrow_mut().extend(task.take()));
    if let Some(task) = task {
        // This thread is being torn down, so there is no stack for `after`
        // to find the task on: close the scope at once instead of leaving
        // it unmatched.
        task.resource.emit_after();
    }
}

/// `on_after_task_poll`: leave the task's scope. After the final poll this
/// drops the last handle to the resource, which dispatches `destroy`.
#[inline]
pub(crate) fn on_after_task_poll(meta: &TaskMeta<'_>) {
    let id = meta.id();
    let polled = POLLING
        .try_with(|polling| {
            let mut polling = polling.borrow_mut();
            // The entry is on top unless something unbalanced the stack.
            let position = polling.iter().rposition(|task| task.id == id)?;
            Some(polling.remove(position))
        })
        .ok()
        .flatten();
    let Some(task) = polled else {
        return;
    };
    task.resource.emit_after();
    // If the task terminated in this poll, the table no longer holds it and
    // this may be the last handle: dropping it dispatches `destroy`, after
    // this `after`.
    drop(task);
}

/// `on_task_terminate`: the task is done (completed, panicked, aborted or
/// shut down).
///
/// The table's handle is dropped here. `destroy` is dispatched when the
/// *last* handle goes: here for an idle task cancelled at shutdown; for a
/// task that ends inside a poll, when the polling stack drops its handle
/// after that poll's `after` (terminate fires between the final `before` and
/// `after`). On the multi-thread runtime the previous poll's worker may
/// still hold a handle too (see the [table](crate::task_table)); then
/// `destroy` waits for its `after` as well, so it is always the last event.
#[inline]
pub(crate) fn on_task_terminate(meta: &TaskMeta<'_>) {
    // Unknown ids are blocking tasks and worker threads: not ours, and
    // `remove` returns `None` for them.
    drop(TASK_TABLE.remove(meta.id()));
}

/// How many tasks of runtimes with automatic propagation are alive.
pub(crate) fn live_task_count() -> usize {
    TASK_TABLE.len()
}
