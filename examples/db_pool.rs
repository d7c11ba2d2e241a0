//! "Other resource pools, such as database connection pools, can follow a
//! similar model" (Node's docs): a pool of real SQLite connections whose
//! leases are async resources.
//!
//! Eight requests, each on its own thread with its own request id in an
//! `AsyncLocalStorage`, check a connection out of a pool of three, insert a
//! row saying which request they believe they are, and read it back. Half of
//! them hand their lease to a plain background thread (no context of its
//! own) to run the query there: the lease still runs in the context of the
//! request that checked it out. A hook set prints each lease's lifecycle.
//!
//! Run with `cargo run --example db_pool`. `tests/pool_db_example.rs` runs
//! the same `run_demo` and checks what it reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_hooks::context::AsyncLocalStorage;
use async_hooks::pool::attributes::LEASE_RESOURCE_TYPE;
use async_hooks::pool::{Lease, ResourcePool};
use async_hooks::{AsyncId, HookCallbacks, create_hook, execution_async_id, thread};

/// The id of the request being handled.
static REQUEST_ID: AsyncLocalStorage<u32> = AsyncLocalStorage::new();

const REQUESTS: u32 = 8;

/// Each lease's init trigger and event kinds, by lease id.
type LeaseEvents = HashMap<AsyncId, (AsyncId, Vec<&'static str>)>;

/// What one request saw.
#[derive(Debug)]
pub(crate) struct RequestReport {
    /// The request's id.
    pub(crate) request: u32,
    /// The execution id at checkout (the lease's expected trigger).
    pub(crate) checked_out_in: AsyncId,
    /// The lease's async id.
    pub(crate) lease: AsyncId,
    /// The request id the query saw, inside the lease's scope.
    pub(crate) seen_by_query: Option<u32>,
    /// The row read back from SQLite.
    pub(crate) stored_note: String,
    /// Whether the query ran on a background thread.
    pub(crate) on_background_thread: bool,
}

/// What the demo observed.
#[derive(Debug, Default)]
pub(crate) struct DemoReport {
    /// One per request.
    pub(crate) requests: Vec<RequestReport>,
    /// The lifecycle events of every lease, by lease id, with the init
    /// trigger.
    pub(crate) leases: LeaseEvents,
    /// How many connections the pool opened.
    pub(crate) connections_opened: usize,
}

/// Runs the demo; prints the lifecycle and the results if `print`.
pub(crate) fn run_demo(print: bool) -> anyhow::Result<DemoReport> {
    let path = std::env::temp_dir().join(format!(
        "async-hooks-db-pool-{}-{}.sqlite",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos()
    ));
    let setup = rusqlite::Connection::open(&path)?;
    setup.pragma_update(None, "journal_mode", "WAL")?;
    setup.execute("CREATE TABLE visits (request INTEGER NOT NULL, note TEXT NOT NULL)", ())?;
    drop(setup);

    // The hook set: record (and maybe print) every lease event.
    let leases: Arc<Mutex<LeaseEvents>> = Arc::default();
    let event = {
        let leases = leases.clone();
        move |id: AsyncId, kind: &'static str| {
            let mut leases = leases.lock().unwrap();
            if let Some((_, kinds)) = leases.get_mut(&id) {
                kinds.push(kind);
                if print {
                    println!("  {kind:<7} lease {id}");
                }
            }
        }
    };
    let (before, after, destroy) = (event.clone(), event.clone(), event);
    let (on_init_leases, on_record_leases) = (leases.clone(), leases.clone());
    let hook = create_hook(
        HookCallbacks::new()
            .named("print-lease-lifecycle")
            .on_init(move |id, resource_type, trigger, resource| {
                if resource_type == LEASE_RESOURCE_TYPE {
                    on_init_leases.lock().unwrap().insert(id, (trigger, vec!["init"]));
                    if print {
                        let attributes: Vec<String> = resource.attributes().iter().map(ToString::to_string).collect();
                        println!("  init    lease {id} trigger={trigger} {}", attributes.join(" "));
                    }
                }
            })
            .on_before(move |id| before(id, "before"))
            .on_after(move |id| after(id, "after"))
            .on_record(move |id, attributes| {
                if print && on_record_leases.lock().unwrap().contains_key(&id) {
                    let attributes: Vec<String> = attributes.iter().map(ToString::to_string).collect();
                    println!("  record  lease {id} {}", attributes.join(" "));
                }
            })
            .on_destroy(move |id| destroy(id, "destroy")),
    );
    hook.enable();

    let opened = Arc::new(Mutex::new(0_usize));
    let pool = {
        let (path, opened) = (path.clone(), opened.clone());
        ResourcePool::builder(move || {
            let connection = rusqlite::Connection::open(&path)?;
            connection.busy_timeout(Duration::from_secs(10))?;
            *opened.lock().unwrap() += 1;
            Ok::<_, rusqlite::Error>(connection)
        })
        .name("sqlite")
        .max_size(3)
        .build()
    };

    let handlers: Vec<_> = (0..REQUESTS)
        .map(|request| {
            let pool = pool.clone();
            REQUEST_ID.run(request, || thread::spawn(move || handle_request(&pool, request)))
        })
        .collect();
    let mut requests = Vec::new();
    for handler in handlers {
        requests.push(handler.join().map_err(|_| anyhow::anyhow!("a request thread panicked"))??);
    }
    pool.close();
    hook.disable();

    let report = DemoReport {
        requests,
        leases: std::mem::take(&mut *leases.lock().unwrap()),
        connections_opened: *opened.lock().unwrap(),
    };
    if print {
        for request in &report.requests {
            println!(
                "request {}: lease {} on {} thread saw request {:?}; stored {:?}",
                request.request,
                request.lease,
                if request.on_background_thread { "a background" } else { "its own" },
                request.seen_by_query,
                request.stored_note,
            );
        }
        println!("{} requests served by {} connections", report.requests.len(), report.connections_opened);
    }
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("sqlite-wal"));
    let _ = std::fs::remove_file(path.with_extension("sqlite-shm"));
    Ok(report)
}

