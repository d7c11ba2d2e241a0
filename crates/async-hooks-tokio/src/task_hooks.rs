//! The hook tier: tokio's runtime task hooks, turned into the lifecycle of
//! one [`AsyncResource`] per task (`--cfg tokio_unstable` only).
//!
//! | tokio hook | where it runs | what it does here |
//! |---|---|---|
//! | `on_task_spawn` | the spawning thread, inside `spawn` | creates the task's resource (`init`; it captures the spawner's execution id as trigger and the spawner's context frame) and stores it in the [task table](crate::task_table) |
//! | `on_before_task_poll` | the worker, before each poll | looks the resource up, opens an unguarded scope of it (`enter_unguarded`: `before`, the task's frame entered), keeps the handle and the scope in this thread's polling slot |
//! | `on_after_task_poll` | the worker, after each poll | takes the entry out of the polling slot, exits its scope (`after`; restores the frame the poll started with, discarding whatever the task wrote into the context), then drops the slot's handle |
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
//!   polls do not nest in tokio, except when a task blocks in place and
//!   drives another runtime's `block_on`; nested ones are tracked).
//!
//! # Unguarded scopes, and why they are sound here
//!
//! A poll's scope is opened with `AsyncResource::enter_unguarded` and closed
//! with `exit_unguarded`: the cost of a guarded scope (the frame lent, no
//! copy of the resource, no thread-local list), where `emit_before` /
//! `emit_after` cost a `Resource` clone and a push and a search-and-pop in
//! the core's cold thread state. The thread's execution state points into
//! the resource until the scope is exited, so the contract is: the
//! resource stays alive until `exit_unguarded`, the scope is exited on the
//! thread that opened it, and scopes on a thread are exited in the reverse
//! order they were opened. Here:
//!
//! - **Alive.** Each polling-slot entry holds its own counted handle to
//!   the resource (a [`TaskRef`]: its task cell keeps the resource in place
//!   until the last handle is dropped, like an `Arc`, see
//!   [`task_cell`](crate::task_cell)) *and* the `UnguardedScope`, and the
//!   only code that takes an entry out of the slot ([`close`]) exits the
//!   scope before the handle is released. The table's handle is
//!   irrelevant to this: `terminate` (inside the poll, on another worker,
//!   or at shutdown) drops only the table's handle, never a slot's. The multi-thread quirk (poll *n*'s `after` on
//!   worker A after poll *n+1*'s `before` on worker B, or even after the
//!   task ended on B) is covered by the same fact: A's entry keeps A's
//!   handle.
//! - **Same thread.** The slot is a thread-local, and `UnguardedScope` is
//!   `!Send`, so an entry cannot leave the thread that opened it.
//! - **Stack order.** Entries are kept as a stack in the order their scopes
//!   were opened, and [`close`] exits them innermost first. A scope opened
//!   by anyone else after ours and still open at our `after` is one of:
//!   a guarded scope — impossible, guarded scopes are confined to one call
//!   (the core hands out no guard), and tokio calls `before` and `after`
//!   from one frame, around `task.run()`; an embedder scope (`emit_before`)
//!   left open by the task — the core's `exit_unguarded` reports and closes
//!   it, as a guarded scope's end does; or another embedder's unguarded
//!   scope, which that embedder's own contract obliges it to close first.
//! - **Unpaired hooks.** A `before` while the slot is occupied pushes (a
//!   nested poll); an `after` for an id that is not the innermost entry
//!   first closes the entries above it (their `after` was lost; their own
//!   late `after`, if it ever comes, finds nothing and is ignored), then
//!   its own; an `after` for an id not in the slot is ignored. A panicking
//!   *poll* is no special case: tokio's harness catches the future's
//!   panic, so `task.run()` returns and `after` runs. A panicking *user
//!   task hook* chained by [`AutoPropagation`](crate::AutoPropagation)
//!   would unwind out of tokio between our `before` and `after`, so the
//!   chaining code closes our scope from a drop guard while unwinding
//!   (`install.rs`). Task termination during a poll and runtime shutdown
//!   only drop the table's handle (see *Alive*).
//! - **Thread exit.** The slot has no destructor (its fields are
//!   `ManuallyDrop`): an entry still open when the thread ends (only
//!   possible if tokio itself unwound between its hooks) is leaked, never
//!   dropped with its scope open; leaking keeps the resource alive for
//!   anything that still reads the thread's execution state during
//!   teardown. Having no destructor also makes the thread-local a plain
//!   static, with no registration check on each access.
//!
//! Architecture invariant: no lock and no `RefCell` borrow is held while a
//! core event is dispatched (user hooks run there and may spawn tasks).

