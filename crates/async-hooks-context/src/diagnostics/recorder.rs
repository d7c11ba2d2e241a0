//! The diagnostic hook set and the resource table it fills.
//!
//! Every `init` records a resource (ids, type, creation site, creation
//! thread, and which stores its captured frame carries); every `before`
//! records the frame the resource runs in, the thread and the *invoker* (the
//! resource whose scope was open on that thread when this one was entered);
//! `destroy` marks it destroyed. The table is bounded: when it is full, the
//! resource destroyed longest ago is evicted; when every entry is alive, new
//! resources are counted as untracked instead of recorded.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::ThreadId;
use std::time::Instant;

use async_hooks_core::{AsyncId, ContextFrame, Hooks, Interest, Resource, StoreKey, execution_async_resource};

/// How many checkpoints and observations are kept (oldest dropped first).
pub(crate) const MAX_NOTES: usize = 256;

/// How many distinct threads a record remembers it ran on.
const MAX_RUN_THREADS: usize = 4;

/// A thread, as reports name it.
#[derive(Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    id: ThreadId,
    name: Option<Arc<str>>,
}

impl ThreadInfo {
    /// The calling thread.
    pub fn current() -> ThreadInfo {
        THREAD_INFO.try_with(Clone::clone).unwrap_or_else(|_| ThreadInfo::from_thread(&std::thread::current()))
    }

    fn from_thread(thread: &std::thread::Thread) -> ThreadInfo {
        ThreadInfo { id: thread.id(), name: thread.name().map(Arc::from) }
    }

    /// The thread's id.
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// The thread's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Display for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "'{name}' ({:?})", self.id),
            None => write!(f, "unnamed ({:?})", self.id),
        }
    }
}

impl fmt::Debug for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

thread_local! {
    /// This thread's [`ThreadInfo`], built once so events do not allocate it.
    static THREAD_INFO: ThreadInfo = ThreadInfo::from_thread(&std::thread::current());

    /// The scopes each diagnostics instance saw entered on this thread,
    /// innermost last: `(instance, resource)`. Gives the invoker at `before`.
    static OPEN_SCOPES: RefCell<Vec<(u64, AsyncId)>> = const { RefCell::new(Vec::new()) };
}

/// Whether a store has a value in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreState {
    /// The store has a value, and `get()` returns it.
    Visible,
    /// The frame holds a value, but `disable()` was called since it was set,
    /// so `get()` returns `None`. Only known for watched stores.
    Disabled,
    /// The frame holds no value for the store.
    Absent,
}

impl StoreState {
    /// Whether `get()` would return a value.
    pub fn is_visible(self) -> bool {
        self == StoreState::Visible
    }
}

/// The stores a frame carries: visible ones and disabled ones.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct FrameStores {
    visible: Box<[StoreKey]>,
    disabled: Box<[StoreKey]>,
}

impl FrameStores {
    pub(crate) fn state(&self, key: StoreKey) -> StoreState {
        if self.visible.contains(&key) {
            StoreState::Visible
        } else if self.disabled.contains(&key) {
            StoreState::Disabled
        } else {
            StoreState::Absent
        }
    }

    pub(crate) fn visible(&self) -> &[StoreKey] {
        &self.visible
    }
}

/// A store registered with `watch`: a name for reports and a way to tell a
/// disabled value from a visible one.
pub(crate) struct WatchedStore {
    pub(crate) name: &'static str,
    pub(crate) key: StoreKey,
    /// Whether the store's value is visible in the current frame.
    pub(crate) is_visible: Box<dyn Fn() -> bool + Send + Sync>,
}

/// One scope of a resource, as `before` saw it.
#[derive(Clone)]
pub(crate) struct RunRecord {
    pub(crate) stores: FrameStores,
    /// The resource whose scope was open on this thread when this one began.
    pub(crate) invoker: Option<AsyncId>,
}

/// What the table knows of one resource.
pub(crate) struct ResourceRecord {
    pub(crate) id: AsyncId,
    pub(crate) trigger: AsyncId,
    pub(crate) resource_type: &'static str,
    pub(crate) location: &'static Location<'static>,
    pub(crate) created_at: Instant,
    pub(crate) created_seq: u64,
    pub(crate) created_thread: ThreadInfo,
    /// The stores of the frame captured at creation.
    pub(crate) created_stores: FrameStores,
    pub(crate) runs: u64,
    pub(crate) first_run: Option<RunRecord>,
    /// The stores of the latest scope, if they differ from the first's.
    pub(crate) later_stores: Option<FrameStores>,
    pub(crate) last_run_seq: u64,
    pub(crate) open_scopes: u32,
    pub(crate) ran_on: Vec<ThreadInfo>,
    pub(crate) destroyed_at: Option<Instant>,
}

