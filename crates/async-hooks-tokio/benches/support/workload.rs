//! The spawn workload shared by the `spawn` bench and the `spawn_workload`
//! example: runtime flavours, tiers, and a round of tasks that each yield
//! once.

#![allow(dead_code, unreachable_pub)]

use tokio::runtime::{Builder, Runtime};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    pub const ALL: [Flavor; 2] = [Flavor::CurrentThread, Flavor::MultiThread];

    pub fn name(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current_thread",
            Flavor::MultiThread => "multi_thread",
        }
    }

    pub fn builder(self) -> Builder {
        match self {
            Flavor::CurrentThread => Builder::new_current_thread(),
            Flavor::MultiThread => {
                let mut builder = Builder::new_multi_thread();
                builder.worker_threads(2);
                builder
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// `tokio::spawn` on a runtime without hooks.
    Bare,
    /// `tokio::spawn` on a runtime with four task hooks that do nothing:
    /// what tokio's own hook machinery costs (needs `--cfg tokio_unstable`).
    NoopTaskHooks,
    /// `async_hooks_tokio::spawn` on a runtime without hooks.
    Wrapper,
    /// `tokio::spawn` on a runtime with automatic propagation installed.
    Hooks,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Bare, Tier::NoopTaskHooks, Tier::Wrapper, Tier::Hooks];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Bare => "bare tokio::spawn",
            Tier::NoopTaskHooks => "tokio no-op task hooks",
            Tier::Wrapper => "wrapper tier",
            Tier::Hooks => "hook tier",
        }
    }

    pub fn available(self) -> bool {
        !matches!(self, Tier::NoopTaskHooks | Tier::Hooks) || async_hooks_tokio::is_automatic_propagation_available()
    }

    pub fn runtime(self, flavor: Flavor) -> Runtime {
        let mut builder = flavor.builder();
        match self {
            Tier::Bare | Tier::Wrapper => {}
            Tier::NoopTaskHooks => install_noop_task_hooks(&mut builder),
            Tier::Hooks => {
                async_hooks_tokio::install(&mut builder).expect("built with --cfg tokio_unstable");
            }
        }
        builder.build().expect("the runtime builds")
    }
}

/// Spawns and joins `n` tasks of one yield each.
pub fn spawn_and_join(runtime: &Runtime, tier: Tier, n: usize) {
    runtime.block_on(async {
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            let task = std::hint::black_box(async { tokio::task::yield_now().await });
            handles.push(match tier {
                Tier::Wrapper => async_hooks_tokio::spawn(task),
                Tier::Bare | Tier::NoopTaskHooks | Tier::Hooks => tokio::spawn(task),
            });
        }
        for handle in handles {
            handle.await.expect("the task completes");
        }
    });
}

/// tokio's four task hooks, each a closure that does nothing.
#[cfg(tokio_unstable)]
fn install_noop_task_hooks(builder: &mut Builder) {
    builder
        .on_task_spawn(|meta| {
            std::hint::black_box(meta);
        })
        .on_before_task_poll(|meta| {
            std::hint::black_box(meta);
        })
        .on_after_task_poll(|meta| {
            std::hint::black_box(meta);
        })
        .on_task_terminate(|meta| {
            std::hint::black_box(meta);
        });
}

#[cfg(not(tokio_unstable))]
fn install_noop_task_hooks(_builder: &mut Builder) {
    unreachable!("the no-op task hooks tier is skipped without --cfg tokio_unstable");
}
