//! [`SubmitGate`]: admits submissions until the pool closes, and lets the
//! closer wait until workers have taken every admitted job off the queue.
//!
//! This is what makes "submitting after close is an error" and "nothing
//! queued is lost at close" hold together: a submission either sees the
//! gate closed (and is refused, with its callback told) or it was admitted
//! before the close and counted. The closer waits until every admitted job
//! has been taken off the queue by a worker (or refused for a full queue)
//! before it sends the workers their stop messages, which therefore come
//! after every admitted job.
//!
//! A submission costs one atomic read-modify-write: the submitter only
//! counts itself in. Workers count what they take off the queue in one
//! counter per worker slot, each written by that slot's worker alone, so
//! that the submitter has nothing to undo once its job is queued (a
//! count of submitters in flight would cost it a second read-modify-write
//! on every task).

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicUsize, Ordering, backoff};

/// The low bit of the state: the gate is closed.
const CLOSED: usize = 1;
/// Each admitted submission adds this to the state, for good.
const ONE_SUBMISSION: usize = 2;
/// The bits of a count of submissions (the state's count wraps around; so
/// do the counts compared with it).
const COUNT_MASK: usize = usize::MAX >> 1;

/// The admission gate of one pool.
#[derive(Debug)]
pub(crate) struct SubmitGate {
    /// `CLOSED` bit | admitted submissions × `ONE_SUBMISSION` (wrapping). A
    /// submission that finds the gate closed takes its increment back. On
    /// its own cache line: every submission writes it.
    state: CachePadded<AtomicUsize>,
    /// Admitted submissions whose job never reached the queue (it was full).
    unqueued: CachePadded<AtomicUsize>,
    /// Per worker slot: admitted jobs that slot's workers took off the queue
    /// (wrapping). Only the worker running in the slot writes it (a
    /// replacement starts after its predecessor's last write).
    received: Box<[CachePadded<AtomicUsize>]>,
}

impl SubmitGate {
    pub(crate) fn new(num_workers: usize) -> SubmitGate {
        SubmitGate {
            state: CachePadded::new(AtomicUsize::new(0)),
            unqueued: CachePadded::new(AtomicUsize::new(0)),
            received: (0..num_workers).map(|_| CachePadded::new(AtomicUsize::new(0))).collect(),
        }
    }

    /// Admits a submission (true), or refuses it if the gate is closed.
    ///
    /// An admitted submission must then either queue its job, which a
    /// worker reports with [`job_received`](Self::job_received) when it
    /// takes it, or report [`job_unqueued`](Self::job_unqueued): the closer
    /// waits for one or the other.
    #[inline]
    pub(crate) fn enter(&self) -> bool {
        // All changes of `state` are read-modify-writes, totally ordered: the
        // closer's `fetch_or` either comes first (we see `CLOSED`) or later
        // (it sees our increment, and waits for our job). No ordering is
        // needed beyond that: the job's own hand-over goes through the queue.
        let previous = self.state.fetch_add(ONE_SUBMISSION, Ordering::Relaxed);
        if previous & CLOSED != 0 {
            self.state.fetch_sub(ONE_SUBMISSION, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// An admitted submission's job did not reach the queue.
    #[cold]
    pub(crate) fn job_unqueued(&self) {
        // Release: pairs with the closer's acquire load, like `job_received`.
        self.unqueued.fetch_add(1, Ordering::Release);
    }

    /// The worker in slot `worker_index` took an admitted job off the queue.
    #[inline]
    pub(crate) fn job_received(&self, worker_index: usize) {
        let received = &self.received[worker_index];
        // Only this slot's worker writes the counter, so a load and a store
        // replace a (much dearer) read-modify-write. Release: taking the job
        // off the queue happens-before a closer that sees the new count
        // queues its stop messages.
        received.store(received.load(Ordering::Relaxed).wrapping_add(1), Ordering::Release);
    }

    /// Closes the gate. Returns whether this call closed it (false if it
    /// was closed already).
    pub(crate) fn close(&self) -> bool {
        self.state.fetch_or(CLOSED, Ordering::AcqRel) & CLOSED == 0
    }

    /// Whether the gate is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// After [`close`](Self::close): whether every admitted job has been
    /// taken off the queue by a worker or reported unqueued, so that
    /// nothing admitted can reach the queue after this.
    pub(crate) fn all_received(&self) -> bool {
        // Read the counts that only grow up to the number admitted first,
        // then the state, which after the close is at least that number
        // (refused submitters add to it for a moment): they can only be
        // equal if every admitted job was accounted for when the counts
        // were read.
        let mut accounted = self.unqueued.load(Ordering::Acquire);
        for received in self.received.iter() {
            accounted = accounted.wrapping_add(received.load(Ordering::Acquire));
        }
        let admitted = self.state.load(Ordering::Acquire) >> 1;
        debug_assert!(
            self.state.load(Ordering::Relaxed) & CLOSED != 0,
            "all_received before close (bug in async-hooks-pool)"
        );
        accounted & COUNT_MASK == admitted
    }

    /// After [`close`](Self::close): waits until [`all_received`](Self::all_received).
    /// Must not be called on a worker of this pool (it may be the one that
    /// has to take the rest off the queue).
    pub(crate) fn wait_until_all_received(&self) {
        let mut step = 0;
        while !self.all_received() {
            backoff(step);
            step = step.saturating_add(1);
        }
    }
}
