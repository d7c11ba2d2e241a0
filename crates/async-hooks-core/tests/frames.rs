//! Context frames: every resource enters the frame captured at its creation
//! and restores the previous one when its scope ends, also on panic.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use async_hooks_core::{AsyncResource, ContextFrame, FutureExt, StoreKey, thread};

fn frame_with(key: StoreKey, value: u32) -> ContextFrame {
    ContextFrame::current().with_value(key, value)
}

fn current_value(key: StoreKey) -> Option<u32> {
    ContextFrame::with_current(|frame| frame.get_as::<u32>(key).copied())
}

#[test]
fn a_resource_enters_its_creation_frame_and_restores_the_previous_one() {
    let key = StoreKey::allocate();
    let resource = {
        let _entered = frame_with(key, 1).enter();
        AsyncResource::new("Captures")
    };
    assert_eq!(current_value(key), None);
    let _other = frame_with(key, 2).enter();
    let inside = resource.run_in_async_scope(|| current_value(key));
    assert_eq!(inside, Some(1), "the creation-time frame, not the caller's");
    assert_eq!(current_value(key), Some(2), "the caller's frame is back");
}

#[test]
fn a_panic_in_the_scope_restores_the_previous_frame() {
    let key = StoreKey::allocate();
    let resource = {
        let _entered = frame_with(key, 1).enter();
        AsyncResource::new("Captures")
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        resource.run_in_async_scope(|| {
            assert_eq!(current_value(key), Some(1));
            panic!("inside");
        })
    }));
    assert!(outcome.is_err());
    assert_eq!(current_value(key), None);
}

#[test]
fn a_frame_set_inside_a_scope_ends_with_the_scope() {
    let key = StoreKey::allocate();
    let resource = AsyncResource::new("Scope");
    resource.run_in_async_scope(|| {
        ContextFrame::set_current(frame_with(key, 5));
        assert_eq!(current_value(key), Some(5));
    });
    assert_eq!(current_value(key), None);
}

#[test]
fn a_wrapped_future_polls_in_its_creation_frame_wherever_it_is_polled() {
    let key = StoreKey::allocate();
    let future = {
        let _entered = frame_with(key, 7).enter();
        async move {
            let first = current_value(key);
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
            .await;
            (first, current_value(key))
        }
        .in_async_resource("Job")
    };
    // Polled from another thread, under another frame.
    let seen = std::thread::spawn(move || {
        let _elsewhere = frame_with(key, 99).enter();
        let mut future = pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        let seen = loop {
            if let Poll::Ready(seen) = future.as_mut().poll(&mut cx) {
                break seen;
            }
            assert_eq!(current_value(key), Some(99), "between polls, the poller's frame");
        };
        assert_eq!(current_value(key), Some(99));
        seen
    })
    .join()
    .unwrap();
    assert_eq!(seen, (Some(7), Some(7)));
}

#[test]
fn a_spawned_thread_runs_in_a_resource_triggered_by_the_spawner_with_its_context() {
    let key = StoreKey::allocate();
    let spawner = AsyncResource::new("Spawner");
    let (handle, spawn_line) = spawner.run_in_async_scope(|| {
        let _entered = frame_with(key, 3).enter();
        let spawn_line = line!() + 1;
        let handle = thread::spawn(move || {
            let resource = async_hooks_core::execution_async_resource().expect("the thread's resource");
            (resource.trigger_async_id(), current_value(key), resource.resource_type(), resource.location().line())
        });
        (handle, spawn_line)
    });
    let (trigger, value, resource_type, line) = handle.join().unwrap();
    assert_eq!(trigger, spawner.async_id());
    assert_eq!(value, Some(3));
    assert_eq!(resource_type, thread::THREAD_RESOURCE_TYPE);
    assert_eq!(line, spawn_line, "the spawn call's line");
}
