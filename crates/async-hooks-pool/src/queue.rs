//! The task queue: a crossbeam channel, bounded or not, and how a full one
//! behaves.

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::task::Job;

/// How the queue of waiting tasks is bounded.
///
/// # Examples
///
/// ```
/// use async_hooks_pool::{QueueMode, WorkerPool};
///
/// let pool = WorkerPool::builder()
///     .num_threads(2)
///     .queue(QueueMode::Reject { capacity: 1000 })
///     .build(|n: u64| n + 1)
///     .unwrap();
/// assert_eq!(pool.run_blocking(1), Ok(2));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueMode {
    /// No bound (the default).
    #[default]
    Unbounded,
    /// At most `capacity` queued tasks; a submission beyond that is refused
    /// with [`SubmitError::QueueFull`](crate::SubmitError::QueueFull).
    /// `capacity: 0` accepts a task only if a worker is idle.
    Reject {
        /// The most tasks that may wait.
        capacity: usize,
    },
    /// At most `capacity` queued tasks; a submission beyond that blocks the
    /// submitting thread until there is room (backpressure).
    Wait {
        /// The most tasks that may wait.
        capacity: usize,
    },
}

/// What workers receive.
pub(crate) enum Message<T, R> {
    Run(Box<dyn Job<T, R>>),
    /// Sent once per worker at close, after every admitted job.
    Stop,
}

/// The channel between submitters and workers.
pub(crate) struct TaskQueue<T, R> {
    sender: Sender<Message<T, R>>,
    receiver: Receiver<Message<T, R>>,
    mode: QueueMode,
}

impl<T, R> TaskQueue<T, R> {
    pub(crate) fn new(mode: QueueMode) -> TaskQueue<T, R> {
        let (sender, receiver) = match mode {
            QueueMode::Unbounded => crossbeam_channel::unbounded(),
            QueueMode::Reject { capacity } | QueueMode::Wait { capacity } => crossbeam_channel::bounded(capacity),
        };
        TaskQueue { sender, receiver, mode }
    }

    /// Queues `job`; hands it back if the queue is full in reject mode.
    /// Blocks while it is full in wait mode.
    #[inline]
    pub(crate) fn push(&self, job: Box<dyn Job<T, R>>) -> Result<(), Box<dyn Job<T, R>>> {
        let message = Message::Run(job);
        let refused = match self.mode {
            QueueMode::Reject { .. } => match self.sender.try_send(message) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(message) | TrySendError::Disconnected(message)) => message,
            },
            QueueMode::Unbounded | QueueMode::Wait { .. } => match self.sender.send(message) {
                Ok(()) => return Ok(()),
                Err(crossbeam_channel::SendError(message)) => message,
            },
        };
        match refused {
            Message::Run(job) => Err(job),
            // We sent a `Run`: the channel hands back what it was given.
            Message::Stop => unreachable!("a refused job comes back as the job (bug in async-hooks-pool)"),
        }
    }

    /// Queues a stop message, waiting for room if the queue is bounded.
    pub(crate) fn push_stop(&self) {
        // The pool holds a receiver as long as it holds this queue, so the
        // channel cannot be disconnected.
        let _ = self.sender.send(Message::Stop);
    }

    /// Messages in the queue now.
    pub(crate) fn len(&self) -> usize {
        self.receiver.len()
    }

    pub(crate) fn receiver(&self) -> &Receiver<Message<T, R>> {
        &self.receiver
    }

    pub(crate) fn mode(&self) -> QueueMode {
        self.mode
    }
}
