//! Loss and leak reports: what the resource table says about a store that
//! went missing and about resources that were never destroyed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::panic::Location;
use std::time::{Duration, Instant};

use async_hooks_core::{AsyncId, StoreKey};

use super::recorder::{CheckpointRecord, ResourceRecord, StoreState, Table, ThreadInfo};

/// How far a trigger chain is followed before giving up (a guard against
/// pathological explicit triggers).
const MAX_CHAIN: usize = 10_000;

/// How many spawning-side resources a thread-root loss lists.
const MAX_CANDIDATES: usize = 2;

/// How many checkpoints a thread-root loss lists: the latest is the one
/// that matters, an older one gives a hint when flows interleave.
const MAX_CHECKPOINTS: usize = 2;

/// One resource in a report: its identity, where and on which thread it
/// was created, and whether the store was set in the frame it captured.
#[derive(Clone, Debug)]
pub struct ResourceLink {
    id: AsyncId,
    trigger: AsyncId,
    resource_type: &'static str,
    location: &'static Location<'static>,
    created_thread: ThreadInfo,
    ran_on: Vec<ThreadInfo>,
    store: StoreState,
    destroyed: bool,
}

impl ResourceLink {
    pub(crate) fn of(record: &ResourceRecord, key: StoreKey) -> ResourceLink {
        let created = record.created_stores.state(key);
        let store = match record.run_state(key) {
            Some(run) if created.is_visible() => run,
            _ => created,
        };
        ResourceLink {
            id: record.id,
            trigger: record.trigger,
            resource_type: record.resource_type,
            location: record.location,
            created_thread: record.created_thread.clone(),
            ran_on: record.ran_on.clone(),
            store,
            destroyed: record.destroyed_at.is_some(),
        }
    }

    /// The resource's async id.
    pub fn id(&self) -> AsyncId {
        self.id
    }

    /// The resource's trigger id.
    pub fn trigger_async_id(&self) -> AsyncId {
        self.trigger
    }

    /// The resource's type.
    pub fn resource_type(&self) -> &'static str {
        self.resource_type
    }

    /// Where the resource was created.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The thread it was created on.
    pub fn created_thread(&self) -> &ThreadInfo {
        &self.created_thread
    }

    /// The threads it ran on (the first few).
    pub fn ran_on(&self) -> &[ThreadInfo] {
        &self.ran_on
    }

    /// The store's state in this resource: at creation, or in its scopes if
    /// it was set at creation and lost later.
    pub fn store_state(&self) -> StoreState {
        self.store
    }

    /// Whether the resource was destroyed.
    pub fn is_destroyed(&self) -> bool {
        self.destroyed
    }
}

impl fmt::Display for ResourceLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{} created at {} on thread {}", self.resource_type, self.id, self.location, self.created_thread)
    }
}

fn state_word(state: StoreState) -> &'static str {
    match state {
        StoreState::Visible => "set",
        StoreState::Disabled => "disabled",
        StoreState::Absent => "not set",
    }
}

/// A point marked with [`ContextDiagnostics::checkpoint`](super::ContextDiagnostics::checkpoint).
#[derive(Clone, Debug)]
pub struct Checkpoint {
    label: &'static str,
    location: &'static Location<'static>,
    thread: ThreadInfo,
    resource: Option<ResourceLink>,
    store: StoreState,
}

impl Checkpoint {
    /// The label given to `checkpoint`.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// Where `checkpoint` was called.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The thread it was called on.
    pub fn thread(&self) -> &ThreadInfo {
        &self.thread
    }

    /// The resource that was running there, if any.
    pub fn resource(&self) -> Option<&ResourceLink> {
        self.resource.as_ref()
    }

    /// The store's state there.
    pub fn store_state(&self) -> StoreState {
        self.store
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "checkpoint \"{}\" at {} on thread {}", self.label, self.location, self.thread)?;
        if let Some(resource) = &self.resource {
            write!(f, ", inside {} #{}", resource.resource_type, resource.id)?;
        }
        Ok(())
    }
}

