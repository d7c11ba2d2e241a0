//! Shared helpers of this crate's integration tests.
//!
//! Hooks are process-wide: every test of a file that enables a hook holds
//! [`serial`] for its whole run.
//!
//! The scenarios the wrapper tier and the hook tier share are written once,
//! in [`lifecycle_scenarios`] and [`context_scenarios`], parameterized by
//! the [`Tier`] under test and the runtime [`Flavor`].

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;

use async_hooks_core::{AsyncId, Hooks, Resource};
use tokio::runtime::{Builder, Runtime};

pub mod context_scenarios;
pub mod lifecycle_scenarios;
mod tier;

pub use tier::Tier;

/// Serializes the tests of one file.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The two runtime flavours every behaviour is checked on.
#[derive(Clone, Copy, Debug)]
pub enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    /// A builder of this flavour, with nothing else configured.
    pub fn builder(self) -> Builder {
        match self {
            Flavor::CurrentThread => Builder::new_current_thread(),
            Flavor::MultiThread => {
                let mut builder = Builder::new_multi_thread();
                builder.worker_threads(2);
                builder
            }
        }
    }

    /// A plain runtime of this flavour.
    pub fn runtime(self) -> Runtime {
        self.builder().build().expect("the runtime builds")
    }

    /// A runtime of this flavour with automatic propagation installed.
    #[cfg(tokio_unstable)]
    pub fn runtime_with_hooks(self) -> Runtime {
        let mut builder = self.builder();
        async_hooks_tokio::install(&mut builder).expect("built with --cfg tokio_unstable");
        builder.build().expect("the runtime builds")
    }
}

/// One event as the recorder saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Init { resource_type: String, trigger: AsyncId, thread: ThreadId },
    Before(ThreadId),
    After(ThreadId),
    PromiseResolve,
    Destroy,
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Init { .. } => "init",
            Event::Before(_) => "before",
            Event::After(_) => "after",
            Event::PromiseResolve => "promise_resolve",
            Event::Destroy => "destroy",
        }
    }
}

/// A hook set that records the events of every resource, by id.
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<(AsyncId, Event)>>>,
}

impl Recorder {
    pub fn clear(&self) {
        self.events.lock().unwrap().clear();
    }

    fn push(&self, id: AsyncId, event: Event) {
        self.events.lock().unwrap().push((id, event));
    }

    /// Every recorded resource whose `init` was seen, with its events in
    /// order, keyed by id.
    pub fn lifecycles(&self) -> BTreeMap<AsyncId, Vec<Event>> {
        let events = self.events.lock().unwrap().clone();
        let mut by_id: BTreeMap<AsyncId, Vec<Event>> = BTreeMap::new();
        for (id, event) in events {
            by_id.entry(id).or_default().push(event);
        }
        by_id.retain(|_, events| matches!(events.first(), Some(Event::Init { .. })));
        by_id
    }

    /// The lifecycles of resources of `resource_type`.
    pub fn lifecycles_of(&self, resource_type: &str) -> BTreeMap<AsyncId, Vec<Event>> {
        let mut lifecycles = self.lifecycles();
        lifecycles.retain(|_, events| {
            matches!(events.first(), Some(Event::Init { resource_type: kind, .. }) if kind == resource_type)
        });
        lifecycles
    }

    /// The event kinds of `id`, in order.
    pub fn kinds_of(&self, id: AsyncId) -> Vec<&'static str> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(event_id, _)| *event_id == id)
            .map(|(_, event)| event.kind())
            .collect()
    }
}

impl Hooks for Recorder {
    fn init(&self, id: AsyncId, resource_type: &str, trigger: AsyncId, _resource: &Resource) {
        let thread = std::thread::current().id();
        self.push(id, Event::Init { resource_type: resource_type.to_owned(), trigger, thread });
    }
    fn before(&self, id: AsyncId) {
        self.push(id, Event::Before(std::thread::current().id()));
    }
    fn after(&self, id: AsyncId) {
        self.push(id, Event::After(std::thread::current().id()));
    }
    fn destroy(&self, id: AsyncId) {
        self.push(id, Event::Destroy);
    }
    fn promise_resolve(&self, id: AsyncId) {
        self.push(id, Event::PromiseResolve);
    }
    fn name(&self) -> &str {
        "Recorder"
    }
}

