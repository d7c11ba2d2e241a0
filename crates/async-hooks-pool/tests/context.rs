//! Context: every task keeps its submitter's `AsyncLocalStorage` values, in
//! the processor and in the callback, however long it was queued.

use std::sync::mpsc;

use async_hooks_context::AsyncLocalStorage;
use async_hooks_pool::WorkerPool;

static REQUEST: AsyncLocalStorage<usize> = AsyncLocalStorage::new();

#[test]
fn hundred_tasks_on_two_workers_each_see_their_submitters_value() {
    let pool = WorkerPool::new(2, |i: usize| (i, REQUEST.get())).unwrap();
    let (sender, seen) = mpsc::channel();
    for i in 0..100 {
        let sender = sender.clone();
        REQUEST
            .run(i, || {
                pool.run_task(i, move |result| {
                    let (task, seen_by_processor) = result.unwrap();
                    sender.send((task, seen_by_processor, REQUEST.get())).unwrap();
                })
            })
            .unwrap();
    }
    drop(sender);
    let mut seen: Vec<_> = seen.iter().collect();
    seen.sort_unstable();
    assert_eq!(seen.len(), 100);
    for (i, (task, seen_by_processor, seen_by_callback)) in seen.into_iter().enumerate() {
        assert_eq!(task, i);
        assert_eq!(seen_by_processor, Some(i), "processor of task {i}");
        assert_eq!(seen_by_callback, Some(i), "callback of task {i}");
    }
    assert_eq!(REQUEST.get(), None, "nothing leaked into the submitter's thread");
}

#[test]
fn workers_run_outside_any_submitters_context_between_tasks() {
    let pool = WorkerPool::new(1, |_: ()| REQUEST.get()).unwrap();
    let with = REQUEST.run(7, || pool.run(()));
    let without = pool.run(());
    assert_eq!(with.wait(), Ok(Some(7)));
    assert_eq!(without.wait(), Ok(None), "the previous task's value did not stay on the worker");
}

#[test]
fn run_and_run_blocking_keep_the_callers_context() {
    let pool = WorkerPool::new(2, |_: ()| REQUEST.get()).unwrap();
    let results: Vec<_> = (0..20).map(|i| REQUEST.run(i, || pool.run(()))).collect();
    for (i, result) in results.into_iter().enumerate() {
        assert_eq!(result.wait(), Ok(Some(i)));
    }
    assert_eq!(REQUEST.run(99, || pool.run_blocking(())), Ok(Some(99)));
}