use std::cell::{Cell, RefCell};
use std::mem::ManuallyDrop;

use async_hooks_core::UnguardedScope;
use tokio::runtime::TaskMeta;
use tokio::task::Id;

use crate::spawn::{TASK_RESOURCE_TYPE, task_resource};
use crate::task_cell::TaskRef;
use crate::task_table::TASK_TABLE;

/// A task being polled on this thread: this thread's handle to its
/// resource, and the scope of it that its `before` opened.
struct PollingTask {
    id: Id,
    entry: PollingEntry,
}

/// A [`PollingTask`] without its id (the innermost one's id is kept apart,
/// so that `after` compares ids without moving the entry).
struct PollingEntry {
    resource: TaskRef,
    scope: UnguardedScope,
}

/// The tasks being polled on this thread, as a stack in the order their
/// scopes were opened.
///
/// The usual state is one poll or none: `after` then reads two `Cell`s,
/// compares the id and takes the entry, with no `RefCell` borrow and no
/// other copy.
struct PollingTasks {
    /// The innermost entry's id: the task whose poll is running. `None`
    /// exactly when `innermost` is, and then `outer` is empty.
    innermost_id: Cell<Option<Id>>,
    /// The innermost entry.
    innermost: Cell<ManuallyDrop<Option<PollingEntry>>>,
    /// Whether `outer` holds entries, so that the usual `after` skips its
    /// borrow.
    nested: Cell<bool>,
    /// The tasks whose polls enclose the innermost one's, outermost first.
    /// Polls nest only when a task drives another runtime from
    /// `block_in_place`, so this stays empty (and unallocated).
    outer: RefCell<ManuallyDrop<Vec<PollingTask>>>,
}

impl PollingTasks {
    const fn new() -> PollingTasks {
        PollingTasks {
            innermost_id: Cell::new(None),
            innermost: Cell::new(ManuallyDrop::new(None)),
            nested: Cell::new(false),
            outer: RefCell::new(ManuallyDrop::new(Vec::new())),
        }
    }

    /// `task`'s poll starts: it becomes the innermost entry.
    #[inline]
    fn push(&self, task: PollingTask) {
        if self.innermost_id.get().is_some() {
            self.push_nested();
        }
        self.innermost_id.set(Some(task.id));
        self.innermost.set(ManuallyDrop::new(Some(task.entry)));
    }

    /// Moves the innermost entry to `outer`: a poll starts inside another.
    #[cold]
    #[inline(never)]
    fn push_nested(&self) {
        let id = self.innermost_id.take();
        let entry = ManuallyDrop::into_inner(self.innermost.take());
        if let (Some(id), Some(entry)) = (id, entry) {
            self.outer.borrow_mut().push(PollingTask { id, entry });
            self.nested.set(true);
        }
    }

    /// Makes the last entry of `outer`, if any, the innermost one (the
    /// innermost slot is empty).
    fn pop_enclosing(&self, outer: &mut Vec<PollingTask>) {
        if let Some(PollingTask { id, entry }) = outer.pop() {
            self.innermost_id.set(Some(id));
            self.innermost.set(ManuallyDrop::new(Some(entry)));
        }
        self.nested.set(!outer.is_empty());
    }

    /// The poll of task `id` ended: the entries to close, innermost first —
    /// its own, after those opened above it whose `after` was lost. Empty if
    /// `id` is not being polled here. Closes nothing itself: closing
    /// dispatches `after` (and maybe `destroy`), which the caller does
    /// outside the thread-local's borrows.
    #[inline]
    fn take(&self, id: Id) -> Taken {
        if self.innermost_id.get() == Some(id) && !self.nested.get() {
            self.innermost_id.set(None);
            if let Some(entry) = ManuallyDrop::into_inner(self.innermost.take()) {
                return Taken::One(PollingTask { id, entry });
            }
        }
        self.take_unusual(id)
    }

