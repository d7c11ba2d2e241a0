//! Scopes whose `before` a hook set missed (it was disabled then) and whose
//! `after` it sees (enabled again) exit nothing, even while a scope of the
//! same resource is open on another thread. In a test binary of their own,
//! and one at a time, because they disable their hook set midway.

mod support;

use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_hooks_core::{AsyncHook, AsyncId, AsyncResource};
use async_hooks_tracing::TracingHooks;
use support::Recorded;

/// One test at a time: each enables a hook set of its own for the process.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What every test here starts from: its turn, the recorded spans, a hook
/// set of its own (enabled), and a resource made while it is enabled.
struct Setup {
    _turn: MutexGuard<'static, ()>,
    recorded: Recorded,
    hook: AsyncHook<TracingHooks>,
    resource: AsyncResource,
    id: AsyncId,
}

fn setup(resource_type: &'static str) -> Setup {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let recorded = support::install_global();
    let hook = TracingHooks::builder().enable();
    let resource = AsyncResource::new(resource_type);
    let id = resource.async_id();
    Setup { _turn, recorded, hook, resource, id }
}

fn current_span_name() -> Option<&'static str> {
    tracing::Span::current().metadata().map(|metadata| metadata.name())
}

#[test]
fn an_after_whose_before_was_missed_exits_nothing() {
    let Setup { _turn, recorded, hook, resource, id } = setup("EnteredWhileDisabled");
    let user_span = tracing::info_span!("user_outer");
    let _user = user_span.enter();
    hook.disable();
    resource.run_in_async_scope(|| {
        // `before` was dispatched while the hook set was disabled; `after`
        // is dispatched with it enabled again.
        hook.enable();
    });
    let span = recorded.resource(id);
    assert!(span.enters.is_empty());
    assert!(span.exits.is_empty(), "an exit without an enter would pop another span off the thread's stack");
    assert_eq!(current_span_name(), Some("user_outer"));
    drop(resource);
    assert!(recorded.resource(id).closed, "the span is still closed at destroy");
}

/// Nested scopes of one resource on one thread look alike to a hook set
/// (it gets the id only), so the missed inner scope's `after` ends the outer
/// scope's span early. What holds: the span is exited once, on this thread,
/// and closed at `destroy`; nothing stays entered.
#[test]
fn a_missed_inner_scope_of_the_same_resource_exits_its_span_once_and_leaks_nothing() {
    let Setup { _turn, recorded, hook, resource, id } = setup("NestedScopes");
    resource.run_in_async_scope(|| {
        hook.disable();
        resource.run_in_async_scope(|| hook.enable());
    });
    let span = recorded.resource(id);
    assert_eq!(span.enters, [std::thread::current().id()]);
    assert_eq!(span.exits, span.enters);
    assert_eq!(current_span_name(), None);
    drop(resource);
    assert!(recorded.resource(id).closed);
}

#[test]
fn a_missed_scope_does_not_end_a_scope_of_the_same_resource_on_another_thread() {
    let Setup { _turn, recorded, hook, resource, id } = setup("SharedScopes");
    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let worker = std::thread::scope(|scope| {
        let resource = &resource;
        let worker = scope.spawn(move || {
            resource.run_in_async_scope(|| {
                entered_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                assert_eq!(current_span_name(), Some("SharedScopes"), "still entered on the worker");
            });
            assert_eq!(current_span_name(), None, "exited on the worker when its scope ended");
            std::thread::current().id()
        });
        entered_rx.recv().unwrap();
        hook.disable();
        resource.run_in_async_scope(|| hook.enable());
        assert!(recorded.resource(id).exits.is_empty(), "the worker's span was exited from this thread");
        go_tx.send(()).unwrap();
        worker.join().unwrap()
    });
    let span = recorded.resource(id);
    assert_eq!(span.enters, [worker]);
    assert_eq!(span.exits, [worker]);
    drop(resource);
    assert!(recorded.resource(id).closed);
}
