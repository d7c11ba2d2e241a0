//! tokio integration for [async-hooks]: spawned tasks as async resources, so
//! context ([`AsyncLocalStorage`](async_hooks_context::AsyncLocalStorage),
//! and everything built on it) and trigger ids follow `spawn`.
//!
//! `tokio::spawn` is where context is usually lost in Rust: tracing spans,
//! OpenTelemetry context and task-locals all stop at it unless every call
//! site wraps its future. This crate offers two tiers.
//!
//! # Tier 1: wrappers (always available)
//!
//! [`spawn`], [`spawn_on`], [`spawn_local`], [`spawn_blocking`],
//! [`spawn_blocking_on`], [`JoinSetExt`] for `JoinSet`, and [`wrap_task`]
//! for any other spawner. Each creates the task's resource at the call (so
//! its trigger is the caller and it captures the caller's context) and runs
//! the work inside it. `destroy` is dispatched exactly once when the work
//! ends: completion, panic, `abort()` or runtime shutdown.
//!
//! ```
//! use async_hooks_context::AsyncLocalStorage;
//!
//! static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
//!
//! let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
//! runtime.block_on(async {
//!     let handle = REQUEST_ID.run(17, || {
//!         async_hooks_tokio::spawn(async {
//!             tokio::task::yield_now().await;
//!             // Also in a nested spawn, and on the blocking pool.
//!             let nested = async_hooks_tokio::spawn(async { REQUEST_ID.get() }).await.unwrap();
//!             let blocking = async_hooks_tokio::spawn_blocking(|| REQUEST_ID.get()).await.unwrap();
//!             (REQUEST_ID.get(), nested, blocking)
//!         })
//!     });
//!     assert_eq!(handle.await.unwrap(), (Some(17), Some(17), Some(17)));
//! });
//! ```
//!
//! # Tier 2: automatic propagation (`--cfg tokio_unstable`)
//!
//! [`install`] sets the runtime builder's task hooks so that *every* task
//! of that runtime — plain `tokio::spawn`, `Handle::spawn`, `JoinSet::spawn`,
//! and the tasks libraries spawn for you — is a
//! [`TASK_RESOURCE_TYPE`] resource: `init` on the spawning thread with the
//! spawner as trigger, `before`/`after` around each poll, `destroy` after
//! the final `after`, and each poll in the context of the spawn site.
//!
//! ```
//! use async_hooks_context::AsyncLocalStorage;
//!
//! static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
//!
//! let mut builder = tokio::runtime::Builder::new_multi_thread();
//! if async_hooks_tokio::install(&mut builder).is_ok() {
//!     let runtime = builder.build().unwrap();
//!     let seen = runtime.block_on(async {
//!         REQUEST_ID.run(17, || tokio::spawn(async { REQUEST_ID.get() })).await.unwrap()
//!     });
//!     assert_eq!(seen, Some(17));
//! } else {
//!     // Built without `--cfg tokio_unstable`: `install` returned an error
//!     // and warned on stderr; use the wrappers.
//!     assert!(!async_hooks_tokio::is_automatic_propagation_available());
//! }
//! ```
//!
//! tokio's task hooks exist only when the *final build* sets
//! `--cfg tokio_unstable` (`RUSTFLAGS="--cfg tokio_unstable"` or
//! `[build] rustflags` in `.cargo/config.toml`); a library cannot turn it
//! on. Without it [`install`] returns [`InstallError::TokioUnstableMissing`]
//! and prints one warning per process; [`is_automatic_propagation_available`]
//! says which build this is.
//!
//! # What neither tier covers
//!
//! - `block_on`'s root future is not a task: wrap it yourself
//!   (`REQUEST_ID.scope(value, future)`, or
//!   `future.in_async_resource("Request")`).
//! - `LocalSet::spawn_local`: tokio runs no task hooks there. Use
//!   [`spawn_local`] or [`wrap_task`] (`LocalRuntime` does run them).
//! - `tokio::task::spawn_blocking` gets no spawn hook: use
//!   [`spawn_blocking`] in both tiers.
//! - rayon and raw `std::thread::spawn`: use
//!   [`async_hooks_core::thread::spawn`], `async_hooks_context::bind` or a
//!   `Snapshot`.
//!
//! See `docs/tokio.md` for the full picture.
//!
//! # Notes
//!
//! - Installing replaces the builder's `on_task_spawn`,
//!   `on_before_task_poll`, `on_after_task_poll` and `on_task_terminate`
//!   (tokio has one slot per hook). Chain your own through
//!   [`AutoPropagation`].
//! - With both tiers, a wrapper-spawned task is two nested resources (the
//!   runtime's task and the wrapper's); both carry the same context.
//! - Whatever a task writes into the context (`enter_with`) lasts until the
//!   end of its poll: it never leaks into the next task polled on that
//!   thread, nor into `block_on`'s root.
//! - Hook tier, multi-thread runtime: tokio runs its after-poll hook only
//!   after the task may already have been rescheduled, so the `before` of
//!   a task's next poll on another worker can be dispatched before the
//!   `after` of its previous poll. Pairs are exact per thread.
//! - The only `unsafe` code is the hook tier's per-poll scope (an unguarded
//!   core scope kept open between tokio's before- and after-poll hooks),
//!   whose soundness `src/task_hooks.rs` argues, and the task cells that
//!   hold the hook tier's resources (a reference count over never-freed
//!   cells), whose protocol `src/task_cell.rs` states and the loom models
//!   check. Everything else is safe code.
//!
//! [async-hooks]: https://github.com/async-hooks-rs/async-hooks

#![deny(unsafe_code)]

mod install;
mod join_set;
mod spawn;
#[cfg(any(tokio_unstable, async_hooks_loom))]
#[allow(unsafe_code)] // the task cells' resource slot; see `task_cell`
mod sync;
#[cfg(tokio_unstable)]
#[allow(unsafe_code)] // unguarded per-poll scopes; see the module's docs
mod task_hooks;
// Also built for the loom models without the hooks; only they use it then.
#[cfg(any(tokio_unstable, async_hooks_loom))]
#[cfg_attr(not(tokio_unstable), allow(dead_code))]
#[allow(unsafe_code)] // a reference count over never-freed cells; see the module's docs
mod task_cell;
#[cfg(any(tokio_unstable, async_hooks_loom))]
#[cfg_attr(not(tokio_unstable), allow(dead_code))]
mod task_table;

pub use install::{AutoPropagation, InstallError, install, is_automatic_propagation_available, live_task_count};
pub use join_set::JoinSetExt;
pub use spawn::{
    BLOCKING_TASK_RESOURCE_TYPE, TASK_RESOURCE_TYPE, spawn, spawn_blocking, spawn_blocking_on, spawn_local, spawn_on,
    wrap_task,
};