    /// [`take`](Self::take) when polls are nested, or when `id` is not the
    /// innermost entry: something unbalanced the polls.
    #[cold]
    #[inline(never)]
    fn take_unusual(&self, id: Id) -> Taken {
        let mut outer = self.outer.borrow_mut();
        if self.innermost_id.get() == Some(id) {
            // Nested polls, balanced: the innermost one ends.
            self.innermost_id.set(None);
            let innermost = ManuallyDrop::into_inner(self.innermost.take());
            self.pop_enclosing(&mut outer);
            return Taken::Many(innermost.map(|entry| PollingTask { id, entry }).into_iter().collect());
        }
        let Some(position) = outer.iter().rposition(|task| task.id == id) else {
            // Not being polled here: leave the stack as it was.
            return Taken::Many(Vec::new());
        };
        // `id` and every entry opened after it, innermost first.
        let innermost_id = self.innermost_id.take();
        let innermost = ManuallyDrop::into_inner(self.innermost.take());
        let mut closing: Vec<PollingTask> = match (innermost_id, innermost) {
            (Some(id), Some(entry)) => vec![PollingTask { id, entry }],
            _ => Vec::new(),
        };
        closing.extend(outer.drain(position..).rev());
        self.pop_enclosing(&mut outer);
        Taken::Many(closing)
    }
}

/// What [`PollingTasks::take`] took out, to [`close`].
enum Taken {
    /// The usual case: the innermost entry was the one.
    One(PollingTask),
    /// Entries in the order to close them, innermost first.
    Many(Vec<PollingTask>),
}

thread_local! {
    static POLLING: PollingTasks = const { PollingTasks::new() };
}

/// Closes an entry taken out of this thread's polling slot: exits its
/// scope, then drops its handle (which dispatches `destroy` if it was the
/// last). The caller closes entries innermost first.
#[inline]
fn close(task: PollingTask) {
    let PollingTask { id: _, entry: PollingEntry { resource, scope } } = task;
    // SAFETY: `scope` was returned by `resource.enter_unguarded()` on this
    // thread (entries never leave their thread: the slot is a thread-local
    // and the scope `!Send`). Since then, `resource` was kept alive and in
    // place by this entry's own counted handle, which is released only
    // below, after the exit. Every scope opened on this thread after this
    // one has been exited: ours because entries are closed innermost first
    // (`take`), others by the argument in the module docs (*Stack order*).
    unsafe { resource.resource().exit_unguarded(scope) };
    // If the task terminated, the table no longer holds it and this may be
    // the last handle: releasing it dispatches `destroy`, after this `after`.
    TASK_TABLE.release(resource);
}

/// `on_task_spawn`: the task becomes a resource, created on the spawning
/// thread in the spawner's scope.
#[inline]
pub(crate) fn on_task_spawn(meta: &TaskMeta<'_>) {
    let resource = task_resource(TASK_RESOURCE_TYPE, meta.spawned_at());
    if let Some(stale) = TASK_TABLE.insert(meta.id(), resource) {
        // tokio reused the id of a task whose end we never saw (possible
        // in principle once a task and all its handles are gone): close
        // the old lifecycle rather than lose it (releasing the last handle
        // dispatches `destroy`).
        TASK_TABLE.release(stale);
    }
}

/// `on_before_task_poll`: enter the task's scope.
#[inline]
pub(crate) fn on_before_task_poll(meta: &TaskMeta<'_>) {
    let id = meta.id();
    let Some(resource) = TASK_TABLE.get(id) else {
        return;
    };
    // SAFETY: `resource` is this entry's own counted handle (the resource
    // stays in place in its cell while it lives); it moves into the polling
    // slot with the scope below, and the slot exits the scope before
    // releasing it, on this thread, innermost first (see `close` and
    // the module docs). If the slot cannot be reached, the scope is exited
    // at once, before `resource` is released, with nothing opened since.
    let scope = unsafe { resource.resource().enter_unguarded() };
    let mut task = Some(PollingTask { id, entry: PollingEntry { resource, scope } });
    let _ = POLLING.try_with(|polling| {
        if let Some(task) = task.take() {
            polling.push(task);
        }
    });
    if let Some(task) = task {
        // No slot for `after` to find the task in (not expected: the slot
        // has no destructor, so it is never torn down): close the scope at
        // once instead of leaving it unmatched.
        close(task);
    }
}

/// `on_after_task_poll`: leave the task's scope. After the final poll this
/// drops the last handle to the resource, which dispatches `destroy`.
#[inline]
pub(crate) fn on_after_task_poll(meta: &TaskMeta<'_>) {
    after_task_poll(meta.id());
}

