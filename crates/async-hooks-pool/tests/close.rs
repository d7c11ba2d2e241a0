//! Close: graceful close runs every queued callback, forced shutdown gives
//! each queued task `Closed`; nothing is silently dropped, no worker thread
//! outlives the close, and submitting afterwards is an error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use async_hooks_pool::{QueueMode, SubmitError, TaskError, WorkerPool};

const QUEUED: usize = 10_000;
const THREADS: usize = 2;

/// Counts live worker threads: a thread-local guard made by the per-worker
/// initialisation decrements it when the thread is torn down, which `join`
/// waits for.
struct ThreadCounter(Arc<AtomicUsize>);

impl Drop for ThreadCounter {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

thread_local! {
    static COUNTED: std::cell::RefCell<Option<ThreadCounter>> = const { std::cell::RefCell::new(None) };
}

/// A pool of two workers that block on their first task until released.
/// Returns the pool, the release switch, a receiver of "a worker started a
/// blocking task", and the live thread count.
#[allow(clippy::type_complexity)]
fn blocked_pool() -> (Arc<WorkerPool<bool, bool>>, mpsc::Sender<()>, mpsc::Receiver<()>, Arc<AtomicUsize>) {
    let alive = Arc::new(AtomicUsize::new(0));
    let counted = alive.clone();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let (started, started_receiver) = mpsc::channel();
    let started = Mutex::new(started);
    let pool = WorkerPool::builder()
        .num_threads(THREADS)
        .on_worker_start(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            COUNTED.with(|slot| *slot.borrow_mut() = Some(ThreadCounter(counted.clone())));
        })
        .build(move |block: bool| {
            if block {
                started.lock().unwrap().send(()).unwrap();
                released.lock().unwrap().recv().unwrap();
            }
            block
        })
        .unwrap();
    (Arc::new(pool), release, started_receiver, alive)
}

fn submit_all(
    pool: &WorkerPool<bool, bool>,
    calls: &Arc<Mutex<Vec<Result<bool, TaskError>>>>,
    count: usize,
    block: bool,
) {
    for _ in 0..count {
        let calls = calls.clone();
        pool.run_task(block, move |result| calls.lock().unwrap().push(result)).unwrap();
    }
}

type Calls = Vec<Result<bool, TaskError>>;

/// Blocks both workers on a task each, queues [`QUEUED`] more behind them,
/// then closes the pool with `close` on another thread and, once the pool
/// reports closed, releases the workers. Returns the callbacks' results,
/// the pool and the live worker-thread count, after `close` returned.
fn close_with_a_full_queue(
    close: fn(&WorkerPool<bool, bool>),
) -> (Calls, Arc<WorkerPool<bool, bool>>, Arc<AtomicUsize>) {
    let (pool, release, started, alive) = blocked_pool();
    let calls = Arc::new(Mutex::new(Vec::new()));
    submit_all(&pool, &calls, THREADS, true);
    for _ in 0..THREADS {
        started.recv().unwrap();
    }
    submit_all(&pool, &calls, QUEUED, false);
    assert_eq!(pool.stats().queued, QUEUED, "all queued behind the blocked workers");

    let closer = {
        let pool = pool.clone();
        std::thread::spawn(move || close(&pool))
    };
    while !pool.is_closed() {
        std::thread::yield_now();
    }
    // The running tasks finish with their result.
    for _ in 0..THREADS {
        release.send(()).unwrap();
    }
    closer.join().unwrap();
    let calls = std::mem::take(&mut *calls.lock().unwrap());
    (calls, pool, alive)
}

#[test]
fn graceful_close_runs_every_queued_task() {
    let (calls, _pool, alive) = close_with_a_full_queue(WorkerPool::close);
    assert_eq!(calls.len(), QUEUED + THREADS, "each callback ran");
    assert_eq!(calls.iter().filter(|result| **result == Ok(false)).count(), QUEUED);
    assert_eq!(calls.iter().filter(|result| **result == Ok(true)).count(), THREADS);
    assert_eq!(alive.load(Ordering::SeqCst), 0, "no worker thread left behind");
}

#[test]
fn forced_shutdown_gives_every_queued_task_closed() {
    // The queued tasks do not run.
    let (calls, pool, alive) = close_with_a_full_queue(WorkerPool::terminate);
    assert_eq!(calls.len(), QUEUED + THREADS, "no callback silently dropped");
    assert_eq!(calls.iter().filter(|result| **result == Err(TaskError::Closed)).count(), QUEUED);
    assert_eq!(calls.iter().filter(|result| **result == Ok(true)).count(), THREADS);
    assert_eq!(pool.stats().closed, QUEUED as u64);
    assert_eq!(alive.load(Ordering::SeqCst), 0, "no worker thread left behind");
}

#[test]
fn submitting_after_close_is_an_error_and_the_callback_is_told() {
    let pool = WorkerPool::new(1, |n: u32| n).unwrap();
    pool.close();
    let (sender, received) = mpsc::channel();
    let refused = pool.run_task(5, move |result| sender.send(result).unwrap());
    assert!(matches!(refused, Err(SubmitError::Closed(5))));
    assert_eq!(received.recv().unwrap(), Err(TaskError::Closed));
    assert_eq!(pool.run_blocking(6), Err(TaskError::Closed));
    pool.close();
    pool.terminate();
}

