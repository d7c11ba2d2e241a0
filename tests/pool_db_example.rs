//! Runs `examples/db_pool.rs` (the very same code, included here) against
//! real SQLite connections and checks what it reports: every lease is an
//! async resource with a whole lifecycle whose trigger is the request that
//! checked it out, and every query saw its own caller's context — also when
//! the lease had moved to a thread with no context of its own.

#[allow(dead_code)]
#[path = "../examples/db_pool.rs"]
mod db_pool;

#[test]
fn db_pool_leases_are_resources_and_each_query_sees_its_callers_context() {
    let report = db_pool::run_demo(false).expect("the demo runs");

    assert_eq!(report.requests.len(), 8);
    assert!(report.connections_opened <= 3, "never more connections than the pool's max_size");
    assert!(report.requests.iter().any(|request| request.on_background_thread));
    for request in &report.requests {
        assert_eq!(request.seen_by_query, Some(request.request), "request {}'s query", request.request);
        assert_eq!(request.stored_note, format!("written for request Some({})", request.request));
        let (trigger, kinds) = &report.leases[&request.lease];
        assert_eq!(*trigger, request.checked_out_in, "the lease's trigger is its caller");
        assert_eq!(kinds.as_slice(), ["init", "before", "after", "destroy"], "lease of request {}", request.request);
    }
    assert_eq!(report.leases.len(), 8, "one lease per request");
}