impl ResourceRecord {
    /// The worst state `key` had in any recorded scope, or `None` if the
    /// resource never ran.
    pub(crate) fn run_state(&self, key: StoreKey) -> Option<StoreState> {
        let first = self.first_run.as_ref()?.stores.state(key);
        let later = self.later_stores.as_ref().map_or(first, |stores| stores.state(key));
        Some(if first.is_visible() { later } else { first })
    }

    /// Whether the resource had `key` visible at creation or in a scope.
    pub(crate) fn had(&self, key: StoreKey) -> bool {
        self.created_stores.state(key).is_visible()
            || self.first_run.as_ref().is_some_and(|run| run.stores.state(key).is_visible())
    }

    pub(crate) fn ran_or_created_on(&self, thread: &ThreadInfo) -> bool {
        self.created_thread == *thread || self.ran_on.contains(thread)
    }
}

/// A point the user marked with `checkpoint`.
#[derive(Clone)]
pub(crate) struct CheckpointRecord {
    pub(crate) label: &'static str,
    pub(crate) location: &'static Location<'static>,
    pub(crate) thread: ThreadInfo,
    pub(crate) resource: Option<AsyncId>,
    pub(crate) stores: FrameStores,
    pub(crate) seq: u64,
}

/// The bounded table of resources, checkpoints and observations.
pub(crate) struct Table {
    pub(crate) records: HashMap<AsyncId, ResourceRecord>,
    /// Destroyed resources, in the order they were destroyed: the eviction
    /// queue.
    destroyed_order: VecDeque<AsyncId>,
    pub(crate) max_resources: usize,
    /// Resources not recorded because the table was full of live ones.
    pub(crate) untracked: u64,
    /// Destroyed resources evicted to make room.
    pub(crate) evicted: u64,
    pub(crate) checkpoints: VecDeque<CheckpointRecord>,
    pub(crate) observations: VecDeque<super::report::Loss>,
}

impl Table {
    fn new(max_resources: usize) -> Table {
        Table {
            records: HashMap::new(),
            destroyed_order: VecDeque::new(),
            max_resources,
            untracked: 0,
            evicted: 0,
            checkpoints: VecDeque::new(),
            observations: VecDeque::new(),
        }
    }

    fn insert(&mut self, record: ResourceRecord) {
        if self.records.len() >= self.max_resources {
            while let Some(oldest) = self.destroyed_order.pop_front() {
                if self.records.remove(&oldest).is_some() {
                    self.evicted += 1;
                    break;
                }
            }
            if self.records.len() >= self.max_resources {
                self.untracked += 1;
                return;
            }
        }
        self.records.insert(record.id, record);
    }

    pub(crate) fn push_note<T>(notes: &mut VecDeque<T>, note: T) {
        if notes.len() >= MAX_NOTES {
            notes.pop_front();
        }
        notes.push_back(note);
    }
}

/// State shared by the hook set and the `ContextDiagnostics` handle.
pub(crate) struct Shared {
    table: Mutex<Table>,
    watched: RwLock<Arc<[Arc<WatchedStore>]>>,
    seq: AtomicU64,
    pub(crate) instance: u64,
}

static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

