//! The baseline both the round-trip bench and its profiling loop
//! (`examples/round_trip_loop.rs`) measure against: a worker pool as one
//! writes it by hand with crossbeam-channel. One copy, so the benchmarked and
//! the profiled baseline cannot drift apart.

use std::hint::black_box;
use std::thread;

/// The work every pool does per task.
pub(crate) fn process(n: u64) -> u64 {
    black_box(n).wrapping_mul(31).wrapping_add(7)
}

/// A bare crossbeam-channel pool: boxed jobs on an unbounded channel.
pub(crate) struct BareCrossbeamPool {
    sender: Option<crossbeam_channel::Sender<Box<dyn FnOnce() + Send>>>,
    workers: Vec<thread::JoinHandle<()>>,
}

impl BareCrossbeamPool {
    pub(crate) fn new(num_threads: usize) -> BareCrossbeamPool {
        let (sender, receiver) = crossbeam_channel::unbounded::<Box<dyn FnOnce() + Send>>();
        let workers = (0..num_threads)
            .map(|_| {
                let receiver = receiver.clone();
                thread::spawn(move || {
                    for job in receiver {
                        job();
                    }
                })
            })
            .collect();
        BareCrossbeamPool { sender: Some(sender), workers }
    }

    /// Runs `process(task)` on a worker, then `callback` with the result.
    pub(crate) fn run_task(&self, task: u64, callback: impl FnOnce(u64) + Send + 'static) {
        let job = Box::new(move || callback(process(task)));
        self.sender.as_ref().expect("open").send(job).expect("workers alive");
    }
}

impl Drop for BareCrossbeamPool {
    fn drop(&mut self) {
        drop(self.sender.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}
