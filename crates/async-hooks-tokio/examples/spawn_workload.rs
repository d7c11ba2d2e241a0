//! A fixed spawn workload for instruction counts (`valgrind --tool=callgrind`):
//! `spawn_workload <bare|noop|hooks> <current|multi> <tasks> <rounds>` spawns
//! `tasks` tasks of one `yield_now` each from `block_on` and joins them,
//! `rounds` times, on a runtime of the given tier. The per-task cost of a
//! tier is the difference of two runs' counts divided by the task count.
//!
//! Tier `mixed` alternates rounds on a hook-tier runtime and on a bare one
//! in one process; `--toggle-collect='*bare_round*'` counts only the bare
//! rounds, to see what the hook tier's heap use does to bare spawns.

use tokio::runtime::Runtime;

#[path = "../benches/support/workload.rs"]
mod workload;

use workload::{Flavor, Tier, spawn_and_join};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tier = args.get(1).map_or("hooks", String::as_str);
    let flavor = match args.get(2).map_or("current", String::as_str) {
        "multi" => Flavor::MultiThread,
        _ => Flavor::CurrentThread,
    };
    let tasks: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.get(4).and_then(|n| n.parse().ok()).unwrap_or(1);
    if tier == "mixed" {
        let hooks = Tier::Hooks.runtime(flavor);
        let bare = Tier::Bare.runtime(flavor);
        for _ in 0..rounds {
            spawn_and_join(&hooks, Tier::Hooks, tasks);
            bare_round(&bare, tasks);
        }
        return;
    }
    let tier = match tier {
        "bare" => Tier::Bare,
        "noop" => Tier::NoopTaskHooks,
        _ => Tier::Hooks,
    };
    assert!(tier.available(), "the {} tier needs --cfg tokio_unstable", tier.name());
    let runtime = tier.runtime(flavor);
    for _ in 0..rounds {
        spawn_and_join(&runtime, tier, tasks);
    }
}

/// A bare round, out of line so that callgrind can count it alone.
#[inline(never)]
fn bare_round(runtime: &Runtime, tasks: usize) {
    spawn_and_join(runtime, Tier::Bare, tasks);
}
