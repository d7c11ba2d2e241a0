//! Span callsites for async resources, made at run time.
//!
//! A `tracing` span's name and field names are fixed by its callsite. Our
//! spans are named after the resource type (`"WorkerPoolTask"`), which is only
//! known at run time, and created at the resource's creation site, so this
//! module makes one callsite per (level, resource type, creation location,
//! extra attribute keys) and caches it for the life of the process. Every
//! input of the key is `'static` program data, so the number of callsites is
//! bounded by the program's code; [`MAX_CALLSITES`] bounds it anyway.
//!
//! Each callsite declares the [fixed fields](FIXED_FIELDS) plus the keys of
//! the attributes that the resource had at creation and that are not fixed
//! (up to [`MAX_FIELDS`] in all). Keys that arrive later through
//! [`Hooks::record`](async_hooks_core::Hooks::record) and are not declared go
//! to the catch-all field `attributes` as `key=value` text.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::panic::Location;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::{Field, FieldSet};
use tracing_core::metadata::Kind;
use tracing_core::subscriber::Interest;
use tracing_core::{Level, Metadata};

use crate::id_hasher::IdHasher;

/// The target of every resource span.
pub(crate) const TARGET: &str = "async_hooks";

/// Fields every resource span declares, in this order.
pub(crate) const FIXED_FIELDS: [&str; 12] = [
    "async_id",
    "trigger_async_id",
    "code.filepath",
    "code.lineno",
    "pool.name",
    "pool.worker",
    "pool.queue_wait_us",
    "pool.run_us",
    "pool.outcome",
    "pool.resource",
    "pool.use_us",
    CATCH_ALL_FIELD,
];

pub(crate) const ASYNC_ID: usize = 0;
pub(crate) const TRIGGER_ASYNC_ID: usize = 1;
pub(crate) const CODE_FILEPATH: usize = 2;
pub(crate) const CODE_LINENO: usize = 3;
pub(crate) const CATCH_ALL: usize = 11;

/// The field for attributes without a declared field of their own.
pub(crate) const CATCH_ALL_FIELD: &str = "attributes";

/// The most fields one resource span declares.
pub(crate) const MAX_FIELDS: usize = 32;

/// The most callsites made with extra fields; past it, extra attributes go to
/// the catch-all field (the callsites per type and location stay exact).
pub(crate) const MAX_CALLSITES: usize = 4096;

const INTEREST_NEVER: u8 = 0;
const INTEREST_SOMETIMES: u8 = 1;
const INTEREST_ALWAYS: u8 = 2;
const INTEREST_UNKNOWN: u8 = 3;

/// The index of a fixed field named `key`, if it is one. Attribute keys that
/// would shadow our own ids are not fixed fields: they are extras.
pub(crate) fn fixed_index(key: &str) -> Option<usize> {
    FIXED_FIELDS[CODE_LINENO + 1..CATCH_ALL].iter().position(|fixed| *fixed == key).map(|index| index + CODE_LINENO + 1)
}

/// A run-time callsite for spans of one resource type, level, creation
/// location and set of extra keys.
pub(crate) struct ResourceCallsite {
    metadata: OnceLock<Metadata<'static>>,
    fields: OnceLock<Box<[Field]>>,
    interest: AtomicU8,
    extra_keys: &'static [&'static str],
}

impl ResourceCallsite {
    /// The callsite's metadata.
    pub(crate) fn metadata(&'static self) -> &'static Metadata<'static> {
        self.metadata.get().expect("async-hooks-tracing bug: callsite used before its metadata was set")
    }

