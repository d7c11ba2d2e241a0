//! A real OTLP receiver in-process, on loopback: a tonic TraceService server
//! (gRPC) or a hyper server decoding protobuf at `/v1/traces` (HTTP).
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use tokio::sync::oneshot;

type Requests = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;
type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A span as the collector received it.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    pub service_name: Option<String>,
    pub name: String,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub links: Vec<Vec<u8>>,
    pub attributes: BTreeMap<String, AttributeText>,
}

/// An attribute value, kept with its OTLP type.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeText {
    Int(i64),
    Str(String),
    Other(String),
}

impl ReceivedSpan {
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.attributes.get(key) {
            Some(AttributeText::Int(value)) => Some(*value),
            _ => None,
        }
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.attributes.get(key) {
            Some(AttributeText::Str(value)) => Some(value),
            _ => None,
        }
    }
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    requests: Requests,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

fn string_value(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::StringValue(text)) => Some(text.clone()),
        _ => None,
    }
}

impl Receiver {
    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        let requests = self.requests.lock().unwrap();
        let mut spans = Vec::new();
        for resource_spans in requests.iter().flat_map(|request| &request.resource_spans) {
            let service_name = resource_spans.resource.as_ref().and_then(|resource| {
                let name = resource.attributes.iter().find(|kv| kv.key == "service.name")?;
                string_value(name.value.as_ref().and_then(|value| value.value.as_ref()))
            });
            for span in resource_spans.scope_spans.iter().flat_map(|scope| &scope.spans) {
                let attributes = span
                    .attributes
                    .iter()
                    .map(|kv| {
                        let value = match kv.value.as_ref().and_then(|value| value.value.as_ref()) {
                            Some(Value::IntValue(value)) => AttributeText::Int(*value),
                            Some(Value::StringValue(value)) => AttributeText::Str(value.clone()),
                            other => AttributeText::Other(format!("{other:?}")),
                        };
                        (kv.key.clone(), value)
                    })
                    .collect();
                spans.push(ReceivedSpan {
                    service_name: service_name.clone(),
                    name: span.name.clone(),
                    trace_id: span.trace_id.clone(),
                    span_id: span.span_id.clone(),
                    parent_span_id: span.parent_span_id.clone(),
                    links: span.links.iter().map(|link| link.span_id.clone()).collect(),
                    attributes,
                });
            }
        }
        spans
    }

    /// Waits (generously) until `done` holds for the spans received.
    pub fn wait_for(&self, done: impl Fn(&[ReceivedSpan]) -> bool) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let spans = self.spans();
            if done(&spans) || Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Collector(Requests);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn start(
    serve: impl FnOnce(tokio::net::TcpListener, Requests, oneshot::Receiver<()>) -> BoxFuture + Send + 'static,
) -> Receiver {
    let requests = Requests::default();
    let (stop, stopped) = oneshot::channel();
    let (bound, bound_addr) = std::sync::mpsc::channel();
    let thread_requests = requests.clone();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            bound.send(listener.local_addr().unwrap()).unwrap();
            serve(listener, thread_requests, stopped).await;
        });
    });
    let addr = bound_addr.recv().unwrap();
    Receiver { addr, requests, stop: Some(stop), thread: Some(thread) }
}

/// A gRPC OTLP receiver (tonic, `opentelemetry-proto`'s TraceService).
pub fn start_grpc() -> Receiver {
    start(|listener, requests, stopped| {
        Box::pin(async move {
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(Collector(requests)))
                .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        })
    })
}

async fn handle_http(
    requests: Requests,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/v1/traces" {
        return Ok(status(404));
    }
    let Ok(body) = request.into_body().collect().await.map(|body| body.to_bytes()) else {
        return Ok(status(400));
    };
    let Ok(decoded) = ExportTraceServiceRequest::decode(body) else {
        return Ok(status(400));
    };
    requests.lock().unwrap().push(decoded);
    let reply = ExportTraceServiceResponse { partial_success: None }.encode_to_vec();
    Ok(hyper::Response::builder()
        .header("content-type", "application/x-protobuf")
        .body(Full::new(Bytes::from(reply)))
        .unwrap())
}

/// An HTTP/protobuf OTLP receiver (hyper) at `/v1/traces`.
pub fn start_http() -> Receiver {
    start(|listener, requests, mut stopped| {
        Box::pin(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => accepted.unwrap(),
                    _ = &mut stopped => return,
                };
                let requests = requests.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| handle_http(requests.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        })
    })
}

fn status(code: u16) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder().status(code).body(Full::new(Bytes::new())).unwrap()
}

/// A listener that accepts connections and never answers: exports to it
/// hang until their timeout. Also returns a count of accepted connections.
pub fn start_black_hole() -> (Receiver, Arc<AtomicUsize>) {
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let receiver = start(move |listener, _requests, mut stopped| {
        Box::pin(async move {
            let mut held = Vec::new();
            loop {
                tokio::select! {
                    connection = listener.accept() => {
                        held.push(connection.unwrap());
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    _ = &mut stopped => return,
                }
            }
        })
    });
    (receiver, accepted)
}
