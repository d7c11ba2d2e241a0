//! A collector that is down: the workload completes, spans are dropped and
//! counted.
#![cfg(feature = "otlp")]

use std::time::Duration;

use async_hooks_core::AsyncResource;
use async_hooks_tracing::otlp::{OtlpConfig, OtlpProtocol};

const N_THREADS: usize = 4;
const N_PER_THREAD: usize = 500;

#[test]
fn with_the_collector_down_the_workload_completes_and_every_span_is_counted_as_dropped() {
    // A port nobody listens on: bind, note the port, close.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);

    let guard = OtlpConfig::new("closed-port-test")
        .protocol(OtlpProtocol::Grpc)
        .endpoint(format!("http://{addr}"))
        .timeout(Duration::from_secs(2))
        .max_queue_size(64)
        .scheduled_delay(Duration::from_millis(10))
        .report_losses(false)
        .install()
        .expect("the pipeline installs even though the collector is down");

    std::thread::scope(|scope| {
        for _ in 0..N_THREADS {
            scope.spawn(|| {
                for _ in 0..N_PER_THREAD {
                    let request = AsyncResource::new("DownRequest");
                    request.run_in_async_scope(|| AsyncResource::new("DownChild").run_in_async_scope(|| {}));
                }
            });
        }
    });

    let live = guard.stats();
    assert_eq!(live.exported, 0, "{live}");
    assert_eq!(live.ended, (N_THREADS * N_PER_THREAD * 2) as u64, "every span ended: {live}");

    let stats = guard.shutdown();
    assert_eq!(stats.exported, 0, "{stats}");
    assert_eq!(stats.dropped(), stats.ended, "every span is counted as dropped: {stats}");
    assert!(stats.failed > 0, "failed exports are counted: {stats}");
    assert!(stats.pending_or_dropped() > 0, "the bounded queue dropped spans: {stats}");
}
