//! The per-thread stack of entered resource spans.
//!
//! `before` and `after` of one scope run on the same thread, so the span
//! handle found at `before` is kept on a thread-local stack until the
//! matching `after`. This pairs them exactly: an `after` exits only a span
//! that this thread entered for that resource (not one entered by another
//! scope of the resource, here or on another thread, when the hook set
//! missed this scope's `before`), and the table counts a scope as ended only
//! once its span has been exited. Entries are tagged with the table they
//! came from, so several `TracingHooks` sets share the stack.

use std::cell::RefCell;

use async_hooks_core::AsyncId;

use crate::span_table::SpanHandle;

struct EnteredSpan {
    table: u64,
    id: AsyncId,
    span: SpanHandle,
}

impl EnteredSpan {
    fn is(&self, table: u64, id: AsyncId) -> bool {
        self.table == table && self.id == id
    }
}

thread_local! {
    static ENTERED: RefCell<Vec<EnteredSpan>> = const { RefCell::new(Vec::new()) };
}

/// Remembers that `span` of resource `id` (of table `table`) was entered on
/// this thread. Returns `false` if the thread is shutting down (its stack is
/// gone). Takes the span by value and gives nothing back: moving it through
/// an `Option` or a `Result` wrote it in words and read it back in wider
/// loads, which stalls store forwarding (30 ns a lifecycle, measured).
#[inline]
pub(crate) fn push(table: u64, id: AsyncId, span: SpanHandle) -> bool {
    ENTERED.try_with(|entered| entered.borrow_mut().push(EnteredSpan { table, id, span })).is_ok()
}

/// Exits the span of resource `id` (of table `table`) entered on this
/// thread and forgets it; returns whether there was one. That is normally
/// the top entry, since scopes nest. The top entry is exited where it lies,
/// through a shared borrow, and then dropped in place: moving the handle out
/// first (it is written in words and read back in wider loads) stalls store
/// forwarding.
#[inline]
pub(crate) fn exit(table: u64, id: AsyncId) -> bool {
    ENTERED
        .try_with(|entered| {
            let exited_top = match entered.try_borrow() {
                Ok(stack) => match stack.last() {
                    Some(top) if top.is(table, id) => {
                        top.span.dispatch.exit(&top.span.id);
                        true
                    }
                    _ => false,
                },
                Err(_) => return false,
            };
            if !exited_top {
                return exit_below_top(entered, table, id);
            }
            // Checked again: the subscriber ran in between (it cannot reach
            // this stack, since the core dispatches no hook events caused
            // by a hook callback, but a borrow is never assumed).
            if let Ok(mut stack) = entered.try_borrow_mut() {
                if stack.last().is_some_and(|top| top.is(table, id)) {
                    let top = stack.len() - 1;
                    stack.truncate(top);
                }
            }
            true
        })
        .unwrap_or(false)
}

/// [`exit`] when the entry is not on top: scopes exited out of order (stack
/// corruption the core repairs), or several hook sets interleaved.
#[cold]
#[inline(never)]
fn exit_below_top(entered: &RefCell<Vec<EnteredSpan>>, table: u64, id: AsyncId) -> bool {
    let span = {
        let Ok(mut stack) = entered.try_borrow_mut() else { return false };
        let Some(position) = stack.iter().rposition(|span| span.is(table, id)) else { return false };
        stack.remove(position).span
    };
    span.dispatch.exit(&span.id);
    true
}

#[cfg(test)]
mod tests {
    use tracing_core::{Dispatch, span};

    use super::*;

    fn handle(span: u64) -> SpanHandle {
        SpanHandle { id: span::Id::from_u64(span), dispatch: Dispatch::none() }
    }

    fn entered_ids() -> Vec<(u64, u64)> {
        ENTERED.with(|entered| entered.borrow().iter().map(|span| (span.table, span.id.as_u64())).collect())
    }

    #[test]
    fn exits_take_the_matching_entry_on_top_or_below_it() {
        let (first, second) = (AsyncId::from_u64(1), AsyncId::from_u64(2));
        assert!(push(7, first, handle(1)));
        assert!(push(7, second, handle(2)));
        assert!(push(8, second, handle(3)));
        // Another table's entry for the same id is not taken.
        assert!(exit(7, second));
        assert_eq!(entered_ids(), [(7, 1), (8, 2)]);
        assert!(exit(8, second));
        assert_eq!(entered_ids(), [(7, 1)]);
        // Not entered: nothing happens.
        assert!(!exit(7, second));
        assert_eq!(entered_ids(), [(7, 1)]);
        assert!(exit(7, first));
        assert!(entered_ids().is_empty());
    }
}