/// Why a store was lost: the likely cause, as far as the resource table can
/// tell.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum LossCause {
    /// The break link was created while the store was not set, although its
    /// trigger had it: inside `exit`, inside a `Snapshot`/frame of another
    /// moment, or with an explicit trigger id from outside the scope.
    CreatedOutsideScope,
    /// The break link was created on a thread its trigger never ran on (an
    /// explicit trigger id handed across threads) without the trigger's
    /// context.
    CreatedOnOtherThread {
        /// The thread the break link was created on.
        created_on: ThreadInfo,
    },
    /// The store's value was there but hidden: `disable()` was called after
    /// it was set.
    Disabled,
    /// The resource had the store when it was created but ran in a frame
    /// without it (an embedder scope entered without the resource's frame).
    RanInOtherFrame,
    /// The current code runs in the scope of a resource that had the store,
    /// but the store is hidden here: inside `exit` (or a frame entered within
    /// the scope).
    ExitedInScope,
    /// The resource was created where the store was not set (its whole
    /// trigger chain lacks it) and was later invoked from a resource that
    /// had it. Resources carry their *creation* context, not their caller's:
    /// the classic "callback created at registry construction" loss.
    CreatedBeforeScopeInvokedInside {
        /// The resource whose scope invoked it.
        invoker: ResourceLink,
    },
    /// The code runs outside any resource, at the root of a thread: the
    /// thread or task was started without async-hooks propagation (a raw
    /// `std::thread::spawn`, a plain `tokio::spawn` without the task hooks,
    /// an executor without integration). The spawn itself is invisible to
    /// the hooks core, so the report lists the likely spawning side instead.
    UnpropagatedThread {
        /// The thread the loss was observed on.
        thread: ThreadInfo,
        /// Resources that had the store and were running, or ran last,
        /// when the loss was observed: the likely spawning side.
        candidates: Vec<ResourceLink>,
        /// The latest checkpoints where the store was set.
        checkpoints: Vec<Checkpoint>,
    },
    /// Nothing on the path ever had the store: no resource of the trigger
    /// chain, and no invoker.
    NeverSet,
    /// The current resource is not in the table (created before the
    /// diagnostics were enabled, or not recorded because the table was full).
    Untracked,
}

impl LossCause {
    /// A one-paragraph explanation, naming the store.
    pub fn explanation(&self, store: &str) -> String {
        match self {
            LossCause::CreatedOutsideScope => format!(
                "created while `{store}` was not set although its trigger had it: inside `{store}.exit(..)`, \
                 inside a Snapshot or frame of another moment, or with an explicit trigger id from outside the scope"
            ),
            LossCause::CreatedOnOtherThread { created_on } => format!(
                "created on thread {created_on}, where its trigger never ran, without the trigger's context: \
                 an explicit trigger id crossed threads but the context did not"
            ),
            LossCause::Disabled => format!("`{store}.disable()` was called after the value was set"),
            LossCause::RanInOtherFrame => {
                "set at creation, but a scope of the resource ran in another frame (embedder emit_before)".to_owned()
            }
            LossCause::ExitedInScope => format!(
                "the running resource has `{store}`, but it is hidden here: this code runs inside `{store}.exit(..)` \
                 (or a frame entered within the scope)"
            ),
            LossCause::CreatedBeforeScopeInvokedInside { invoker } => format!(
                "created outside any scope of `{store}` and invoked later from {} #{} (created at {}), which had it; \
                 a resource runs with the context of its creation, not of its caller",
                invoker.resource_type, invoker.id, invoker.location
            ),
            LossCause::UnpropagatedThread { thread, .. } => format!(
                "this code runs outside any resource, at the root of thread {thread}: the thread/task was started \
                 without async-hooks propagation"
            ),
            LossCause::NeverSet => format!(
                "no resource of this trigger chain ever had `{store}`: the running resource was created where \
                 `{store}` was not set, and a resource runs with the context of its creation, not of the place \
                 that registered or invokes it"
            ),
            LossCause::Untracked => {
                "the running resource is not in the diagnostics table (created before `enable`, or the table \
                 was full)"
                    .to_owned()
            }
        }
    }

