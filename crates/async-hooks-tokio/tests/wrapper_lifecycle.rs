//! The wrapper tier's lifecycle events: every task spawned through
//! `async_hooks_tokio` is one resource with `init` at the spawn site, paired
//! `before`/`after` per poll, and exactly one `destroy`, last — whether it
//! completes, panics, is aborted or is dropped at runtime shutdown.

mod support;

use std::sync::OnceLock;

use async_hooks_core::{AsyncHook, AsyncId, create_hook, execution_async_id};
use async_hooks_tokio::{BLOCKING_TASK_RESOURCE_TYPE, TASK_RESOURCE_TYPE};
use support::{Event, Flavor, Recorder, assert_lifecycle, polls, serial};

/// The recorder, enabled for the whole process.
fn recorder() -> &'static Recorder {
    static HOOK: OnceLock<AsyncHook<Recorder>> = OnceLock::new();
    HOOK.get_or_init(|| {
        let hook = create_hook(Recorder::default());
        hook.enable();
        hook
    })
    .hooks()
}

fn only_task_lifecycle(recorder: &Recorder, resource_type: &str) -> (AsyncId, Vec<Event>) {
    let lifecycles = recorder.lifecycles_of(resource_type);
    assert_eq!(lifecycles.len(), 1, "one {resource_type}: {lifecycles:?}");
    lifecycles.into_iter().next().expect("one lifecycle")
}

fn a_completed_task_has_init_polls_resolve_and_one_destroy(flavor: Flavor) {
    let _serial = serial();
    let recorder = recorder();
    let runtime = flavor.runtime();
    recorder.clear();
    let (spawner, inside) = runtime.block_on(async {
        let spawner = execution_async_id();
        let inside = async_hooks_tokio::spawn(async {
            tokio::task::yield_now().await;
            execution_async_id()
        })
        .await
        .unwrap();
        (spawner, inside)
    });
    drop(runtime);
    let (id, events) = only_task_lifecycle(recorder, TASK_RESOURCE_TYPE);
    assert_eq!(id, inside, "the task ran as its resource");
    assert_lifecycle(id, &events);
    assert!(matches!(&events[0], Event::Init { trigger, .. } if *trigger == spawner), "{events:?}");
    assert_eq!(polls(&events), 2, "one scope per poll: {events:?}");
    let kinds: Vec<_> = events.iter().map(Event::kind).collect();
    assert_eq!(kinds[kinds.len() - 3..], ["promise_resolve", "after", "destroy"], "resolved inside the final poll");
}

#[test]
fn a_completed_task_has_init_polls_resolve_and_one_destroy_current_thread() {
    a_completed_task_has_init_polls_resolve_and_one_destroy(Flavor::CurrentThread);
}

#[test]
fn a_completed_task_has_init_polls_resolve_and_one_destroy_multi_thread() {
    a_completed_task_has_init_polls_resolve_and_one_destroy(Flavor::MultiThread);
}

fn an_aborted_task_ends_in_exactly_one_destroy(flavor: Flavor) {
    let _serial = serial();
    let recorder = recorder();
    let runtime = flavor.runtime();
    recorder.clear();
    runtime.block_on(async {
        let (started, was_started) = tokio::sync::oneshot::channel();
        let handle = async_hooks_tokio::spawn(async move {
            let _ = started.send(());
            std::future::pending::<()>().await
        });
        was_started.await.unwrap();
        handle.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
    });
    drop(runtime);
    let (id, events) = only_task_lifecycle(recorder, TASK_RESOURCE_TYPE);
    assert_lifecycle(id, &events);
    assert!(!events.contains(&Event::PromiseResolve), "an aborted task never resolves: {events:?}");
}

#[test]
fn an_aborted_task_ends_in_exactly_one_destroy_current_thread() {
    an_aborted_task_ends_in_exactly_one_destroy(Flavor::CurrentThread);
}

#[test]
fn an_aborted_task_ends_in_exactly_one_destroy_multi_thread() {
    an_aborted_task_ends_in_exactly_one_destroy(Flavor::MultiThread);
}

