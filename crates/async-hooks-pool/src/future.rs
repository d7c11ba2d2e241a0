//! [`TaskFuture`]: the result of [`WorkerPool::run`](crate::WorkerPool::run),
//! to await or to wait for.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

use crate::TaskError;
use crate::sync::lock;

enum Slot<R> {
    Pending(Option<Waker>),
    Ready(Result<R, TaskError>),
    Taken,
}

struct Oneshot<R> {
    slot: Mutex<Slot<R>>,
    ready: Condvar,
}

/// A task's result, to `.await` or to [`wait`](Self::wait) for.
///
/// The task is already submitted when you get this: dropping it does not
/// cancel the task, it only discards the result.
///
/// # Examples
///
/// ```
/// use async_hooks_pool::WorkerPool;
///
/// let pool = WorkerPool::new(2, |(a, b): (u32, u32)| a + b).unwrap();
/// let pending = pool.run((42, 100));
/// assert_eq!(pending.wait(), Ok(142));
/// ```
#[must_use = "a TaskFuture does nothing unless awaited or waited for; the task runs anyway"]
pub struct TaskFuture<R> {
    oneshot: Arc<Oneshot<R>>,
}

/// The sending half, moved into the task's callback.
pub(crate) struct TaskPromise<R> {
    oneshot: Arc<Oneshot<R>>,
}

pub(crate) fn task_future<R>() -> (TaskFuture<R>, TaskPromise<R>) {
    let oneshot = Arc::new(Oneshot { slot: Mutex::new(Slot::Pending(None)), ready: Condvar::new() });
    (TaskFuture { oneshot: oneshot.clone() }, TaskPromise { oneshot })
}

impl<R> TaskPromise<R> {
    pub(crate) fn complete(self, result: Result<R, TaskError>) {
        let waker = {
            let mut slot = lock(&self.oneshot.slot);
            match std::mem::replace(&mut *slot, Slot::Ready(result)) {
                Slot::Pending(waker) => waker,
                Slot::Ready(_) | Slot::Taken => None,
            }
        };
        self.oneshot.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<R> TaskFuture<R> {
    /// Blocks this thread until the task's result is there.
    ///
    /// Do not call this on a worker of the same pool: with every worker
    /// waiting, nobody is left to run the task.
    pub fn wait(self) -> Result<R, TaskError> {
        let mut slot = lock(&self.oneshot.slot);
        loop {
            match std::mem::replace(&mut *slot, Slot::Taken) {
                Slot::Ready(result) => return result,
                pending @ Slot::Pending(_) => {
                    *slot = pending;
                    slot = self.oneshot.ready.wait(slot).unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                // `wait` consumes the future and `poll` never leaves `Taken`
                // behind without returning `Ready`.
                Slot::Taken => unreachable!("a TaskFuture's result was taken twice (bug in async-hooks-pool)"),
            }
        }
    }

    /// Whether the result is there (the next poll returns `Ready`).
    pub fn is_ready(&self) -> bool {
        matches!(*lock(&self.oneshot.slot), Slot::Ready(_))
    }
}

impl<R> Future for TaskFuture<R> {
    type Output = Result<R, TaskError>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = lock(&self.oneshot.slot);
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Ready(result) => Poll::Ready(result),
            Slot::Pending(waker) => {
                let waker = match waker {
                    Some(waker) if waker.will_wake(context.waker()) => waker,
                    _ => context.waker().clone(),
                };
                *slot = Slot::Pending(Some(waker));
                Poll::Pending
            }
            Slot::Taken => panic!("TaskFuture polled after it returned Ready"),
        }
    }
}

impl<R> fmt::Debug for TaskFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskFuture").field("ready", &self.is_ready()).finish()
    }
}
