//! The per-thread stack of entered resource spans.
//!
//! `before` and `after` of one scope run on the same thread, so the span
//! handle found at `before` is kept on a thread-local stack until the
//! matching `after`: one side-table lookup per scope instead of two. Entries
//! are tagged with the table they came from, so several `TracingHooks` sets
//! share the stack.

use std::cell::RefCell;

use async_hooks_core::AsyncId;

use crate::span_table::SpanHandle;

struct EnteredSpan {
    table: u64,
    id: AsyncId,
    span: SpanHandle,
}

thread_local! {
    static ENTERED: RefCell<Vec<EnteredSpan>> = const { RefCell::new(Vec::new()) };
}

/// Remembers that `span` of resource `id` (of table `table`) was entered on
/// this thread. Returns `false` if the thread is shutting down.
#[inline]
pub(crate) fn push(table: u64, id: AsyncId, span: SpanHandle) -> bool {
    ENTERED.try_with(|entered| entered.borrow_mut().push(EnteredSpan { table, id, span })).is_ok()
}

/// Takes the span of resource `id` (of table `table`) entered on this thread:
/// normally the top entry, since scopes nest.
#[inline]
pub(crate) fn pop(table: u64, id: AsyncId) -> Option<SpanHandle> {
    ENTERED
        .try_with(|entered| {
            let mut entered = entered.borrow_mut();
            match entered.last() {
                Some(top) if top.table == table && top.id == id => entered.pop().map(|top| top.span),
                _ => pop_below_top(&mut entered, table, id),
            }
        })
        .ok()
        .flatten()
}

/// [`pop`] when the entry is not on top: scopes exited out of order (stack
/// corruption the core repairs), or several hook sets interleaved.
#[cold]
#[inline(never)]
fn pop_below_top(entered: &mut Vec<EnteredSpan>, table: u64, id: AsyncId) -> Option<SpanHandle> {
    let position = entered.iter().rposition(|span| span.table == table && span.id == id)?;
    Some(entered.remove(position).span)
}
