//! The peer comparison under criterion: for each operation of DESIGN §8,
//! ours and every Rust peer doing the same job, side by side in one group
//! (`<operation>/ours`, `<operation>/tokio_task_local`, ...), with 0, 1 and
//! 4 hook sets where hooks apply.
//!
//! The timed code is `benches/peer_ops`, the same code
//! `cargo run --release --example compare` times with its best-of-N loop
//! (and next to Node's rows), so the two agree within noise.
//!
//! `cargo bench --bench peers` runs it all; `cargo bench --bench peers -- run_plus_get`
//! runs one group.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

// The Node rows and the issue-8 targets in this module are read by the
// compare example only.
#[allow(dead_code)]
mod peer_ops;

fn peers(c: &mut Criterion) {
    for mut operation in peer_ops::operations() {
        let mut group = c.benchmark_group(operation.id);
        for subject in std::iter::once(&mut operation.ours).chain(operation.peers.iter_mut()) {
            let run = &mut subject.run;
            group.bench_function(subject.id, |b| b.iter_custom(&mut *run));
        }
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = peers
}
criterion_main!(benches);