/// [`on_after_task_poll`] by id: also called by `install`'s drop guards when
/// a chained user hook panics between our `before` and `after`.
#[inline]
pub(crate) fn after_task_poll(id: Id) {
    match POLLING.try_with(|polling| polling.take(id)) {
        Ok(Taken::One(task)) => close(task),
        Ok(Taken::Many(tasks)) => tasks.into_iter().for_each(close),
        Err(_) => {}
    }
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
    if let Some(handle) = TASK_TABLE.remove(meta.id()) {
        TASK_TABLE.release(handle);
    }
}

/// How many tasks of runtimes with automatic propagation are alive.
pub(crate) fn live_task_count() -> usize {
    TASK_TABLE.len()
}

#[cfg(all(test, not(async_hooks_loom)))]
mod tests {
    use super::*;
    use crate::task_table::task_ids;
    use async_hooks_core::{AsyncId, AsyncResource, execution_async_id};

    /// Opens a scope of a new resource for task `id` and pushes its entry,
    /// as `on_before_task_poll` does.
    fn open(polling: &PollingTasks, id: Id) -> AsyncId {
        // A task cell whose only handle is the entry's, as after the task
        // terminated.
        assert!(TASK_TABLE.insert(id, AsyncResource::new("Test")).is_none());
        let resource = TASK_TABLE.get(id).expect("tracked");
        TASK_TABLE.release(TASK_TABLE.remove(id).expect("tracked"));
        let async_id = resource.resource().async_id();
        // SAFETY: the entry keeps `resource` alive; the tests close entries
        // only through `close`, in the order `take` returns them.
        let scope = unsafe { resource.resource().enter_unguarded() };
        polling.push(PollingTask { id, entry: PollingEntry { resource, scope } });
        async_id
    }

    /// The `after` of task `id`: the ids of the entries it closed, in order.
    fn after(polling: &PollingTasks, id: Id) -> Vec<Id> {
        let tasks = match polling.take(id) {
            Taken::One(task) => vec![task],
            Taken::Many(tasks) => tasks,
        };
        tasks
            .into_iter()
            .map(|task| {
                let id = task.id;
                close(task);
                id
            })
            .collect()
    }

    #[test]
    fn polls_are_tracked_one_at_a_time() {
        let polling = PollingTasks::new();
        let ids = task_ids(2);
        let async_id = open(&polling, ids[0]);
        assert_eq!(execution_async_id(), async_id, "the scope is open");
        assert_eq!(after(&polling, ids[1]), [], "not being polled");
        assert_eq!(execution_async_id(), async_id, "still open");
        assert_eq!(after(&polling, ids[0]), [ids[0]]);
        assert_eq!(after(&polling, ids[0]), [], "closed once");
        assert_eq!(execution_async_id(), AsyncId::ROOT);
        assert!(polling.outer.borrow().capacity() == 0, "no nesting, no allocation");
    }

    #[test]
    fn nested_polls_close_innermost_first() {
        let polling = PollingTasks::new();
        let ids = task_ids(3);
        let async_ids: Vec<AsyncId> = ids.iter().map(|id| open(&polling, *id)).collect();
        assert_eq!(after(&polling, ids[2]), [ids[2]]);
        assert_eq!(execution_async_id(), async_ids[1], "the enclosing scope is current again");
        assert_eq!(after(&polling, ids[1]), [ids[1]]);
        assert_eq!(after(&polling, ids[0]), [ids[0]]);
        assert_eq!(execution_async_id(), AsyncId::ROOT);
    }

    #[test]
    fn an_unbalanced_after_closes_the_scopes_opened_inside_it_first() {
        let polling = PollingTasks::new();
        let ids = task_ids(4);
        let async_ids: Vec<AsyncId> = ids.iter().map(|id| open(&polling, *id)).collect();
        // The `after` of the second entry comes while two opened after it
        // are still open: they are closed first, innermost first.
        assert_eq!(after(&polling, ids[1]), [ids[3], ids[2], ids[1]]);
        assert_eq!(execution_async_id(), async_ids[0]);
        // Their own late `after`s find nothing.
        assert_eq!(after(&polling, ids[3]), []);
        assert_eq!(after(&polling, ids[2]), []);
        assert_eq!(execution_async_id(), async_ids[0], "an unknown id leaves the stack alone");
        assert_eq!(after(&polling, ids[0]), [ids[0]]);
        assert_eq!(execution_async_id(), AsyncId::ROOT);
        assert!(polling.innermost_id.get().is_none());
        assert!(ManuallyDrop::into_inner(polling.innermost.take()).is_none());
        assert!(polling.outer.borrow().is_empty());
        assert!(!polling.nested.get());
    }
}
