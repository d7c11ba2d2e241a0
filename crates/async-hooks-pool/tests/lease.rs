//! The resource-pool model: leases are async resources with the worker
//! pool's lifecycle and context guarantees.

mod support;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use async_hooks_context::AsyncLocalStorage;
use async_hooks_core::{AsyncResource, create_hook, execution_async_id};
use async_hooks_pool::attributes::{
    LEASE_RESOURCE_TYPE, POOL_NAME, POOL_OUTCOME, POOL_QUEUE_WAIT_US, POOL_RESOURCE, POOL_USE_US,
};
use async_hooks_pool::{LeaseError, ResourcePool};
use support::{Event, Recorder, assert_lifecycle, attributes_of, serial};

static CALLER: AsyncLocalStorage<usize> = AsyncLocalStorage::new();

fn counter_pool(max_size: usize) -> (ResourcePool<u64, Infallible>, Arc<AtomicUsize>) {
    let created = Arc::new(AtomicUsize::new(0));
    let counted = created.clone();
    let pool = ResourcePool::builder(move || Ok(counted.fetch_add(1, Ordering::SeqCst) as u64))
        .name("counters")
        .max_size(max_size)
        .build();
    (pool, created)
}

#[test]
fn a_lease_is_a_resource_created_at_checkout_and_destroyed_at_checkin() {
    let _serial = serial();
    let recorder = Recorder::of_type(LEASE_RESOURCE_TYPE);
    let hook = create_hook(recorder.clone());
    hook.enable();
    let (pool, _) = counter_pool(1);

    let request = AsyncResource::new("Request");
    let (lease_id, seen_id) = request.run_in_async_scope(|| {
        let mut lease = pool.get().unwrap();
        let seen = lease.run(|_connection| execution_async_id());
        lease.run(|_connection| ());
        (lease.async_id(), seen)
    });
    hook.disable();

    assert_eq!(seen_id, lease_id, "run executes in the lease's scope");
    let events = &recorder.by_resource()[&lease_id];
    assert_eq!(assert_lifecycle(events), 2, "one scope per run");
    let Event::Init { trigger, .. } = &events[0] else { unreachable!() };
    assert_eq!(*trigger, request.async_id(), "trigger = the caller of get");
    let attributes = attributes_of(events);
    for expected in [format!("{POOL_NAME}=counters"), format!("{POOL_RESOURCE}=0"), format!("{POOL_OUTCOME}=returned")]
    {
        assert!(attributes.contains(&expected), "{expected}: {attributes:?}");
    }
    for key in [POOL_QUEUE_WAIT_US, POOL_USE_US] {
        assert!(attributes.iter().any(|attribute| attribute.starts_with(&format!("{key}="))), "{key}: {attributes:?}");
    }
}

#[test]
fn each_lease_runs_in_its_callers_context_wherever_it_moves() {
    let _serial = serial();
    let (pool, created) = counter_pool(2);
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|caller| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut lease = CALLER.run(caller, || pool.get().unwrap());
                // Used from a thread that has no context of its own.
                std::thread::spawn(move || lease.run(|_connection| CALLER.get())).join().unwrap()
            })
        })
        .collect();
    for (caller, thread) in threads.into_iter().enumerate() {
        assert_eq!(thread.join().unwrap(), Some(caller));
    }
    assert!(created.load(Ordering::SeqCst) <= 2, "never more than max_size resources");
    assert_eq!(pool.state().idle, pool.state().live);
}

#[test]
fn a_failed_checkout_is_a_whole_lifecycle_with_its_outcome() {
    let _serial = serial();
    let recorder = Recorder::of_type(LEASE_RESOURCE_TYPE);
    let hook = create_hook(recorder.clone());
    hook.enable();
    let pool = ResourcePool::builder(|| Ok::<_, Infallible>(()))
        .max_size(1)
        .checkout_timeout(Duration::from_millis(1))
        .build();
    let held = pool.get().unwrap();
    // The only resource is held throughout: the timeout always passes.
    assert_eq!(pool.get().unwrap_err(), LeaseError::TimedOut);
    drop(held);
    pool.close();
    assert_eq!(pool.get().unwrap_err(), LeaseError::Closed);
    hook.disable();

    let by_resource = recorder.by_resource();
    assert_eq!(by_resource.len(), 3);
    let mut outcomes: Vec<String> = by_resource
        .values()
        .map(|events| {
            assert_lifecycle(events);
            attributes_of(events).into_iter().find(|attribute| attribute.starts_with(POOL_OUTCOME)).unwrap()
        })
        .collect();
    outcomes.sort_unstable();
    assert_eq!(outcomes, ["pool.outcome=closed", "pool.outcome=returned", "pool.outcome=timed_out"]);
}

#[test]
fn resources_are_reused_and_discarded_ones_replaced() {
    let _serial = serial();
    let (pool, created) = counter_pool(1);
    let first = pool.get().unwrap();
    assert_eq!(*first, 0);
    drop(first);
    assert_eq!(*pool.get().unwrap(), 0, "the returned resource is reused");
    pool.get().unwrap().discard();
    assert_eq!(pool.state().live, 0);
    assert_eq!(*pool.get().unwrap(), 1, "a discarded resource is replaced by a new one");
    assert_eq!(created.load(Ordering::SeqCst), 2);
}

#[test]
fn a_failing_create_frees_its_slot() {
    let _serial = serial();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let pool = ResourcePool::builder(move || {
        if counted.fetch_add(1, Ordering::SeqCst) == 0 { Err("connection refused") } else { Ok(()) }
    })
    .max_size(1)
    .build();
    assert_eq!(pool.get().unwrap_err(), LeaseError::Create("connection refused"));
    assert!(pool.get().is_ok(), "the failed create did not use up the only slot");
}

#[test]
fn a_waiting_checkout_gets_the_next_returned_resource() {
    let _serial = serial();
    let (pool, created) = counter_pool(1);
    let held = pool.get().unwrap();
    let waiter = {
        let pool = pool.clone();
        std::thread::spawn(move || *pool.get().unwrap())
    };
    while pool.state().waiting == 0 {
        std::thread::yield_now();
    }
    drop(held);
    assert_eq!(waiter.join().unwrap(), 0);
    assert_eq!(created.load(Ordering::SeqCst), 1);
}
