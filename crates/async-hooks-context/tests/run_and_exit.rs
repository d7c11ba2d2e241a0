//! `run` shadows and restores; `exit` hides (Node: async-local-storage-nested,
//! -deep-stack, -exit-does-not-leak, -errors).

use async_hooks_context::AsyncLocalStorage;
use async_hooks_core::AsyncResource;

#[test]
fn run_shadows_and_restores_on_return() {
    let storage = AsyncLocalStorage::new();
    assert_eq!(storage.get(), None);
    let inner = storage.run(1, || {
        assert_eq!(storage.get(), Some(1));
        let inner = storage.run(2, || storage.get());
        assert_eq!(storage.get(), Some(1), "the outer value is back");
        inner
    });
    assert_eq!(inner, Some(2));
    assert_eq!(storage.get(), None);
}

#[test]
fn run_restores_on_panic() {
    let storage = AsyncLocalStorage::new();
    storage.run("outer", || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            storage.run("inner", || panic!("thrown inside run"));
        }));
        assert!(outcome.is_err());
        assert_eq!(storage.get(), Some("outer"));
    });
    assert_eq!(storage.get(), None);
}

fn nest(storage: &AsyncLocalStorage<usize>, depth: usize) {
    if depth == 1000 {
        return;
    }
    storage.run(depth, || {
        assert_eq!(storage.get(), Some(depth));
        nest(storage, depth + 1);
        assert_eq!(storage.get(), Some(depth), "restored at depth {depth}");
    });
}

#[test]
fn a_thousand_nested_runs_shadow_and_restore() {
    let handle = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            let storage = AsyncLocalStorage::new();
            nest(&storage, 0);
            assert_eq!(storage.get(), None);
        })
        .unwrap();
    handle.join().unwrap();
}

#[test]
fn exit_hides_the_store_inside_and_in_resources_created_inside() {
    let storage = AsyncLocalStorage::new();
    storage.run(7, || {
        let created_inside = storage.exit(|| {
            assert_eq!(storage.get(), None);
            AsyncResource::new("CreatedInsideExit")
        });
        assert_eq!(storage.get(), Some(7), "the store is back after exit");
        assert_eq!(created_inside.run_in_async_scope(|| storage.get()), None);
        let created_after = AsyncResource::new("CreatedAfterExit");
        assert_eq!(created_after.run_in_async_scope(|| storage.get()), Some(7));
    });
}

#[test]
fn repeated_run_and_exit_do_not_accumulate_state() {
    let storage = AsyncLocalStorage::new();
    for round in 0..100 {
        storage.run(round, || storage.exit(|| assert_eq!(storage.get(), None)));
    }
    assert_eq!(storage.get(), None);
    assert!(async_hooks_core::ContextFrame::current().is_empty());
}

#[test]
fn with_lends_the_value_without_cloning() {
    #[derive(Debug, PartialEq)]
    struct NotClone(u32);
    let storage = AsyncLocalStorage::new();
    let seen = storage.run(NotClone(3), || storage.with(|value| value.map(|value| value.0)));
    assert_eq!(seen, Some(3));
    assert!(storage.with(|value| value.is_none()));
}
