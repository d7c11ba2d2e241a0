//! The wrapper tier carries context and trigger ids into tasks: every poll
//! of a task spawned through `async_hooks_tokio` sees its spawn site's
//! context, on both runtime flavours. No hook set is enabled in this file.

mod support;

use async_hooks_core::{execution_async_id, trigger_async_id};
use async_hooks_tokio::JoinSetExt;
use support::{Flavor, STORE, Tier, context_scenarios};
use tokio::task::JoinSet;

const N_TASKS: u64 = 10_000;

fn ten_thousand_tasks_each_see_their_own_context_at_every_poll(flavor: Flavor) {
    // One batch: all of them are alive at once.
    context_scenarios::each_task_sees_its_own_context_at_every_poll(Tier::Wrapper, flavor, N_TASKS, N_TASKS);
}

#[test]
fn ten_thousand_tasks_each_see_their_own_context_at_every_poll_current_thread() {
    ten_thousand_tasks_each_see_their_own_context_at_every_poll(Flavor::CurrentThread);
}

#[test]
fn ten_thousand_tasks_each_see_their_own_context_at_every_poll_multi_thread() {
    ten_thousand_tasks_each_see_their_own_context_at_every_poll(Flavor::MultiThread);
}

#[test]
fn nested_spawns_chain_their_triggers_current_thread() {
    context_scenarios::nested_spawns_chain_their_triggers(Tier::Wrapper, Flavor::CurrentThread);
}

#[test]
fn nested_spawns_chain_their_triggers_multi_thread() {
    context_scenarios::nested_spawns_chain_their_triggers(Tier::Wrapper, Flavor::MultiThread);
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

/// Tasks in the interleaving test; the root yields once, after spawning
/// them all.
const N_INTERLEAVED: u64 = 1000;

fn a_value_written_by_one_task_never_reaches_the_next(flavor: Flavor) {
    context_scenarios::a_value_written_by_one_task_never_reaches_the_next(Tier::Wrapper, flavor, N_INTERLEAVED, |i| {
        i == N_INTERLEAVED - 1
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
