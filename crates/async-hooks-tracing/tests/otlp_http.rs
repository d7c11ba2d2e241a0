//! Export over HTTP/protobuf to a real OTLP receiver (hyper, `/v1/traces`) on loopback.
#![cfg(feature = "otlp")]

mod receiver;
mod workload;

use std::time::Duration;

use async_hooks_tracing::otlp::{OtlpConfig, OtlpProtocol};

#[test]
fn resources_arrive_over_http_as_one_trace_per_request_with_ids_locations_and_attributes() {
    let receiver = receiver::start_http();
    let guard = OtlpConfig::new("http-test")
        .protocol(OtlpProtocol::HttpProtobuf)
        .endpoint(format!("http://{}", receiver.addr))
        .scheduled_delay(Duration::from_millis(50))
        .install()
        .expect("the pipeline installs");

    let requests: Vec<_> = (0..2).map(|_| workload::run_request()).collect();
    let stats = guard.shutdown();

    let spans = receiver.wait_for(|spans| workload::all_arrived(spans, &requests));
    workload::assert_exported_tree(&spans, &requests, "http-test");
    assert_eq!(stats.dropped(), 0, "{stats}");
    assert_eq!(stats.exported, stats.ended, "{stats}");
}
