//! A collector that accepts connections and never answers: application
//! threads go on while the export is stuck.
#![cfg(feature = "otlp")]

mod receiver;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_hooks_core::AsyncResource;
use async_hooks_tracing::otlp::{OtlpConfig, OtlpProtocol};

#[test]
fn application_threads_never_wait_for_a_stuck_export() {
    let (black_hole, accepted) = receiver::start_black_hole();
    let guard = OtlpConfig::new("stuck-collector-test")
        .protocol(OtlpProtocol::HttpProtobuf)
        .endpoint(format!("http://{}", black_hole.addr))
        // Far longer than the test: the export stays pending throughout.
        .timeout(Duration::from_secs(600))
        .max_queue_size(32)
        .scheduled_delay(Duration::from_millis(10))
        .report_losses(false)
        .install()
        .unwrap();

    // Get one export stuck in the collector.
    drop(AsyncResource::new("FirstSpan"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(accepted.load(Ordering::SeqCst) > 0, "the exporter connected to the collector");

    // The workload runs to completion while that export is still pending.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..1000 {
                    AsyncResource::new("WhileStuck").run_in_async_scope(|| {});
                }
            });
        }
    });
    let stats = guard.stats();
    assert_eq!(stats.exported + stats.failed, 0, "the stuck export has not returned: {stats}");
    assert_eq!(stats.ended, 2001, "{stats}");
    assert!(stats.pending_or_dropped() <= stats.ended);
    // Not dropping the guard: its shutdown would wait for the stuck export's
    // timeout. The process ends with the test.
    std::mem::forget(guard);
}
