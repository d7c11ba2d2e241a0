//! Store values are recorded only for the stores the user opted in.

mod support;

use async_hooks_context::AsyncLocalStorage;
use async_hooks_core::AsyncResource;
use async_hooks_tracing::TracingHooks;

static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();
static PASSWORD: AsyncLocalStorage<&'static str> = AsyncLocalStorage::new();

#[test]
fn an_opted_in_store_is_recorded_as_seen_at_creation_and_others_are_not() {
    let recorded = support::install_global();
    let _hook = TracingHooks::builder().record_store("request.id", &REQUEST_ID).enable();
    let (with_store, without_store) = PASSWORD.run("hunter2", || {
        let with_store = REQUEST_ID.run(42, || AsyncResource::new("OptedIn"));
        (with_store, AsyncResource::new("OptedInMissing"))
    });
    let span = recorded.resource(with_store.async_id());
    assert_eq!(span.field("request.id"), Some("42"));
    assert!(span.fields.values().all(|value| !value.contains("hunter2")));
    let span = recorded.resource(without_store.async_id());
    assert_eq!(span.field("request.id"), None, "no value, no field value");
}