    /// The fix that keeps the context.
    pub fn fix(&self, store: &str) -> String {
        match self {
            LossCause::CreatedOutsideScope => {
                format!("create the resource inside the scope (outside `{store}.exit`), or drop the explicit trigger")
            }
            LossCause::CreatedOnOtherThread { .. } => "create the resource on the spawning side (or capture a \
                 `Snapshot` there and run in it) instead of passing only the trigger id"
                .to_owned(),
            LossCause::Disabled => {
                format!("set the value again with `{store}.run(..)` after `disable()`, or do not disable")
            }
            LossCause::RanInOtherFrame => "enter the resource's own frame in embedder scopes".to_owned(),
            LossCause::ExitedInScope => format!("move this code out of `{store}.exit(..)`"),
            LossCause::CreatedBeforeScopeInvokedInside { .. } => "create the resource when the callback is \
                 registered, inside the scope: `AsyncResource::bind_fn(callback, ..)` or `context::bind(callback)` \
                 at registration, not at registry construction"
                .to_owned(),
            LossCause::UnpropagatedThread { .. } => "spawn through async-hooks: `async_hooks::thread::spawn` for \
                 threads, `async_hooks::tokio::spawn` (or the runtime task hooks) for tokio tasks; or carry the \
                 context by hand with `context::bind` / `Snapshot::capture` at the spawn site"
                .to_owned(),
            LossCause::NeverSet => format!(
                "if `{store}` was set where this work was registered or scheduled, create the resource there \
                 (`AsyncResource::bind_fn` / `context::bind` at registration); otherwise set `{store}` earlier \
                 on this path"
            ),
            LossCause::Untracked => "enable the diagnostics before the resources of interest are created, or \
                 raise `max_resources`"
                .to_owned(),
        }
    }
}

/// Where a loss was noticed: a [`why_missing`](super::ContextDiagnostics::why_missing) call.
#[derive(Clone, Debug)]
pub struct Observation {
    location: &'static Location<'static>,
    thread: ThreadInfo,
}

impl Observation {
    /// Where `why_missing` was called.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The thread it was called on.
    pub fn thread(&self) -> &ThreadInfo {
        &self.thread
    }
}

/// One place where a store was lost.
#[derive(Clone, Debug)]
pub struct Loss {
    store: String,
    key: StoreKey,
    /// Trigger chain, oldest first, ending with the resource that ran
    /// without the store. Empty for a thread-root loss.
    chain: Vec<ResourceLink>,
    /// Index in `chain` of the last resource that had the store.
    had_store: Option<usize>,
    /// Index in `chain` of the first link without the store.
    break_index: Option<usize>,
    cause: LossCause,
    /// Every resource that ran without the store because of this break.
    affected: Vec<AsyncId>,
    observed: Option<Observation>,
}

impl Loss {
    /// The store's name.
    pub fn store(&self) -> &str {
        &self.store
    }

    pub(crate) fn key(&self) -> StoreKey {
        self.key
    }

    /// The resource that ran without the store (or in whose scope the loss
    /// was noticed); `None` for a loss at the root of a thread.
    pub fn resource(&self) -> Option<&ResourceLink> {
        self.chain.last()
    }

    /// The trigger chain, oldest first, ending with [`resource`](Self::resource).
    pub fn chain(&self) -> &[ResourceLink] {
        &self.chain
    }

    /// The last resource of the chain that had the store.
    pub fn last_with_store(&self) -> Option<&ResourceLink> {
        self.had_store.map(|index| &self.chain[index])
    }

