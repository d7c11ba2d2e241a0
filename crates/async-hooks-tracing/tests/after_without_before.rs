//! A hook set that misses a scope's `before` (disabled then) and sees its
//! `after` (enabled again) exits nothing: it never entered the span. Alone
//! in its test binary, because it disables its hook set midway and so must
//! not share the process with other tests' resources.

mod support;

use async_hooks_core::AsyncResource;
use async_hooks_tracing::TracingHooks;

#[test]
fn an_after_whose_before_was_missed_exits_nothing() {
    let recorded = support::install_global();
    let hook = TracingHooks::builder().enable();
    let resource = AsyncResource::new("EnteredWhileDisabled");
    let id = resource.async_id();
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
    assert_eq!(tracing::Span::current().metadata().map(|metadata| metadata.name()), Some("user_outer"));
    drop(resource);
    assert!(recorded.resource(id).closed, "the span is still closed at destroy");
}
