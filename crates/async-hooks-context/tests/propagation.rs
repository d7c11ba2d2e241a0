//! The store follows execution into resources, futures and threads created
//! inside `run`/`scope`, and only those (Node: async-local-storage-misc-stores,
//! -promises, -async-await, -set-dc).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use async_hooks_context::AsyncLocalStorage;
use async_hooks_core::{AsyncResource, FutureExt, thread};

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// Yields once, so the future is polled (at least) twice.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

#[test]
fn resources_created_inside_run_see_the_store_and_others_do_not() {
    static STORE: AsyncLocalStorage<u32> = AsyncLocalStorage::new();
    let outside = AsyncResource::new("Outside");
    let inside = STORE.run(5, || AsyncResource::new("Inside"));
    // Run each from a different context than where it was created.
    STORE.run(99, || {
        assert_eq!(inside.run_in_async_scope(|| STORE.get()), Some(5));
        assert_eq!(outside.run_in_async_scope(|| STORE.get()), None);
    });
}

#[test]
fn a_resource_keeps_its_creation_time_store_after_a_later_enter_with_elsewhere() {
    let store = AsyncLocalStorage::new();
    let resource = store.run("created", || AsyncResource::new("Keeps"));
    let later = AsyncResource::new("Later");
    later.run_in_async_scope(|| store.enter_with("entered later"));
    store.enter_with("entered at top level");
    assert_eq!(resource.run_in_async_scope(|| store.get()), Some("created"));
    store.disable();
}

#[test]
fn futures_see_the_store_at_every_poll_across_awaits() {
    let store = Arc::new(AsyncLocalStorage::new());
    let in_future = store.clone();
    let future = store.run(11, || {
        async move {
            let mut seen = vec![in_future.get()];
            yield_now().await;
            seen.push(in_future.get());
            yield_now().await;
            seen.push(in_future.get());
            seen
        }
        .in_async_resource("Request")
    });
    // Polled outside the run, under another value.
    let seen = store.run(0, || block_on(future));
    assert_eq!(seen, [Some(11), Some(11), Some(11)]);
    assert_eq!(store.get(), None, "after the awaited future, the outer (empty) store is back");
}

#[test]
fn scope_sets_the_store_for_a_future_and_what_it_creates() {
    static STORE: AsyncLocalStorage<&'static str> = AsyncLocalStorage::new();
    let (seen, child) = block_on(STORE.scope("scoped", async {
        yield_now().await;
        (STORE.get(), AsyncResource::new("CreatedDuringPoll"))
    }));
    assert_eq!(seen, Some("scoped"));
    assert_eq!(child.run_in_async_scope(|| STORE.get()), Some("scoped"));
    assert_eq!(STORE.get(), None);
}

#[test]
fn exit_inside_a_future_propagates_to_its_awaits() {
    static STORE: AsyncLocalStorage<u8> = AsyncLocalStorage::new();
    let seen = block_on(STORE.scope(1, async {
        let inner = STORE.exit(|| {
            async {
                yield_now().await;
                STORE.get()
            }
            .in_async_resource("Inner")
        });
        (inner.await, STORE.get())
    }));
    assert_eq!(seen, (None, Some(1)));
}

#[test]
fn threads_spawned_inside_run_see_the_store_and_raw_threads_do_not() {
    static STORE: AsyncLocalStorage<String> = AsyncLocalStorage::new();
    STORE.run("request-1".to_owned(), || {
        let tracked = thread::spawn(|| STORE.get()).join().unwrap();
        assert_eq!(tracked.as_deref(), Some("request-1"));
        let raw = std::thread::spawn(|| STORE.get()).join().unwrap();
        assert_eq!(raw, None, "a raw std thread is not tracked");
    });
}

#[derive(Clone, Debug, PartialEq)]
struct RequestContext {
    id: u64,
    user: Option<String>,
    tags: Vec<&'static str>,
}

static CONTEXTS: AsyncLocalStorage<RequestContext> = AsyncLocalStorage::new();

#[test]
fn any_send_sync_value_type_works_and_crosses_threads_and_futures() {
    let value = RequestContext { id: 9, user: Some("ada".into()), tags: vec!["a", "b"] };
    let (on_thread, in_future) = CONTEXTS.run(value.clone(), || {
        let on_thread = thread::spawn(|| CONTEXTS.get()).join().unwrap();
        let future = async { CONTEXTS.get() }.in_async_resource("Job");
        let in_future = thread::spawn(move || block_on(future)).join().unwrap();
        (on_thread, in_future)
    });
    assert_eq!(on_thread.as_ref(), Some(&value));
    assert_eq!(in_future.as_ref(), Some(&value));

    let units = AsyncLocalStorage::new();
    assert_eq!(units.run((), || units.get()), Some(()));
    let shared = AsyncLocalStorage::new();
    let counter = Arc::new(std::sync::Mutex::new(0));
    shared.run(counter.clone(), || *shared.get().unwrap().lock().unwrap() += 1);
    assert_eq!(*counter.lock().unwrap(), 1);
    let options: AsyncLocalStorage<Option<i32>> = AsyncLocalStorage::new();
    assert_eq!(options.run(None, || options.get()), Some(None), "a stored None is a value");
}
