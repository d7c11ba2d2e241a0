//! Context storage for [async-hooks]: [`AsyncLocalStorage`], a value that
//! follows the logical flow of execution through futures, threads, pool tasks
//! and spawned tasks — "thread-local storage for async".
//!
//! Built on the core's context frames: every async resource captures the
//! current frame when it is created and enters it whenever it runs, so a
//! value set with [`AsyncLocalStorage::run`] reaches everything started
//! inside, wherever and whenever it runs.
//!
//! # Examples
//!
//! ```
//! use async_hooks_context::AsyncLocalStorage;
//! use async_hooks_core::AsyncResource;
//!
//! static REQUEST_ID: AsyncLocalStorage<u32> = AsyncLocalStorage::new();
//!
//! // A callback registered while handling request 1 ...
//! let callback = REQUEST_ID.run(1, || AsyncResource::new("Callback"));
//! // ... and invoked later, from elsewhere, while request 2 is current ...
//! let seen = REQUEST_ID.run(2, || callback.run_in_async_scope(|| REQUEST_ID.get()));
//! // ... still sees request 1.
//! assert_eq!(seen, Some(1));
//! ```
//!
//! When a value goes missing, [`diagnostics::ContextDiagnostics`] tells you
//! where it was lost and why (see `docs/context-loss.md`).
//!
//! # Differences from Node
//!
//! - Values must be `Send + Sync + 'static`: they cross threads.
//! - [`with`](AsyncLocalStorage::with) lends the value without cloning;
//!   [`get`](AsyncLocalStorage::get) clones it.
//! - There is no implicit propagation through code the hooks core does not
//!   see (a raw `std::thread::spawn`, an executor without integration): use
//!   [`bind`] or [`Snapshot`] there. See `docs/context.md`.
//!
//! [async-hooks]: https://github.com/async-hooks-rs/async-hooks

pub mod diagnostics;
mod snapshot;
mod storage;

pub use snapshot::{Snapshot, bind};
pub use storage::{AsyncLocalStorage, Scoped};
