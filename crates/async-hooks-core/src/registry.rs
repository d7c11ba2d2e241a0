//! The hook registry: the process-wide, ordered list of enabled hook sets,
//! and [`AsyncHook`], the handle that enables and disables one.
//!
//! Writers (enable/disable, rare) publish a new immutable [`HookList`] under
//! a lock and bump a version. Readers (every event) load one word, the
//! [`RegistryState`]: the union of the enabled sets' interests and that
//! version. An event no set wants ends there; otherwise the version is
//! compared with the list the thread cached, which is used without touching
//! shared memory or reference counts; see `dispatch.rs`.

use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc as StdArc;

use crate::sync::{self, Arc, AtomicBool, AtomicU64, Mutex, Ordering};
use crate::{Hooks, Interest};

/// One enabled-or-not hook set.
pub(crate) struct HookEntry {
    serial: u64,
    pub(crate) hooks: StdArc<dyn Hooks>,
    pub(crate) interest: Interest,
    /// Set once when a callback panicked, so that it is reported once and
    /// skipped by dispatches already in flight on other threads.
    pub(crate) poisoned: AtomicBool,
}

/// An immutable snapshot of the enabled hook sets, in enable order.
pub(crate) struct HookList {
    pub(crate) entries: Vec<StdArc<HookEntry>>,
    /// The same sets resolved for dispatch, one per entry, in order.
    targets: Box<[DispatchTarget]>,
}

/// An enabled hook set as dispatch reads it: its callbacks' address and
/// interest next to each other, resolved once when the list is built, so an
/// event reads one array and makes the call (an `Arc<dyn Hooks>` costs a
/// load of the entry and the vtable's alignment arithmetic per call).
pub(crate) struct DispatchTarget {
    hooks: NonNull<dyn Hooks>,
    entry: NonNull<HookEntry>,
    pub(crate) interest: Interest,
}

impl DispatchTarget {
    #[inline(always)]
    pub(crate) fn hooks(&self) -> &dyn Hooks {
        // SAFETY: points into an `Arc` of the list's `entries`, which the
        // list keeps for as long as it lives and never changes.
        unsafe { self.hooks.as_ref() }
    }

    #[inline(always)]
    pub(crate) fn entry(&self) -> &HookEntry {
        // SAFETY: as in `hooks`.
        unsafe { self.entry.as_ref() }
    }
}

// SAFETY: the pointers are to data the list owns (`entries`) and shares
// immutably; `HookEntry` and `dyn Hooks` are `Send + Sync`.
unsafe impl Send for HookList {}
// SAFETY: as above.
unsafe impl Sync for HookList {}

impl HookList {
    fn new(entries: Vec<StdArc<HookEntry>>) -> HookList {
        let targets = entries
            .iter()
            .map(|entry| DispatchTarget {
                hooks: NonNull::from(&*entry.hooks),
                entry: NonNull::from(&**entry),
                interest: entry.interest,
            })
            .collect();
        HookList { entries, targets }
    }

    /// The enabled sets, in enable order.
    #[inline(always)]
    pub(crate) fn targets(&self) -> &[DispatchTarget] {
        &self.targets
    }
}

/// The registry's published state in one word: the union of the enabled
/// sets' interests (the low byte) and the version of the list (the rest),
/// bumped on every change. One relaxed load gives an event both its
/// fast-path check and, when a set is interested, what to compare the
/// thread's cached list with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RegistryState(u64);

impl RegistryState {
    /// A state no registry publishes (it would take 2^56 changes): what a
    /// thread with no cached list compares with.
    pub(crate) const UNCACHED: RegistryState = RegistryState(u64::MAX);

    const INTEREST_BITS: u32 = 8;

    const fn new(version: u64, interest: Interest) -> RegistryState {
        RegistryState((version << Self::INTEREST_BITS) | interest.bits() as u64)
    }

