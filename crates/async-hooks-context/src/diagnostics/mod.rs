//! Context-loss diagnostics: find where a store was lost, and which
//! resources leaked.
//!
//! "My request id is missing in this log line" usually means one of three
//! things: a thread or task started without propagation, a resource (a
//! callback, a continuation) created outside the store's scope, or an
//! `exit`/`disable`. The hooks core knows every resource, its trigger and its
//! creation site, so [`ContextDiagnostics`] can say which one, and where:
//!
//! - [`ContextDiagnostics::why_missing`] — ask at the point where you noticed;
//!   get the resource running there, its trigger chain back to the last
//!   resource that had the store (type and file:line of each), and the
//!   likely cause with its fix.
//! - [`ContextDiagnostics::loss_report`] — every resource that ran without
//!   the store although its trigger chain (or the resource that invoked it)
//!   had it, one entry per break.
//! - [`ContextDiagnostics::leak_report`] — resources created but never
//!   destroyed, grouped by type and creation site, with counts and ages.
//! - [`ContextDiagnostics::to_dot`], [`to_mermaid`](ContextDiagnostics::to_mermaid),
//!   [`render_svg`](ContextDiagnostics::render_svg) — the resource tree with
//!   the breaks marked in red.
//!
//! # Cost
//!
//! Nothing is registered until [`ContextDiagnostics::enable`], and dropping
//! the handle unregisters the hook set: when off, the diagnostics cost
//! nothing. When on, every `init`/`before`/`after`/`destroy` takes a mutex
//! and `init` allocates a small record: a debugging tool, not a production
//! subscriber (see `benches/diagnostics.rs` for the per-resource cost).
//!
//! # Memory
//!
//! The table holds at most [`DiagnosticsBuilder::max_resources`] records
//! (default [`ContextDiagnostics::DEFAULT_MAX_RESOURCES`]). When it is full,
//! the resource destroyed longest ago is evicted; when every record is
//! alive, new resources are not recorded, and reports say how many were
//! missed. Checkpoints and `why_missing` observations keep the latest 256.
//!
//! # What can and cannot be known
//!
//! A raw `std::thread::spawn` or a plain `tokio::spawn` (without the tokio
//! task hooks) leaves no trace in the hooks core: the code it runs is at the
//! root of its thread, with no resource. `why_missing` there says so, names
//! the thread, and lists the resources that had the store and were running
//! (or ran last) as the likely spawning side, plus the latest
//! [`checkpoint`](ContextDiagnostics::checkpoint)s where the store was set —
//! mark a suspect spawn with one to get its exact file:line. The invoker of
//! a resource is only known when it is itself a resource: a resource entered
//! at the top level of a thread from inside `run(..)` cannot be told apart
//! from one entered with no store at all.
//!
//! # Examples
//!
//! ```
//! use async_hooks_context::AsyncLocalStorage;
//! use async_hooks_context::diagnostics::{ContextDiagnostics, LossCause};
//! use async_hooks_core::AsyncResource;
//!
//! static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
//!
//! let diagnostics = ContextDiagnostics::enable();
//! diagnostics.watch("request_id", &REQUEST_ID);
//!
//! let request = REQUEST_ID.run(7, || AsyncResource::new("Request"));
//! // A timer created inside `exit` loses the request id.
//! let timer = request.run_in_async_scope(|| REQUEST_ID.exit(|| AsyncResource::new("Timer")));
//! timer.run_in_async_scope(|| assert_eq!(REQUEST_ID.get(), None));
//!
//! let report = diagnostics.loss_report(&REQUEST_ID);
//! let loss = &report.losses()[0];
//! assert_eq!(loss.break_link().unwrap().id(), timer.async_id());
//! assert_eq!(loss.last_with_store().unwrap().id(), request.async_id());
//! assert!(matches!(loss.cause(), LossCause::CreatedOutsideScope));
//! println!("{report}");
//! ```

mod context_diagnostics;
mod graph;
mod recorder;
mod report;

pub use context_diagnostics::{ContextDiagnostics, DiagnosticsBuilder};
pub use graph::{RenderError, ResourceInfo, graphviz_available};
pub use recorder::{StoreState, ThreadInfo};
pub use report::{
    Checkpoint, LeakGroup, LeakReport, Loss, LossCause, LossReport, MissingReport, Observation, ResourceLink,
};
