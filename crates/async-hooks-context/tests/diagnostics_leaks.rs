//! Leak report: resources created but never destroyed, grouped by type and
//! creation site; the resource table stays bounded.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_hooks_context::diagnostics::ContextDiagnostics;
use async_hooks_core::{AsyncResource, AsyncResourceOptions};

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn leaked_resources_are_grouped_by_type_and_creation_site() {
    let _serial = serial();
    let diagnostics = ContextDiagnostics::enable();

    let mut kept = Vec::new();
    let leak_line = line!() + 2;
    for _ in 0..3 {
        kept.push(AsyncResource::with_options(
            "Leaky",
            AsyncResourceOptions { require_manual_destroy: true, ..Default::default() },
        ));
    }
    // Destroyed ones are not leaks.
    drop(AsyncResource::new("Fine"));
    let finished = AsyncResource::new("Finished");
    finished.emit_destroy().unwrap();

    let report = diagnostics.leak_report();
    println!("{report}");
    let leaky: Vec<_> = report.groups().iter().filter(|group| group.resource_type() == "Leaky").collect();
    assert_eq!(leaky.len(), 1, "one group per type and site: {report}");
    assert_eq!(leaky[0].count(), 3);
    assert_eq!(leaky[0].location().file(), file!());
    assert_eq!(leaky[0].location().line(), leak_line);
    assert!(leaky[0].oldest_age() >= leaky[0].newest_age());
    assert_eq!(leaky[0].ids(), kept.iter().map(AsyncResource::async_id).collect::<Vec<_>>());
    assert!(report.groups().iter().all(|group| group.resource_type() != "Fine" && group.resource_type() != "Finished"));
    assert!(report.to_string().contains(&format!("Leaky created at {}:{leak_line}", file!())), "{report}");

    let older = diagnostics.leak_report_older_than(Duration::from_secs(3600));
    assert!(older.is_empty(), "{older}");

    // A resource forgotten with `mem::forget` never gets `destroy` either.
    let forgotten_line = line!() + 1;
    std::mem::forget(AsyncResource::new("Forgotten"));
    let report = diagnostics.leak_report();
    let forgotten = report.groups().iter().find(|group| group.resource_type() == "Forgotten").expect("reported");
    assert_eq!(forgotten.location().line(), forgotten_line);
    for resource in kept {
        resource.emit_destroy().unwrap();
    }
    assert!(diagnostics.leak_report().groups().iter().all(|group| group.resource_type() != "Leaky"));
}

#[test]
fn full_table_evicts_destroyed_resources_and_keeps_live_ones() {
    let _serial = serial();
    let diagnostics = ContextDiagnostics::builder().max_resources(8).enable();
    let live: Vec<AsyncResource> = (0..4).map(|_| AsyncResource::new("Live")).collect();
    for _ in 0..100 {
        AsyncResource::new("Short").run_in_async_scope(|| ());
    }
    assert!(diagnostics.resources().len() <= 8);
    let report = diagnostics.leak_report();
    let group = report.groups().iter().find(|group| group.resource_type() == "Live").expect("live ones are kept");
    assert_eq!(group.count(), live.len());
    drop(live);
}

#[test]
fn disabled_diagnostics_record_nothing() {
    let _serial = serial();
    let diagnostics = ContextDiagnostics::enable();
    assert!(diagnostics.is_enabled());
    drop(diagnostics);
    assert!(!async_hooks_core::any_hook_enabled(), "dropping the handle unregisters the hook set");
}
