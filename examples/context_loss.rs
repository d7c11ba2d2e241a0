//! Three classic ways to lose an `AsyncLocalStorage` value, each found and
//! explained by the context-loss diagnostics, then fixed the right way:
//!
//! 1. a std thread spawned directly (`std::thread::spawn`);
//! 2. a future spawned on tokio without propagation (`tokio::spawn`);
//! 3. a callback stored in a registry whose resource was created when the
//!    registry was built, and invoked later from elsewhere.
//!
//! ```sh
//! cargo run --example context_loss
//! ```
//!
//! It prints each report, the loss report of the whole run, the leak report,
//! and writes the resource tree to `target/context-loss.dot` (and `.svg` when
//! Graphviz is installed). See `docs/context-loss.md`.

use std::panic::Location;
use std::sync::{Arc, Mutex};

use async_hooks::AsyncResource;
use async_hooks::context::AsyncLocalStorage;
use async_hooks::context::diagnostics::{ContextDiagnostics, MissingReport, RenderError};

/// The id of the request being handled.
pub(crate) static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();

/// What one scenario saw: the buggy version and the fixed one.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The scenario's name.
    pub(crate) name: &'static str,
    /// What `REQUEST_ID.get()` returned in the buggy version.
    pub(crate) lost: Option<u64>,
    /// `why_missing` where the buggy version noticed.
    pub(crate) report: MissingReport,
    /// What `REQUEST_ID.get()` returned once fixed.
    pub(crate) fixed: Option<u64>,
    /// `why_missing` at the same point once fixed.
    pub(crate) fixed_report: MissingReport,
    /// The resource the report should name: the spawning side (1, 2) or
    /// the callback's resource (3).
    pub(crate) culprit: async_hooks::AsyncId,
    /// The file:line the report should point to: the checkpoint just before
    /// the raw spawn (1, 2), the callback resource's creation (3).
    pub(crate) site: &'static Location<'static>,
}

/// Enables the diagnostics and watches `REQUEST_ID`.
pub(crate) fn enable_diagnostics() -> Arc<ContextDiagnostics> {
    let diagnostics = Arc::new(ContextDiagnostics::enable());
    diagnostics.watch("request_id", &REQUEST_ID);
    diagnostics
}

/// Marks a suspect spawn site for the diagnostics and returns its location.
#[track_caller]
fn checkpoint(diagnostics: &ContextDiagnostics, label: &'static str) -> &'static Location<'static> {
    diagnostics.checkpoint(label);
    Location::caller()
}

/// 1. A std thread spawned directly starts at the root of a new thread with
///    an empty context. Fix: `async_hooks::thread::spawn`.
pub(crate) fn raw_thread(diagnostics: &Arc<ContextDiagnostics>) -> Outcome {
    let request = REQUEST_ID.run(1, || AsyncResource::new("Request"));
    request.run_in_async_scope(|| {
        // A raw spawn is invisible to the hooks core: mark the suspect spot.
        let site = checkpoint(diagnostics, "std::thread::spawn");
        let checker = diagnostics.clone();
        let (lost, report) = std::thread::Builder::new()
            .name("report-writer".into())
            .spawn(move || (REQUEST_ID.get(), checker.why_missing(&REQUEST_ID)))
            .expect("spawn")
            .join()
            .expect("join");

        // The fix: the thread's body runs in a resource created here.
        let checker = diagnostics.clone();
        let (fixed, fixed_report) =
            async_hooks::thread::spawn(move || (REQUEST_ID.get(), checker.why_missing(&REQUEST_ID)))
                .join()
                .expect("join");
        Outcome { name: "raw std thread", lost, report, fixed, fixed_report, culprit: request.async_id(), site }
    })
}

/// 2. A plain `tokio::spawn` makes no resource (without the runtime task
///    hooks), so the task polls at the root of a worker thread. Fix:
///    `async_hooks::tokio::spawn`.
pub(crate) fn raw_tokio_spawn(diagnostics: &Arc<ContextDiagnostics>) -> Outcome {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("app-worker")
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        // The request handler is a task spawned through async-hooks inside
        // the request's scope: it has the request id.
        let handler = REQUEST_ID.run(2, || async_hooks::tokio::spawn(handle_request(diagnostics.clone())));
        handler.await.expect("the handler finishes")
    })
}

async fn handle_request(diagnostics: Arc<ContextDiagnostics>) -> Outcome {
    let handler = async_hooks::execution_async_id();
    let site = checkpoint(&diagnostics, "tokio::spawn");
    let checker = diagnostics.clone();
    let (lost, report) =
        tokio::spawn(async move { (REQUEST_ID.get(), checker.why_missing(&REQUEST_ID)) }).await.expect("join");

    // The fix: the task is a resource created at the spawn site.
    let checker = diagnostics.clone();
    let (fixed, fixed_report) =
        async_hooks::tokio::spawn(async move { (REQUEST_ID.get(), checker.why_missing(&REQUEST_ID)) })
            .await
            .expect("join");
    Outcome { name: "raw tokio::spawn", lost, report, fixed, fixed_report, culprit: handler, site }
}

