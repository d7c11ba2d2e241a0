//! `enter_with` lasts for the rest of the current scope and never leaks
//! into an unrelated later scope (Node: async-local-storage-enter-with,
//! -run-scope, -set-dc).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use async_hooks_context::AsyncLocalStorage;
use async_hooks_core::{AsyncResource, FutureExt};

#[test]
fn enter_with_lasts_for_the_rest_of_the_scope_and_flows_into_later_resources() {
    let store = AsyncLocalStorage::new();
    let scope = AsyncResource::new("Callback");
    let (before, created_after) = scope.run_in_async_scope(|| {
        let created_before = AsyncResource::new("CreatedBefore");
        store.enter_with(42);
        assert_eq!(store.get(), Some(42));
        (created_before, AsyncResource::new("CreatedAfter"))
    });
    assert_eq!(store.get(), None, "it ended with the scope");
    assert_eq!(before.run_in_async_scope(|| store.get()), None);
    assert_eq!(created_after.run_in_async_scope(|| store.get()), Some(42));
}

#[test]
fn enter_with_in_one_callback_is_not_seen_by_a_sibling_callback() {
    let store = AsyncLocalStorage::new();
    let parent = AsyncResource::new("Parent");
    // Two callbacks scheduled from the same parent, before either runs.
    let (a, b) = parent.run_in_async_scope(|| (AsyncResource::new("A"), AsyncResource::new("B")));
    let scheduled_from_a = a.run_in_async_scope(|| {
        store.enter_with("set in A");
        AsyncResource::new("ScheduledFromA")
    });
    assert_eq!(b.run_in_async_scope(|| store.get()), None, "B was scheduled before A ran");
    assert_eq!(scheduled_from_a.run_in_async_scope(|| store.get()), Some("set in A"));
    assert_eq!(parent.run_in_async_scope(|| store.get()), None);
}

#[test]
fn enter_with_in_a_task_never_leaks_into_the_next_task_polled_on_the_thread() {
    static STORE: AsyncLocalStorage<u32> = AsyncLocalStorage::new();
    let first = async { STORE.enter_with(1) }.in_async_resource("First");
    let second = async { STORE.get() }.in_async_resource("Second");
    let mut cx = Context::from_waker(Waker::noop());
    assert!(pin!(first).poll(&mut cx).is_ready());
    assert_eq!(STORE.get(), None, "the executor's own context is untouched");
    assert_eq!(pin!(second).poll(&mut cx), Poll::Ready(None));
}

#[test]
fn enter_with_at_top_level_lasts_on_that_thread_only() {
    static STORE: AsyncLocalStorage<&'static str> = AsyncLocalStorage::new();
    let handle = std::thread::spawn(|| {
        STORE.enter_with("thread-wide");
        let later = AsyncResource::new("Later");
        (STORE.get(), later.run_in_async_scope(|| STORE.get()))
    });
    assert_eq!(handle.join().unwrap(), (Some("thread-wide"), Some("thread-wide")));
    assert_eq!(STORE.get(), None, "another thread never saw it");
}

#[test]
fn enter_with_inside_run_is_undone_when_run_returns() {
    let store = AsyncLocalStorage::new();
    store.run(1, || {
        store.enter_with(2);
        assert_eq!(store.get(), Some(2));
    });
    assert_eq!(store.get(), None);
}
