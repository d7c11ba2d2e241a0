//! Context-loss diagnostics: each classic loss is reported with the right
//! resource and file:line, and correctly propagated paths report nothing.
//!
//! Hooks are process-wide, so every test holds [`serial`] while its
//! diagnostics are enabled.

use std::sync::{Arc, Mutex, MutexGuard};

use async_hooks_context::diagnostics::{ContextDiagnostics, LossCause, StoreState};
use async_hooks_context::{AsyncLocalStorage, bind};
use async_hooks_core::{AsyncResource, AsyncResourceOptions, FutureExt, thread};

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn diagnostics_watching(name: &'static str, storage: &'static AsyncLocalStorage<u64>) -> ContextDiagnostics {
    let diagnostics = ContextDiagnostics::enable();
    diagnostics.watch(name, storage);
    diagnostics
}

#[test]
fn raw_std_thread_is_reported_at_its_root_with_the_spawning_resource_and_checkpoint() {
    static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
    let _serial = serial();
    let diagnostics = diagnostics_watching("request_id", &REQUEST_ID);

    let request_line = line!() + 1;
    let request = REQUEST_ID.run(7, || AsyncResource::new("Request"));
    let mut checkpoint_line = 0;
    let report = request.run_in_async_scope(|| {
        checkpoint_line = line!() + 1;
        diagnostics.checkpoint("spawn raw worker");
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("raw-worker".into())
                .spawn_scoped(scope, || {
                    assert_eq!(REQUEST_ID.get(), None, "a raw thread starts with no context");
                    diagnostics.why_missing(&REQUEST_ID)
                })
                .unwrap()
                .join()
                .unwrap()
        })
    });
    println!("{report}");

    assert!(report.is_missing());
    assert!(report.current().is_none(), "the raw thread runs outside any resource");
    let loss = report.loss().expect("explained");
    let LossCause::UnpropagatedThread { thread, candidates, checkpoints } = loss.cause() else {
        panic!("expected an unpropagated thread, got {:?}", loss.cause());
    };
    assert_eq!(thread.name(), Some("raw-worker"));
    assert_eq!(candidates[0].id(), request.async_id(), "the spawning side");
    assert_eq!(candidates[0].location().line(), request_line);
    assert_eq!(candidates[0].location().file(), file!());
    assert_eq!(checkpoints[0].location().line(), checkpoint_line, "the checkpoint marks the spawn site");
    assert_eq!(checkpoints[0].resource().map(|resource| resource.id()), Some(request.async_id()));
    let text = report.to_string();
    assert!(text.contains("outside any resource"), "{text}");
    assert!(text.contains(&format!("{}:{checkpoint_line}", file!())), "{text}");

    let losses = diagnostics.loss_report(&REQUEST_ID);
    assert_eq!(losses.losses().len(), 1, "{losses}");
    assert_eq!(losses.losses()[0].observation().unwrap().thread().name(), Some("raw-worker"));
}

#[test]
fn thread_spawned_through_async_hooks_reports_nothing() {
    static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
    let _serial = serial();
    let diagnostics = Arc::new(diagnostics_watching("request_id", &REQUEST_ID));

    let request = REQUEST_ID.run(7, || AsyncResource::new("Request"));
    let checker = diagnostics.clone();
    let (seen, report) = request.run_in_async_scope(|| {
        thread::spawn(move || (REQUEST_ID.get(), checker.why_missing(&REQUEST_ID))).join().unwrap()
    });
    assert_eq!(seen, Some(7));
    assert!(!report.is_missing(), "{report}");
    assert_eq!(report.store_state(), StoreState::Visible);
    let losses = diagnostics.loss_report(&REQUEST_ID);
    assert!(losses.is_empty(), "{losses}");
}