/// Checks the lifecycle invariant: `init` first, `before`/`after` paired
/// on each thread (a resource never enters its own scope twice on one
/// thread), `destroy` exactly once and last.
///
/// Pairs are checked per thread: on a multi-thread runtime, tokio calls its
/// after-poll hook only after the task may already have been rescheduled,
/// so the next poll's `before` on another worker can precede this poll's
/// `after`.
pub fn assert_lifecycle(id: AsyncId, events: &[Event]) {
    let kinds: Vec<&str> = events.iter().map(Event::kind).collect();
    assert_eq!(kinds.first(), Some(&"init"), "{id}: init first: {kinds:?}");
    assert_eq!(kinds.iter().filter(|kind| **kind == "init").count(), 1, "{id}: one init: {kinds:?}");
    assert_eq!(kinds.iter().filter(|kind| **kind == "destroy").count(), 1, "{id}: one destroy: {kinds:?}");
    assert_eq!(kinds.last(), Some(&"destroy"), "{id}: destroy last: {kinds:?}");
    let mut open: HashMap<ThreadId, bool> = HashMap::new();
    for event in events {
        match event {
            Event::Before(thread) => {
                let was_open = open.insert(*thread, true).unwrap_or(false);
                assert!(!was_open, "{id}: before inside its own scope on one thread: {events:?}");
            }
            Event::After(thread) => {
                let was_open = open.insert(*thread, false).unwrap_or(false);
                assert!(was_open, "{id}: after without before on its thread: {events:?}");
            }
            _ => {}
        }
    }
    assert!(open.values().all(|open| !open), "{id}: before without after: {events:?}");
}

/// How many `before`/`after` pairs (polls) a lifecycle has.
pub fn polls(events: &[Event]) -> usize {
    events.iter().filter(|event| matches!(event, Event::Before(_))).count()
}

/// Runs test `name` of this test binary in a child process with
/// `ASYNC_HOOKS_CHILD=1`, and returns its output.
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

/// The store whose propagation the tests check.
pub static STORE: async_hooks_context::AsyncLocalStorage<u64> = async_hooks_context::AsyncLocalStorage::new();

/// What a task saw at each of its polls.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Polls that saw the expected store value and the same execution id.
    pub good_polls: u32,
    /// The first poll that did not, described.
    pub first_bad: Option<String>,
}

/// The body of a task that expects `expected` in [`STORE`] at every poll.
/// It checks at each step; right before each `yield_now` (which always ends
/// the poll) it writes a different value into the context with
/// `enter_with`, which must not leak into whatever is polled next on the
/// thread nor into its own next poll. It awaits `yield_now` twice and `gate`
/// once (a wake from another task, often on another thread).
pub async fn check_every_poll(expected: Option<u64>, mut gate: tokio::sync::watch::Receiver<bool>) -> PollReport {
    let id = async_hooks_core::execution_async_id();
    let mut report = PollReport::default();
    let check = |step: &str, report: &mut PollReport| {
        let seen = STORE.get();
        let now = async_hooks_core::execution_async_id();
        if seen == expected && now == id {
            report.good_polls += 1;
        } else if report.first_bad.is_none() {
            report.first_bad = Some(format!("{step}: saw {seen:?} in {now}, expected {expected:?} in {id}"));
        }
    };
    check("first poll", &mut report);
    STORE.enter_with(u64::MAX);
    tokio::task::yield_now().await;
    check("after a yield", &mut report);
    let _ = gate.wait_for(|open| *open).await;
    check("after the gate", &mut report);
    STORE.enter_with(u64::MAX);
    tokio::task::yield_now().await;
    check("after a second yield", &mut report);
    report
}

/// How many checks [`check_every_poll`] makes.
pub const CHECKS_PER_TASK: u32 = 4;
