//! Many threads each running their own `run`s never see each other's values, and
//! captures handed between threads keep their values exactly as long as needed.

use async_hooks_context::AsyncLocalStorage;
use async_hooks_core::{AsyncResource, thread};

static STORE: AsyncLocalStorage<(usize, usize)> = AsyncLocalStorage::new();

#[test]
fn concurrent_runs_on_many_threads_stay_isolated() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 5_000;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread_index| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for round in 0..ROUNDS {
                    let value = (thread_index, round);
                    let resource = STORE.run(value, || {
                        assert_eq!(STORE.get(), Some(value));
                        AsyncResource::new("Stress")
                    });
                    assert_eq!(STORE.get(), None);
                    assert_eq!(resource.run_in_async_scope(|| STORE.get()), Some(value));
                    if round % 500 == 0 {
                        let spawned = STORE.run(value, || thread::spawn(|| STORE.get()));
                        assert_eq!(spawned.join().unwrap(), Some(value));
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}

/// A value that counts its drops.
struct Counted {
    id: (usize, usize),
    drops: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

static COUNTED: AsyncLocalStorage<Counted> = AsyncLocalStorage::new();

/// Snapshots and resources taken inside `run` use the thread's spare counts
/// of its frame; here they are handed to other threads, which read them and
/// drop them there while their makers move on to new values (and drop some
/// of their own on the spot): every value is read intact and dropped exactly
/// once, after its last capture.
#[test]
fn captures_handed_between_threads_keep_and_release_their_values() {
    use async_hooks_context::Snapshot;
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;

    const THREADS: usize = 4;
    const ROUNDS: usize = 3_000;
    let drops = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::channel::<(Snapshot, AsyncResource, (usize, usize))>()).unzip();
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(thread_index, receiver)| {
            let next = senders[(thread_index + 1) % THREADS].clone();
            let drops = drops.clone();
            std::thread::spawn(move || {
                let read = |expected: (usize, usize)| {
                    COUNTED.with(|value| assert_eq!(value.map(|value| value.id), Some(expected)))
                };
                for round in 0..ROUNDS {
                    let id = (thread_index, round);
                    let (snapshot, resource) = COUNTED.run(Counted { id, drops: drops.clone() }, || {
                        // Captures dropped here give their counts back.
                        for _ in 0..3 {
                            drop(Snapshot::capture());
                        }
                        (Snapshot::capture(), AsyncResource::new("Handed"))
                    });
                    next.send((snapshot, resource, id)).unwrap();
                    // Read what the previous thread handed over, then drop it here.
                    for (snapshot, resource, id) in receiver.try_iter() {
                        snapshot.run(|| read(id));
                        resource.run_in_async_scope(|| read(id));
                    }
                }
                drop(next);
                receiver
            })
        })
        .collect();
    drop(senders);
    let receivers: Vec<_> = handles.into_iter().map(|handle| handle.join().unwrap()).collect();
    // What was still in flight when the threads finished.
    for receiver in receivers {
        for (snapshot, resource, id) in receiver.try_iter() {
            snapshot.run(|| COUNTED.with(|value| assert_eq!(value.map(|value| value.id), Some(id))));
            drop(resource);
        }
    }
    assert_eq!(drops.load(Ordering::Relaxed), THREADS * ROUNDS, "every value dropped exactly once");
}