impl Shared {
    pub(crate) fn new(max_resources: usize) -> Shared {
        Shared {
            table: Mutex::new(Table::new(max_resources)),
            watched: RwLock::new(Arc::from(Vec::new())),
            seq: AtomicU64::new(1),
            instance: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The table. A panic while it was held (a bug) leaves it usable.
    pub(crate) fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn watched(&self) -> Arc<[Arc<WatchedStore>]> {
        self.watched.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn watch(&self, store: WatchedStore) {
        let mut watched = self.watched.write().unwrap_or_else(PoisonError::into_inner);
        let mut stores: Vec<Arc<WatchedStore>> = watched.iter().filter(|old| old.key != store.key).cloned().collect();
        stores.push(Arc::new(store));
        *watched = Arc::from(stores);
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn current_stores(&self) -> FrameStores {
        current_stores_of(&self.watched())
    }

    /// Records a checkpoint at `location`.
    pub(crate) fn checkpoint(&self, label: &'static str, location: &'static Location<'static>) {
        let record = CheckpointRecord {
            label,
            location,
            thread: ThreadInfo::current(),
            resource: execution_async_resource().map(|resource| resource.id()),
            stores: self.current_stores(),
            seq: self.next_seq(),
        };
        Table::push_note(&mut self.table().checkpoints, record);
    }
}

fn current_stores_of(watched: &[Arc<WatchedStore>]) -> FrameStores {
    let mut visible: Vec<StoreKey> = ContextFrame::with_current(|frame| frame.keys().collect());
    if visible.is_empty() {
        return FrameStores::default();
    }
    let mut disabled = Vec::new();
    for store in watched {
        if visible.contains(&store.key) && !(store.is_visible)() {
            visible.retain(|key| *key != store.key);
            disabled.push(store.key);
        }
    }
    FrameStores { visible: visible.into_boxed_slice(), disabled: disabled.into_boxed_slice() }
}

/// The hook set: records into [`Shared`]. It never calls user code, and
/// computes everything it can before taking the table lock.
pub(crate) struct DiagnosticHooks {
    pub(crate) shared: Arc<Shared>,
}

impl Hooks for DiagnosticHooks {
    fn init(&self, id: AsyncId, resource_type: &str, trigger: AsyncId, resource: &Resource) {
        // At `init` the current frame is the one the resource captured.
        let record = ResourceRecord {
            id,
            trigger,
            resource_type: resource.resource_type(),
            location: resource.location(),
            created_at: Instant::now(),
            created_seq: self.shared.next_seq(),
            created_thread: ThreadInfo::current(),
            created_stores: self.shared.current_stores(),
            runs: 0,
            first_run: None,
            later_stores: None,
            last_run_seq: 0,
            open_scopes: 0,
            ran_on: Vec::new(),
            destroyed_at: None,
        };
        debug_assert_eq!(resource_type, record.resource_type);
        self.shared.table().insert(record);
    }

    fn before(&self, id: AsyncId) {
        let instance = self.shared.instance;
        let invoker = OPEN_SCOPES
            .try_with(|open| {
                let mut open = open.borrow_mut();
                let invoker = open.iter().rev().find(|(owner, _)| *owner == instance).map(|(_, id)| *id);
                open.push((instance, id));
                invoker
            })
            .ok()
            .flatten();
        // At `before` the current frame is the one the resource runs in.
        let stores = self.shared.current_stores();
        let thread = ThreadInfo::current();
        let seq = self.shared.next_seq();
        let mut table = self.shared.table();
        let Some(record) = table.records.get_mut(&id) else {
            return;
        };
        record.runs += 1;
        record.open_scopes += 1;
        record.last_run_seq = seq;
        if !record.ran_on.contains(&thread) && record.ran_on.len() < MAX_RUN_THREADS {
            record.ran_on.push(thread);
        }
        match &record.first_run {
            None => record.first_run = Some(RunRecord { stores, invoker }),
            Some(first) if first.stores != stores => record.later_stores = Some(stores),
            Some(_) => {}
        }
    }

    fn after(&self, id: AsyncId) {
        let instance = self.shared.instance;
        let _ = OPEN_SCOPES.try_with(|open| {
            let mut open = open.borrow_mut();
            // Normally the innermost entry; after a repaired stack
            // corruption, whatever was opened inside it goes too.
            if let Some(position) = open.iter().rposition(|entry| *entry == (instance, id)) {
                open.truncate(position);
            }
        });
        let mut table = self.shared.table();
        if let Some(record) = table.records.get_mut(&id) {
            record.open_scopes = record.open_scopes.saturating_sub(1);
        }
    }

    fn destroy(&self, id: AsyncId) {
        let mut table = self.shared.table();
        if let Some(record) = table.records.get_mut(&id) {
            record.destroyed_at = Some(Instant::now());
            table.destroyed_order.push_back(id);
        }
    }

    fn interest(&self) -> Interest {
        Interest::INIT | Interest::BEFORE | Interest::AFTER | Interest::DESTROY
    }

    fn name(&self) -> &str {
        "ContextDiagnostics"
    }
}

/// The invoker of the innermost scope `instance` saw open on this thread:
/// the scope below it.
pub(crate) fn current_invoker(instance: u64) -> Option<AsyncId> {
    OPEN_SCOPES
        .try_with(|open| {
            let open = open.borrow();
            let mut mine = open.iter().rev().filter(|(owner, _)| *owner == instance);
            mine.next();
            mine.next().map(|(_, id)| *id)
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64) -> ResourceRecord {
        ResourceRecord {
            id: AsyncId::from_u64(id),
            trigger: AsyncId::ROOT,
            resource_type: "Test",
            location: Location::caller(),
            created_at: Instant::now(),
            created_seq: id,
            created_thread: ThreadInfo::current(),
            created_stores: FrameStores::default(),
            runs: 0,
            first_run: None,
            later_stores: None,
            last_run_seq: 0,
            open_scopes: 0,
            ran_on: Vec::new(),
            destroyed_at: None,
        }
    }

    #[test]
    fn full_table_evicts_the_destroyed_first_then_counts_untracked() {
        let mut table = Table::new(2);
        table.insert(record(10));
        table.insert(record(11));
        table.records.get_mut(&AsyncId::from_u64(11)).unwrap().destroyed_at = Some(Instant::now());
        table.destroyed_order.push_back(AsyncId::from_u64(11));
        table.insert(record(12));
        assert!(table.records.contains_key(&AsyncId::from_u64(10)), "live resources are kept");
        assert!(!table.records.contains_key(&AsyncId::from_u64(11)), "the destroyed one made room");
        assert_eq!(table.evicted, 1);
        table.insert(record(13));
        assert!(!table.records.contains_key(&AsyncId::from_u64(13)));
        assert_eq!(table.untracked, 1);
    }
}
