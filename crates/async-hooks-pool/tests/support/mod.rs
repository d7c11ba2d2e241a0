//! Shared helpers of this crate's integration tests.
//!
//! Hooks are process-wide, so every test of a file that enables hooks holds
//! [`serial`] for its whole run, and recorders keep only the events of the
//! resource types a test asks about.

#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_hooks_core::{AsyncId, Attribute, Hooks, Resource};

/// Serializes the tests of one file.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One event as a recorder saw it.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Init { id: AsyncId, resource_type: String, trigger: AsyncId, attributes: Vec<String> },
    Before(AsyncId),
    After(AsyncId),
    Destroy(AsyncId),
    Record(AsyncId, Vec<String>),
}

impl Event {
    pub fn id(&self) -> AsyncId {
        match self {
            Event::Init { id, .. } => *id,
            Event::Before(id) | Event::After(id) | Event::Destroy(id) | Event::Record(id, _) => *id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Event::Init { .. } => "init",
            Event::Before(_) => "before",
            Event::After(_) => "after",
            Event::Destroy(_) => "destroy",
            Event::Record(..) => "record",
        }
    }
}

#[derive(Default)]
struct RecorderState {
    /// Ids of resources of the watched type, from their `init`.
    watched: HashSet<AsyncId>,
    events: Vec<Event>,
}

/// A hook set that records every event of resources of one type.
#[derive(Clone)]
pub struct Recorder {
    resource_type: &'static str,
    state: Arc<Mutex<RecorderState>>,
}

impl Recorder {
    pub fn of_type(resource_type: &'static str) -> Recorder {
        Recorder { resource_type, state: Arc::default() }
    }

    pub fn events(&self) -> Vec<Event> {
        self.state.lock().unwrap().events.clone()
    }

    /// Events grouped by resource, in order.
    pub fn by_resource(&self) -> HashMap<AsyncId, Vec<Event>> {
        let mut grouped: HashMap<AsyncId, Vec<Event>> = HashMap::new();
        for event in self.events() {
            grouped.entry(event.id()).or_default().push(event);
        }
        grouped
    }

    fn push(&self, event: Event) {
        let mut state = self.state.lock().unwrap();
        if let Event::Init { id, .. } = &event {
            state.watched.insert(*id);
        } else if !state.watched.contains(&event.id()) {
            return;
        }
        state.events.push(event);
    }
}

impl Hooks for Recorder {
    fn init(&self, id: AsyncId, resource_type: &str, trigger: AsyncId, resource: &Resource) {
        if resource_type == self.resource_type {
            self.push(Event::Init {
                id,
                resource_type: resource_type.to_owned(),
                trigger,
                attributes: resource.attributes().iter().map(ToString::to_string).collect(),
            });
        }
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
    fn record(&self, id: AsyncId, attributes: &[Attribute]) {
        self.push(Event::Record(id, attributes.iter().map(ToString::to_string).collect()));
    }
}

/// The kinds of `events` without `record`s.
pub fn lifecycle_kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::kind).filter(|kind| *kind != "record").collect()
}

/// Every `key=value` attribute a resource got, at `init` or by `record`.
pub fn attributes_of(events: &[Event]) -> Vec<String> {
    let mut attributes = Vec::new();
    for event in events {
        match event {
            Event::Init { attributes: at_init, .. } => attributes.extend(at_init.iter().cloned()),
            Event::Record(_, recorded) => attributes.extend(recorded.iter().cloned()),
            _ => {}
        }
    }
    attributes
}

/// Checks the lifecycle invariant: `init` first, balanced `before`/`after`,
/// `destroy` exactly once and last. Returns the number of scopes.
pub fn assert_lifecycle(events: &[Event]) -> usize {
    let kinds = lifecycle_kinds(events);
    assert_eq!(events.first().map(Event::kind), Some("init"), "init first: {kinds:?}");
    assert_eq!(events.last().map(Event::kind), Some("destroy"), "destroy last: {kinds:?}");
    assert_eq!(kinds.iter().filter(|kind| **kind == "init").count(), 1, "one init: {kinds:?}");
    assert_eq!(kinds.iter().filter(|kind| **kind == "destroy").count(), 1, "one destroy: {kinds:?}");
    let (mut depth, mut scopes) = (0_i32, 0);
    for kind in &kinds {
        match *kind {
            "before" => {
                depth += 1;
                scopes += 1;
            }
            "after" => {
                depth -= 1;
                assert!(depth >= 0, "after without before: {kinds:?}");
            }
            _ => {}
        }
    }
    assert_eq!(depth, 0, "before/after balanced: {kinds:?}");
    scopes
}
