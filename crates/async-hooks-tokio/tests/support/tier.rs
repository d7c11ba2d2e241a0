//! The tier of `async_hooks_tokio` under test: how a test's tasks are
//! spawned and on what runtime, so one scenario serves both tiers.

use std::future::Future;

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

use super::Flavor;

/// What makes a spawned task an async resource.
#[derive(Clone, Copy, Debug)]
pub enum Tier {
    /// The always-available wrappers (`async_hooks_tokio::spawn` and
    /// friends) on a runtime without hooks.
    Wrapper,
    /// Plain `tokio::spawn` on a runtime with `async_hooks_tokio::install`.
    #[cfg(tokio_unstable)]
    Hook,
}

impl Tier {
    /// A runtime of `flavor` as this tier needs it.
    pub fn runtime(self, flavor: Flavor) -> Runtime {
        match self {
            Tier::Wrapper => flavor.runtime(),
            #[cfg(tokio_unstable)]
            Tier::Hook => flavor.runtime_with_hooks(),
        }
    }

    /// Spawns `future` on the current runtime the way this tier does.
    /// The spawn site both tiers record is the caller of this method.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Tier::Wrapper => async_hooks_tokio::spawn(future),
            #[cfg(tokio_unstable)]
            Tier::Hook => tokio::spawn(future),
        }
    }

    /// Spawns `future` on the runtime of `handle` the way this tier does.
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Tier::Wrapper => async_hooks_tokio::spawn_on(future, handle),
            #[cfg(tokio_unstable)]
            Tier::Hook => handle.spawn(future),
        }
    }
}
