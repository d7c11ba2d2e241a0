//! Bounded queue, deadlines and cancellation deliver their errors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use async_hooks_pool::{QueueMode, SubmitError, TaskError, TaskOptions, WorkerPool};

/// A one-worker pool whose `true` tasks block until released; returns it,
/// the release switch, and "a blocking task started".
fn one_blocked_worker(queue: QueueMode) -> (Arc<WorkerPool<bool, bool>>, mpsc::Sender<()>, mpsc::Receiver<()>) {
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let (started, started_receiver) = mpsc::channel();
    let started = Mutex::new(started);
    let pool = WorkerPool::builder()
        .num_threads(1)
        .queue(queue)
        .build(move |block: bool| {
            if block {
                started.lock().unwrap().send(()).unwrap();
                released.lock().unwrap().recv().unwrap();
            }
            block
        })
        .unwrap();
    (Arc::new(pool), release, started_receiver)
}

type Results = mpsc::Sender<(&'static str, Result<bool, TaskError>)>;

fn reporter(sender: &Results, name: &'static str) -> impl FnOnce(Result<bool, TaskError>) + Send + 'static {
    let sender = sender.clone();
    move |result| sender.send((name, result)).unwrap()
}

#[test]
fn reject_mode_returns_queue_full_with_the_task_and_tells_its_callback() {
    let (pool, release, started) = one_blocked_worker(QueueMode::Reject { capacity: 1 });
    let (sender, results) = mpsc::channel();
    pool.run_task(true, reporter(&sender, "blocker")).unwrap();
    started.recv().unwrap();
    pool.run_task(false, reporter(&sender, "queued")).unwrap();
    let refused = pool.run_task(false, reporter(&sender, "refused"));
    assert!(matches!(refused, Err(SubmitError::QueueFull(false))), "{refused:?}");
    assert_eq!(refused.unwrap_err().task_error(), TaskError::QueueFull);
    assert_eq!(results.recv().unwrap(), ("refused", Err(TaskError::QueueFull)), "told before run_task returned");
    assert_eq!(pool.stats().rejected, 1);
    release.send(()).unwrap();
    pool.close();
    drop(sender);
    let mut rest: Vec<_> = results.iter().collect();
    rest.sort_unstable_by_key(|(name, _)| *name);
    assert_eq!(rest, [("blocker", Ok(true)), ("queued", Ok(false))]);
}

#[test]
fn wait_mode_blocks_the_submitter_until_there_is_room() {
    let (pool, release, started) = one_blocked_worker(QueueMode::Wait { capacity: 1 });
    let (sender, results) = mpsc::channel();
    pool.run_task(true, reporter(&sender, "blocker")).unwrap();
    started.recv().unwrap();
    pool.run_task(false, reporter(&sender, "queued")).unwrap();

    let submitted = Arc::new(AtomicBool::new(false));
    let waiting_submitter = {
        let (pool, submitted, callback) = (pool.clone(), submitted.clone(), reporter(&sender, "waited"));
        std::thread::spawn(move || {
            pool.run_task(false, callback).unwrap();
            submitted.store(true, Ordering::SeqCst);
        })
    };
    // Can only fail if the submission did not wait (never spuriously).
    std::thread::sleep(Duration::from_millis(50));
    assert!(!submitted.load(Ordering::SeqCst), "the third submission waits while the queue is full");
    assert_eq!(pool.stats().queued, 1, "the queue never holds more than its capacity");

    release.send(()).unwrap();
    waiting_submitter.join().unwrap();
    assert!(submitted.load(Ordering::SeqCst));
    pool.close();
    drop(sender);
    let mut all: Vec<_> = results.iter().collect();
    all.sort_unstable_by_key(|(name, _)| *name);
    assert_eq!(all, [("blocker", Ok(true)), ("queued", Ok(false)), ("waited", Ok(false))]);
}

#[test]
fn a_queued_task_past_its_deadline_gets_timed_out() {
    let (pool, release, started) = one_blocked_worker(QueueMode::Unbounded);
    let (sender, results) = mpsc::channel();
    pool.run_task(true, reporter(&sender, "blocker")).unwrap();
    started.recv().unwrap();
    // Its deadline passes while the worker is blocked, whatever the timing.
    pool.run_task_with(false, TaskOptions::new().queue_timeout(Duration::from_nanos(1)), reporter(&sender, "late"))
        .unwrap();
    pool.run_task_with(
        false,
        TaskOptions::new().queue_timeout(Duration::from_secs(3600)),
        reporter(&sender, "patient"),
    )
    .unwrap();
    release.send(()).unwrap();
    pool.close();
    drop(sender);
    let mut all: Vec<_> = results.iter().collect();
    all.sort_unstable_by_key(|(name, _)| *name);
    assert_eq!(all, [("blocker", Ok(true)), ("late", Err(TaskError::TimedOut)), ("patient", Ok(false))]);
    assert_eq!(pool.stats().timed_out, 1);
}

#[test]
fn the_pools_queue_timeout_applies_to_every_task() {
    let pool = WorkerPool::builder().num_threads(1).queue_timeout(Duration::ZERO).build(|n: u32| n).unwrap();
    assert_eq!(pool.run_blocking(1), Err(TaskError::TimedOut), "a zero deadline has always passed");
}

#[test]
fn cancelling_a_queued_task_delivers_cancelled_once_and_it_never_runs() {
    let (pool, release, started) = one_blocked_worker(QueueMode::Unbounded);
    let (sender, results) = mpsc::channel();
    let blocker = pool.run_task_with(true, TaskOptions::new(), reporter(&sender, "blocker")).unwrap();
    started.recv().unwrap();
    let queued = pool.run_task_with(false, TaskOptions::new(), reporter(&sender, "cancelled")).unwrap();
    assert_eq!(pool.stats().queued, 1);
    assert!(queued.cancel());
    assert_eq!(pool.stats().queued, 0, "a cancelled task leaves the queue at once");
    assert_eq!(results.recv().unwrap(), ("cancelled", Err(TaskError::Cancelled)), "told on the cancelling thread");
    assert!(!queued.cancel(), "a second cancel does nothing");
    assert!(!blocker.cancel(), "a running task cannot be cancelled");
    release.send(()).unwrap();
    pool.close();
    drop(sender);
    assert_eq!(results.iter().collect::<Vec<_>>(), [("blocker", Ok(true))]);
    assert_eq!(pool.stats().cancelled, 1);
    assert_eq!(pool.stats().completed, 1);
}

#[test]
fn reject_mode_with_zero_capacity_accepts_only_when_a_worker_is_idle() {
    let (pool, release, started) = one_blocked_worker(QueueMode::Reject { capacity: 0 });
    let (sender, _results) = mpsc::channel();
    // The idle worker may not be waiting in `recv` yet: retry until it is.
    while pool.run_task(true, reporter(&sender, "blocker")).is_err() {
        std::thread::yield_now();
    }
    started.recv().unwrap();
    assert!(matches!(pool.run_task(false, reporter(&sender, "refused")), Err(SubmitError::QueueFull(_))));
    release.send(()).unwrap();
}

#[test]
fn stats_report_utilization_and_histograms() {
    let pool = WorkerPool::builder().num_threads(2).timing(true).build(|n: u64| (0..n).sum::<u64>()).unwrap();
    for n in 0..100 {
        pool.run_blocking(n * 1000).unwrap();
    }
    let stats = pool.stats();
    assert_eq!(stats.completed, 100);
    assert_eq!(stats.wait_time.count(), 100);
    assert_eq!(stats.run_time.count(), 100);
    assert!((0.0..=1.0).contains(&stats.utilization));
    assert!(stats.utilization > 0.0, "busy time was measured");
    pool.reset_histograms();
    assert_eq!(pool.stats().run_time.count(), 0);
    assert_eq!(pool.stats().completed, 100, "counters survive a histogram reset");
}

#[test]
fn without_timing_counters_are_kept_and_histograms_stay_empty() {
    let pool = WorkerPool::new(2, |n: u64| n).unwrap();
    let timed_out = pool.run_task_with(1, TaskOptions::new().queue_timeout(Duration::from_secs(60)), |result| {
        assert_eq!(result, Ok(1))
    });
    timed_out.unwrap();
    for n in 0..100 {
        pool.run_blocking(n).unwrap();
    }
    pool.close();
    let stats = pool.stats();
    assert_eq!(stats.completed, 101);
    assert_eq!((stats.wait_time.count(), stats.run_time.count()), (0, 0));
    assert_eq!(stats.utilization, 0.0);
}