#[test]
fn raw_tokio_spawn_is_reported_at_its_root_and_the_wrapped_spawn_is_not() {
    static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
    let _serial = serial();
    let diagnostics = Arc::new(diagnostics_watching("request_id", &REQUEST_ID));
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("tokio-worker").build().unwrap();

    let checker = diagnostics.clone();
    let marker = diagnostics.clone();
    let mut request_line = 0;
    let spawn_line = line!() + 5;
    let (request_id, raw, wrapped) = runtime.block_on(REQUEST_ID.scope(7, async {
        let request = async move {
            let request_id = async_hooks_core::execution_async_id();
            marker.checkpoint("tokio::spawn");
            let raw = tokio::spawn({
                let checker = checker.clone();
                async move { (REQUEST_ID.get(), checker.why_missing(&REQUEST_ID)) }
            });
            let raw = raw.await.unwrap();
            // The fix: the spawned future becomes a resource created here.
            let wrapped = tokio::spawn(
                async move { (REQUEST_ID.get(), checker.why_missing(&REQUEST_ID)) }.in_async_resource("Task"),
            );
            (request_id, raw, wrapped.await.unwrap())
        };
        request_line = line!() + 1;
        let request = request.in_async_resource("Request");
        request.await
    }));
    println!("{}", raw.1);

    assert_eq!(raw.0, None, "a raw tokio::spawn loses the store");
    let loss = raw.1.loss().expect("explained");
    assert!(matches!(loss.cause(), LossCause::UnpropagatedThread { .. }), "{:?}", loss.cause());
    assert_eq!(loss.candidates()[0].id(), request_id, "the spawning side is the Request resource");
    assert_eq!(loss.candidates()[0].location().line(), request_line);
    assert_eq!(loss.checkpoints()[0].location().line(), spawn_line - 1, "checkpoint just before the spawn");

    assert_eq!(wrapped.0, Some(7));
    assert!(!wrapped.1.is_missing(), "{}", wrapped.1);
    let losses = diagnostics.loss_report(&REQUEST_ID);
    assert_eq!(losses.losses().len(), 1, "only the raw spawn: {losses}");
}

/// The buggy registry: one resource per slot, created when the registry is
/// built — outside any request.
struct EagerRegistry {
    slots: Vec<AsyncResource>,
    callbacks: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
}

impl EagerRegistry {
    fn new(slots: usize) -> EagerRegistry {
        EagerRegistry {
            slots: (0..slots).map(|_| AsyncResource::new("Callback")).collect(),
            callbacks: Mutex::default(),
        }
    }

    fn register(&self, callback: impl FnOnce() + Send + 'static) {
        self.callbacks.lock().unwrap().push(Box::new(callback));
    }

    fn fire(&self) {
        let callbacks = std::mem::take(&mut *self.callbacks.lock().unwrap());
        for (slot, callback) in self.slots.iter().zip(callbacks) {
            slot.run_in_async_scope(callback);
        }
    }
}

#[test]
fn callback_resource_created_at_registry_construction_is_reported_at_its_creation_site() {
    static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
    let _serial = serial();
    let diagnostics = Arc::new(diagnostics_watching("request_id", &REQUEST_ID));

    // `EagerRegistry::new` creates the resources; their site is inside it.
    let registry = EagerRegistry::new(1);
    let slot_id = registry.slots[0].async_id();
    let answers = Arc::new(Mutex::new(Vec::new()));
    REQUEST_ID.run(7, || {
        let (answers, checker) = (answers.clone(), diagnostics.clone());
        registry.register(move || answers.lock().unwrap().push(checker.why_missing(&REQUEST_ID)));
    });
    // Fired later, from elsewhere (no request current).
    registry.fire();

    let answer = answers.lock().unwrap().pop().unwrap();
    println!("{answer}");
    assert!(answer.is_missing());
    let loss = answer.loss().unwrap();
    let resource = loss.resource().expect("the callback's resource");
    assert_eq!(resource.id(), slot_id);
    assert_eq!(resource.resource_type(), "Callback");
    assert_eq!(resource.location().file(), file!());
    let construction_line = registry_construction_line();
    assert_eq!(resource.location().line(), construction_line, "where the resource was created");
    assert_eq!(loss.break_link().map(|link| link.id()), Some(slot_id));
    assert!(answer.to_string().contains(&format!("{}:{construction_line}", file!())), "{answer}");

    let losses = diagnostics.loss_report(&REQUEST_ID);
    assert_eq!(losses.losses().len(), 1, "{losses}");
    assert_eq!(losses.losses()[0].resource().unwrap().id(), slot_id);
}

