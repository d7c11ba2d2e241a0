//! The errors of the pool's operations: [`SubmitError`] for submitting,
//! [`TaskError`] for what a task's callback can receive instead of a
//! result, [`BuildError`] for starting a pool.

use std::fmt;
use std::io;

/// Why a task was not accepted. The task is handed back; its callback has
/// already been called with the matching [`TaskError`] (every callback is
/// called exactly once, also on this path).
///
/// # Examples
///
/// ```
/// use async_hooks_pool::{SubmitError, WorkerPool};
///
/// let pool = WorkerPool::new(1, |n: u32| n * 2).unwrap();
/// pool.close();
/// let refused = pool.run_task(21, |_result| {}).unwrap_err();
/// assert!(matches!(refused, SubmitError::Closed(21)));
/// assert_eq!(refused.to_string(), "the worker pool is closed");
/// assert_eq!(refused.into_task(), 21);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitError<T> {
    /// The queue is bounded in reject mode and full.
    QueueFull(T),
    /// The pool was closed (or is closing).
    Closed(T),
}

impl<T> SubmitError<T> {
    /// The task that was not accepted.
    pub fn into_task(self) -> T {
        match self {
            SubmitError::QueueFull(task) | SubmitError::Closed(task) => task,
        }
    }

    /// A reference to the task that was not accepted.
    pub fn task(&self) -> &T {
        match self {
            SubmitError::QueueFull(task) | SubmitError::Closed(task) => task,
        }
    }

    /// The error the task's callback received.
    pub fn task_error(&self) -> TaskError {
        match self {
            SubmitError::QueueFull(_) => TaskError::QueueFull,
            SubmitError::Closed(_) => TaskError::Closed,
        }
    }
}

impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Like crossbeam's `SendError`: the task need not be `Debug`.
        match self {
            SubmitError::QueueFull(_) => f.write_str("QueueFull(..)"),
            SubmitError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::QueueFull(_) => f.write_str("the worker pool's queue is full"),
            SubmitError::Closed(_) => f.write_str("the worker pool is closed"),
        }
    }
}

impl<T> std::error::Error for SubmitError<T> {}

/// What a task's callback receives instead of a result.
///
/// # Examples
///
/// ```
/// use async_hooks_pool::{TaskError, WorkerPool};
///
/// let pool = WorkerPool::new(1, |n: u32| if n == 0 { panic!("zero") } else { 100 / n }).unwrap();
/// assert_eq!(pool.run_blocking(4), Ok(25));
/// assert_eq!(pool.run_blocking(0), Err(TaskError::Panicked("zero".into())));
/// assert_eq!(TaskError::Panicked("zero".into()).to_string(), "the task panicked: zero");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskError {
    /// The processor panicked on this task, with this message. The worker
    /// that ran it was replaced.
    Panicked(String),
    /// The pool was closed before the task ran: a forced shutdown
    /// ([`WorkerPool::terminate`](crate::WorkerPool::terminate)) while it
    /// was queued, or a submission after close.
    Closed,
    /// The task was cancelled while it was queued
    /// ([`TaskHandle::cancel`](crate::TaskHandle::cancel)).
    Cancelled,
    /// The task was still queued when its queue deadline passed.
    TimedOut,
    /// The queue was bounded in reject mode and full at submission.
    QueueFull,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked(message) => write!(f, "the task panicked: {message}"),
            TaskError::Closed => f.write_str("the worker pool was closed before the task ran"),
            TaskError::Cancelled => f.write_str("the task was cancelled before it ran"),
            TaskError::TimedOut => f.write_str("the task's queue deadline passed before it ran"),
            TaskError::QueueFull => f.write_str("the worker pool's queue was full"),
        }
    }
}

impl std::error::Error for TaskError {}

/// Why a pool could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// A pool needs at least one thread.
    NoThreads,
    /// The operating system refused to start a worker thread.
    Spawn(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoThreads => f.write_str("a worker pool needs at least one thread"),
            BuildError::Spawn(error) => write!(f, "failed to start a worker thread: {error}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::NoThreads => None,
            BuildError::Spawn(error) => Some(error),
        }
    }
}
