//! The whole system in one program: the seeds' scenario of requests, each in
//! its own `AsyncLocalStorage` context, submitting tasks to a worker pool
//! through async code — while a hook set prints the resource tree as it
//! grows, and every resource becomes a `tracing` span.
//!
//! ```sh
//! cargo run --example demo                      # writes demo-trace.json (open it in ui.perfetto.dev)
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 \
//!     cargo run --example demo --features otlp  # exports to Jaeger (docs/jaeger.md)
//! ```
//!
//! Every line of the tree is one async resource: its type and id, the
//! resource that triggered it, where it was created, and the request id its
//! context carries. Pool tasks are created at submission, so they hang under
//! the request that submitted them and carry its id, although they run on
//! the pool's threads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_hooks::context::AsyncLocalStorage;
use async_hooks::pool::WorkerPool;
use async_hooks::{AsyncId, FutureExt, Hooks, Interest, Resource, create_hook};

/// The request being served, wherever its work runs.
static REQUEST_ID: AsyncLocalStorage<u32> = AsyncLocalStorage::new();

/// A hook set that prints each resource as a line of the tree, indented
/// under its trigger.
#[derive(Default)]
struct TreePrinter {
    depth: Mutex<HashMap<AsyncId, usize>>,
}

impl Hooks for TreePrinter {
    fn init(&self, id: AsyncId, resource_type: &str, trigger: AsyncId, resource: &Resource) {
        let depth = {
            let mut depths = self.depth.lock().unwrap();
            let depth = depths.get(&trigger).map_or(0, |depth| depth + 1);
            depths.insert(id, depth);
            depth
        };
        // At `init`, the current context is the one the resource captured.
        let request = REQUEST_ID.get().map_or_else(|| "-".to_owned(), |id| id.to_string());
        let location = resource.location();
        println!(
            "{indent}{resource_type}#{id} <- #{trigger}  {file}:{line}  request={request}",
            indent = "  ".repeat(depth),
            file = location.file(),
            line = location.line(),
        );
    }

    fn destroy(&self, id: AsyncId) {
        self.depth.lock().unwrap().remove(&id);
    }

    fn interest(&self) -> Interest {
        Interest::INIT | Interest::DESTROY
    }
}

/// The pool's work: a checksum of `rounds` rounds over `seed`.
fn checksum((seed, rounds): (u64, u32)) -> u64 {
    (0..rounds).fold(seed, |hash, round| hash.rotate_left(5) ^ u64::from(round).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// One request: two pool tasks awaited from async code.
async fn handle_request(pool: Arc<WorkerPool<(u64, u32), u64>>) -> anyhow::Result<(u32, u64)> {
    let request = REQUEST_ID.get().expect("every request runs in its own context");
    let first = pool.run((u64::from(request), 10_000)).await?;
    let second = pool.run((first, 10_000)).await?;
    Ok((request, second))
}

/// Where the spans go: Jaeger over OTLP when an endpoint is configured (and
/// the `otlp` feature is on), else a Chrome/Perfetto trace file.
enum Export {
    #[cfg(feature = "otlp")]
    Otlp(async_hooks::tracing::otlp::OtlpGuard),
    TraceFile(async_hooks::tracing::trace_file::TraceFileGuard),
}

fn start_export() -> anyhow::Result<Export> {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok();
    #[cfg(feature = "otlp")]
    if let Some(endpoint) = &endpoint {
        println!("exporting spans over OTLP to {endpoint}");
        return Ok(Export::Otlp(async_hooks::tracing::otlp::init("async-hooks-demo")?));
    }
    if endpoint.is_some() {
        println!("OTEL_EXPORTER_OTLP_ENDPOINT is set, but this build has no OTLP exporter: add `--features otlp`");
    }
    let guard = async_hooks::tracing::trace_file::TraceFile::new("demo-trace.json").install()?;
    Ok(Export::TraceFile(guard))
}

fn main() -> anyhow::Result<()> {
    let printer = create_hook(TreePrinter::default());
    printer.enable();
    let export = start_export()?;

    let pool = Arc::new(WorkerPool::builder().name("checksums").num_threads(2).build(checksum)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    println!("resource tree (type#id <- #trigger  created at  request):");
    let results = runtime.block_on(async {
        let requests: Vec<_> = (1..=3)
            .map(|request| {
                // The request's resource is created inside `run`, so it and
                // everything it starts carry the request id.
                let future = REQUEST_ID.run(request, || handle_request(pool.clone()).in_async_resource("Request"));
                tokio::spawn(future)
            })
            .collect();
        let mut results = Vec::new();
        for request in requests {
            results.push(request.await??);
        }
        anyhow::Ok(results)
    })?;

    println!();
    for (request, checksum) in &results {
        println!("request {request}: checksum {checksum:#018x}");
    }
    let stats = pool.stats();
    println!("pool: {} tasks completed on {} workers", stats.completed, pool.num_threads());
    pool.close();
    drop(pool);
    drop(runtime);

    match export {
        #[cfg(feature = "otlp")]
        Export::Otlp(guard) => println!("spans: {}", guard.shutdown()),
        Export::TraceFile(guard) => {
            let path = guard.path().display().to_string();
            drop(guard);
            println!("trace written to {path} (open it in https://ui.perfetto.dev)");
        }
    }
    Ok(())
}
