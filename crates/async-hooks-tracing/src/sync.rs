//! The synchronization primitives of the span table, from `std` or, under
//! `--cfg async_hooks_loom`, from [loom] so that the table's lock-free
//! lookup can be model-checked at the same paths.
//!
//! [loom]: https://docs.rs/loom

#[cfg(async_hooks_loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicU64, Ordering},
};

#[cfg(not(async_hooks_loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicU64, Ordering},
};
