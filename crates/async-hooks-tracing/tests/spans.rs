//! Every resource becomes a span: names, fields, parents, enter/exit, close.

mod support;

use std::sync::OnceLock;

use async_hooks_context::AsyncLocalStorage;
use async_hooks_core::{AsyncHook, AsyncResource, AsyncResourceOptions, Attribute};
use async_hooks_tracing::TracingHooks;
use support::Recorded;

fn setup() -> Recorded {
    static HOOK: OnceLock<AsyncHook<TracingHooks>> = OnceLock::new();
    let recorded = support::install_global();
    HOOK.get_or_init(|| TracingHooks::builder().enable());
    recorded
}

#[test]
fn a_resource_span_is_named_after_its_type_with_ids_and_creation_site() {
    let recorded = setup();
    let line = line!() + 1;
    let resource = AsyncResource::new("NamedResource");
    let span = recorded.resource(resource.async_id());
    assert_eq!(span.name, "NamedResource");
    assert_eq!(span.target, "async_hooks");
    assert_eq!(span.field("async_id"), Some(resource.async_id().as_u64().to_string().as_str()));
    assert_eq!(span.field("trigger_async_id"), Some(resource.trigger_async_id().as_u64().to_string().as_str()));
    assert_eq!(span.field("code.filepath"), Some(file!()));
    assert_eq!(span.field("code.lineno"), Some(line.to_string().as_str()));
    assert_eq!(span.parent, None, "created outside any span and scope: a root");
}

#[test]
fn a_resource_created_in_a_scope_is_a_child_of_that_resource_and_nests_further() {
    let recorded = setup();
    let request = AsyncResource::new("NestRequest");
    let (child_id, grandchild_id) = request.run_in_async_scope(|| {
        let child = AsyncResource::new("NestChild");
        let grandchild_id = child.run_in_async_scope(|| AsyncResource::new("NestGrandchild").async_id());
        (child.async_id(), grandchild_id)
    });
    let request_span = recorded.resource(request.async_id());
    let child_span = recorded.resource(child_id);
    let grandchild_span = recorded.resource(grandchild_id);
    assert_eq!(child_span.parent, Some(request_span.index));
    assert_eq!(grandchild_span.parent, Some(child_span.index));
    // The ids in the fields agree with the hooks' view.
    assert_eq!(child_span.field("trigger_async_id"), request_span.field("async_id"));
    assert_eq!(grandchild_span.field("trigger_async_id"), child_span.field("async_id"));
}

#[test]
fn a_resource_nests_under_the_users_own_span() {
    let recorded = setup();
    let user_span = tracing::info_span!("user_operation");
    let id = user_span.in_scope(|| AsyncResource::new("UnderUserSpan").async_id());
    let user = recorded.named("user_operation").pop().expect("the user span was recorded");
    assert_eq!(recorded.resource(id).parent, Some(user.index));
}

#[test]
fn without_a_current_span_the_trigger_resources_span_is_the_parent() {
    let recorded = setup();
    let trigger = AsyncResource::new("ExplicitTrigger");
    let options = AsyncResourceOptions { trigger_async_id: Some(trigger.async_id()), ..Default::default() };
    let triggered = AsyncResource::with_options("Triggered", options);
    assert_eq!(recorded.resource(triggered.async_id()).parent, Some(recorded.resource(trigger.async_id()).index));
}

#[test]
fn before_enters_and_after_exits_the_span_on_the_thread_that_runs_the_scope() {
    let recorded = setup();
    let resource = AsyncResource::new("RunsElsewhere");
    let worker = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                resource.run_in_async_scope(|| {
                    let current = tracing::Span::current();
                    assert_eq!(current.metadata().map(|metadata| metadata.name()), Some("RunsElsewhere"));
                });
                std::thread::current().id()
            })
            .join()
            .unwrap()
    });
    resource.run_in_async_scope(|| {});
    let span = recorded.resource(resource.async_id());
    assert_eq!(span.enters, [worker, std::thread::current().id()]);
    assert_eq!(span.exits, span.enters);
}

#[test]
fn attributes_at_creation_and_recorded_later_become_fields() {
    let recorded = setup();
    let task =
        AsyncResource::builder("AttributedTask").attribute("pool.name", "p").attribute("db.system", "sqlite").build();
    task.record(&[Attribute::new("pool.worker", 1_u64), Attribute::new("pool.queue_wait_us", 25_u64)]);
    task.record(&[Attribute::new("late.key", 3_u64), Attribute::new("db.system", "postgres")]);
    task.record(&[Attribute::new("pool.outcome", "ok"), Attribute::new("later.key", true)]);
    let span = recorded.resource(task.async_id());
    assert_eq!(span.field("pool.name"), Some("p"));
    assert_eq!(span.field("pool.worker"), Some("1"));
    assert_eq!(span.field("pool.queue_wait_us"), Some("25"));
    assert_eq!(span.field("pool.outcome"), Some("ok"));
    assert_eq!(span.field("db.system"), Some("postgres"), "a key given at creation has a field of its own");
    assert_eq!(span.field("attributes"), Some("late.key=3, later.key=true"), "later keys go to the catch-all");
}

#[test]
fn destroy_closes_the_span_and_drops_its_table_entry() {
    let recorded = setup();
    let resource = AsyncResource::new("Destroyed");
    let id = resource.async_id();
    assert!(!recorded.resource(id).closed);
    resource.emit_destroy().unwrap();
    assert!(recorded.resource(id).closed);
    drop(resource);
}

#[test]
fn a_resource_destroyed_inside_its_scope_is_exited_at_after_then_closed() {
    let recorded = setup();
    let resource = AsyncResource::new("DestroyedInScope");
    let id = resource.async_id();
    resource.run_in_async_scope(|| {
        resource.emit_destroy().unwrap();
        let span = recorded.resource(id);
        assert!(span.exits.is_empty(), "the scope is still open");
        assert!(!span.closed, "a span is not closed while it is entered");
        assert_eq!(tracing::Span::current().metadata().map(|metadata| metadata.name()), Some("DestroyedInScope"));
    });
    let span = recorded.resource(id);
    assert_eq!(span.exits, span.enters, "exited when the scope ended");
    assert!(span.closed, "and closed then");
    assert!(tracing::Span::current().is_none(), "nothing stays entered on this thread");
}

#[test]
fn store_values_are_not_recorded_without_an_opt_in() {
    static SECRET: AsyncLocalStorage<&'static str> = AsyncLocalStorage::new();
    let recorded = setup();
    let id = SECRET.run("secret-value", || {
        let resource = AsyncResource::new("WithStore");
        resource.run_in_async_scope(|| assert_eq!(SECRET.get(), Some("secret-value")));
        resource.async_id()
    });
    let span = recorded.resource(id);
    assert!(span.fields.values().all(|value| !value.contains("secret-value")), "{:?}", span.fields);
}

#[test]
fn futures_are_spans_entered_per_poll() {
    use async_hooks_core::FutureExt;
    let recorded = setup();
    let future = async { async_hooks_core::execution_async_id() }.in_async_resource("PolledFuture");
    let id = poll_ready(future);
    let span = recorded.resource(id);
    assert_eq!(span.name, "PolledFuture");
    assert_eq!(span.enters.len(), 1);
    assert!(span.closed);
}

fn poll_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the future is ready at once"),
    }
}
