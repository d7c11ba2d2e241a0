//! The seeds' request-id logger as a real HTTP server: each request gets an
//! id in an `AsyncLocalStorage`, and every log line — before and after
//! asynchronous work, and on another thread — carries it, with no id passed
//! around by hand.
//!
//! Run it and send it requests:
//!
//! ```sh
//! cargo run --example http_request_ids          # listens on 127.0.0.1:8080
//! curl http://127.0.0.1:8080/ & curl http://127.0.0.1:8080/
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_hooks::context::AsyncLocalStorage;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The id of the request being handled, wherever the work went.
static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();

/// Where log lines go: stdout in the example, a buffer in its test.
pub(crate) type LogSink = Arc<dyn Fn(String) + Send + Sync>;

/// Logs `message` prefixed with the current request's id (`-` if none).
fn log(sink: &LogSink, message: &str) {
    let id = REQUEST_ID.get().map_or_else(|| "-".to_owned(), |id| id.to_string());
    sink(format!("{id}: {message}"));
}

async fn handle(_request: Request<Incoming>, sink: LogSink) -> Result<Response<Full<Bytes>>, Infallible> {
    log(&sink, "start");
    // Asynchronous work: a timer ...
    tokio::time::sleep(Duration::from_millis(2)).await;
    // ... and a computation on a thread of its own, which inherits the
    // context because it is spawned through async-hooks.
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let thread_sink = sink.clone();
    async_hooks::thread::spawn(move || {
        log(&thread_sink, "computing on a thread");
        let _ = sender.send(REQUEST_ID.get());
    });
    let computed_for = receiver.await.ok().flatten();
    log(&sink, "finish");
    let body = format!("request {}\n", computed_for.map_or_else(|| "-".to_owned(), |id| id.to_string()));
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Serves requests on `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, sink: LogSink) -> std::io::Result<()> {
    let next_id = Arc::new(AtomicU64::new(1));
    loop {
        let (stream, _) = listener.accept().await?;
        let (next_id, sink) = (next_id.clone(), sink.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                // Every poll of the handler, and everything it starts, sees
                // this request's id.
                REQUEST_ID.scope(id, handle(request, sink.clone()))
            });
            if let Err(error) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                eprintln!("connection error: {error}");
            }
        });
    }
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let address = std::env::var("ADDRESS").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = TcpListener::bind(&address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, Arc::new(|line| println!("{line}"))).await?;
    Ok(())
}
