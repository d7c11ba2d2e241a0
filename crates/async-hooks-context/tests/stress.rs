//! Many threads each running their own `run`s never see each other's values.

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
