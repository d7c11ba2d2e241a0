//! The context scenarios both tiers share. Each builds its runtime, runs,
//! and shuts the runtime down before it returns, so that the caller can
//! add its tier's own checks on what is left.

use async_hooks_core::{AsyncId, AsyncResource, execution_async_id, trigger_async_id};

use super::{CHECKS_PER_TASK, Flavor, STORE, Tier, check_every_poll};

/// `n_tasks` tasks, spawned in batches of `batch` so that no more than a
/// batch is alive at once (memory stays small on the CI box): every poll
/// of each sees its spawn site's context, and none leaks into the root.
pub fn each_task_sees_its_own_context_at_every_poll(tier: Tier, flavor: Flavor, n_tasks: u64, batch: u64) {
    let runtime = tier.runtime(flavor);
    runtime.block_on(async {
        for batch_start in (0..n_tasks).step_by(batch as usize) {
            let (open_gate, gate) = tokio::sync::watch::channel(false);
            let handles: Vec<_> = (batch_start..batch_start + batch)
                .map(|i| {
                    let gate = gate.clone();
                    STORE.run(i, || tier.spawn(check_every_poll(Some(i), gate)))
                })
                .collect();
            assert_eq!(STORE.get(), None, "spawning left the root's context alone");
            open_gate.send_replace(true);
            for (offset, handle) in handles.into_iter().enumerate() {
                let report = handle.await.expect("the task completes");
                let i = batch_start + offset as u64;
                assert_eq!(report.first_bad, None, "task {i}");
                assert_eq!(report.good_polls, CHECKS_PER_TASK, "task {i}");
            }
        }
        assert_eq!(STORE.get(), None, "no task's context leaked into the root");
    });
    drop(runtime);
}

/// `(id, trigger, store)` of one task of a chain.
pub type ChainLink = (AsyncId, AsyncId, Option<u64>);

/// Spawns a chain of `depth` nested tasks; returns the link of each,
/// outermost first.
fn spawn_chain(tier: Tier, depth: usize) -> tokio::task::JoinHandle<Vec<ChainLink>> {
    tier.spawn(async move {
        tokio::task::yield_now().await;
        let mut chain = vec![(execution_async_id(), trigger_async_id(), STORE.get())];
        if depth > 1 {
            chain.extend(spawn_chain(tier, depth - 1).await.expect("the nested task completes"));
        }
        chain
    })
}

/// A chain of six nested tasks spawned in a `Request`'s scope: each task
/// is triggered by its spawner and sees the context of the outermost spawn
/// site. Returns the chain.
pub fn nested_spawns_chain_their_triggers(tier: Tier, flavor: Flavor) -> Vec<ChainLink> {
    let runtime = tier.runtime(flavor);
    let request = AsyncResource::new("Request");
    let chain = runtime
        .block_on(async { request.run_in_async_scope(|| STORE.run(5, || spawn_chain(tier, 6))).await })
        .expect("the chain completes");
    drop(runtime);
    assert_eq!(chain.len(), 6);
    assert_eq!(chain[0].1, request.async_id(), "the outermost task was triggered by its spawner");
    for pair in chain.windows(2) {
        assert_eq!(pair[1].1, pair[0].0, "each task is triggered by the task that spawned it");
    }
    assert!(chain.iter().all(|(_, _, store)| *store == Some(5)), "context flows down the chain: {chain:?}");
    chain
}

/// `n_tasks` tasks with a value and without one, interleaved, each of which
/// writes into the context before every yield: none sees another's write,
/// and neither does the root. After spawning task `i` the root yields to the
/// tasks spawned so far when `yield_after(i)`, so that later spawns from the
/// root happen after tasks wrote into the context on its thread (on a
/// current-thread runtime, the root's thread).
pub fn a_value_written_by_one_task_never_reaches_the_next(
    tier: Tier,
    flavor: Flavor,
    n_tasks: u64,
    yield_after: fn(u64) -> bool,
) {
    let runtime = tier.runtime(flavor);
    runtime.block_on(async {
        let (open_gate, gate) = tokio::sync::watch::channel(false);
        let mut handles = Vec::new();
        for i in 0..n_tasks {
            let gate = gate.clone();
            handles.push(if i % 2 == 0 {
                STORE.run(i, || tier.spawn(check_every_poll(Some(i), gate)))
            } else {
                tier.spawn(check_every_poll(None, gate))
            });
            if yield_after(i) {
                tokio::task::yield_now().await;
                assert_eq!(STORE.get(), None, "the root saw no task's write");
            }
        }
        open_gate.send_replace(true);
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap().first_bad, None, "task {i}");
        }
        assert_eq!(STORE.get(), None, "the root saw no task's write");
    });
    drop(runtime);
}