    /// The events at least one enabled set wants.
    #[inline(always)]
    pub(crate) const fn interest(self) -> Interest {
        Interest::from_bits(self.0 as u8)
    }

    const fn version(self) -> u64 {
        self.0 >> Self::INTEREST_BITS
    }
}

pub(crate) struct HookRegistry {
    list: Mutex<Option<Arc<HookList>>>,
    /// A [`RegistryState`], stored under `list`'s lock after every change
    /// of `list`.
    state: AtomicU64,
    next_serial: AtomicU64,
}

impl HookRegistry {
    #[cfg(not(async_hooks_loom))]
    pub(crate) const fn new() -> HookRegistry {
        HookRegistry { list: Mutex::new(None), state: AtomicU64::new(0), next_serial: AtomicU64::new(0) }
    }

    #[cfg(async_hooks_loom)]
    pub(crate) fn new() -> HookRegistry {
        HookRegistry { list: Mutex::new(None), state: AtomicU64::new(0), next_serial: AtomicU64::new(0) }
    }

    /// The events at least one enabled set wants.
    #[inline]
    pub(crate) fn interest(&self) -> Interest {
        self.state().interest()
    }

    /// The published state; a reader whose cached list was taken at another
    /// state must take a new [`snapshot`](Self::snapshot).
    ///
    /// Relaxed is enough: a thread that sees a new state takes the list
    /// under the lock, which orders it after the change; one that still
    /// sees the old state uses the list it already holds. And a change that
    /// happens before an event (through any synchronization) is seen by it,
    /// by coherence.
    #[inline(always)]
    pub(crate) fn state(&self) -> RegistryState {
        RegistryState(self.state.load(Ordering::Relaxed))
    }

    /// The current list and the state it was published with, read together.
    pub(crate) fn snapshot(&self) -> (RegistryState, Option<Arc<HookList>>) {
        let list = sync::lock(&self.list);
        (self.state(), list.clone())
    }

    pub(crate) fn new_entry(&self, hooks: StdArc<dyn Hooks>) -> HookEntry {
        let interest = hooks.interest();
        HookEntry {
            serial: self.next_serial.fetch_add(1, Ordering::Relaxed),
            hooks,
            interest,
            poisoned: AtomicBool::new(false),
        }
    }

    /// Appends `entry` unless it is enabled already. Returns whether it was
    /// added.
    pub(crate) fn enable(&self, entry: &StdArc<HookEntry>) -> bool {
        self.update(|entries| {
            if entries.iter().any(|enabled| enabled.serial == entry.serial) {
                return false;
            }
            entry.poisoned.store(false, Ordering::Relaxed);
            entries.push(entry.clone());
            true
        })
    }

    /// Removes the entry with `serial`. Returns whether it was enabled.
    pub(crate) fn disable(&self, serial: u64) -> bool {
        self.update(|entries| {
            let before = entries.len();
            entries.retain(|enabled| enabled.serial != serial);
            entries.len() != before
        })
    }

    pub(crate) fn is_enabled(&self, serial: u64) -> bool {
        let list = sync::lock(&self.list);
        list.as_ref().is_some_and(|list| list.entries.iter().any(|entry| entry.serial == serial))
    }

    /// Copies the list, lets `change` edit the copy, and publishes it if
    /// `change` returns true.
    fn update(&self, change: impl FnOnce(&mut Vec<StdArc<HookEntry>>) -> bool) -> bool {
        let mut list = sync::lock(&self.list);
        let mut entries = list.as_ref().map(|list| list.entries.clone()).unwrap_or_default();
        if !change(&mut entries) {
            return false;
        }
        let interest = entries.iter().fold(Interest::NONE, |union, entry| union | entry.interest);
        let replaced = std::mem::replace(
            &mut *list,
            if entries.is_empty() { None } else { Some(Arc::new(HookList::new(entries))) },
        );
        // Only written under the lock, so a load and a store make the bump.
        let version = self.state().version() + 1;
        self.state.store(RegistryState::new(version, interest).0, Ordering::Release);
        drop(list);
        // The old list may hold the last reference to a hook set; drop it
        // outside the lock.
        drop(replaced);
        true
    }
}

