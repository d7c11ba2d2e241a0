//! Everything the core keeps per thread, in one thread-local so that
//! entering and leaving a scope makes a single thread-local access.

use std::cell::{Cell, RefCell};

use crate::AsyncId;
use crate::frame::ContextFrame;
use crate::stack::{CurrentResource, EmbedderScope};

pub(crate) struct ThreadState {
    /// `execution_async_id` of the innermost open scope.
    pub(crate) id: Cell<AsyncId>,
    /// `trigger_async_id` of the innermost open scope.
    pub(crate) trigger: Cell<AsyncId>,
    /// The resource of the innermost open scope; `None` at the root. Valid
    /// while that scope is open (see `stack.rs`).
    pub(crate) resource: Cell<CurrentResource>,
    /// How many scopes are open.
    pub(crate) depth: Cell<usize>,
    /// The current context frame.
    pub(crate) frame: Cell<ContextFrame>,
    /// How many `ContextFrame::with_current` calls are running here.
    pub(crate) frame_borrows: Cell<usize>,
    /// Frames taken out of `frame` while `frame_borrows > 0`, kept alive
    /// until it is 0 again.
    pub(crate) retired_frames: RefCell<Vec<ContextFrame>>,
    /// Scopes opened through the embedder API, which have no guard to keep
    /// their saved state in; innermost last.
    pub(crate) embedder_scopes: RefCell<Vec<EmbedderScope>>,
}

impl ThreadState {
    const fn new() -> ThreadState {
        ThreadState {
            id: Cell::new(AsyncId::ROOT),
            trigger: Cell::new(AsyncId::NONE),
            resource: Cell::new(CurrentResource::Root),
            depth: Cell::new(0),
            frame: Cell::new(ContextFrame::empty()),
            frame_borrows: Cell::new(0),
            retired_frames: RefCell::new(Vec::new()),
            embedder_scopes: RefCell::new(Vec::new()),
        }
    }
}

#[cfg(not(async_hooks_loom))]
thread_local! {
    pub(crate) static THREAD_STATE: ThreadState = const { ThreadState::new() };
}

#[cfg(async_hooks_loom)]
loom::thread_local! {
    pub(crate) static THREAD_STATE: ThreadState = ThreadState::new();
}
