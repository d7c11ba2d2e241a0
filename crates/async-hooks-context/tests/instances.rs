//! Several storages are independent; `disable` affects only its own
//! (Node: async-local-storage-no-mix-contexts, -enable-disable, -gcable).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_hooks_context::AsyncLocalStorage;
use async_hooks_core::{AsyncResource, ContextFrame};

#[test]
fn instances_are_independent_and_exit_of_one_keeps_the_other() {
    let (a, b) = (AsyncLocalStorage::new(), AsyncLocalStorage::new());
    a.run("a", || {
        b.run("b", || {
            assert_eq!((a.get(), b.get()), (Some("a"), Some("b")));
            a.exit(|| assert_eq!((a.get(), b.get()), (None, Some("b"))));
            b.exit(|| assert_eq!((a.get(), b.get()), (Some("a"), None)));
        });
        assert_eq!((a.get(), b.get()), (Some("a"), None));
    });
}

#[test]
fn disable_hides_values_also_in_earlier_continuations_until_the_next_run() {
    let (disabled, other) = (AsyncLocalStorage::new(), AsyncLocalStorage::new());
    let continuation = disabled.run(1, || other.run(2, || AsyncResource::new("Continuation")));
    disabled.run(3, || {
        disabled.disable();
        assert_eq!(disabled.get(), None, "the current frame's value is gone");
        assert_eq!(continuation.run_in_async_scope(|| (disabled.get(), other.get())), (None, Some(2)));
        // `exit` does not re-enable.
        disabled.exit(|| assert_eq!(disabled.get(), None));
        // The next run does.
        assert_eq!(disabled.run(4, || disabled.get()), Some(4));
    });
    disabled.enter_with(5);
    assert_eq!(disabled.get(), Some(5));
    disabled.disable();
}

/// Counts live instances, to see values released.
struct Tracked(Arc<AtomicUsize>);

impl Tracked {
    fn new(live: &Arc<AtomicUsize>) -> Tracked {
        live.fetch_add(1, Ordering::SeqCst);
        Tracked(live.clone())
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn values_are_released_when_no_frame_holds_them() {
    let live = Arc::new(AtomicUsize::new(0));
    let storage = AsyncLocalStorage::new();
    storage.run(Tracked::new(&live), || assert_eq!(live.load(Ordering::SeqCst), 1));
    assert_eq!(live.load(Ordering::SeqCst), 0, "released when run returned");

    let resource = storage.run(Tracked::new(&live), || AsyncResource::new("Holder"));
    assert_eq!(live.load(Ordering::SeqCst), 1, "the resource's frame holds it");
    drop(resource);
    assert_eq!(live.load(Ordering::SeqCst), 0);

    storage.enter_with(Tracked::new(&live));
    storage.disable();
    assert_eq!(live.load(Ordering::SeqCst), 0, "disable released the current frame's value");
}

#[test]
fn a_dropped_storage_is_not_kept_alive_by_frames_only_its_value() {
    let live = Arc::new(AtomicUsize::new(0));
    let resource = {
        let storage = AsyncLocalStorage::new();
        storage.run(Tracked::new(&live), || AsyncResource::new("Outlives"))
    };
    // The frame holds a key and the value, not the storage.
    assert_eq!(resource.frame().len(), 1);
    drop(resource);
    assert_eq!(live.load(Ordering::SeqCst), 0);
    assert!(ContextFrame::current().is_empty());
}
