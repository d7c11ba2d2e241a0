//! Export over gRPC to a real OTLP receiver (tonic TraceService) on loopback.
#![cfg(feature = "otlp")]

mod receiver;
mod workload;

use async_hooks_tracing::otlp::OtlpProtocol;

#[test]
fn resources_arrive_over_grpc_as_one_trace_per_request_with_ids_locations_and_attributes() {
    let receiver = receiver::start_grpc();
    workload::export_two_requests_and_assert_the_tree(&receiver, OtlpProtocol::Grpc, "grpc-test");
}
