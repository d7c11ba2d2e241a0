//! Ids and triggers (Node: test-async-wrap-trigger-id, test-nexttick-default-trigger,
//! test-async-hooks-recursive-stack-runInAsyncScope).

use std::collections::HashSet;

use async_hooks_core::{
    AsyncId, AsyncResource, AsyncResourceOptions, execution_async_id, execution_async_resource, trigger_async_id,
};

#[test]
fn ids_are_unique_across_threads_under_contention() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 20_000;
    let barrier = std::sync::Barrier::new(THREADS);
    let ids: Vec<Vec<AsyncId>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    (0..PER_THREAD).map(|_| AsyncResource::new("Contended").async_id()).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    for per_thread in &ids {
        assert!(per_thread.windows(2).all(|pair| pair[0] < pair[1]), "ids increase within a thread");
    }
    let unique: HashSet<AsyncId> = ids.iter().flatten().copied().collect();
    assert_eq!(unique.len(), THREADS * PER_THREAD);
    assert!(!unique.contains(&AsyncId::NONE) && !unique.contains(&AsyncId::ROOT));
}

#[test]
fn outside_any_resource_every_thread_is_at_the_root() {
    assert_eq!(execution_async_id(), AsyncId::ROOT);
    assert_eq!(trigger_async_id(), AsyncId::NONE);
    assert!(execution_async_resource().is_none());
    std::thread::spawn(|| {
        assert_eq!(execution_async_id(), AsyncId::ROOT);
        assert_eq!(trigger_async_id(), AsyncId::NONE);
    })
    .join()
    .unwrap();
}

#[test]
fn a_resource_is_triggered_by_the_execution_id_where_it_was_created() {
    let top = AsyncResource::new("Top");
    assert_eq!(top.trigger_async_id(), AsyncId::ROOT);
    let (first, second) = top.run_in_async_scope(|| (AsyncResource::new("First"), AsyncResource::new("Second")));
    // Two resources scheduled from the same scope share a trigger.
    assert_eq!(first.trigger_async_id(), top.async_id());
    assert_eq!(second.trigger_async_id(), top.async_id());
    // Inside a scope, the ids are the resource's own.
    first.run_in_async_scope(|| {
        assert_eq!(execution_async_id(), first.async_id());
        assert_eq!(trigger_async_id(), top.async_id());
    });
}

#[test]
fn an_explicit_trigger_wins_over_the_execution_id() {
    let top = AsyncResource::new("Top");
    let explicit = top.run_in_async_scope(|| {
        AsyncResource::with_options(
            "Explicit",
            AsyncResourceOptions { trigger_async_id: Some(AsyncId::from_u64(111)), require_manual_destroy: false },
        )
    });
    assert_eq!(explicit.trigger_async_id(), AsyncId::from_u64(111));
    explicit.run_in_async_scope(|| assert_eq!(trigger_async_id(), AsyncId::from_u64(111)));
}

#[test]
fn nested_triggers_chain() {
    let mut chain = vec![AsyncResource::new("Link")];
    for _ in 0..5 {
        let next = chain.last().unwrap().run_in_async_scope(|| AsyncResource::new("Link"));
        chain.push(next);
    }
    for pair in chain.windows(2) {
        assert_eq!(pair[1].trigger_async_id(), pair[0].async_id());
        assert_ne!(pair[1].trigger_async_id(), pair[0].trigger_async_id());
    }
}

fn nest(resources: &[AsyncResource], depth: usize) {
    let Some((resource, rest)) = resources.split_first() else {
        return;
    };
    resource.run_in_async_scope(|| {
        assert_eq!(execution_async_id(), resource.async_id(), "on the way in at depth {depth}");
        assert_eq!(trigger_async_id(), resource.trigger_async_id());
        assert_eq!(execution_async_resource().map(|current| current.id()), Some(resource.async_id()));
        nest(rest, depth + 1);
        assert_eq!(execution_async_id(), resource.async_id(), "on the way out at depth {depth}");
        assert_eq!(trigger_async_id(), resource.trigger_async_id());
    });
}

#[test]
fn a_thousand_nested_scopes_keep_their_ids_on_the_way_in_and_out() {
    // Build the chain iteratively so each trigger is the previous resource.
    let mut resources = vec![AsyncResource::new("Nested")];
    for _ in 1..1000 {
        let next = resources.last().unwrap().run_in_async_scope(|| AsyncResource::new("Nested"));
        resources.push(next);
    }
    // Recursion 1000 deep needs more than a test thread's default stack.
    let handle = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            nest(&resources, 0);
            assert!(execution_async_resource().is_none());
            assert_eq!(execution_async_id(), AsyncId::ROOT);
        })
        .unwrap();
    handle.join().unwrap();
}
