//! Lifecycle: every task is a `WorkerPoolTask` resource with `init` (trigger
//! = the submitter's execution id), `before`/`after` pairs, one `destroy`,
//! last — on every path — and the pool's facts as attributes.

mod support;

use std::sync::mpsc;

use async_hooks_core::{AsyncId, AsyncResource, create_hook, execution_async_id};
use async_hooks_pool::attributes::{
    POOL_NAME, POOL_OUTCOME, POOL_QUEUE_WAIT_US, POOL_RUN_US, POOL_WORKER, TASK_RESOURCE_TYPE,
};
use async_hooks_pool::{QueueMode, TaskError, TaskOptions, WorkerPool};
use support::{Event, Recorder, assert_lifecycle, attributes_of, serial};

#[test]
fn each_task_has_init_scopes_and_destroy_last_with_the_submitter_as_trigger() {
    let _serial = serial();
    let recorder = Recorder::of_type(TASK_RESOURCE_TYPE);
    let hook = create_hook(recorder.clone());
    hook.enable();

    let pool = WorkerPool::builder().name("lifecycle").num_threads(2).build(|_: usize| execution_async_id()).unwrap();
    let (sender, results) = mpsc::channel();
    let mut requests = Vec::new();
    for i in 0..100 {
        let request = AsyncResource::new("Request");
        let sender = sender.clone();
        request.run_in_async_scope(|| {
            pool.run_task(i, move |result| sender.send((i, result.unwrap(), execution_async_id())).unwrap()).unwrap();
        });
        requests.push(request.async_id());
    }
    drop(sender);
    let results: Vec<(usize, AsyncId, AsyncId)> = results.iter().collect();
    pool.close();
    hook.disable();

    assert_eq!(results.len(), 100);
    let by_resource = recorder.by_resource();
    assert_eq!(by_resource.len(), 100, "one resource per task");
    for (i, task_id, callback_id) in results {
        assert_eq!(task_id, callback_id, "processor and callback ran in the same task's scope");
        let events = &by_resource[&task_id];
        assert_eq!(assert_lifecycle(events), 2, "one scope for the processor, one for the callback");
        let Event::Init { resource_type, trigger, .. } = &events[0] else { unreachable!() };
        assert_eq!(resource_type, TASK_RESOURCE_TYPE);
        assert_eq!(*trigger, requests[i], "trigger = the submitter's execution id");
        let attributes = attributes_of(events);
        assert!(attributes.contains(&format!("{POOL_NAME}=lifecycle")), "{attributes:?}");
        assert!(attributes.contains(&format!("{POOL_OUTCOME}=ok")), "{attributes:?}");
        for key in [POOL_WORKER, POOL_QUEUE_WAIT_US, POOL_RUN_US] {
            assert!(
                attributes.iter().any(|attribute| attribute.starts_with(&format!("{key}="))),
                "{key}: {attributes:?}"
            );
        }
    }
}

#[test]
fn tasks_that_never_run_still_have_a_whole_lifecycle() {
    let _serial = serial();
    let recorder = Recorder::of_type(TASK_RESOURCE_TYPE);
    let hook = create_hook(recorder.clone());
    hook.enable();

    let (started, worker_started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let pool = WorkerPool::builder()
        .num_threads(1)
        .queue(QueueMode::Reject { capacity: 3 })
        .build(move |block: bool| {
            if block {
                started.send(()).unwrap();
                released.lock().unwrap().recv().unwrap();
            }
        })
        .unwrap();
    let (sender, outcomes) = mpsc::channel();
    let record = |name: &'static str| {
        let sender = sender.clone();
        move |result: Result<(), TaskError>| sender.send((name, result, execution_async_id())).unwrap()
    };
    pool.run_task(true, record("blocker")).unwrap();
    worker_started.recv().unwrap();
    let cancelled = pool.run_task_with(false, TaskOptions::new(), record("cancelled")).unwrap();
    pool.run_task_with(
        false,
        TaskOptions::new().queue_timeout(std::time::Duration::from_nanos(1)),
        record("timed out"),
    )
    .unwrap();
    pool.run_task(false, record("ok")).unwrap();
    assert!(pool.run_task(false, record("queue full")).is_err());
    assert!(cancelled.cancel());
    release.send(()).unwrap();
    pool.close();
    assert!(pool.run_task(false, record("after close")).is_err());
    drop(sender);
    hook.disable();

    let by_resource = recorder.by_resource();
    let mut seen = Vec::new();
    for (name, result, id) in outcomes.iter() {
        let events = &by_resource[&id];
        let scopes = assert_lifecycle(events);
        let attributes = attributes_of(events);
        let (expected_result, expected_outcome, expected_scopes) = match name {
            "blocker" | "ok" => (Ok(()), "ok", 2),
            "cancelled" => (Err(TaskError::Cancelled), "cancelled", 1),
            "timed out" => (Err(TaskError::TimedOut), "timed_out", 1),
            "queue full" => (Err(TaskError::QueueFull), "queue_full", 1),
            "after close" => (Err(TaskError::Closed), "closed", 1),
            other => unreachable!("{other}"),
        };
        assert_eq!(result, expected_result, "{name}");
        assert_eq!(scopes, expected_scopes, "{name}");
        assert!(attributes.contains(&format!("{POOL_OUTCOME}={expected_outcome}")), "{name}: {attributes:?}");
        seen.push(name);
    }
    seen.sort_unstable();
    assert_eq!(seen, ["after close", "blocker", "cancelled", "ok", "queue full", "timed out"]);
}
