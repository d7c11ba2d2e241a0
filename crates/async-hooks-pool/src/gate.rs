//! [`SubmitGate`]: admits submissions until the pool closes, and lets the
//! closer wait until every admitted submission has reached the queue.
//!
//! This is what makes "submitting after close is an error" and "nothing
//! queued is lost at close" hold together: a submission either sees the
//! gate closed (and is refused, with its callback told) or it was admitted
//! before the close, and then the closer waits for its job to be in the
//! queue before it sends the workers their stop messages, which therefore
//! come after every admitted job.

use crate::sync::{AtomicUsize, Ordering, yield_now};

/// The low bit of the state: the gate is closed.
const CLOSED: usize = 1;
/// Each admitted submission adds this to the state while it is in flight.
const ONE_SUBMITTER: usize = 2;

/// The admission gate of one pool.
#[derive(Debug)]
pub(crate) struct SubmitGate {
    /// `CLOSED` bit | in-flight submitters × `ONE_SUBMITTER`.
    state: AtomicUsize,
}

/// Proof that a submission was admitted; dropping it ends the submission.
#[derive(Debug)]
pub(crate) struct GatePass<'gate> {
    gate: &'gate SubmitGate,
}

impl SubmitGate {
    pub(crate) fn new() -> SubmitGate {
        SubmitGate { state: AtomicUsize::new(0) }
    }

    /// Admits a submission, or returns `None` if the gate is closed.
    #[inline]
    pub(crate) fn enter(&self) -> Option<GatePass<'_>> {
        // All changes of `state` are read-modify-writes, totally ordered: the
        // closer's `fetch_or` either comes first (we see `CLOSED`) or later
        // (it sees our increment and waits for our pass to be dropped).
        let previous = self.state.fetch_add(ONE_SUBMITTER, Ordering::AcqRel);
        if previous & CLOSED != 0 {
            self.state.fetch_sub(ONE_SUBMITTER, Ordering::Release);
            return None;
        }
        Some(GatePass { gate: self })
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

    /// After [`close`](Self::close): waits until no admitted submission is
    /// in flight. Everything they queued is then visible to this thread.
    pub(crate) fn wait_for_submitters(&self) {
        while self.state.load(Ordering::Acquire) != CLOSED {
            yield_now();
        }
    }
}

impl Drop for GatePass<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: the job this submission queued happens-before the
        // closer's acquire load that sees the count drop.
        self.gate.state.fetch_sub(ONE_SUBMITTER, Ordering::Release);
    }
}
