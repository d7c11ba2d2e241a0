//! Fixed loops of the hot-path operations of DESIGN §8, for instruction
//! counts, which do not change with the machine or its load, next to the
//! criterion benches (this crate's `benches/context.rs`, the core's
//! `benches/core.rs`), whose nanoseconds do.
//!
//! - `op_loop OP [N]`: N iterations (default 1,000,000) of one operation.
//! - `op_loop instructions [N]`: every operation under
//!   `valgrind --tool=callgrind`, twice (N iterations and none), printing
//!   the difference per iteration: instructions per operation. Needs
//!   valgrind on `PATH`.
//! - `op_loop time [N]`: every operation in turn, best of 5 runs, in ns per
//!   operation (wall clock: noisy on a shared machine).
//!
//! Sessions compare builds of two commits with `instructions` rather than
//! with nanoseconds measured on different days, or different processors.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::process::Command;
use std::task::{Context, Waker};
use std::time::Instant;

use async_hooks_context::{AsyncLocalStorage, Snapshot};
use async_hooks_core::{AsyncHook, AsyncResource, ContextFrame, FutureExt, Hooks, create_hook, execution_async_id};

static STORE: AsyncLocalStorage<u64> = AsyncLocalStorage::new();

/// Every operation, by name, with what it does.
const OPERATIONS: [(&str, &str); 12] = [
    ("harness", "consume an Option<u64> that needs no lookup (part of every read)"),
    ("execution_async_id", "execution_async_id() at the root"),
    ("lifecycle", "AsyncResource::new + run_in_async_scope(noop) + drop, no hooks"),
    ("lifecycle_1_hook", "the same with one hook set of no-op callbacks"),
    ("poll", "one poll of in_async_resource(pending), no hooks"),
    ("poll_1_hook", "the same with one hook set of no-op callbacks"),
    ("get", "AsyncLocalStorage::get inside run"),
    ("with", "AsyncLocalStorage::with inside run"),
    ("run_get", "AsyncLocalStorage::run(v, get)"),
    ("get_10_nested", "get of the 6th of 10 nested runs"),
    ("snapshot", "Snapshot::capture + run(noop) inside run"),
    ("propagation_1_store", "a resource lifecycle after enter_with of one store"),
];

/// A hook set whose every callback is empty.
struct NoOpHooks;

impl Hooks for NoOpHooks {}

/// Observes a result without reloading it (as the benches do).
#[inline(always)]
fn consume<T>(value: T) {
    black_box(&value);
}

#[inline(always)]
fn lifecycle() {
    let resource = AsyncResource::new("OpLoop");
    resource.run_in_async_scope(|| black_box(()));
    black_box(&resource);
}

fn with_hook(operation: &str) -> Option<AsyncHook<NoOpHooks>> {
    operation.ends_with("_1_hook").then(|| {
        let hook = create_hook(NoOpHooks);
        hook.enable();
        hook
    })
}

/// Runs `operation` `n` times.
fn run(operation: &str, n: u64) {
    let _hook = with_hook(operation);
    match operation {
        "harness" => (0..n).for_each(|i| consume(Some(i))),
        "execution_async_id" => (0..n).for_each(|_| consume(execution_async_id())),
        "lifecycle" | "lifecycle_1_hook" => (0..n).for_each(|_| lifecycle()),
        "poll" | "poll_1_hook" => {
            let mut cx = Context::from_waker(Waker::noop());
            let mut future = pin!(std::future::pending::<()>().in_async_resource("OpLoop"));
            (0..n).for_each(|_| consume(future.as_mut().poll(&mut cx).is_pending()));
        }
        "get" => STORE.run(7, || (0..n).for_each(|_| consume(STORE.get()))),
        "with" => STORE.run(7, || (0..n).for_each(|_| STORE.with(|value| consume(value.copied())))),
        "run_get" => (0..n).for_each(|_| consume(STORE.run(black_box(7), || STORE.get()))),
        "get_10_nested" => {
            let stores: Vec<AsyncLocalStorage<u64>> = (0..10).map(|_| AsyncLocalStorage::new()).collect();
            fn nest(stores: &[AsyncLocalStorage<u64>], f: &mut dyn FnMut()) {
                match stores.split_first() {
                    Some((first, rest)) => first.run(1, || nest(rest, f)),
                    None => f(),
                }
            }
            nest(&stores, &mut || (0..n).for_each(|_| consume(stores[5].get())));
        }
        "snapshot" => STORE.run(7, || (0..n).for_each(|_| Snapshot::capture().run(|| black_box(())))),
        "propagation_1_store" => {
            STORE.enter_with(1);
            (0..n).for_each(|_| lifecycle());
            // `enter_with` lasts on this thread: undo it for what runs next.
            ContextFrame::set_current(ContextFrame::empty());
        }
        unknown => {
            eprintln!("unknown operation {unknown:?}; one of:");
            for (name, what) in OPERATIONS {
                eprintln!("  {name:<20} {what}");
            }
            std::process::exit(2);
        }
    }
}

/// Instructions `valgrind --tool=callgrind` counts for `op_loop OP N`.
fn instructions(operation: &str, n: u64) -> Result<u64, String> {
    let program = std::env::current_exe().map_err(|error| error.to_string())?;
    let output = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(&program)
        .args([operation, &n.to_string()])
        .output()
        .map_err(|error| format!("running valgrind: {error}"))?;
    let report = String::from_utf8_lossy(&output.stderr);
    report
        .lines()
        .find_map(|line| line.split("Collected :").nth(1))
        .and_then(|count| count.trim().parse().ok())
        .ok_or_else(|| format!("no instruction count in valgrind's output:\n{report}"))
}

fn main() {
    let mut arguments = std::env::args().skip(1);
    let command = arguments.next().unwrap_or_else(|| "time".to_owned());
    let n: u64 = arguments.next().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    match command.as_str() {
        "instructions" => {
            let n = n.min(200_000);
            println!("instructions per operation (callgrind, {n} iterations minus none):");
            for (name, what) in OPERATIONS {
                match (instructions(name, n), instructions(name, 0)) {
                    (Ok(with), Ok(without)) => {
                        println!("  {name:<20} {:>6.1}   {what}", (with.saturating_sub(without)) as f64 / n as f64);
                    }
                    (Err(error), _) | (_, Err(error)) => {
                        eprintln!("{error}");
                        std::process::exit(1);
                    }
                }
            }
        }
        "time" => {
            println!("ns per operation (best of 5 runs of {n}; wall clock, noisy on a shared machine):");
            for (name, what) in OPERATIONS {
                let best = (0..5)
                    .map(|_| {
                        let start = Instant::now();
                        run(name, n);
                        start.elapsed().as_nanos() as f64 / n as f64
                    })
                    .fold(f64::MAX, f64::min);
                println!("  {name:<20} {best:>6.2}   {what}");
            }
        }
        operation => run(operation, n),
    }
}
