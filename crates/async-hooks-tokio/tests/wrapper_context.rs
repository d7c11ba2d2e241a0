//! The wrapper tier carries context and trigger ids into tasks: every poll
//! of a task spawned through `async_hooks_tokio` sees its spawn site's
//! context, on both runtime flavours. No hook set is enabled in this file.

mod support;

use async_hooks_core::{AsyncId, AsyncResource, execution_async_id, trigger_async_id};
use async_hooks_tokio::JoinSetExt;
use support::{CHECKS_PER_TASK, Flavor, STORE, check_every_poll};
use tokio::task::JoinSet;

const N_TASKS: u64 = 10_000;

fn ten_thousand_tasks_each_see_their_own_context_at_every_poll(flavor: Flavor) {
    let runtime = flavor.runtime();
    runtime.block_on(async {
        let (open_gate, gate) = tokio::sync::watch::channel(false);
        let handles: Vec<_> = (0..N_TASKS)
            .map(|i| {
                let gate = gate.clone();
                STORE.run(i, || async_hooks_tokio::spawn(check_every_poll(Some(i), gate)))
            })
            .collect();
        assert_eq!(STORE.get(), None, "spawning left the root's context alone");
        open_gate.send_replace(true);
        for (i, handle) in handles.into_iter().enumerate() {
            let report = handle.await.expect("the task completes");
            assert_eq!(report.first_bad, None, "task {i}");
            assert_eq!(report.good_polls, CHECKS_PER_TASK, "task {i}");
        }
        assert_eq!(STORE.get(), None, "no task's context leaked into the root");
    });
}

#[test]
fn ten_thousand_tasks_each_see_their_own_context_at_every_poll_current_thread() {
    ten_thousand_tasks_each_see_their_own_context_at_every_poll(Flavor::CurrentThread);
}

#[test]
fn ten_thousand_tasks_each_see_their_own_context_at_every_poll_multi_thread() {
    ten_thousand_tasks_each_see_their_own_context_at_every_poll(Flavor::MultiThread);
}

/// Spawns a chain of `depth` nested tasks; returns `(id, trigger, store)`
/// of each, outermost first.
fn spawn_chain(depth: usize) -> tokio::task::JoinHandle<Vec<(AsyncId, AsyncId, Option<u64>)>> {
    async_hooks_tokio::spawn(async move {
        tokio::task::yield_now().await;
        let me = (execution_async_id(), trigger_async_id(), STORE.get());
        let mut chain = vec![me];
        if depth > 1 {
            chain.extend(spawn_chain(depth - 1).await.expect("the nested task completes"));
        }
        chain
    })
}

fn nested_spawns_chain_their_triggers(flavor: Flavor) {
    let runtime = flavor.runtime();
    let request = AsyncResource::new("Request");
    let chain = runtime
        .block_on(async { request.run_in_async_scope(|| STORE.run(5, || spawn_chain(6))).await })
        .expect("the chain completes");
    assert_eq!(chain.len(), 6);
    assert_eq!(chain[0].1, request.async_id(), "the outermost task was triggered by its spawner");
    for pair in chain.windows(2) {
        assert_eq!(pair[1].1, pair[0].0, "each task is triggered by the task that spawned it");
    }
    assert!(chain.iter().all(|(_, _, store)| *store == Some(5)), "context flows down the chain: {chain:?}");
}

#[test]
fn nested_spawns_chain_their_triggers_current_thread() {
    nested_spawns_chain_their_triggers(Flavor::CurrentThread);
}

#[test]
fn nested_spawns_chain_their_triggers_multi_thread() {
    nested_spawns_chain_their_triggers(Flavor::MultiThread);
}

fn spawn_blocking_carries_context_and_trigger(flavor: Flavor) {
    let runtime = flavor.runtime();
    runtime.block_on(async {
        let handles: Vec<_> = (0..100_u64)
            .map(|i| {
                STORE.run(i, || {
                    async_hooks_tokio::spawn(async move {
                        let task = execution_async_id();
                        let (store, trigger, id) = async_hooks_tokio::spawn_blocking(|| {
                            (STORE.get(), trigger_async_id(), execution_async_id())
                        })
                        .await
                        .expect("the blocking task completes");
                        assert_ne!(id, task, "the blocking work is a resource of its own");
                        (store, trigger == task)
                    })
                })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap(), (Some(i as u64), true), "blocking task {i}");
        }
    });
}