/// The line of `AsyncResource::new("Callback")` in `EagerRegistry::new`.
fn registry_construction_line() -> u32 {
    let source = include_str!("diagnostics_losses.rs");
    let index = source.lines().position(|line| line.contains("map(|_| AsyncResource::new(\"Callback\"))")).unwrap();
    index as u32 + 1
}

#[test]
fn callback_created_outside_the_scope_and_invoked_inside_it_is_found_by_the_table_scan() {
    static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
    let _serial = serial();
    let diagnostics = diagnostics_watching("request_id", &REQUEST_ID);

    let callback_line = line!() + 1;
    let callback = AsyncResource::new("Callback");
    let request = REQUEST_ID.run(7, || AsyncResource::new("Request"));
    let seen = request.run_in_async_scope(|| callback.run_in_async_scope(|| REQUEST_ID.get()));
    assert_eq!(seen, None, "a resource runs in its creation context");

    let report = diagnostics.loss_report(&REQUEST_ID);
    println!("{report}");
    let [loss] = report.losses() else { panic!("one loss expected: {report}") };
    assert_eq!(loss.resource().unwrap().id(), callback.async_id());
    assert_eq!(loss.resource().unwrap().location().line(), callback_line);
    let LossCause::CreatedBeforeScopeInvokedInside { invoker } = loss.cause() else {
        panic!("{:?}", loss.cause());
    };
    assert_eq!(invoker.id(), request.async_id());
}

#[test]
fn callbacks_bound_at_registration_report_nothing() {
    static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
    let _serial = serial();
    let diagnostics = diagnostics_watching("request_id", &REQUEST_ID);

    let mut later: Vec<Box<dyn FnOnce() -> Option<u64>>> = Vec::new();
    REQUEST_ID.run(7, || {
        later.push(Box::new(AsyncResource::bind_fn(|| REQUEST_ID.get(), "Callback")));
        later.push(Box::new(bind(|| REQUEST_ID.get())));
    });
    let request = REQUEST_ID.run(8, || AsyncResource::new("Request"));
    let seen: Vec<Option<u64>> = request.run_in_async_scope(|| later.into_iter().map(|callback| callback()).collect());
    assert_eq!(seen, [Some(7), Some(7)]);
    let report = diagnostics.loss_report(&REQUEST_ID);
    assert!(report.is_empty(), "{report}");
}

#[test]
fn resource_created_inside_exit_breaks_the_chain_at_itself() {
    static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
    let _serial = serial();
    let diagnostics = diagnostics_watching("request_id", &REQUEST_ID);

    let request = REQUEST_ID.run(7, || AsyncResource::new("Request"));
    let (timer, child) = request.run_in_async_scope(|| {
        let timer = REQUEST_ID.exit(|| AsyncResource::new("Timer"));
        let child = timer.run_in_async_scope(|| AsyncResource::new("Child"));
        (timer, child)
    });
    child.run_in_async_scope(|| ());

    let report = diagnostics.loss_report(&REQUEST_ID);
    println!("{report}");
    let [loss] = report.losses() else { panic!("one break expected: {report}") };
    assert_eq!(loss.last_with_store().unwrap().id(), request.async_id());
    assert_eq!(loss.break_link().unwrap().id(), timer.async_id());
    assert!(matches!(loss.cause(), LossCause::CreatedOutsideScope));
    assert_eq!(loss.affected(), [timer.async_id(), child.async_id()]);
    let types: Vec<&str> = loss.chain().iter().map(|link| link.resource_type()).collect();
    assert_eq!(types, ["Request", "Timer"]);
}

