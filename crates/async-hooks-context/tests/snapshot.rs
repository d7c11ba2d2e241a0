//! `Snapshot` and `bind` fix the stores at capture time (Node:
//! async-local-storage-snapshot, -bind).

use async_hooks_context::{AsyncLocalStorage, Snapshot, bind};

#[test]
fn a_snapshot_taken_in_run_123_and_run_in_run_321_sees_123() {
    let storage = AsyncLocalStorage::new();
    let snapshot = storage.run(123, Snapshot::capture);
    let seen = storage.run(321, || snapshot.run(|| storage.get()));
    assert_eq!(seen, Some(123));
    assert_eq!(storage.run(321, || storage.get()), Some(321), "the caller's value after");
}

#[test]
fn a_snapshot_captures_every_storage_and_passes_values_through() {
    let (a, b) = (AsyncLocalStorage::new(), AsyncLocalStorage::new());
    let snapshot = a.run(1, || b.run("b", Snapshot::capture));
    assert_eq!(snapshot.run(|| (a.get(), b.get())), (Some(1), Some("b")));
    let empty = Snapshot::capture();
    assert_eq!(a.run(9, || empty.run(|| a.get())), None);
}

#[test]
fn bind_runs_the_function_in_the_captured_stores_wherever_it_is_called() {
    static STORAGE: AsyncLocalStorage<u32> = AsyncLocalStorage::new();
    let bound = STORAGE.run(123, || bind(|| STORAGE.get()));
    let seen = STORAGE.run(321, || std::thread::spawn(bound).join().unwrap());
    assert_eq!(seen, Some(123));
    let with_args = STORAGE.run(5, || {
        let add = |x: u32| STORAGE.get().unwrap() + x;
        bind(move || add(10))
    });
    assert_eq!(with_args(), 15, "arguments and return values pass through");
}