type Callback = Box<dyn FnOnce() + Send>;

/// What each callback saw: `get()` and `why_missing` at that point.
type Answers = Arc<Mutex<Vec<(Option<u64>, MissingReport)>>>;

/// The buggy registry: it makes one resource per slot when it is built —
/// outside any request — so every callback runs in that empty context.
pub(crate) struct EagerRegistry {
    slots: Vec<AsyncResource>,
    callbacks: Mutex<Vec<Callback>>,
}

impl EagerRegistry {
    /// A registry with `slots` callback slots.
    pub(crate) fn new(slots: usize) -> EagerRegistry {
        let slots = (0..slots).map(|_| AsyncResource::new("Callback") /* created at registry construction */);
        EagerRegistry { slots: slots.collect(), callbacks: Mutex::default() }
    }

    /// Stores `callback` for later.
    pub(crate) fn register(&self, callback: impl FnOnce() + Send + 'static) {
        self.callbacks.lock().expect("not poisoned").push(Box::new(callback));
    }

    /// Runs the stored callbacks, each in a slot's resource.
    pub(crate) fn fire(&self) {
        let callbacks = std::mem::take(&mut *self.callbacks.lock().expect("not poisoned"));
        for (slot, callback) in self.slots.iter().zip(callbacks) {
            slot.run_in_async_scope(callback);
        }
    }
}

/// The fixed registry: the resource is created at registration, inside the
/// registering request's scope (`AsyncResource::bind_fn`).
#[derive(Default)]
pub(crate) struct BindingRegistry {
    callbacks: Mutex<Vec<Callback>>,
}

impl BindingRegistry {
    /// Stores `callback`, bound to a resource created now.
    #[track_caller]
    pub(crate) fn register(&self, callback: impl FnOnce() + Send + 'static) {
        let bound = AsyncResource::bind_fn(callback, "Callback");
        self.callbacks.lock().expect("not poisoned").push(Box::new(bound));
    }

    /// Runs the stored callbacks.
    pub(crate) fn fire(&self) {
        let callbacks = std::mem::take(&mut *self.callbacks.lock().expect("not poisoned"));
        for callback in callbacks {
            callback();
        }
    }
}

/// 3. A callback registered while handling a request, invoked later from
///    elsewhere, runs in the context of the resource it runs in — created
///    when the registry was built. Fix: create the resource at registration.
pub(crate) fn callback_registry(diagnostics: &Arc<ContextDiagnostics>) -> Outcome {
    let answers = Answers::default();
    let record = |answers: &Answers| {
        let (answers, checker) = (answers.clone(), diagnostics.clone());
        move || answers.lock().expect("not poisoned").push((REQUEST_ID.get(), checker.why_missing(&REQUEST_ID)))
    };

    let eager = EagerRegistry::new(1);
    REQUEST_ID.run(3, || eager.register(record(&answers)));
    let binding = BindingRegistry::default();
    REQUEST_ID.run(3, || binding.register(record(&answers)));
    // Later, from an event loop that is handling no request.
    eager.fire();
    binding.fire();

    let mut answers = std::mem::take(&mut *answers.lock().expect("not poisoned")).into_iter();
    let (lost, report) = answers.next().expect("the eager registry's callback ran");
    let (fixed, fixed_report) = answers.next().expect("the binding registry's callback ran");
    let slot = eager.slots[0].resource();
    Outcome { name: "callback registry", lost, report, fixed, fixed_report, culprit: slot.id(), site: slot.location() }
}

/// Writes the resource tree as DOT, and as SVG when Graphviz is installed.
fn write_graph(diagnostics: &ContextDiagnostics) -> anyhow::Result<()> {
    let directory = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"), std::path::PathBuf::from);
    std::fs::create_dir_all(&directory)?;
    let dot = directory.join("context-loss.dot");
    std::fs::write(&dot, diagnostics.to_dot())?;
    println!("resource tree: {}", dot.display());
    let svg = directory.join("context-loss.svg");
    match diagnostics.render_svg(&svg) {
        Ok(()) => println!("rendered: {}", svg.display()),
        Err(RenderError::GraphvizNotFound) => println!("(install Graphviz to render it: dot -Tsvg)"),
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

#[allow(dead_code)]
fn main() -> anyhow::Result<()> {
    let diagnostics = enable_diagnostics();
    for outcome in [raw_thread(&diagnostics), raw_tokio_spawn(&diagnostics), callback_registry(&diagnostics)] {
        println!("=== {}: get() = {:?}", outcome.name, outcome.lost);
        println!("{}", outcome.report);
        println!("-> go to {} (resource #{})\n", outcome.site, outcome.culprit);
        println!("fixed: get() = {:?}; {}\n", outcome.fixed, outcome.fixed_report);
    }
    println!("=== loss report\n{}\n", diagnostics.loss_report(&REQUEST_ID));
    // A resource that is never destroyed, for the leak report.
    std::mem::forget(AsyncResource::new("Forgotten"));
    println!("=== leak report\n{}\n", diagnostics.leak_report());
    write_graph(&diagnostics)
}