#[test]
fn disable_is_named_as_the_cause() {
    static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
    let _serial = serial();
    let diagnostics = diagnostics_watching("request_id", &REQUEST_ID);

    let continuation = REQUEST_ID.run(7, || AsyncResource::new("Continuation"));
    REQUEST_ID.disable();
    let answer = continuation.run_in_async_scope(|| diagnostics.why_missing(&REQUEST_ID));
    assert_eq!(answer.store_state(), StoreState::Disabled);
    assert!(matches!(answer.loss().unwrap().cause(), LossCause::Disabled), "{answer}");
    let report = diagnostics.loss_report(&REQUEST_ID);
    assert!(matches!(report.losses()[0].cause(), LossCause::Disabled), "{report}");
}

#[test]
fn explicit_trigger_on_another_thread_without_context_is_named_as_the_cause() {
    static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
    let _serial = serial();
    let diagnostics = diagnostics_watching("request_id", &REQUEST_ID);

    let request = REQUEST_ID.run(7, || AsyncResource::new("Request"));
    request.run_in_async_scope(|| ());
    let trigger = request.async_id();
    let reply = std::thread::spawn(move || {
        let reply = AsyncResource::with_options(
            "Reply",
            AsyncResourceOptions { trigger_async_id: Some(trigger), ..Default::default() },
        );
        reply.run_in_async_scope(|| ());
        reply.async_id()
    })
    .join()
    .unwrap();

    let report = diagnostics.loss_report(&REQUEST_ID);
    let [loss] = report.losses() else { panic!("{report}") };
    assert_eq!(loss.break_link().unwrap().id(), reply);
    assert!(matches!(loss.cause(), LossCause::CreatedOnOtherThread { .. }), "{report}");
}

#[test]
fn correctly_propagated_paths_report_nothing() {
    static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
    let _serial = serial();
    let diagnostics = diagnostics_watching("request_id", &REQUEST_ID);

    let request = REQUEST_ID.run(7, || AsyncResource::new("Request"));
    let seen = request.run_in_async_scope(|| {
        let query = AsyncResource::new("Query");
        let from_thread = thread::spawn(|| REQUEST_ID.get()).join().unwrap();
        let from_query = query.run_in_async_scope(|| AsyncResource::new("Row").run_in_async_scope(|| REQUEST_ID.get()));
        let mut future = std::pin::pin!(async { REQUEST_ID.get() }.in_async_resource("Future"));
        let from_future = match future.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => None,
        };
        [from_thread, from_query, from_future]
    });
    assert_eq!(seen, [Some(7); 3]);
    // Resources that never had the store and were never invoked from one
    // that had it are not losses either.
    AsyncResource::new("Unrelated").run_in_async_scope(|| ());

    let report = diagnostics.loss_report(&REQUEST_ID);
    assert!(report.is_empty(), "{report}");
    assert!(diagnostics.loss_reports().iter().all(|report| report.is_empty()));
}

use std::future::Future as _;

#[test]
fn a_deep_chain_under_one_break_is_one_loss_with_every_affected_resource() {
    static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
    let _serial = serial();
    let diagnostics = diagnostics_watching("request_id", &REQUEST_ID);

    let request = REQUEST_ID.run(7, || AsyncResource::new("Request"));
    let first = request.run_in_async_scope(|| REQUEST_ID.exit(|| AsyncResource::new("Step")));
    let mut chain = vec![first];
    for _ in 0..2000 {
        let next = chain.last().unwrap().run_in_async_scope(|| AsyncResource::new("Step"));
        chain.push(next);
    }
    chain.last().unwrap().run_in_async_scope(|| ());

    let report = diagnostics.loss_report(&REQUEST_ID);
    let [loss] = report.losses() else { panic!("one break expected, got {}", report.losses().len()) };
    assert_eq!(loss.break_link().unwrap().id(), chain[0].async_id());
    assert_eq!(loss.affected().len(), chain.len(), "every step ran without the store");
}