    /// The callsite's fields, in declaration order.
    pub(crate) fn fields(&'static self) -> &'static [Field] {
        self.fields.get().expect("async-hooks-tracing bug: callsite used before its fields were set")
    }

    /// The field index of `key`: a fixed pool field or a declared extra.
    pub(crate) fn index_of(&self, key: &str) -> Option<usize> {
        fixed_index(key)
            .or_else(|| self.extra_keys.iter().position(|extra| *extra == key).map(|index| FIXED_FIELDS.len() + index))
    }

    /// Whether a span of this callsite should be created with the current
    /// dispatcher, using the cached interest as the `tracing` macros do.
    #[inline]
    pub(crate) fn is_enabled(&'static self, dispatch: &tracing_core::Dispatch) -> bool {
        match self.interest.load(Ordering::Relaxed) {
            INTEREST_NEVER => false,
            INTEREST_ALWAYS => true,
            _ => dispatch.enabled(self.metadata()),
        }
    }
}

impl Callsite for ResourceCallsite {
    fn set_interest(&self, interest: Interest) {
        let interest = if interest.is_never() {
            INTEREST_NEVER
        } else if interest.is_always() {
            INTEREST_ALWAYS
        } else {
            INTEREST_SOMETIMES
        };
        self.interest.store(interest, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        self.metadata.get().expect("async-hooks-tracing bug: callsite registered before its metadata was set")
    }
}

/// What identifies a callsite. Strings are compared by address: they are
/// `'static` program data, and two equal strings at different addresses
/// merely make two callsites with the same name.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct CallsiteKey {
    level: Level,
    resource_type: (usize, usize),
    location: usize,
    extras_hash: u64,
}

type CallsiteMap<V> = HashMap<CallsiteKey, V, BuildHasherDefault<IdHasher>>;

struct GlobalCallsites {
    by_key: Mutex<CallsiteMap<Vec<&'static ResourceCallsite>>>,
    n_with_extras: AtomicUsize,
}

fn global() -> &'static GlobalCallsites {
    static GLOBAL: OnceLock<GlobalCallsites> = OnceLock::new();
    GLOBAL.get_or_init(|| GlobalCallsites { by_key: Mutex::default(), n_with_extras: AtomicUsize::new(0) })
}

thread_local! {
    static LOCAL: RefCell<CallsiteMap<&'static ResourceCallsite>> = RefCell::new(HashMap::default());
    /// The callsite this thread looked up last: resources are mostly made
    /// in loops at one site, and comparing one key is cheaper than hashing it.
    static LAST: Cell<Option<(CallsiteKey, &'static ResourceCallsite)>> = const { Cell::new(None) };
    /// The callsite without extra keys this thread looked up last, for
    /// [`plain_callsite_for`]: its key is the type's and location's
    /// addresses and the level, with no extras to hash or compare.
    static LAST_PLAIN: Cell<Option<(PlainKey, &'static ResourceCallsite)>> = const { Cell::new(None) };
}

/// What identifies a callsite without extra keys, for the per-thread memo of
/// the last one.
#[derive(Clone, Copy, PartialEq, Eq)]
struct PlainKey {
    resource_type: *const u8,
    resource_type_len: usize,
    location: *const Location<'static>,
    level: Level,
}

/// [`callsite_for`] with no extra keys (resources without attributes of
/// their own: the common case), through a memo of the last one this thread
/// used.
#[inline]
pub(crate) fn plain_callsite_for(
    level: Level,
    resource_type: &'static str,
    location: &'static Location<'static>,
) -> &'static ResourceCallsite {
    let key =
        PlainKey { resource_type: resource_type.as_ptr(), resource_type_len: resource_type.len(), location, level };
    match LAST_PLAIN.try_with(Cell::get) {
        Ok(Some((last_key, callsite))) if last_key == key => callsite,
        _ => plain_callsite_miss(key, level, resource_type, location),
    }
}

#[cold]
#[inline(never)]
fn plain_callsite_miss(
    key: PlainKey,
    level: Level,
    resource_type: &'static str,
    location: &'static Location<'static>,
) -> &'static ResourceCallsite {
    let callsite = callsite_for(level, resource_type, location, &[]);
    let _ = LAST_PLAIN.try_with(|last| last.set(Some((key, callsite))));
    callsite
}

/// The callsite for a span of `resource_type` created at `location`, with
/// `extras` (keys without a fixed field, deduplicated, in order) declared as
/// fields — unless there are too many of them, or [`MAX_CALLSITES`] is
/// reached: then the returned callsite declares none of them and their values
/// go to the catch-all field.
pub(crate) fn callsite_for(
    level: Level,
    resource_type: &'static str,
    location: &'static Location<'static>,
    extras: &[&'static str],
) -> &'static ResourceCallsite {
    let extras = if extras.len() > MAX_FIELDS - FIXED_FIELDS.len() { &extras[..0] } else { extras };
    let key = CallsiteKey {
        level,
        resource_type: (resource_type.as_ptr() as usize, resource_type.len()),
        location: location as *const Location<'static> as usize,
        extras_hash: hash_keys(extras),
    };
    if let Ok(Some((last_key, callsite))) = LAST.try_with(Cell::get) {
        if last_key == key && callsite.extra_keys == extras {
            return callsite;
        }
    }
    let cached = LOCAL.try_with(|local| local.borrow().get(&key).copied()).ok().flatten();
    let callsite = match cached {
        Some(callsite) if callsite.extra_keys == extras => callsite,
        _ => {
            let callsite = global_callsite_for(key, level, resource_type, location, extras);
            if callsite.extra_keys == extras {
                let _ = LOCAL.try_with(|local| local.borrow_mut().insert(key, callsite));
            }
            callsite
        }
    };
    if callsite.extra_keys == extras {
        let _ = LAST.try_with(|last| last.set(Some((key, callsite))));
    }
    callsite
}

