//! The wrapper tier's lifecycle events: every task spawned through
//! `async_hooks_tokio` is one resource with `init` at the spawn site, paired
//! `before`/`after` per poll, and exactly one `destroy`, last — whether it
//! completes, panics, is aborted or is dropped at runtime shutdown.

mod support;

use async_hooks_core::execution_async_id;
use async_hooks_tokio::BLOCKING_TASK_RESOURCE_TYPE;
use support::lifecycle_scenarios::{self, recorder};
use support::{Event, Flavor, Tier, assert_lifecycle, polls, serial};

fn a_completed_task_has_init_polls_resolve_and_one_destroy(flavor: Flavor) {
    let _serial = serial();
    let (_, events) = lifecycle_scenarios::a_task_that_yields_once(Tier::Wrapper, flavor);
    let kinds: Vec<_> = events.iter().map(Event::kind).collect();
    assert_eq!(kinds[kinds.len() - 3..], ["promise_resolve", "after", "destroy"], "resolved inside the final poll");
}

#[test]
fn a_completed_task_has_init_polls_resolve_and_one_destroy_current_thread() {
    a_completed_task_has_init_polls_resolve_and_one_destroy(Flavor::CurrentThread);
}

#[test]
fn a_completed_task_has_init_polls_resolve_and_one_destroy_multi_thread() {
    a_completed_task_has_init_polls_resolve_and_one_destroy(Flavor::MultiThread);
}

fn an_aborted_task_ends_in_exactly_one_destroy(flavor: Flavor) {
    let _serial = serial();
    let events = lifecycle_scenarios::an_aborted_task(Tier::Wrapper, flavor);
    assert!(!events.contains(&Event::PromiseResolve), "an aborted task never resolves: {events:?}");
}

#[test]
fn an_aborted_task_ends_in_exactly_one_destroy_current_thread() {
    an_aborted_task_ends_in_exactly_one_destroy(Flavor::CurrentThread);
}

#[test]
fn an_aborted_task_ends_in_exactly_one_destroy_multi_thread() {
    an_aborted_task_ends_in_exactly_one_destroy(Flavor::MultiThread);
}

#[test]
fn a_panicking_task_ends_in_exactly_one_destroy_current_thread() {
    let _serial = serial();
    lifecycle_scenarios::a_panicking_task(Tier::Wrapper, Flavor::CurrentThread);
}

#[test]
fn a_panicking_task_ends_in_exactly_one_destroy_multi_thread() {
    let _serial = serial();
    lifecycle_scenarios::a_panicking_task(Tier::Wrapper, Flavor::MultiThread);
}

#[test]
fn runtime_shutdown_ends_every_pending_task_in_exactly_one_destroy_current_thread() {
    let _serial = serial();
    lifecycle_scenarios::a_runtime_shutdown_with_pending_tasks(Tier::Wrapper, Flavor::CurrentThread);
}

#[test]
fn runtime_shutdown_ends_every_pending_task_in_exactly_one_destroy_multi_thread() {
    let _serial = serial();
    lifecycle_scenarios::a_runtime_shutdown_with_pending_tasks(Tier::Wrapper, Flavor::MultiThread);
}

fn blocking_tasks_end_in_exactly_one_destroy_also_when_they_panic(flavor: Flavor) {
    let _serial = serial();
    let recorder = recorder();
    let runtime = flavor.runtime();
    recorder.clear();
    let spawner = runtime.block_on(async {
        assert_eq!(async_hooks_tokio::spawn_blocking(|| 1).await.unwrap(), 1);
        let panicked = async_hooks_tokio::spawn_blocking(|| panic!("the closure fails on purpose")).await;
        assert!(panicked.unwrap_err().is_panic());
        execution_async_id()
    });
    drop(runtime);
    let lifecycles = recorder.lifecycles_of(BLOCKING_TASK_RESOURCE_TYPE);
    assert_eq!(lifecycles.len(), 2);
    for (id, events) in &lifecycles {
        assert_lifecycle(*id, events);
        assert_eq!(polls(events), 1, "one scope around the closure: {events:?}");
        assert!(matches!(&events[0], Event::Init { trigger, .. } if *trigger == spawner), "{events:?}");
    }
}

#[test]
fn blocking_tasks_end_in_exactly_one_destroy_also_when_they_panic_current_thread() {
    blocking_tasks_end_in_exactly_one_destroy_also_when_they_panic(Flavor::CurrentThread);
}

#[test]
fn blocking_tasks_end_in_exactly_one_destroy_also_when_they_panic_multi_thread() {
    blocking_tasks_end_in_exactly_one_destroy_also_when_they_panic(Flavor::MultiThread);
}

#[test]
fn a_task_resource_records_its_spawn_site() {
    let _serial = serial();
    lifecycle_scenarios::a_task_resource_records_its_spawn_site(Tier::Wrapper);
}
