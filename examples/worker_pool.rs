//! Node's "Using `AsyncResource` for a `Worker` thread pool", the Rust way.
//!
//! The seed program submits ten tasks `{a: 42, b: 100}` and prints each
//! result. Here the pool is `async_hooks::pool::WorkerPool`, and a hook set
//! prints each task's lifecycle: `init` at submission (with the pool's
//! name), the facts recorded once known (worker, queue wait, run time,
//! outcome), a `before`/`after` pair around the processor and another around
//! the callback, and `destroy` last.
//!
//! Run with `cargo run --example worker_pool`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, mpsc};

use async_hooks::context::AsyncLocalStorage;
use async_hooks::pool::attributes::TASK_RESOURCE_TYPE;
use async_hooks::pool::{TaskError, WorkerPool};
use async_hooks::{AsyncId, HookCallbacks, create_hook};

/// The seed's task: `{ a: 42, b: 100 }`.
struct Task {
    a: u32,
    b: u32,
}

/// Which submission a task belongs to, to show that callbacks keep it.
static SUBMISSION: AsyncLocalStorage<usize> = AsyncLocalStorage::new();

/// The current thread's name, to tell the workers' lines apart.
fn thread_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

fn main() -> anyhow::Result<()> {
    // The hook set: print every event of pool tasks (and only of those).
    let tasks: Arc<Mutex<HashSet<AsyncId>>> = Arc::default();
    let is_task = {
        let tasks = tasks.clone();
        move |id: AsyncId| tasks.lock().unwrap().contains(&id)
    };
    let (on_before, on_after, on_record, on_destroy) = (is_task.clone(), is_task.clone(), is_task.clone(), is_task);
    let hook = create_hook(
        HookCallbacks::new()
            .named("print-task-lifecycle")
            .on_init(move |id, resource_type, trigger, resource| {
                if resource_type == TASK_RESOURCE_TYPE {
                    tasks.lock().unwrap().insert(id);
                    let attributes: Vec<String> = resource.attributes().iter().map(ToString::to_string).collect();
                    println!(
                        "[{}] init    {resource_type}({id}) trigger={trigger} {}",
                        thread_name(),
                        attributes.join(" ")
                    );
                }
            })
            .on_before(move |id| {
                if on_before(id) {
                    println!("[{}] before  {id}", thread_name());
                }
            })
            .on_after(move |id| {
                if on_after(id) {
                    println!("[{}] after   {id}", thread_name());
                }
            })
            .on_record(move |id, attributes| {
                if on_record(id) {
                    let attributes: Vec<String> = attributes.iter().map(ToString::to_string).collect();
                    println!("[{}] record  {id} {}", thread_name(), attributes.join(" "));
                }
            })
            .on_destroy(move |id| {
                if on_destroy(id) {
                    println!("[{}] destroy {id}", thread_name());
                }
            }),
    );
    hook.enable();

    let num_threads = std::thread::available_parallelism().map_or(2, usize::from);
    let pool = WorkerPool::builder().name("adder").num_threads(num_threads).build(|task: Task| task.a + task.b)?;

    let (finished, all_finished) = mpsc::channel::<Result<u32, TaskError>>();
    for i in 0..10 {
        let finished = finished.clone();
        SUBMISSION.run(i, || {
            pool.run_task(Task { a: 42, b: 100 }, move |result| {
                // Runs on a worker thread, in the task's scope: it still
                // knows which submission it belongs to.
                assert_eq!(SUBMISSION.get(), Some(i));
                println!("[{}] {i} {result:?}", thread_name());
                finished.send(result).expect("main waits for every result");
            })
        })?;
    }
    drop(finished);

    // The seed closes the pool from the tenth callback; here main waits for
    // all ten and closes it, which also joins the worker threads.
    let results: Vec<_> = all_finished.iter().collect();
    pool.close();
    hook.disable();

    let stats = pool.stats();
    println!(
        "{} tasks, all {}: completed={} mean run={:?} mean queue wait={:?}",
        results.len(),
        if results.iter().all(|result| *result == Ok(142)) { "142" } else { "NOT 142" },
        stats.completed,
        stats.run_time.mean(),
        stats.wait_time.mean(),
    );
    Ok(())
}