    /// The first link of the chain without the store: where to look.
    pub fn break_link(&self) -> Option<&ResourceLink> {
        self.break_index.map(|index| &self.chain[index])
    }

    /// The likely cause.
    pub fn cause(&self) -> &LossCause {
        &self.cause
    }

    /// Every resource that ran without the store because of this break.
    pub fn affected(&self) -> &[AsyncId] {
        &self.affected
    }

    /// Where it was noticed, if it came from `why_missing`.
    pub fn observation(&self) -> Option<&Observation> {
        self.observed.as_ref()
    }

    /// The spawning-side candidates of a thread-root loss (empty otherwise).
    pub fn candidates(&self) -> &[ResourceLink] {
        match &self.cause {
            LossCause::UnpropagatedThread { candidates, .. } => candidates,
            _ => &[],
        }
    }

    /// The checkpoints of a thread-root loss (empty otherwise).
    pub fn checkpoints(&self) -> &[Checkpoint] {
        match &self.cause {
            LossCause::UnpropagatedThread { checkpoints, .. } => checkpoints,
            _ => &[],
        }
    }

    fn break_id(&self) -> Option<AsyncId> {
        self.break_link().map(ResourceLink::id)
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = &self.store;
        match (self.resource(), &self.observed) {
            (Some(resource), _) => writeln!(f, "`{store}` lost in {resource}")?,
            (None, Some(observed)) => {
                writeln!(f, "`{store}` missing at {} on thread {}", observed.location, observed.thread)?
            }
            (None, None) => writeln!(f, "`{store}` lost")?,
        }
        if let (Some(observed), Some(_)) = (&self.observed, self.resource()) {
            writeln!(f, "  noticed at {} on thread {}", observed.location, observed.thread)?;
        }
        writeln!(f, "  cause: {}", self.cause.explanation(store))?;
        if !self.chain.is_empty() {
            writeln!(f, "  trigger chain (oldest first):")?;
            for (index, link) in self.chain.iter().enumerate() {
                let marker = if Some(index) == self.break_index { "x" } else { " " };
                let note = if Some(index) == self.had_store {
                    "  <- last with the store"
                } else if Some(index) == self.break_index {
                    "  <- BREAK: first without it"
                } else {
                    ""
                };
                let destroyed = if link.destroyed { ", destroyed" } else { "" };
                writeln!(
                    f,
                    "  {marker} {} #{} at {} (thread {}; {store}: {}{destroyed}){note}",
                    link.resource_type,
                    link.id,
                    link.location,
                    link.created_thread,
                    state_word(link.store)
                )?;
            }
        }
        if let LossCause::UnpropagatedThread { candidates, checkpoints, .. } = &self.cause {
            if candidates.is_empty() && checkpoints.is_empty() {
                writeln!(f, "  no resource or checkpoint with `{store}` was seen before: nothing to point to")?;
            }
            for checkpoint in checkpoints {
                writeln!(f, "  spawning side? {checkpoint} ({store} set)")?;
            }
            for candidate in candidates {
                let threads: Vec<String> = candidate.ran_on.iter().map(ToString::to_string).collect();
                writeln!(f, "  spawning side? {candidate} (had {store}; ran on {})", threads.join(", "))?;
            }
            writeln!(
                f,
                "  note: a raw spawn leaves no trace in the hooks core; the candidates are the resources that \
                 had `{store}` and were running, or ran last, when this was noticed"
            )?;
        }
        if self.affected.len() > 1 {
            let ids: Vec<String> = self.affected.iter().map(ToString::to_string).collect();
            writeln!(f, "  resources that ran without it because of this break: {}", ids.join(", "))?;
        }
        write!(f, "  fix: {}", self.cause.fix(store))
    }
}

/// The losses of one store.
#[derive(Clone, Debug)]
pub struct LossReport {
    store: String,
    losses: Vec<Loss>,
    untracked: u64,
    evicted: u64,
}

impl LossReport {
    /// The store's name.
    pub fn store(&self) -> &str {
        &self.store
    }