#[cold]
#[inline(never)]
fn global_callsite_for(
    key: CallsiteKey,
    level: Level,
    resource_type: &'static str,
    location: &'static Location<'static>,
    extras: &[&'static str],
) -> &'static ResourceCallsite {
    let global = global();
    let mut extras = extras;
    let made = {
        let mut by_key = global.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) =
            by_key.get(&key).and_then(|list| list.iter().find(|callsite| callsite.extra_keys == extras))
        {
            return found;
        }
        if !extras.is_empty() && global.n_with_extras.fetch_add(1, Ordering::Relaxed) >= MAX_CALLSITES {
            // Over budget: fall back to the callsite without extras; its
            // attributes go to the catch-all field.
            extras = &[];
            let key = CallsiteKey { extras_hash: hash_keys(extras), ..key };
            if let Some(found) = by_key.get(&key).and_then(|list| list.first()) {
                return found;
            }
        }
        let callsite = make_callsite(level, resource_type, location, extras);
        let key = CallsiteKey { extras_hash: hash_keys(extras), ..key };
        by_key.entry(key).or_default().push(callsite);
        callsite
    };
    // Registration calls into every dispatcher: never under our lock.
    tracing_core::callsite::register(made);
    made
}

fn make_callsite(
    level: Level,
    resource_type: &'static str,
    location: &'static Location<'static>,
    extras: &[&'static str],
) -> &'static ResourceCallsite {
    let extra_keys: &'static [&'static str] = Box::leak(extras.to_vec().into_boxed_slice());
    let names: Vec<&'static str> = FIXED_FIELDS.iter().copied().chain(extra_keys.iter().copied()).collect();
    let names: &'static [&'static str] = Box::leak(names.into_boxed_slice());
    let callsite: &'static ResourceCallsite = Box::leak(Box::new(ResourceCallsite {
        metadata: OnceLock::new(),
        fields: OnceLock::new(),
        interest: AtomicU8::new(INTEREST_UNKNOWN),
        extra_keys,
    }));
    let metadata = Metadata::new(
        resource_type,
        TARGET,
        level,
        Some(location.file()),
        Some(location.line()),
        None,
        FieldSet::new(names, Identifier(callsite)),
        Kind::SPAN,
    );
    let _ = callsite.metadata.set(metadata);
    let _ = callsite.fields.set(callsite.metadata().fields().iter().collect());
    callsite
}

fn hash_keys(keys: &[&'static str]) -> u64 {
    let mut hasher = IdHasher::default();
    for key in keys {
        key.hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_inputs_give_the_same_callsite() {
        let location = Location::caller();
        let first = callsite_for(Level::INFO, "Cached", location, &["db.statement"]);
        let second = callsite_for(Level::INFO, "Cached", location, &["db.statement"]);
        assert!(std::ptr::eq(first, second));
        let other = callsite_for(Level::INFO, "Cached", location, &[]);
        assert!(!std::ptr::eq(first, other));
    }

    #[test]
    fn a_callsite_declares_fixed_fields_then_extras() {
        let callsite = callsite_for(Level::DEBUG, "Declared", Location::caller(), &["db.statement"]);
        let names: Vec<_> = callsite.fields().iter().map(Field::name).collect();
        assert_eq!(names[..FIXED_FIELDS.len()], FIXED_FIELDS);
        assert_eq!(names[FIXED_FIELDS.len()..], ["db.statement"]);
        assert_eq!(callsite.metadata().name(), "Declared");
        assert_eq!(callsite.index_of("pool.worker"), Some(5));
        assert_eq!(callsite.index_of("db.statement"), Some(FIXED_FIELDS.len()));
        assert_eq!(callsite.index_of("async_id"), None);
    }
}