fn a_panicking_task_ends_in_exactly_one_destroy(flavor: Flavor) {
    let _serial = serial();
    let recorder = recorder();
    let runtime = flavor.runtime();
    recorder.clear();
    runtime.block_on(async {
        let handle = async_hooks_tokio::spawn(async {
            tokio::task::yield_now().await;
            panic!("the task fails on purpose");
        });
        assert!(handle.await.unwrap_err().is_panic());
    });
    drop(runtime);
    let (id, events) = only_task_lifecycle(recorder, TASK_RESOURCE_TYPE);
    assert_lifecycle(id, &events);
    assert_eq!(polls(&events), 2, "the panicking poll still got its after: {events:?}");
}

#[test]
fn a_panicking_task_ends_in_exactly_one_destroy_current_thread() {
    a_panicking_task_ends_in_exactly_one_destroy(Flavor::CurrentThread);
}

#[test]
fn a_panicking_task_ends_in_exactly_one_destroy_multi_thread() {
    a_panicking_task_ends_in_exactly_one_destroy(Flavor::MultiThread);
}

fn runtime_shutdown_ends_every_pending_task_in_exactly_one_destroy(flavor: Flavor) {
    let _serial = serial();
    let recorder = recorder();
    let runtime = flavor.runtime();
    recorder.clear();
    // Tasks that were polled and wait forever ...
    runtime.block_on(async {
        for _ in 0..10 {
            let (started, was_started) = tokio::sync::oneshot::channel();
            async_hooks_tokio::spawn(async move {
                let _ = started.send(());
                std::future::pending::<()>().await
            });
            was_started.await.unwrap();
        }
    });
    // ... and tasks that were never polled (nothing drives a current-thread
    // runtime outside `block_on`; on a multi-thread one they may be).
    for _ in 0..10 {
        async_hooks_tokio::spawn_on(std::future::pending::<()>(), runtime.handle());
    }
    drop(runtime);
    let lifecycles = recorder.lifecycles_of(TASK_RESOURCE_TYPE);
    assert_eq!(lifecycles.len(), 20);
    for (id, events) in &lifecycles {
        assert_lifecycle(*id, events);
    }
}

#[test]
fn runtime_shutdown_ends_every_pending_task_in_exactly_one_destroy_current_thread() {
    runtime_shutdown_ends_every_pending_task_in_exactly_one_destroy(Flavor::CurrentThread);
}

#[test]
fn runtime_shutdown_ends_every_pending_task_in_exactly_one_destroy_multi_thread() {
    runtime_shutdown_ends_every_pending_task_in_exactly_one_destroy(Flavor::MultiThread);
}

fn blocking_tasks_end_in_exactly_one_destroy_also_when_they_panic(flavor: Flavor) {
    let _serial = serial();
    let recorder = recorder();
    let runtime = flavor.runtime();
    recorder.clear();
    let spawner = runtime.block_on(async {
        assert_eq!(async_hooks_tokio::spawn_blocking(|| 1).await.unwrap(), 1);
        let panicked = async_hooks_tokio::spawn_blocking(|| panic!("the closure fails on purpose")).await;
        assert!(panicked.unwrap_err().is_panic());
        execution_async_id()
    });
    drop(runtime);
    let lifecycles = recorder.lifecycles_of(BLOCKING_TASK_RESOURCE_TYPE);
    assert_eq!(lifecycles.len(), 2);
    for (id, events) in &lifecycles {
        assert_lifecycle(*id, events);
        assert_eq!(polls(events), 1, "one scope around the closure: {events:?}");
        assert!(matches!(&events[0], Event::Init { trigger, .. } if *trigger == spawner), "{events:?}");
    }
}

#[test]
fn blocking_tasks_end_in_exactly_one_destroy_also_when_they_panic_current_thread() {
    blocking_tasks_end_in_exactly_one_destroy_also_when_they_panic(Flavor::CurrentThread);
}

#[test]
fn blocking_tasks_end_in_exactly_one_destroy_also_when_they_panic_multi_thread() {
    blocking_tasks_end_in_exactly_one_destroy_also_when_they_panic(Flavor::MultiThread);
}

#[test]
fn a_task_resource_records_its_spawn_site() {
    let _serial = serial();
    let runtime = Flavor::CurrentThread.runtime();
    let expected_line = line!() + 2;
    let location = runtime.block_on(async {
        async_hooks_tokio::spawn(async { async_hooks_core::execution_async_resource().map(|r| r.location()) })
            .await
            .unwrap()
    });
    let location = location.expect("inside the task's resource");
    assert_eq!((location.file(), location.line()), (file!(), expected_line));
}
