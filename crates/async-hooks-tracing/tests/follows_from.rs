//! Follows-from mode: detached work is a root span linked to its origin.

mod support;

use async_hooks_core::AsyncResource;
use async_hooks_tracing::{ParentMode, TracingHooks};

#[test]
fn detached_types_are_roots_that_follow_from_the_span_they_came_from() {
    let recorded = support::install_global();
    let _hook = TracingHooks::builder().parent_mode(ParentMode::FollowsFromForTypes(&["Detached"])).enable();
    let request = AsyncResource::new("FollowRequest");
    let (detached, attached) =
        request.run_in_async_scope(|| (AsyncResource::new("Detached"), AsyncResource::new("Attached")));
    let request_span = recorded.resource(request.async_id());
    let detached_span = recorded.resource(detached.async_id());
    assert_eq!(detached_span.parent, None);
    assert_eq!(detached_span.follows_from, [request_span.index]);
    assert_eq!(detached_span.field("trigger_async_id"), request_span.field("async_id"));
    let attached_span = recorded.resource(attached.async_id());
    assert_eq!(attached_span.parent, Some(request_span.index));
    assert!(attached_span.follows_from.is_empty());
}