/// One request: check out, insert and read back in the lease's scope.
fn handle_request(
    pool: &ResourcePool<rusqlite::Connection, rusqlite::Error>,
    request: u32,
) -> anyhow::Result<RequestReport> {
    let checked_out_in = execution_async_id();
    let mut lease = pool.get()?;
    let lease_id = lease.async_id();
    let on_background_thread = request % 2 == 1;
    let (seen_by_query, stored_note, lease) = if on_background_thread {
        // A plain std thread: no context of its own. The lease brings it.
        std::thread::spawn(move || {
            let outcome = query(&mut lease);
            outcome.map(|(seen, note)| (seen, note, lease))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the background thread panicked"))??
    } else {
        let (seen, note) = query(&mut lease)?;
        (seen, note, lease)
    };
    drop(lease); // checkin: the lease's `destroy`
    Ok(RequestReport { request, checked_out_in, lease: lease_id, seen_by_query, stored_note, on_background_thread })
}

/// Writes a row naming the request this code believes it serves, and reads
/// it back, all in the lease's scope.
fn query(lease: &mut Lease<rusqlite::Connection, rusqlite::Error>) -> anyhow::Result<(Option<u32>, String)> {
    let outcome = lease.run(|connection| -> rusqlite::Result<(Option<u32>, String)> {
        let seen = REQUEST_ID.get();
        let note = format!("written for request {seen:?}");
        let request = i64::from(seen.unwrap_or(u32::MAX));
        connection.execute("INSERT INTO visits (request, note) VALUES (?1, ?2)", (request, &note))?;
        let stored: String =
            connection.query_row("SELECT note FROM visits WHERE request = ?1", [request], |row| row.get(0))?;
        Ok((seen, stored))
    })?;
    Ok(outcome)
}

#[allow(dead_code)]
fn main() -> anyhow::Result<()> {
    let report = run_demo(true)?;
    let whole_lifecycles = report.requests.iter().all(|request| {
        report.leases.get(&request.lease).is_some_and(|(trigger, kinds)| {
            *trigger == request.checked_out_in && kinds.first() == Some(&"init") && kinds.last() == Some(&"destroy")
        })
    });
    let own_context = report.requests.iter().all(|request| request.seen_by_query == Some(request.request));
    println!("every lease: init triggered by its request, destroy last: {whole_lifecycles}");
    println!("every query saw its own request id: {own_context}");
    anyhow::ensure!(whole_lifecycles && own_context, "the lease model did not hold");
    Ok(())
}