    /// The losses, in the order the breaks happened.
    pub fn losses(&self) -> &[Loss] {
        &self.losses
    }

    /// Whether no loss was found.
    pub fn is_empty(&self) -> bool {
        self.losses.is_empty()
    }
}

impl fmt::Display for LossReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.losses.is_empty() {
            write!(f, "no loss of `{}` found", self.store)?;
        } else {
            writeln!(f, "{} loss(es) of `{}`:", self.losses.len(), self.store)?;
            for (index, loss) in self.losses.iter().enumerate() {
                writeln!(f, "\n#{} {loss}", index + 1)?;
            }
        }
        if self.untracked > 0 || self.evicted > 0 {
            write!(
                f,
                "\n(the table was full: {} resources not recorded, {} destroyed ones evicted)",
                self.untracked, self.evicted
            )?;
        }
        Ok(())
    }
}

/// The answer of [`why_missing`](super::ContextDiagnostics::why_missing).
#[derive(Clone, Debug)]
pub struct MissingReport {
    store: String,
    state: StoreState,
    observed: Observation,
    current: Option<ResourceLink>,
    loss: Option<Loss>,
}

impl MissingReport {
    /// Whether the store is missing here (`get()` returns `None`).
    pub fn is_missing(&self) -> bool {
        !self.state.is_visible()
    }

    /// The store's state here.
    pub fn store_state(&self) -> StoreState {
        self.state
    }

    /// The resource running here, if any.
    pub fn current(&self) -> Option<&ResourceLink> {
        self.current.as_ref()
    }

    /// The explanation, if the store is missing.
    pub fn loss(&self) -> Option<&Loss> {
        self.loss.as_ref()
    }

    /// Where `why_missing` was called.
    pub fn observation(&self) -> &Observation {
        &self.observed
    }
}

impl fmt::Display for MissingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.loss {
            Some(loss) if self.is_missing() => fmt::Display::fmt(loss, f),
            _ => write!(
                f,
                "`{}` is {} at {} on thread {}",
                self.store,
                state_word(self.state),
                self.observed.location,
                self.observed.thread
            ),
        }
    }
}

/// Resources of one type and creation site that were never destroyed.
#[derive(Clone, Debug)]
pub struct LeakGroup {
    resource_type: &'static str,
    location: &'static Location<'static>,
    count: usize,
    oldest_age: Duration,
    newest_age: Duration,
    ids: Vec<AsyncId>,
}

impl LeakGroup {
    /// The resources' type.
    pub fn resource_type(&self) -> &'static str {
        self.resource_type
    }

    /// Where they were created.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// How many are alive.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The age of the oldest.
    pub fn oldest_age(&self) -> Duration {
        self.oldest_age
    }

    /// The age of the newest.
    pub fn newest_age(&self) -> Duration {
        self.newest_age
    }

    /// The ids of the oldest few (up to 5).
    pub fn ids(&self) -> &[AsyncId] {
        &self.ids
    }
}

/// Resources created but not destroyed, grouped by type and creation site.
#[derive(Clone, Debug)]
pub struct LeakReport {
    groups: Vec<LeakGroup>,
    min_age: Duration,
    untracked: u64,
}

impl LeakReport {
    /// The groups, largest first.
    pub fn groups(&self) -> &[LeakGroup] {
        &self.groups
    }

    /// The number of live resources reported.
    pub fn total(&self) -> usize {
        self.groups.iter().map(LeakGroup::count).sum()
    }

