//! Export over HTTP/protobuf to a real OTLP receiver (hyper, `/v1/traces`) on loopback.
#![cfg(feature = "otlp")]

mod receiver;
mod workload;

use async_hooks_tracing::otlp::OtlpProtocol;

#[test]
fn resources_arrive_over_http_as_one_trace_per_request_with_ids_locations_and_attributes() {
    let receiver = receiver::start_http();
    workload::export_two_requests_and_assert_the_tree(&receiver, OtlpProtocol::HttpProtobuf, "http-test");
}
