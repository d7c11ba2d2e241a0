//! async-hooks: Node's `async_hooks` model, natively in Rust.
//!
//! See the [README](https://github.com/async-hooks-rs/async-hooks) for the
//! overview. The hooks core is re-exported at the crate root.

pub use async_hooks_core::*;

/// Context storage: [`AsyncLocalStorage`](context::AsyncLocalStorage),
/// [`Snapshot`](context::Snapshot), [`bind`](context::bind).
pub mod context {
    pub use async_hooks_context::*;
}

/// The worker pool and the resource-pool model.
pub mod pool {
    pub use async_hooks_pool::*;
}

/// Resources as `tracing` spans; OTLP export with the `otlp` feature.
#[cfg(feature = "tracing")]
pub mod tracing {
    pub use async_hooks_tracing::*;
}

/// tokio integration: spawn wrappers and runtime task hooks.
#[cfg(feature = "tokio")]
pub mod tokio {
    pub use async_hooks_tokio::*;
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