    /// Whether no live resource was found.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

impl fmt::Display for LeakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let older = if self.min_age.is_zero() { String::new() } else { format!(" older than {:?}", self.min_age) };
        if self.groups.is_empty() {
            write!(f, "no live resource{older}")?;
        } else {
            writeln!(f, "{} live resource(s){older}, by type and creation site:", self.total())?;
            for group in &self.groups {
                let ids: Vec<String> = group.ids.iter().map(ToString::to_string).collect();
                writeln!(
                    f,
                    "  {:>6} x {} created at {} (ages {:?} .. {:?}; ids {})",
                    group.count,
                    group.resource_type,
                    group.location,
                    group.newest_age,
                    group.oldest_age,
                    ids.join(", ")
                )?;
            }
        }
        if self.untracked > 0 {
            write!(f, "\n({} resources were not recorded: the table was full)", self.untracked)?;
        }
        Ok(())
    }
}

/// Report building over a locked table.
pub(crate) struct Analysis<'a> {
    pub(crate) table: &'a Table,
    pub(crate) key: StoreKey,
    pub(crate) store: &'a str,
}

impl Analysis<'_> {
    fn link(&self, record: &ResourceRecord) -> ResourceLink {
        ResourceLink::of(record, self.key)
    }

    /// `record` and its triggers, newest first, up to the first one that had
    /// the store (included) or the end of what the table knows.
    fn trigger_path<'r>(&'r self, record: &'r ResourceRecord) -> Vec<&'r ResourceRecord> {
        let mut path = vec![record];
        let mut current = record;
        while path.len() < MAX_CHAIN {
            let Some(trigger) = self.table.records.get(&current.trigger) else {
                break;
            };
            if trigger.id == current.id {
                break;
            }
            path.push(trigger);
            if trigger.had(self.key) {
                break;
            }
            current = trigger;
        }
        path
    }

    fn loss(&self, chain: Vec<ResourceLink>, had: Option<usize>, brk: Option<usize>, cause: LossCause) -> Loss {
        let affected = chain.last().map(|link| vec![link.id]).unwrap_or_default();
        Loss {
            store: self.store.to_owned(),
            key: self.key,
            chain,
            had_store: had,
            break_index: brk,
            cause,
            affected,
            observed: None,
        }
    }

    /// Explains why `record` lacks the store in a scope whose state is
    /// `run_state`; `invoker` is the resource whose scope invoked it.
    fn explain(&self, record: &ResourceRecord, run_state: StoreState, invoker: Option<AsyncId>) -> Option<Loss> {
        if record.created_stores.state(self.key).is_visible() {
            let cause =
                if run_state == StoreState::Disabled { LossCause::Disabled } else { LossCause::RanInOtherFrame };
            return Some(self.loss(vec![self.link(record)], Some(0), Some(0), cause));
        }
        let path = self.trigger_path(record);
        let oldest = *path.last().expect("the path holds the record");
        if path.len() > 1 && oldest.had(self.key) {
            let chain: Vec<ResourceLink> = path.iter().rev().map(|record| self.link(record)).collect();
            let haver = oldest;
            let brk = path[path.len() - 2];
            let cause = if brk.created_stores.state(self.key) == StoreState::Disabled
                || (brk.id == record.id && run_state == StoreState::Disabled)
            {
                LossCause::Disabled
            } else if !haver.ran_or_created_on(&brk.created_thread) {
                LossCause::CreatedOnOtherThread { created_on: brk.created_thread.clone() }
            } else {
                LossCause::CreatedOutsideScope
            };
            return Some(self.loss(chain, Some(0), Some(1), cause));
        }
        let invoker = invoker.and_then(|id| self.table.records.get(&id)).filter(|invoker| invoker.had(self.key))?;
        let chain: Vec<ResourceLink> = path.iter().rev().map(|record| self.link(record)).collect();
        let brk = chain.len() - 1;
        Some(self.loss(
            chain,
            None,
            Some(brk),
            LossCause::CreatedBeforeScopeInvokedInside { invoker: self.link(invoker) },
        ))
    }

    /// For every record without the store: the nearest trigger that had it
    /// and the break link (the child of that trigger on the path), if any.
    /// Memoized, so a scan is linear in the table size however deep the
    /// chains are.
    fn breaks(&self) -> HashMap<AsyncId, Option<AsyncId>> {
        let mut memo: HashMap<AsyncId, Option<AsyncId>> = HashMap::new();
        for record in self.table.records.values() {
            let mut path: Vec<AsyncId> = Vec::new();
            let mut current = record;
            let answer = loop {
                if let Some(known) = memo.get(&current.id) {
                    break *known;
                }
                if current.had(self.key) || path.len() >= MAX_CHAIN {
                    break None;
                }
                path.push(current.id);
                match self.table.records.get(&current.trigger) {
                    Some(trigger) if trigger.id == current.id => break None,
                    Some(trigger) if trigger.had(self.key) => break Some(current.id),
                    Some(trigger) => current = trigger,
                    None => break None,
                }
            };
            for id in path {
                memo.insert(id, answer);
            }
        }
        memo
    }

    /// Every loss the table shows, one per break link, oldest break first;
    /// then the thread-root losses `why_missing` observed.
    pub(crate) fn losses(&self) -> Vec<Loss> {
        let mut records: Vec<&ResourceRecord> = self.table.records.values().collect();
        records.sort_by_key(|record| record.created_seq);
        let breaks = self.breaks();
        let mut by_break: BTreeMap<u64, Loss> = BTreeMap::new();
        let mut break_seq: HashMap<AsyncId, u64> = HashMap::new();
        for record in records {
            let Some(run_state) = record.run_state(self.key) else {
                continue;
            };
            if run_state.is_visible() {
                continue;
            }
            // Another resource under a known break: no need to rebuild its chain.
            let known_break = breaks.get(&record.id).copied().flatten().filter(|id| break_seq.contains_key(id));
            if let Some(break_id) = known_break {
                by_break.get_mut(&break_seq[&break_id]).expect("indexed").affected.push(record.id);
                continue;
            }
            let invoker = record.first_run.as_ref().and_then(|run| run.invoker);
            let has_break = breaks.get(&record.id).copied().flatten().is_some();
            if !has_break && !record.created_stores.state(self.key).is_visible() {
                // No trigger had the store: only its invoker can make this a loss.
                let invoker_had = invoker.and_then(|id| self.table.records.get(&id)).is_some_and(|i| i.had(self.key));
                if !invoker_had {
                    continue;
                }
            }
            let Some(loss) = self.explain(record, run_state, invoker) else {
                continue;
            };
            let break_id = loss.break_id().expect("table losses have a break link");
            match break_seq.get(&break_id) {
                Some(seq) => by_break.get_mut(seq).expect("indexed").affected.push(record.id),
                None => {
                    let seq = self.table.records.get(&break_id).map_or(0, |brk| brk.created_seq);
                    break_seq.insert(break_id, seq);
                    by_break.insert(seq, loss);
                }
            }
        }
        let mut losses: Vec<Loss> = by_break.into_values().collect();
        for observed in &self.table.observations {
            if observed.key() != self.key {
                continue;
            }
            let known = observed.break_id().is_some_and(|id| break_seq.contains_key(&id));
            if !known {
                losses.push(observed.clone());
            }
        }
        losses
    }

    fn candidates(&self) -> Vec<ResourceLink> {
        let mut having: Vec<&ResourceRecord> = self
            .table
            .records
            .values()
            .filter(|record| record.runs > 0 && record.run_state(self.key) == Some(StoreState::Visible))
            .collect();
        // Running now first, then alive ones, each group most recently
        // entered first: a spawner is usually still around when its
        // spawned code runs.
        having.sort_by_key(|record| {
            let open = record.open_scopes > 0;
            let alive = record.destroyed_at.is_none();
            (std::cmp::Reverse((open, alive)), std::cmp::Reverse(record.last_run_seq))
        });
        having.into_iter().take(MAX_CANDIDATES).map(|record| self.link(record)).collect()
    }

    fn checkpoints(&self) -> Vec<Checkpoint> {
        let mut found: Vec<&CheckpointRecord> =
            self.table.checkpoints.iter().filter(|checkpoint| checkpoint.stores.state(self.key).is_visible()).collect();
        found.sort_by_key(|checkpoint| std::cmp::Reverse(checkpoint.seq));
        found
            .into_iter()
            .take(MAX_CHECKPOINTS)
            .map(|checkpoint| Checkpoint {
                label: checkpoint.label,
                location: checkpoint.location,
                thread: checkpoint.thread.clone(),
                resource: checkpoint
                    .resource
                    .and_then(|id| self.table.records.get(&id))
                    .map(|record| self.link(record)),
                store: checkpoint.stores.state(self.key),
            })
            .collect()
    }

    /// The answer of `why_missing`: `state` is the store's state here,
    /// `current` the running resource, `invoker` the scope below it.
    pub(crate) fn why_missing(
        &self,
        state: StoreState,
        observed: Observation,
        current: Option<AsyncId>,
        invoker: Option<AsyncId>,
    ) -> MissingReport {
        let current_link = current.and_then(|id| self.table.records.get(&id)).map(|record| self.link(record));
        let loss = if state.is_visible() {
            None
        } else {
            let mut loss = match current {
                None => self.loss(
                    Vec::new(),
                    None,
                    None,
                    LossCause::UnpropagatedThread {
                        thread: observed.thread.clone(),
                        candidates: self.candidates(),
                        checkpoints: self.checkpoints(),
                    },
                ),
                Some(id) => match self.table.records.get(&id) {
                    None => self.loss(Vec::new(), None, None, LossCause::Untracked),
                    Some(record) if state == StoreState::Disabled => {
                        self.loss(vec![self.link(record)], Some(0), Some(0), LossCause::Disabled)
                    }
                    Some(record) if record.had(self.key) => {
                        self.loss(vec![self.link(record)], Some(0), None, LossCause::ExitedInScope)
                    }
                    Some(record) => self.explain(record, state, invoker).unwrap_or_else(|| {
                        let chain: Vec<ResourceLink> =
                            self.trigger_path(record).iter().rev().map(|record| self.link(record)).collect();
                        let last = chain.len() - 1;
                        self.loss(chain, None, Some(last), LossCause::NeverSet)
                    }),
                },
            };
            loss.observed = Some(observed.clone());
            Some(loss)
        };
        MissingReport { store: self.store.to_owned(), state, observed, current: current_link, loss }
    }
}

