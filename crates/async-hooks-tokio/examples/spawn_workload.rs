//! A fixed spawn workload for instruction counts (`valgrind --tool=callgrind`):
//! `spawn_workload <bare|noop|hooks> <current|multi> <tasks> <rounds>` spawns
//! `tasks` tasks of one `yield_now` each from `block_on` and joins them,
//! `rounds` times, on a runtime of the given tier. The per-task cost of a
//! tier is the difference of two runs' counts divided by the task count.
//!
//! Tier `mixed` alternates rounds on a hook-tier runtime and on a bare one
//! in one process; `--toggle-collect='*bare_round*'` counts only the bare
//! rounds, to see what the hook tier's heap use does to bare spawns.

use tokio::runtime::{Builder, Runtime};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tier = args.get(1).map_or("hooks", String::as_str);
    let flavor = args.get(2).map_or("current", String::as_str);
    let tasks: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.get(4).and_then(|n| n.parse().ok()).unwrap_or(1);
    if tier == "mixed" {
        let hooks = runtime("hooks", flavor);
        let bare = runtime("bare", flavor);
        for _ in 0..rounds {
            round(&hooks, tasks);
            bare_round(&bare, tasks);
        }
        return;
    }
    let runtime = runtime(tier, flavor);
    for _ in 0..rounds {
        round(&runtime, tasks);
    }
}

#[inline(never)]
fn bare_round(runtime: &Runtime, tasks: usize) {
    round(runtime, tasks);
}

fn runtime(tier: &str, flavor: &str) -> Runtime {
    let mut builder = match flavor {
        "multi" => {
            let mut builder = Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        }
        _ => Builder::new_current_thread(),
    };
    match tier {
        "bare" => {}
        "noop" => install_noop_task_hooks(&mut builder),
        _ => {
            async_hooks_tokio::install(&mut builder).expect("built with --cfg tokio_unstable");
        }
    }
    builder.build().expect("the runtime builds")
}

fn round(runtime: &Runtime, tasks: usize) {
    runtime.block_on(async {
        let mut handles = Vec::with_capacity(tasks);
        for _ in 0..tasks {
            let task = std::hint::black_box(async { tokio::task::yield_now().await });
            handles.push(tokio::spawn(task));
        }
        for handle in handles {
            handle.await.expect("the task completes");
        }
    });
}

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
    panic!("the no-op task hooks tier needs --cfg tokio_unstable");
}
