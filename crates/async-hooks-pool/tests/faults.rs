//! Faults: a panicking processor gives its task `Panicked` with the message,
//! its worker is replaced (per-worker initialisation runs again), and the
//! queue keeps flowing; nothing is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc;

use async_hooks_pool::{TaskError, WorkerPool};

const TASKS: usize = 100_000;
const THREADS: usize = 2;

#[test]
fn hundred_thousand_tasks_with_one_percent_panicking_lose_nothing() {
    // A thousand expected panic messages would bury the test output.
    std::panic::set_hook(Box::new(|_| {}));

    let worker_starts = Arc::new(AtomicUsize::new(0));
    let counted = worker_starts.clone();
    let pool = WorkerPool::builder()
        .num_threads(THREADS)
        .on_worker_start(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .build(|n: usize| {
            if n % 100 == 0 {
                panic!("task {n} failed");
            }
            n * 2
        })
        .unwrap();

    let calls: Arc<Vec<AtomicU8>> = Arc::new((0..TASKS).map(|_| AtomicU8::new(0)).collect());
    let wrong = Arc::new(AtomicUsize::new(0));
    let (done, finished) = mpsc::channel();
    for n in 0..TASKS {
        let (calls, wrong, done) = (calls.clone(), wrong.clone(), done.clone());
        pool.run_task(n, move |result| {
            calls[n].fetch_add(1, Ordering::SeqCst);
            let expected = if n % 100 == 0 { Err(TaskError::Panicked(format!("task {n} failed"))) } else { Ok(n * 2) };
            if result != expected {
                wrong.fetch_add(1, Ordering::SeqCst);
            }
            done.send(()).unwrap();
        })
        .unwrap();
    }
    drop(done);
    assert_eq!(finished.iter().count(), TASKS, "every callback was called");
    pool.close();
    let _ = std::panic::take_hook();

    assert!(calls.iter().all(|count| count.load(Ordering::SeqCst) == 1), "each callback exactly once");
    assert_eq!(wrong.load(Ordering::SeqCst), 0, "every callback got its own result");
    let stats = pool.stats();
    let panics = (TASKS / 100) as u64;
    assert_eq!(stats.panicked, panics);
    assert_eq!(stats.completed, TASKS as u64 - panics);
    assert_eq!(stats.workers_replaced, panics, "one replacement per panic");
    assert_eq!(worker_starts.load(Ordering::SeqCst), THREADS + panics as usize, "init ran for every replacement");
    assert_eq!(stats.queued, 0);
}

#[test]
fn a_panic_message_of_any_type_is_reported() {
    std::panic::set_hook(Box::new(|_| {}));
    let pool = WorkerPool::new(1, |kind: u8| match kind {
        0 => std::panic::panic_any(17_u32),
        1 => panic!("formatted {}", 1),
        _ => kind,
    })
    .unwrap();
    assert_eq!(pool.run_blocking(0), Err(TaskError::Panicked("Box<dyn Any>".into())));
    assert_eq!(pool.run_blocking(1), Err(TaskError::Panicked("formatted 1".into())));
    assert_eq!(pool.run_blocking(2), Ok(2));
    let _ = std::panic::take_hook();
}

#[test]
fn a_panicking_callback_is_contained_and_counted() {
    let pool = WorkerPool::new(1, |n: u32| n).unwrap();
    pool.run_task(1, |_| panic!("callback bug")).unwrap();
    assert_eq!(pool.run_blocking(2), Ok(2), "the worker carries on");
    pool.close();
    assert_eq!(pool.stats().callback_panics, 1);
    assert_eq!(pool.stats().workers_replaced, 0);
}
