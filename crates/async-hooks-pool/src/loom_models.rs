//! Loom models of the pool's concurrent protocol. Run with
//! `RUSTFLAGS="--cfg async_hooks_loom" cargo test -p async-hooks-pool --release --lib loom`.

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

use crate::gate::SubmitGate;

/// A model of one pool: the gate, and a queue standing in for the channel
/// (what matters is that pushes happen after admission and that a worker
/// counts what it takes).
struct ModelPool {
    gate: SubmitGate,
    queue: Mutex<Vec<u32>>,
    /// What the model's worker took off the queue.
    taken: Mutex<Vec<u32>>,
}

impl ModelPool {
    fn new() -> ModelPool {
        ModelPool { gate: SubmitGate::new(1), queue: Mutex::new(Vec::new()), taken: Mutex::new(Vec::new()) }
    }

    /// `WorkerPool::submit`: admitted tasks are queued, refused ones are
    /// reported back.
    fn submit(&self, task: u32) -> Result<(), u32> {
        if !self.gate.enter() {
            return Err(task);
        }
        self.queue.lock().unwrap().push(task);
        Ok(())
    }

    /// One step of worker 0's loop: takes a job if there is one.
    fn work(&self) -> bool {
        let Some(task) = self.queue.lock().unwrap().pop() else {
            return false;
        };
        self.taken.lock().unwrap().push(task);
        self.gate.job_received(0);
        true
    }

    /// `finish_close`, once: closes and checks whether the worker has taken
    /// every admitted job (the real closer checks again until it has, and
    /// only then queues the stop messages). Returns what the worker had
    /// taken if so. (The wait itself spins, which loom cannot explore; the
    /// tests run it.)
    fn close(&self) -> Option<Vec<u32>> {
        self.gate.close();
        // Snapshot after the check: the check must vouch for everything.
        if self.gate.all_received() { Some(self.taken.lock().unwrap().clone()) } else { None }
    }
}

/// Every admitted task must be in what the worker had taken when a closer's
/// check passed: the stop messages queued then come after all of them.
fn assert_vouched(vouched: &Option<Vec<u32>>, admitted: impl IntoIterator<Item = u32>) {
    if let Some(taken) = vouched {
        for task in admitted {
            assert!(taken.contains(&task), "the closer's check passed before admitted task {task} was taken");
        }
    }
}

/// Submissions race with close and a worker: every task is either refused
/// (its submitter learns it) or admitted, and a closer's check passes only
/// once the worker has taken every admitted task — none can then be queued
/// behind the stop messages.
#[test]
fn loom_submit_races_with_close() {
    loom::model(|| {
        let pool = Arc::new(ModelPool::new());
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || [pool.submit(1), pool.submit(2)])
        };
        let worker = {
            let pool = pool.clone();
            thread::spawn(move || {
                pool.work();
                pool.work();
            })
        };
        let vouched = pool.close();
        worker.join().unwrap();
        let outcomes = submitter.join().unwrap();

        assert!(!pool.gate.enter(), "submitting after close is refused");
        let taken = pool.taken.lock().unwrap().clone();
        let admitted: Vec<u32> =
            [1, 2].into_iter().zip(outcomes).filter(|(_, outcome)| outcome.is_ok()).map(|(task, _)| task).collect();
        assert_vouched(&vouched, admitted.iter().copied());
        for (task, outcome) in [1, 2].into_iter().zip(outcomes) {
            if let Err(refused) = outcome {
                assert_eq!(refused, task);
                assert!(!taken.contains(&task), "task {task} was refused and also queued");
            }
        }
        // Admission is a prefix: once refused, later submissions are too.
        assert!(!(outcomes[0].is_err() && outcomes[1].is_ok()));
        // With everything taken and the gate closed, the check passes.
        if pool.queue.lock().unwrap().is_empty() {
            assert!(pool.gate.all_received(), "the closer would wait forever");
        }
    });
}

/// An admitted job that never reaches the queue (full) is accounted for
/// with `job_unqueued`: the closer does not wait for it forever, and does
/// not stop waiting before it is reported.
#[test]
fn loom_unqueued_job_is_accounted_for() {
    loom::model(|| {
        let pool = Arc::new(ModelPool::new());
        let reported = Arc::new(AtomicBool::new(false));
        let submitter = {
            let (pool, reported) = (pool.clone(), reported.clone());
            thread::spawn(move || {
                let admitted = pool.gate.enter();
                if admitted {
                    // The queue was full: the task goes back to its submitter.
                    reported.store(true, Ordering::Relaxed);
                    pool.gate.job_unqueued();
                }
                admitted
            })
        };
        pool.gate.close();
        let accounted = pool.gate.all_received();
        let reported_when_accounted = reported.load(Ordering::Relaxed);
        let admitted = submitter.join().unwrap();
        if admitted && accounted {
            assert!(reported_when_accounted, "the closer stopped waiting before an admitted job was accounted for");
        }
        pool.gate.wait_until_all_received();
    });
}

/// Two closers race (close and terminate at once) with a submitter and a
/// worker: each closer's check passes only once the worker took every
/// admitted task.
#[test]
fn loom_two_closers_wait_for_the_worker() {
    loom::model(|| {
        let pool = Arc::new(ModelPool::new());
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || pool.submit(7))
        };
        let worker = {
            let pool = pool.clone();
            thread::spawn(move || {
                pool.work();
            })
        };
        let closer = {
            let pool = pool.clone();
            thread::spawn(move || pool.close())
        };
        let vouched_here = pool.close();
        let outcome = submitter.join().unwrap();
        let vouched_there = closer.join().unwrap();
        worker.join().unwrap();
        let admitted = outcome.is_ok().then_some(7);
        assert_vouched(&vouched_here, admitted);
        assert_vouched(&vouched_there, admitted);
    });
}
