//! The request workload the OTLP tests export, and the assertions on what
//! the collector received.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use async_hooks_context::AsyncLocalStorage;
use async_hooks_core::{AsyncId, AsyncResource, Attribute};
use async_hooks_tracing::otlp::{OtlpConfig, OtlpProtocol};

use crate::receiver::{ReceivedSpan, Receiver};

/// A store whose value must never reach the collector.
pub static SECRET: AsyncLocalStorage<&'static str> = AsyncLocalStorage::new();
pub const SECRET_VALUE: &str = "store-secret-value";

/// The ids and creation lines of one request's resources.
#[derive(Debug)]
pub struct RequestIds {
    pub request: AsyncId,
    pub task: AsyncId,
    pub nested: AsyncId,
    pub task_line: u32,
    pub nested_line: u32,
}

/// One request: a `Request` resource; in its scope a `WorkerPoolTask` with
/// pool attributes; in the task's scope a `Nested` resource.
pub fn run_request() -> RequestIds {
    SECRET.run(SECRET_VALUE, || {
        let request = AsyncResource::new("Request");
        request.run_in_async_scope(|| {
            let task_line = line!() + 1;
            let task = AsyncResource::builder("WorkerPoolTask").attribute("pool.name", "p").build();
            task.record(&[Attribute::new("pool.worker", 1_u64)]);
            let (nested, nested_line) = task.run_in_async_scope(|| {
                let nested_line = line!() + 1;
                let nested = AsyncResource::new("Nested");
                nested.run_in_async_scope(|| {});
                (nested.async_id(), nested_line)
            });
            task.record(&[Attribute::new("pool.outcome", "ok")]);
            RequestIds { request: request.async_id(), task: task.async_id(), nested, task_line, nested_line }
        })
    })
}

/// Installs the pipeline as `service_name`, exporting over `protocol` to
/// `receiver`; runs two requests; shuts the pipeline down and checks the
/// tree that arrived ([`assert_exported_tree`]) and that every ended span
/// was exported, none dropped.
pub fn export_two_requests_and_assert_the_tree(receiver: &Receiver, protocol: OtlpProtocol, service_name: &str) {
    let guard = OtlpConfig::new(service_name)
        .protocol(protocol)
        .endpoint(format!("http://{}", receiver.addr))
        .scheduled_delay(Duration::from_millis(50))
        .install()
        .expect("the pipeline installs");

    let requests: Vec<_> = (0..2).map(|_| run_request()).collect();
    let stats = guard.shutdown();

    let spans = receiver.wait_for(|spans| all_arrived(spans, &requests));
    assert_exported_tree(&spans, &requests, service_name);
    assert_eq!(stats.dropped(), 0, "{stats}");
    assert_eq!(stats.exported, stats.ended, "{stats}");
}

fn by_async_id(spans: &[ReceivedSpan], id: AsyncId) -> ReceivedSpan {
    spans
        .iter()
        .find(|span| span.int("async_id") == Some(id.as_u64() as i64))
        .unwrap_or_else(|| panic!("no exported span with async_id {id} in {spans:#?}"))
        .clone()
}

/// Whether every span of `requests` arrived.
pub fn all_arrived(spans: &[ReceivedSpan], requests: &[RequestIds]) -> bool {
    requests.iter().all(|ids| {
        [ids.request, ids.task, ids.nested]
            .iter()
            .all(|id| spans.iter().any(|span| span.int("async_id") == Some(id.as_u64() as i64)))
    })
}

/// The assertions of the "Done when" list on what the collector received.
pub fn assert_exported_tree(spans: &[ReceivedSpan], requests: &[RequestIds], service_name: &str) {
    assert!(all_arrived(spans, requests), "not every span arrived: {spans:#?}");
    let mut trace_ids = Vec::new();
    for ids in requests {
        let request = by_async_id(spans, ids.request);
        let task = by_async_id(spans, ids.task);
        let nested = by_async_id(spans, ids.nested);

        // Names are resource types.
        assert_eq!(
            (request.name.as_str(), task.name.as_str(), nested.name.as_str()),
            ("Request", "WorkerPoolTask", "Nested")
        );
        assert_eq!(request.service_name.as_deref(), Some(service_name));

        // One trace per request: the request is its root, the task its
        // child, the nested resource the task's child.
        assert!(request.parent_span_id.is_empty(), "the request span is a root");
        assert_eq!(task.trace_id, request.trace_id);
        assert_eq!(nested.trace_id, request.trace_id);
        assert_eq!(task.parent_span_id, request.span_id, "the task span is the request span's child");
        assert_eq!(nested.parent_span_id, task.span_id, "the nested span is inside the task span");
        trace_ids.push(request.trace_id.clone());

        // Ids agree with the hooks.
        assert_eq!(task.int("trigger_async_id"), Some(ids.request.as_u64() as i64));
        assert_eq!(nested.int("trigger_async_id"), Some(ids.task.as_u64() as i64));

        // Code locations.
        assert_eq!(task.str("code.filepath"), Some(file!()));
        assert_eq!(task.int("code.lineno"), Some(i64::from(ids.task_line)));
        assert_eq!(nested.int("code.lineno"), Some(i64::from(ids.nested_line)));

        // Attributes given at creation and recorded later.
        assert_eq!(task.str("pool.name"), Some("p"));
        assert_eq!(task.int("pool.worker"), Some(1));
        assert_eq!(task.str("pool.outcome"), Some("ok"));

        // No store values.
        for span in [&request, &task, &nested] {
            assert!(
                span.attributes.values().all(|value| !format!("{value:?}").contains(SECRET_VALUE)),
                "a store value was exported: {span:#?}"
            );
        }
    }
    trace_ids.sort();
    trace_ids.dedup();
    assert_eq!(trace_ids.len(), requests.len(), "one trace per request");
}
