//! Dropping the hook set closes the spans of resources still alive.

mod support;

use async_hooks_core::AsyncResource;
use async_hooks_tracing::TracingHooks;

#[test]
fn dropping_the_hook_set_closes_the_spans_of_live_resources() {
    let recorded = support::install_global();
    // On a thread of its own: a thread's hook-dispatch cache may hold the
    // dropped set until the thread's next dispatched event or its exit.
    let id = std::thread::spawn(move || {
        let hook = TracingHooks::builder().enable();
        let resource = AsyncResource::new("OutlivesHook");
        let id = resource.async_id();
        drop(hook);
        std::mem::forget(resource);
        id
    })
    .join()
    .unwrap();
    assert!(recorded.resource(id).closed);
}
