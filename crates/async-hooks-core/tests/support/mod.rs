//! Shared helpers of the core's integration tests.
//!
//! Hooks are process-wide, so every test of a file that enables hooks holds
//! [`serial`] for its whole run, and recorders keep only the events of the
//! resources a test asks about.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex, MutexGuard};

use async_hooks_core::{AsyncId, Attribute, Fault, Hooks, Resource, set_fault_handler};

/// A store value that counts its drops.
pub struct Counted {
    pub value: u32,
    pub drops: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Serializes the tests of one file.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Installs a fault handler that collects every fault reported from now
/// on (until `reset_fault_handler`), and returns the collection.
pub fn collect_faults() -> Arc<Mutex<Vec<Fault>>> {
    let faults = Arc::new(Mutex::new(Vec::new()));
    let sink = faults.clone();
    set_fault_handler(move |fault: &Fault| sink.lock().unwrap().push(fault.clone()));
    faults
}

/// One event as a recorder saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Init { id: AsyncId, resource_type: String, trigger: AsyncId },
    Before(AsyncId),
    After(AsyncId),
    Destroy(AsyncId),
    PromiseResolve(AsyncId),
    Record(AsyncId, Vec<String>),
}

impl Event {
    pub fn id(&self) -> AsyncId {
        match self {
            Event::Init { id, .. } => *id,
            Event::Before(id)
            | Event::After(id)
            | Event::Destroy(id)
            | Event::PromiseResolve(id)
            | Event::Record(id, _) => *id,
        }
    }

    /// The event's kind as a short word, for compact assertions.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Init { .. } => "init",
            Event::Before(_) => "before",
            Event::After(_) => "after",
            Event::Destroy(_) => "destroy",
            Event::PromiseResolve(_) => "promise_resolve",
            Event::Record(..) => "record",
        }
    }
}

/// A hook set that records every event it receives.
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
    label: &'static str,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    pub fn labelled(label: &'static str) -> Recorder {
        Recorder { events: Arc::default(), label }
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The kinds of the events of resource `id`, in order.
    pub fn kinds_of(&self, id: AsyncId) -> Vec<&'static str> {
        self.events().iter().filter(|event| event.id() == id).map(Event::kind).collect()
    }

    pub fn clear(&self) {
        self.events.lock().unwrap().clear();
    }

    fn push(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }
}

impl Hooks for Recorder {
    fn init(&self, id: AsyncId, resource_type: &str, trigger: AsyncId, _resource: &Resource) {
        self.push(Event::Init { id, resource_type: resource_type.to_owned(), trigger });
    }
    fn before(&self, id: AsyncId) {
        self.push(Event::Before(id));
    }
    fn after(&self, id: AsyncId) {
        self.push(Event::After(id));
    }
    fn destroy(&self, id: AsyncId) {
        self.push(Event::Destroy(id));
    }
    fn promise_resolve(&self, id: AsyncId) {
        self.push(Event::PromiseResolve(id));
    }
    fn record(&self, id: AsyncId, attributes: &[Attribute]) {
        self.push(Event::Record(id, attributes.iter().map(ToString::to_string).collect()));
    }
    fn name(&self) -> &str {
        if self.label.is_empty() { "Recorder" } else { self.label }
    }
}

/// Checks the lifecycle invariant for `id` in `kinds`: `init` first,
/// balanced `before`/`after`, `destroy` exactly once and last.
pub fn assert_lifecycle(kinds: &[&str]) {
    assert_eq!(kinds.first(), Some(&"init"), "init first: {kinds:?}");
    assert_eq!(kinds.last(), Some(&"destroy"), "destroy last: {kinds:?}");
    assert_eq!(kinds.iter().filter(|kind| **kind == "init").count(), 1, "one init: {kinds:?}");
    assert_eq!(kinds.iter().filter(|kind| **kind == "destroy").count(), 1, "one destroy: {kinds:?}");
    let mut depth = 0_i32;
    for kind in kinds {
        match *kind {
            "before" => depth += 1,
            "after" => {
                depth -= 1;
                assert!(depth >= 0, "after without before: {kinds:?}");
            }
            _ => {}
        }
    }
    assert_eq!(depth, 0, "before/after balanced: {kinds:?}");
}

/// Runs test `name` of the current test binary in a child process with
/// `ASYNC_HOOKS_CHILD=1`, and returns its output. The child test does its
/// work only when that variable is set.
pub fn run_child_test(name: &str) -> std::process::Output {
    let exe = std::env::current_exe().expect("the test binary's path");
    std::process::Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("ASYNC_HOOKS_CHILD", "1")
        .output()
        .expect("the child test process runs")
}

/// Whether this process is a child started by [`run_child_test`].
pub fn is_child() -> bool {
    std::env::var_os("ASYNC_HOOKS_CHILD").is_some()
}
