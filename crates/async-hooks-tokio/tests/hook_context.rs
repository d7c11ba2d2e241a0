//! The hook tier (`--cfg tokio_unstable`) carries context and trigger ids
//! through *plain* `tokio::spawn`, with no wrapper, on both runtime
//! flavours; and what one task writes into the context never reaches the
//! next task polled on its thread. No hook set is enabled in this file.
//! Every test holds [`serial`]: the live-task count some of them check is
//! process-wide.

#![cfg(tokio_unstable)]

mod support;

use async_hooks_core::{AsyncId, execution_async_id, trigger_async_id};
use support::{Flavor, STORE, Tier, context_scenarios, serial};
use tokio::task::JoinSet;

/// Tasks in total, spawned in batches so that no more than a batch is alive
/// at once (memory stays small on the CI box).
const N_TASKS: u64 = 200_000;
const BATCH: u64 = 20_000;

fn two_hundred_thousand_plain_spawns_each_see_their_own_context_at_every_poll(flavor: Flavor) {
    let _serial = serial();
    context_scenarios::each_task_sees_its_own_context_at_every_poll(Tier::Hook, flavor, N_TASKS, BATCH);
    assert_eq!(async_hooks_tokio::live_task_count(), 0, "every task left the table");
}

#[test]
fn two_hundred_thousand_plain_spawns_each_see_their_own_context_at_every_poll_current_thread() {
    two_hundred_thousand_plain_spawns_each_see_their_own_context_at_every_poll(Flavor::CurrentThread);
}

#[test]
fn two_hundred_thousand_plain_spawns_each_see_their_own_context_at_every_poll_multi_thread() {
    two_hundred_thousand_plain_spawns_each_see_their_own_context_at_every_poll(Flavor::MultiThread);
}

fn nested_plain_spawns_chain_their_triggers(flavor: Flavor) {
    let _serial = serial();
    let chain = context_scenarios::nested_spawns_chain_their_triggers(Tier::Hook, flavor);
    assert!(chain.iter().all(|(id, _, _)| *id != AsyncId::ROOT), "every task is a resource: {chain:?}");
}

#[test]
fn nested_plain_spawns_chain_their_triggers_current_thread() {
    nested_plain_spawns_chain_their_triggers(Flavor::CurrentThread);
}

#[test]
fn nested_plain_spawns_chain_their_triggers_multi_thread() {
    nested_plain_spawns_chain_their_triggers(Flavor::MultiThread);
}

fn the_spawn_blocking_wrapper_carries_context_where_the_hooks_cannot(flavor: Flavor) {
    let _serial = serial();
    let runtime = flavor.runtime_with_hooks();
    runtime.block_on(async {
        let handles: Vec<_> = (0..100_u64)
            .map(|i| {
                STORE.run(i, || {
                    tokio::spawn(async move {
                        let task = execution_async_id();
                        let (store, trigger) =
                            async_hooks_tokio::spawn_blocking(|| (STORE.get(), trigger_async_id())).await.unwrap();
                        // tokio runs no spawn or poll hook for blocking
                        // tasks: the documented gap the wrapper fills.
                        let plain = tokio::task::spawn_blocking(|| STORE.get()).await.unwrap();
                        (store, trigger == task, plain)
                    })
                })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap(), (Some(i as u64), true, None), "task {i}");
        }
    });
    drop(runtime);
    assert_eq!(async_hooks_tokio::live_task_count(), 0);
}

#[test]
fn the_spawn_blocking_wrapper_carries_context_where_the_hooks_cannot_current_thread() {
    the_spawn_blocking_wrapper_carries_context_where_the_hooks_cannot(Flavor::CurrentThread);
}

#[test]
fn the_spawn_blocking_wrapper_carries_context_where_the_hooks_cannot_multi_thread() {
    the_spawn_blocking_wrapper_carries_context_where_the_hooks_cannot(Flavor::MultiThread);
}

fn a_value_written_by_one_task_never_leaks_into_the_next_task_polled_on_that_thread(flavor: Flavor) {
    let _serial = serial();
    // The root yields every hundred spawns.
    context_scenarios::a_value_written_by_one_task_never_reaches_the_next(Tier::Hook, flavor, 2000, |i| i % 100 == 0);
}

#[test]
fn a_value_written_by_one_task_never_leaks_into_the_next_task_polled_on_that_thread_current_thread() {
    a_value_written_by_one_task_never_leaks_into_the_next_task_polled_on_that_thread(Flavor::CurrentThread);
}

#[test]
fn a_value_written_by_one_task_never_leaks_into_the_next_task_polled_on_that_thread_multi_thread() {
    a_value_written_by_one_task_never_leaks_into_the_next_task_polled_on_that_thread(Flavor::MultiThread);
}

#[test]
fn a_write_in_the_final_poll_never_reaches_a_task_spawned_later_from_the_root() {
    let _serial = serial();
    // Research §1.3 pitfall 2: on a current-thread runtime tasks run on the
    // `block_on` thread, so an unrestored write would reach later spawns.
    let runtime = Flavor::CurrentThread.runtime_with_hooks();
    runtime.block_on(async {
        for i in 0..100_u64 {
            let writer = tokio::spawn(async move { STORE.enter_with(i) });
            writer.await.unwrap();
            assert_eq!(STORE.get(), None, "the root after writer {i}");
            let reader = tokio::spawn(async { STORE.get() });
            assert_eq!(reader.await.unwrap(), None, "a task spawned after writer {i}");
        }
    });
}

fn join_set_and_handle_spawns_carry_context_with_no_wrapper(flavor: Flavor) {
    let _serial = serial();
    let runtime = flavor.runtime_with_hooks();
    let handle = runtime.handle().clone();
    let from_outside = STORE.run(77, || handle.spawn(async { STORE.get() }));
    let mut seen = runtime.block_on(async {
        let mut set = JoinSet::new();
        for i in 0..50_u64 {
            STORE.run(i, || {
                set.spawn(async move {
                    tokio::task::yield_now().await;
                    STORE.get()
                })
            });
        }
        set.join_all().await
    });
    seen.sort();
    assert_eq!(seen, (0..50).map(Some).collect::<Vec<_>>());
    assert_eq!(runtime.block_on(from_outside).unwrap(), Some(77));
}

#[test]
fn join_set_and_handle_spawns_carry_context_with_no_wrapper_current_thread() {
    join_set_and_handle_spawns_carry_context_with_no_wrapper(Flavor::CurrentThread);
}

#[test]
fn join_set_and_handle_spawns_carry_context_with_no_wrapper_multi_thread() {
    join_set_and_handle_spawns_carry_context_with_no_wrapper(Flavor::MultiThread);
}

#[test]
fn a_runtime_without_the_hooks_does_not_propagate() {
    let _serial = serial();
    // The control experiment: the same plain spawn, no `install`.
    let runtime = Flavor::MultiThread.runtime();
    let seen = runtime.block_on(async { STORE.run(1, || tokio::spawn(async { STORE.get() })).await.unwrap() });
    assert_eq!(seen, None);
}
