//! The hook tier: tokio's runtime task hooks, turned into the lifecycle of
//! one [`AsyncResource`] per task (`--cfg tokio_unstable` only).
//!
//! | tokio hook | where it runs | what it does here |
//! |---|---|---|
//! | `on_task_spawn` | the spawning thread, inside `spawn` | creates the task's resource (`init`; it captures the spawner's execution id as trigger and the spawner's context frame) and stores it in the [task table](crate::task_table) |
//! | `on_before_task_poll` | the worker, before each poll | looks the resource up, `emit_before` (enters the task's frame), keeps the handle in this thread's polling slot |
//! | `on_after_task_poll` | the worker, after each poll | takes the entry out of the polling slot, `emit_after` (restores the frame the poll started with, discarding whatever the task wrote into the context), drops the slot's handle |
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
//! - The poll hooks never look at the table in `after`: the entry put in
//!   `before` is in this thread's polling slot (a `Cell`, not a stack:
//!   polls do not nest in tokio; nested ones would still be tracked).
//!
//! Architecture invariant: no lock and no `RefCell` borrow is held while a
//! core event is dispatched (user hooks run there and may spawn tasks).

use std::cell::{Cell, RefCell};
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

/// The tasks being polled on this thread.
struct PollingTasks {
    /// The innermost one: the task whose poll is running.
    innermost: Cell<Option<PollingTask>>,
    /// The tasks whose polls enclose the innermost one's, outermost first.
    /// Polls do not nest in tokio, so this stays empty (and unallocated);
    /// it keeps the bookkeeping right even if a future runtime nests them.
    outer: RefCell<Vec<PollingTask>>,
}

impl PollingTasks {
    const fn new() -> PollingTasks {
        PollingTasks { innermost: Cell::new(None), outer: RefCell::new(Vec::new()) }
    }

    /// `task`'s poll starts (`None`: nothing to track).
    #[inline]
    fn push(&self, task: Option<PollingTask>) {
        if task.is_none() {
            return;
        }
        if let Some(enclosing) = self.innermost.replace(task) {
            self.outer.borrow_mut().push(enclosing);
        }
    }

    /// The poll of task `id` ended: its entry, if it was being polled. Drops
    /// nothing (dropping a handle may dispatch `destroy`, which the caller
    /// does outside the thread-local).
    #[inline]
    fn take(&self, id: Id) -> Option<PollingTask> {
        match self.innermost.take() {
            Some(task) if task.id == id => {
                self.innermost.set(self.outer.borrow_mut().pop());
                Some(task)
            }
            innermost => {
                // Something unbalanced the polls: look further out.
                self.innermost.set(innermost);
                let mut outer = self.outer.borrow_mut();
                let position = outer.iter().rposition(|task| task.id == id)?;
                Some(outer.remove(position))
            }
        }
    }
}

thread_local! {
    static POLLING: PollingTasks = const { PollingTasks::new() };
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
    // to the polling slot afterwards; no borrow of it is held while
    // `before` is dispatched to user hooks.
    resource.emit_before();
    let mut task = Some(PollingTask { id, resource });
    let _ = POLLING.try_with(|polling| polling.push(task.take()));
    if let Some(task) = task {
        // This thread is being torn down, so there is no slot for `after`
        // to find the task in: close the scope at once instead of leaving
        // it unmatched.
        task.resource.emit_after();
    }
}

/// `on_after_task_poll`: leave the task's scope. After the final poll this
/// drops the last handle to the resource, which dispatches `destroy`.
#[inline]
pub(crate) fn on_after_task_poll(meta: &TaskMeta<'_>) {
    let id = meta.id();
    let polled = POLLING.try_with(|polling| polling.take(id)).ok().flatten();
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
/// task that ends inside a poll, when the polling slot drops its handle
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task_table::tests::task_ids;

    fn polling_task(id: Id) -> PollingTask {
        PollingTask { id, resource: Arc::new(AsyncResource::new("Test")) }
    }

    fn taken_id(polling: &PollingTasks, id: Id) -> Option<Id> {
        polling.take(id).map(|task| task.id)
    }

    #[test]
    fn polls_are_tracked_one_at_a_time() {
        let polling = PollingTasks::new();
        let ids = task_ids(2);
        polling.push(Some(polling_task(ids[0])));
        assert_eq!(taken_id(&polling, ids[1]), None, "not being polled");
        assert_eq!(taken_id(&polling, ids[0]), Some(ids[0]));
        assert_eq!(taken_id(&polling, ids[0]), None, "taken once");
        assert!(polling.outer.borrow().capacity() == 0, "no nesting, no allocation");
    }

    #[test]
    fn nested_and_unbalanced_polls_still_find_their_task() {
        let polling = PollingTasks::new();
        let ids = task_ids(3);
        for id in &ids {
            polling.push(Some(polling_task(*id)));
        }
        // Innermost first.
        assert_eq!(taken_id(&polling, ids[2]), Some(ids[2]));
        // Out of order: the outermost ends while another is still open.
        assert_eq!(taken_id(&polling, ids[0]), Some(ids[0]));
        assert_eq!(taken_id(&polling, ids[1]), Some(ids[1]));
        assert!(polling.innermost.take().is_none());
        assert!(polling.outer.borrow().is_empty());
    }
}
