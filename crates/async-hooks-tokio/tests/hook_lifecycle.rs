//! The hook tier's lifecycle events (`--cfg tokio_unstable`): every plain
//! `tokio::spawn` is one resource with `init` on the spawning thread (the
//! spawner is its trigger), paired `before`/`after` per poll, and exactly
//! one `destroy` after the final `after` — whether the task completes,
//! panics, is aborted or is cancelled at runtime shutdown.

#![cfg(tokio_unstable)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_hooks_tokio::{AutoPropagation, TASK_RESOURCE_TYPE};
use support::lifecycle_scenarios::{self, recorder};
use support::{Event, Flavor, STORE, Tier, assert_lifecycle, serial};

fn a_plain_task_is_a_resource_created_on_the_spawning_thread(flavor: Flavor) {
    let _serial = serial();
    let (spawning_thread, events) = lifecycle_scenarios::a_task_that_yields_once(Tier::Hook, flavor);
    let Event::Init { thread, .. } = &events[0] else { unreachable!("checked by assert_lifecycle") };
    assert_eq!(*thread, spawning_thread, "init ran on the spawning thread");
    assert_eq!(async_hooks_tokio::live_task_count(), 0);
}

#[test]
fn a_plain_task_is_a_resource_created_on_the_spawning_thread_current_thread() {
    a_plain_task_is_a_resource_created_on_the_spawning_thread(Flavor::CurrentThread);
}

#[test]
fn a_plain_task_is_a_resource_created_on_the_spawning_thread_multi_thread() {
    a_plain_task_is_a_resource_created_on_the_spawning_thread(Flavor::MultiThread);
}

fn an_aborted_plain_task_ends_in_exactly_one_destroy(flavor: Flavor) {
    let _serial = serial();
    lifecycle_scenarios::an_aborted_task(Tier::Hook, flavor);
    assert_eq!(async_hooks_tokio::live_task_count(), 0);
}

#[test]
fn an_aborted_plain_task_ends_in_exactly_one_destroy_current_thread() {
    an_aborted_plain_task_ends_in_exactly_one_destroy(Flavor::CurrentThread);
}

#[test]
fn an_aborted_plain_task_ends_in_exactly_one_destroy_multi_thread() {
    an_aborted_plain_task_ends_in_exactly_one_destroy(Flavor::MultiThread);
}

fn a_panicking_plain_task_ends_in_exactly_one_destroy(flavor: Flavor) {
    let _serial = serial();
    lifecycle_scenarios::a_panicking_task(Tier::Hook, flavor);
    assert_eq!(async_hooks_tokio::live_task_count(), 0);
}

#[test]
fn a_panicking_plain_task_ends_in_exactly_one_destroy_current_thread() {
    a_panicking_plain_task_ends_in_exactly_one_destroy(Flavor::CurrentThread);
}

#[test]
fn a_panicking_plain_task_ends_in_exactly_one_destroy_multi_thread() {
    a_panicking_plain_task_ends_in_exactly_one_destroy(Flavor::MultiThread);
}

fn runtime_shutdown_ends_every_pending_plain_task_in_exactly_one_destroy(flavor: Flavor) {
    let _serial = serial();
    lifecycle_scenarios::a_runtime_shutdown_with_pending_tasks(Tier::Hook, flavor);
    assert_eq!(async_hooks_tokio::live_task_count(), 0);
}

#[test]
fn runtime_shutdown_ends_every_pending_plain_task_in_exactly_one_destroy_current_thread() {
    runtime_shutdown_ends_every_pending_plain_task_in_exactly_one_destroy(Flavor::CurrentThread);
}

#[test]
fn runtime_shutdown_ends_every_pending_plain_task_in_exactly_one_destroy_multi_thread() {
    runtime_shutdown_ends_every_pending_plain_task_in_exactly_one_destroy(Flavor::MultiThread);
}

fn every_lifecycle_holds_in_a_busy_mixed_run(flavor: Flavor) {
    let _serial = serial();
    let recorder = recorder();
    let runtime = flavor.runtime_with_hooks();
    recorder.clear();
    runtime.block_on(async {
        let mut handles = Vec::new();
        for i in 0..300_u64 {
            handles.push(STORE.run(i, || {
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    // Nested plain spawns, a plain blocking task (terminate
                    // for an id the table never saw), a wrapper task (two
                    // nested resources) and an abort.
                    let nested = tokio::spawn(async { STORE.get() });
                    let blocking = tokio::task::spawn_blocking(|| 1);
                    let wrapped = async_hooks_tokio::spawn(async { STORE.get() });
                    let doomed = tokio::spawn(std::future::pending::<()>());
                    doomed.abort();
                    assert_eq!(nested.await.unwrap(), Some(i));
                    assert_eq!(wrapped.await.unwrap(), Some(i));
                    assert_eq!(blocking.await.unwrap(), 1);
                    let _ = doomed.await;
                })
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
    });
    drop(runtime);
    let lifecycles = recorder.lifecycles_of(TASK_RESOURCE_TYPE);
    // Per iteration: the task, its nested task, the wrapper's resource, the
    // wrapper task's own runtime resource, and the aborted task.
    assert_eq!(lifecycles.len(), 300 * 5);
    for (id, events) in &lifecycles {
        assert_lifecycle(*id, events);
    }
    assert_eq!(async_hooks_tokio::live_task_count(), 0, "every task left the table");
}

#[test]
fn every_lifecycle_holds_in_a_busy_mixed_run_current_thread() {
    every_lifecycle_holds_in_a_busy_mixed_run(Flavor::CurrentThread);
}

#[test]
fn every_lifecycle_holds_in_a_busy_mixed_run_multi_thread() {
    every_lifecycle_holds_in_a_busy_mixed_run(Flavor::MultiThread);
}

#[test]
fn the_task_resource_records_the_spawn_site() {
    let _serial = serial();
    lifecycle_scenarios::a_task_resource_records_its_spawn_site(Tier::Hook);
}

#[test]
fn chained_user_hooks_run_and_see_the_task_context() {
    let _serial = serial();
    let spawns = Arc::new(AtomicUsize::new(0));
    let terminates = Arc::new(AtomicUsize::new(0));
    let polled_with = Arc::new(Mutex::new(Vec::new()));
    let mut builder = Flavor::MultiThread.builder();
    let (spawn_count, terminate_count) = (spawns.clone(), terminates.clone());
    let (before_seen, after_seen) = (polled_with.clone(), polled_with.clone());
    AutoPropagation::new()
        .on_task_spawn(move |_| {
            spawn_count.fetch_add(1, Ordering::Relaxed);
        })
        .on_before_task_poll(move |_| before_seen.lock().unwrap().push(("before", STORE.get())))
        .on_after_task_poll(move |_| after_seen.lock().unwrap().push(("after", STORE.get())))
        .on_task_terminate(move |_| {
            terminate_count.fetch_add(1, Ordering::Relaxed);
        })
        .install(&mut builder)
        .expect("built with --cfg tokio_unstable");
    let runtime = builder.build().unwrap();
    let seen = runtime.block_on(async { STORE.run(8, || tokio::spawn(async { STORE.get() })).await.unwrap() });
    drop(runtime);
    assert_eq!(seen, Some(8), "propagation still works with chained hooks");
    assert_eq!(spawns.load(Ordering::Relaxed), 1);
    // The worker threads' own terminates reach the user's hook too.
    assert!(terminates.load(Ordering::Relaxed) >= 1);
    assert_eq!(*polled_with.lock().unwrap(), [("before", Some(8)), ("after", Some(8))]);
}
