//! The lifecycle scenarios both tiers share. Each builds its runtime, runs
//! with [`recorder`] enabled, shuts the runtime down and checks what both
//! tiers promise; the caller holds [`serial`](super::serial) and adds its
//! tier's own checks.

use std::sync::OnceLock;
use std::thread::ThreadId;

use async_hooks_core::{AsyncHook, AsyncId, create_hook, execution_async_id};
use async_hooks_tokio::TASK_RESOURCE_TYPE;

use super::{Event, Flavor, Recorder, Tier, assert_lifecycle, polls};

/// The recorder, enabled for the whole process on first use.
pub fn recorder() -> &'static Recorder {
    static HOOK: OnceLock<AsyncHook<Recorder>> = OnceLock::new();
    HOOK.get_or_init(|| {
        let hook = create_hook(Recorder::default());
        hook.enable();
        hook
    })
    .hooks()
}

/// The one lifecycle of a resource of `resource_type` the recorder saw.
pub fn only_lifecycle_of(recorder: &Recorder, resource_type: &str) -> (AsyncId, Vec<Event>) {
    let lifecycles = recorder.lifecycles_of(resource_type);
    assert_eq!(lifecycles.len(), 1, "one {resource_type}: {lifecycles:?}");
    lifecycles.into_iter().next().expect("one lifecycle")
}

/// One task that yields once and completes: it is polled as its resource,
/// the spawner is its trigger, its lifecycle holds and each of its two
/// polls has one `before`/`after` pair. Returns the spawning thread and the
/// task's events.
pub fn a_task_that_yields_once(tier: Tier, flavor: Flavor) -> (ThreadId, Vec<Event>) {
    let recorder = recorder();
    let runtime = tier.runtime(flavor);
    recorder.clear();
    let (spawner, spawning_thread, inside) = runtime.block_on(async {
        let spawner = execution_async_id();
        let spawning_thread = std::thread::current().id();
        let inside = tier
            .spawn(async {
                tokio::task::yield_now().await;
                execution_async_id()
            })
            .await
            .unwrap();
        (spawner, spawning_thread, inside)
    });
    drop(runtime);
    let (id, events) = only_lifecycle_of(recorder, TASK_RESOURCE_TYPE);
    assert_eq!(id, inside, "the task was polled as its resource");
    assert_lifecycle(id, &events);
    assert!(
        matches!(&events[0], Event::Init { trigger, .. } if *trigger == spawner),
        "the spawner is the trigger: {events:?}"
    );
    assert_eq!(polls(&events), 2, "before/after around each of the two polls: {events:?}");
    (spawning_thread, events)
}

/// A task aborted while pending: its lifecycle holds. Returns its events.
pub fn an_aborted_task(tier: Tier, flavor: Flavor) -> Vec<Event> {
    let recorder = recorder();
    let runtime = tier.runtime(flavor);
    recorder.clear();
    runtime.block_on(async {
        let (started, was_started) = tokio::sync::oneshot::channel();
        let handle = tier.spawn(async move {
            let _ = started.send(());
            std::future::pending::<()>().await
        });
        was_started.await.unwrap();
        handle.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
    });
    drop(runtime);
    let (id, events) = only_lifecycle_of(recorder, TASK_RESOURCE_TYPE);
    assert_lifecycle(id, &events);
    events
}

/// A task that panics in its second poll: its lifecycle holds and the
/// panicking poll still gets its `after`.
pub fn a_panicking_task(tier: Tier, flavor: Flavor) {
    let recorder = recorder();
    let runtime = tier.runtime(flavor);
    recorder.clear();
    runtime.block_on(async {
        let handle = tier.spawn(async {
            tokio::task::yield_now().await;
            panic!("the task fails on purpose");
        });
        assert!(handle.await.unwrap_err().is_panic());
    });
    drop(runtime);
    let (id, events) = only_lifecycle_of(recorder, TASK_RESOURCE_TYPE);
    assert_lifecycle(id, &events);
    assert_eq!(polls(&events), 2, "the panicking poll still got its after: {events:?}");
}

/// Runtime shutdown with 20 pending tasks: the lifecycle of each holds.
pub fn a_runtime_shutdown_with_pending_tasks(tier: Tier, flavor: Flavor) {
    let recorder = recorder();
    let runtime = tier.runtime(flavor);
    recorder.clear();
    // Tasks that were polled and wait forever ...
    runtime.block_on(async {
        for _ in 0..10 {
            let (started, was_started) = tokio::sync::oneshot::channel();
            tier.spawn(async move {
                let _ = started.send(());
                std::future::pending::<()>().await
            });
            was_started.await.unwrap();
        }
    });
    // ... and tasks that were never polled (nothing drives a current-thread
    // runtime outside `block_on`; on a multi-thread one they may be).
    for _ in 0..10 {
        tier.spawn_on(std::future::pending::<()>(), runtime.handle());
    }
    drop(runtime);
    let lifecycles = recorder.lifecycles_of(TASK_RESOURCE_TYPE);
    assert_eq!(lifecycles.len(), 20);
    for (id, events) in &lifecycles {
        assert_lifecycle(*id, events);
    }
}

/// A task resource records its spawn site: the line of the spawn call.
pub fn a_task_resource_records_its_spawn_site(tier: Tier) {
    let runtime = tier.runtime(Flavor::CurrentThread);
    let expected_line = line!() + 2;
    let location = runtime.block_on(async {
        tier.spawn(async { async_hooks_core::execution_async_resource().map(|resource| resource.location()) })
            .await
            .unwrap()
    });
    let location = location.expect("inside the task's resource");
    assert_eq!((location.file(), location.line()), (file!(), expected_line));
}