#[cfg(not(async_hooks_loom))]
static REGISTRY: HookRegistry = HookRegistry::new();

#[cfg(async_hooks_loom)]
loom::lazy_static! {
    static ref REGISTRY: HookRegistry = HookRegistry::new();
}

/// The process-wide registry.
#[inline]
pub(crate) fn registry() -> &'static HookRegistry {
    &REGISTRY
}

/// Whether any hook set is enabled, for integrations that can skip building
/// what only hooks would read (attributes, timestamps) when none is.
///
/// # Examples
///
/// ```
/// use async_hooks_core::{any_hook_enabled, create_hook, HookCallbacks};
///
/// let hook = create_hook(HookCallbacks::new().on_init(|_, _, _, _| {}));
/// hook.enable();
/// assert!(any_hook_enabled());
/// ```
#[inline]
pub fn any_hook_enabled() -> bool {
    !registry().interest().is_empty()
}

/// Registers a hook set, disabled. Call [`AsyncHook::enable`] to start
/// receiving events.
///
/// # Examples
///
/// ```
/// use async_hooks_core::{create_hook, HookCallbacks};
///
/// let hook = create_hook(HookCallbacks::new().on_init(|id, resource_type, trigger, _| {
///     eprintln!("{resource_type}({id}) created by {trigger}");
/// }));
/// assert!(!hook.is_enabled());
/// assert!(hook.enable().is_enabled());
/// ```
pub fn create_hook<H: Hooks>(hooks: H) -> AsyncHook<H> {
    let hooks = StdArc::new(hooks);
    let entry = StdArc::new(registry().new_entry(hooks.clone()));
    AsyncHook { entry, hooks }
}

/// A registered hook set. Enabling is idempotent; so is disabling.
/// Dropping the handle disables the set: keep it alive for as long as the
/// set should run, or call [`keep_enabled`](AsyncHook::keep_enabled).
///
/// Enabling or disabling from inside a callback takes effect for later
/// events: a dispatch in flight works on the list it started with.
///
/// After the last handle is dropped (and the set disabled), the hook set
/// value itself may live a little longer: each thread keeps the list it
/// last dispatched with until its next dispatched event or its exit, so the
/// set's own `Drop` runs then. It receives no event after `disable`
/// returned (on threads that synchronize with the disabling one).
#[must_use = "dropping an AsyncHook disables it"]
pub struct AsyncHook<H: Hooks> {
    entry: StdArc<HookEntry>,
    hooks: StdArc<H>,
}

impl<H: Hooks> AsyncHook<H> {
    /// Starts dispatching events to this set, after every set enabled
    /// before it.
    pub fn enable(&self) -> &Self {
        registry().enable(&self.entry);
        self
    }

    /// Stops dispatching events to this set.
    pub fn disable(&self) -> &Self {
        registry().disable(self.entry.serial);
        self
    }

    /// Whether the set is enabled. A set whose callback panicked is
    /// disabled.
    pub fn is_enabled(&self) -> bool {
        registry().is_enabled(self.entry.serial)
    }

    /// The hook set.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    /// Enables the set and keeps it enabled for the life of the process.
    pub fn keep_enabled(self) {
        self.enable();
        std::mem::forget(self);
    }
}

impl<H: Hooks> Drop for AsyncHook<H> {
    fn drop(&mut self) {
        registry().disable(self.entry.serial);
    }
}

impl<H: Hooks> fmt::Debug for AsyncHook<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncHook")
            .field("name", &self.hooks.name())
            .field("interest", &self.entry.interest)
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

impl HookEntry {
    pub(crate) fn serial(&self) -> u64 {
        self.serial
    }
}
