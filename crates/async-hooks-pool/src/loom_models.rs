//! Loom models of the pool's concurrent protocol. Run with
//! `RUSTFLAGS="--cfg async_hooks_loom" cargo test -p async-hooks-pool --release --lib loom`.

use loom::sync::{Arc, Mutex};
use loom::thread;

use crate::gate::SubmitGate;

/// A model of one pool: the gate, and a queue standing in for the channel
/// (what matters is that pushes happen under a gate pass).
struct ModelPool {
    gate: SubmitGate,
    queue: Mutex<Vec<u32>>,
}

impl ModelPool {
    /// `WorkerPool::submit`: admitted tasks are queued, refused ones are
    /// reported back.
    fn submit(&self, task: u32) -> Result<(), u32> {
        let Some(_pass) = self.gate.enter() else {
            return Err(task);
        };
        self.queue.lock().unwrap().push(task);
        Ok(())
    }

    /// `WorkerPool::shutdown`: close, wait out the admitted submissions,
    /// then take what is queued (the workers' final drain, before the stop
    /// messages).
    fn close(&self) -> Vec<u32> {
        self.gate.close();
        self.gate.wait_for_submitters();
        std::mem::take(&mut *self.queue.lock().unwrap())
    }
}

/// Submissions race with close: every task is either refused (its submitter
/// learns it) or queued before the close's final drain — none is left in
/// the queue after it, none is lost, none is both.
#[test]
fn loom_submit_races_with_close() {
    loom::model(|| {
        let pool = Arc::new(ModelPool { gate: SubmitGate::new(), queue: Mutex::new(Vec::new()) });
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || [pool.submit(1), pool.submit(2)])
        };
        let drained = pool.close();
        let outcomes = submitter.join().unwrap();

        assert!(pool.queue.lock().unwrap().is_empty(), "a task was queued after the final drain");
        assert!(pool.gate.enter().is_none(), "submitting after close is refused");
        for (task, outcome) in [1, 2].into_iter().zip(outcomes) {
            match outcome {
                Ok(()) => assert!(drained.contains(&task), "task {task} was admitted but not drained"),
                Err(refused) => {
                    assert_eq!(refused, task);
                    assert!(!drained.contains(&task), "task {task} was refused and also queued");
                }
            }
        }
        // Admission is a prefix: once refused, later submissions are too.
        assert!(!(outcomes[0].is_err() && outcomes[1].is_ok()));
    });
}

/// Two closers race (close and terminate at once) with a submitter: both
/// return only after every admitted submission has reached the queue.
#[test]
fn loom_two_closers_wait_for_submitters() {
    // Two spinning waiters: bound preemptions so the model stays small (the
    // interesting interleavings need at most two).
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let pool = Arc::new(ModelPool { gate: SubmitGate::new(), queue: Mutex::new(Vec::new()) });
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || pool.submit(7))
        };
        let closer = {
            let pool = pool.clone();
            thread::spawn(move || {
                pool.gate.close();
                pool.gate.wait_for_submitters();
            })
        };
        pool.gate.close();
        pool.gate.wait_for_submitters();
        // Whatever was admitted is visible here, after our own wait.
        let queued_now = pool.queue.lock().unwrap().clone();
        let outcome = submitter.join().unwrap();
        closer.join().unwrap();
        assert_eq!(outcome.is_ok(), queued_now == [7]);
    });
}