pub(crate) fn observation(location: &'static Location<'static>) -> Observation {
    Observation { location, thread: ThreadInfo::current() }
}

/// The leak report over a locked table.
pub(crate) fn leak_report(table: &Table, min_age: Duration) -> LeakReport {
    let now = Instant::now();
    let mut groups: HashMap<(&'static str, &'static Location<'static>), Vec<&ResourceRecord>> = HashMap::new();
    for record in table.records.values() {
        if record.destroyed_at.is_none() && now.duration_since(record.created_at) >= min_age {
            groups.entry((record.resource_type, record.location)).or_default().push(record);
        }
    }
    let mut groups: Vec<LeakGroup> = groups
        .into_iter()
        .map(|((resource_type, location), mut records)| {
            records.sort_by_key(|record| record.created_at);
            LeakGroup {
                resource_type,
                location,
                count: records.len(),
                oldest_age: now.duration_since(records[0].created_at),
                newest_age: now.duration_since(records[records.len() - 1].created_at),
                ids: records.iter().take(5).map(|record| record.id).collect(),
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| (a.location.file(), a.location.line()).cmp(&(b.location.file(), b.location.line())))
    });
    LeakReport { groups, min_age, untracked: table.untracked }
}

pub(crate) fn loss_report(analysis: &Analysis<'_>) -> LossReport {
    LossReport {
        store: analysis.store.to_owned(),
        losses: analysis.losses(),
        untracked: analysis.table.untracked,
        evicted: analysis.table.evicted,
    }
}