#[test]
fn dropping_the_pool_closes_it_gracefully() {
    let calls = Arc::new(AtomicUsize::new(0));
    let pool = WorkerPool::new(2, |n: u32| n).unwrap();
    for n in 0..1000 {
        let calls = calls.clone();
        pool.run_task(n, move |result| {
            assert_eq!(result, Ok(n));
            calls.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    drop(pool);
    assert_eq!(calls.load(Ordering::SeqCst), 1000);
}

#[test]
fn close_from_a_callback_does_not_deadlock() {
    let pool = Arc::new(WorkerPool::new(2, |n: u32| n).unwrap());
    let (done, finished) = mpsc::channel();
    let seen = Arc::new(AtomicUsize::new(0));
    for n in 0..10 {
        let (pool_in_callback, done, seen) = (pool.clone(), done.clone(), seen.clone());
        pool.run_task(n, move |_| {
            // The seed's pattern: the last callback closes the pool.
            if seen.fetch_add(1, Ordering::SeqCst) + 1 == 10 {
                pool_in_callback.close();
            }
            done.send(()).unwrap();
        })
        .unwrap();
    }
    drop(done);
    assert_eq!(finished.iter().count(), 10);
    assert!(pool.is_closed());
    pool.close(); // joins the workers from outside
}

#[test]
fn close_from_the_only_worker_with_a_full_wait_queue_does_not_deadlock() {
    use async_hooks_pool::QueueMode;
    let pool = Arc::new(
        WorkerPool::builder().num_threads(1).queue(QueueMode::Wait { capacity: 1 }).build(|n: u32| n).unwrap(),
    );
    let (done, finished) = mpsc::channel();
    for n in 0..50 {
        let (pool_in_callback, done) = (pool.clone(), done.clone());
        pool.run_task(n, move |result| {
            if n == 0 {
                pool_in_callback.close();
            }
            done.send(result).unwrap();
        })
        .ok();
    }
    drop(done);
    // Every task submitted before the close ran; later ones were refused.
    let results: Vec<_> = finished.iter().collect();
    assert_eq!(results.len(), 50);
    assert!(results.iter().all(|result| matches!(result, Ok(_) | Err(TaskError::Closed))));
    pool.close();
}

/// Submitters racing a close, with a queue that may be full: every task
/// admitted (`Ok`) has run by the time `close` returns, every refused one
/// (closed or queue full) was told so before `run_task` returned, and no
/// task is both or neither. The closer's wait counts queued jobs as workers
/// take them and full-queue refusals as submitters report them: if either
/// went uncounted, `close` would hang; if the closer stopped waiting early,
/// a task would be stranded behind the stop messages and never run.
#[test]
fn close_racing_submitters_answers_every_task_before_it_returns() {
    const SUBMITTERS: usize = 3;
    const PER_SUBMITTER: usize = 2_000;
    for (round, queue) in
        [QueueMode::Unbounded, QueueMode::Reject { capacity: 4 }].into_iter().cycle().take(20).enumerate()
    {
        let pool = Arc::new(WorkerPool::builder().num_threads(THREADS).queue(queue).build(|n: usize| n).unwrap());
        let (answered, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let submitters: Vec<_> = (0..SUBMITTERS)
            .map(|_| {
                let (pool, answered, ran) = (pool.clone(), answered.clone(), ran.clone());
                std::thread::spawn(move || {
                    let mut admitted = 0;
                    for n in 0..PER_SUBMITTER {
                        let (answered, ran) = (answered.clone(), ran.clone());
                        match pool.run_task(n, move |result| {
                            if result == Ok(n) {
                                ran.fetch_add(1, Ordering::SeqCst);
                            }
                            answered.fetch_add(1, Ordering::SeqCst);
                        }) {
                            Ok(()) => admitted += 1,
                            Err(SubmitError::Closed(_) | SubmitError::QueueFull(_)) => {}
                            Err(other) => panic!("unexpected refusal {other:?}"),
                        }
                    }
                    admitted
                })
            })
            .collect();
        // Let the submitters get going, differently each round.
        std::thread::sleep(std::time::Duration::from_micros(50 * (round as u64 % 7)));
        pool.close();
        let ran_at_close = ran.load(Ordering::SeqCst);
        let admitted: usize = submitters.into_iter().map(|submitter| submitter.join().unwrap()).sum();
        let answered_in_all = answered.load(Ordering::SeqCst);
        assert_eq!(answered_in_all, SUBMITTERS * PER_SUBMITTER, "round {round}: every callback is called once");
        // Nothing is admitted after close: every admitted task ran (and its
        // callback was called) before close returned.
        assert_eq!(ran_at_close, admitted, "round {round}: an admitted task had not run when close returned");
        let stats = pool.stats();
        assert_eq!(stats.completed as usize, admitted, "round {round}: every admitted task ran");
        assert_eq!(stats.queued, 0, "round {round}: nothing is left in the queue");
    }
}
