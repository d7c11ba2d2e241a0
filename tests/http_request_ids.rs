//! Drives the `http_request_ids` example with concurrent real requests over
//! loopback and checks that every log line carries its own request's id.

#[path = "../examples/http_request_ids.rs"]
mod example;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

async fn get(address: std::net::SocketAddr) -> String {
    let stream = TcpStream::connect(address).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    let request = hyper::Request::get("/").header("host", "localhost").body(Empty::<Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.expect("response");
    let body = response.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_log_their_own_id_on_every_line() {
    const REQUESTS: usize = 50;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink_lines = lines.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(example::serve(listener, Arc::new(move |line| sink_lines.lock().unwrap().push(line))));

    let responses = futures_join_all((0..REQUESTS).map(|_| tokio::spawn(get(address)))).await;
    server.abort();

    let lines = lines.lock().unwrap().clone();
    let mut by_id: HashMap<String, Vec<String>> = HashMap::new();
    for line in &lines {
        let (id, message) = line.split_once(": ").expect("id: message");
        assert_ne!(id, "-", "a line lost its request id: {line}");
        by_id.entry(id.to_owned()).or_default().push(message.to_owned());
    }
    assert_eq!(by_id.len(), REQUESTS, "one id per request");
    for (id, messages) in &by_id {
        assert_eq!(messages, &["start", "computing on a thread", "finish"], "request {id}");
    }
    // The thread's own view of the id came back in the response.
    let mut answered: Vec<String> = responses.into_iter().map(|body| body.trim().to_owned()).collect();
    answered.sort();
    answered.dedup();
    assert_eq!(answered.len(), REQUESTS, "every response names a distinct request: {answered:?}");
    assert!(answered.iter().all(|body| by_id.contains_key(body.trim_start_matches("request "))));
}

async fn futures_join_all(handles: impl Iterator<Item = tokio::task::JoinHandle<String>>) -> Vec<String> {
    let mut results = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        results.push(handle.await.expect("request task"));
    }
    results
}