#[test]
fn spawn_blocking_carries_context_and_trigger_current_thread() {
    spawn_blocking_carries_context_and_trigger(Flavor::CurrentThread);
}

#[test]
fn spawn_blocking_carries_context_and_trigger_multi_thread() {
    spawn_blocking_carries_context_and_trigger(Flavor::MultiThread);
}

fn join_set_tasks_carry_their_spawn_site_context(flavor: Flavor) {
    let runtime = flavor.runtime();
    let mut seen = runtime.block_on(async {
        let mut set = JoinSet::new();
        for i in 0..50_u64 {
            STORE.run(i, || {
                set.spawn_in_context(async move {
                    tokio::task::yield_now().await;
                    STORE.get()
                });
                set.spawn_blocking_in_context(move || STORE.get().map(|value| value + 1000));
                set.spawn_on_in_context(
                    async { STORE.get().map(|value| value + 2000) },
                    &tokio::runtime::Handle::current(),
                );
            });
        }
        set.join_all().await
    });
    seen.sort();
    let mut expected: Vec<_> = (0..50).flat_map(|i| [Some(i), Some(i + 1000), Some(i + 2000)]).collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn join_set_tasks_carry_their_spawn_site_context_current_thread() {
    join_set_tasks_carry_their_spawn_site_context(Flavor::CurrentThread);
}

#[test]
fn join_set_tasks_carry_their_spawn_site_context_multi_thread() {
    join_set_tasks_carry_their_spawn_site_context(Flavor::MultiThread);
}

fn a_value_written_by_one_task_never_reaches_the_next(flavor: Flavor) {
    let runtime = flavor.runtime();
    runtime.block_on(async {
        let (open_gate, gate) = tokio::sync::watch::channel(false);
        // Tasks with a value and tasks without one, interleaved: each writes
        // into the context before every yield; none may see another's write.
        let handles: Vec<_> = (0..1000_u64)
            .map(|i| {
                let gate = gate.clone();
                if i % 2 == 0 {
                    STORE.run(i, || async_hooks_tokio::spawn(check_every_poll(Some(i), gate)))
                } else {
                    async_hooks_tokio::spawn(check_every_poll(None, gate))
                }
            })
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(STORE.get(), None, "the root saw no task's write");
        open_gate.send_replace(true);
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap().first_bad, None, "task {i}");
        }
        assert_eq!(STORE.get(), None, "the root saw no task's write");
    });
}

#[test]
fn a_value_written_by_one_task_never_reaches_the_next_current_thread() {
    a_value_written_by_one_task_never_reaches_the_next(Flavor::CurrentThread);
}

#[test]
fn a_value_written_by_one_task_never_reaches_the_next_multi_thread() {
    a_value_written_by_one_task_never_reaches_the_next(Flavor::MultiThread);
}

#[test]
fn spawn_on_carries_the_context_of_a_caller_outside_the_runtime() {
    let runtime = Flavor::MultiThread.runtime();
    let handle = STORE.run(3, || async_hooks_tokio::spawn_on(async { STORE.get() }, runtime.handle()));
    let blocking = STORE.run(4, || async_hooks_tokio::spawn_blocking_on(|| STORE.get(), runtime.handle()));
    assert_eq!(runtime.block_on(handle).unwrap(), Some(3));
    assert_eq!(runtime.block_on(blocking).unwrap(), Some(4));
}

#[test]
fn spawn_local_carries_context_into_a_local_set() {
    let runtime = Flavor::CurrentThread.runtime();
    let local = tokio::task::LocalSet::new();
    let seen = local.block_on(&runtime, async {
        let handles: Vec<_> = (0..10_u64)
            .map(|i| {
                STORE.run(i, || {
                    async_hooks_tokio::spawn_local(async {
                        tokio::task::yield_now().await;
                        STORE.get()
                    })
                })
            })
            .collect();
        let mut seen = Vec::new();
        for handle in handles {
            seen.push(handle.await.unwrap());
        }
        seen
    });
    assert_eq!(seen, (0..10).map(Some).collect::<Vec<_>>());
}
