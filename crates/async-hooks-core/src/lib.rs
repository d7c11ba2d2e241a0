//! The hooks core of [async-hooks]: Node's `async_hooks` model, natively in
//! Rust.
//!
//! Every asynchronous operation — a future, a spawned thread or task, a pool
//! task, an operation of your own — is an *async resource* with a unique
//! [`AsyncId`] and a *trigger id*: the resource in whose execution it was
//! created. Hook sets registered with [`create_hook`] receive `init`,
//! `before`, `after`, `destroy` and `promise_resolve` for every resource, from
//! every thread. Every resource also captures the current [`ContextFrame`]
//! and enters it whenever it runs: that is how `AsyncLocalStorage` (in
//! `async-hooks-context`) follows execution.
//!
//! This crate is the stable contract the rest of the workspace builds on; it
//! has no dependencies. Most users depend on the `async-hooks` facade.
//!
//! # Examples
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use async_hooks_core::{create_hook, execution_async_id, AsyncResource, HookCallbacks};
//!
//! let events = Arc::new(Mutex::new(Vec::new()));
//! let (init, before, after, destroy) = (events.clone(), events.clone(), events.clone(), events.clone());
//! let hook = create_hook(
//!     HookCallbacks::new()
//!         .on_init(move |id, kind, trigger, _| init.lock().unwrap().push(format!("init {kind}({id}) by {trigger}")))
//!         .on_before(move |id| before.lock().unwrap().push(format!("before {id}")))
//!         .on_after(move |id| after.lock().unwrap().push(format!("after {id}")))
//!         .on_destroy(move |id| destroy.lock().unwrap().push(format!("destroy {id}"))),
//! );
//! hook.enable();
//!
//! let request = AsyncResource::new("Request");
//! let id = request.async_id();
//! request.run_in_async_scope(|| assert_eq!(execution_async_id(), id));
//! drop(request);
//! hook.disable();
//!
//! assert_eq!(
//!     *events.lock().unwrap(),
//!     [format!("init Request({id}) by 1"), format!("before {id}"), format!("after {id}"), format!("destroy {id}")],
//! );
//! ```
//!
//! # Differences from Node
//!
//! - Ids are process-wide, never reused, and allocated per thread in blocks:
//!   futures move between threads, so Node's per-thread id spaces do not fit.
//! - `destroy` is dispatched deterministically when a resource is dropped,
//!   not after garbage collection, so it is never lost at exit.
//! - Events caused by a hook callback itself are not dispatched (Node
//!   dispatches them and can recurse forever).
//! - A panicking hook is contained: that hook set is disabled, the panic is
//!   reported, the application goes on. [`FaultPolicy::Abort`] gives Node's
//!   behaviour (the process ends).
//! - Stack corruption is reported and repaired by default instead of ending
//!   the process; again [`FaultPolicy::Abort`] gives Node's behaviour.
//! - Resource types are `&'static str`; [`Resource`] is a cheap description,
//!   not the user's own object.
//!
//! [async-hooks]: https://github.com/async-hooks-rs/async-hooks

mod async_resource;
mod attribute;
mod callbacks;
mod dispatch;
mod entry;
mod fault;
pub mod frame;
mod future;
mod hooks;
mod id;
mod registry;
mod resource;
mod stack;
mod sync;
pub mod thread;
mod thread_state;

#[cfg(all(test, async_hooks_loom))]
mod loom_models;

pub use async_resource::{AsyncResource, AsyncResourceBuilder, AsyncResourceOptions, DestroyError, UnguardedScope};
pub use attribute::{Attribute, AttributeSet, AttributeValue};
pub use callbacks::HookCallbacks;
pub use fault::{
    Fault, FaultPolicy, reset_fault_handler, set_fault_handler, set_hook_panic_policy, set_stack_corruption_policy,
};
pub use frame::{ContextFrame, LookupHint, StoreKey};
pub use future::{FutureExt, InAsyncResource};
pub use hooks::{HookEvent, Hooks, Interest};
pub use id::AsyncId;
pub use registry::{AsyncHook, any_hook_enabled, create_hook};
pub use resource::Resource;
pub use stack::{emit_after, emit_before, execution_async_id, execution_async_resource, trigger_async_id};
