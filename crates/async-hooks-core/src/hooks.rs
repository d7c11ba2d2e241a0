//! The [`Hooks`] trait: what a hook set receives.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use crate::{AsyncId, Attribute, Resource};

/// Callbacks for the lifecycle events of every async resource, on every
/// thread.
///
/// Every method has a no-op default: implement the ones you need and say so
/// in [`interest`](Hooks::interest), so the set is only called (and only
/// costs) for those events.
///
/// For every resource a hook set observes from its creation on, it sees
/// `init` first, then `before`/`after` pairs (nested, never interleaved on
/// one thread), then exactly one `destroy`, and nothing after it. A set
/// enabled while a resource is alive sees the rest of that resource's events.
///
/// Callbacks run on the thread where the event happens, so they must be
/// cheap and must not block. Events caused by a callback itself (resources
/// it creates, scopes it enters) are never dispatched, so a hook that logs
/// through instrumented code cannot recurse. A panicking callback is caught:
/// its hook set is disabled and the panic reported (see
/// [`set_fault_handler`](crate::set_fault_handler)).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use async_hooks_core::{create_hook, AsyncId, AsyncResource, Hooks, Interest, Resource};
///
/// #[derive(Default)]
/// struct CountInits(AtomicUsize);
///
/// impl Hooks for CountInits {
///     fn init(&self, _id: AsyncId, _type: &str, _trigger: AsyncId, _resource: &Resource) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
///     fn interest(&self) -> Interest {
///         Interest::INIT
///     }
/// }
///
/// let hook = create_hook(CountInits::default());
/// hook.enable();
/// drop(AsyncResource::new("Example"));
/// assert_eq!(hook.hooks().0.load(Ordering::Relaxed), 1);
/// ```
#[allow(unused_variables)]
pub trait Hooks: Send + Sync + 'static {
    /// A resource was created. `trigger` is the resource in whose execution
    /// it was created (or the explicit trigger it was given).
    fn init(&self, id: AsyncId, resource_type: &str, trigger: AsyncId, resource: &Resource) {}

    /// A scope of resource `id` begins on this thread.
    fn before(&self, id: AsyncId) {}

    /// A scope of resource `id` ends on this thread.
    fn after(&self, id: AsyncId) {}

    /// Resource `id` is gone: the last event it will ever have.
    fn destroy(&self, id: AsyncId) {}

    /// The operation of resource `id` produced its result (a future
    /// returned `Ready`).
    fn promise_resolve(&self, id: AsyncId) {}

    /// Resource `id` learned new facts about itself, such as a pool task's
    /// worker index once it was dispatched. Not an event of Node's.
    fn record(&self, id: AsyncId, attributes: &[Attribute]) {}

    /// The events this set implements. Others are not dispatched to it.
    ///
    /// The default is every event.
    fn interest(&self) -> Interest {
        Interest::ALL
    }

    /// A name for fault reports. The default is the type's name.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

/// One kind of lifecycle event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HookEvent {
    /// [`Hooks::init`]
    Init,
    /// [`Hooks::before`]
    Before,
    /// [`Hooks::after`]
    After,
    /// [`Hooks::destroy`]
    Destroy,
    /// [`Hooks::promise_resolve`]
    PromiseResolve,
    /// [`Hooks::record`]
    Record,
}

impl HookEvent {
    /// The event's bit in an [`Interest`].
    pub const fn interest(self) -> Interest {
        Interest(1 << self as u8)
    }

    /// The event whose [`interest`](Self::interest) bit is `bit`, the one
    /// bit set.
    pub(crate) const fn from_interest_bit(bit: u8) -> HookEvent {
        match bit.trailing_zeros() {
            0 => HookEvent::Init,
            1 => HookEvent::Before,
            2 => HookEvent::After,
            3 => HookEvent::Destroy,
            4 => HookEvent::PromiseResolve,
            _ => HookEvent::Record,
        }
    }

    /// The event's name, as the `Hooks` method is named.
    pub const fn name(self) -> &'static str {
        match self {
            HookEvent::Init => "init",
            HookEvent::Before => "before",
            HookEvent::After => "after",
            HookEvent::Destroy => "destroy",
            HookEvent::PromiseResolve => "promise_resolve",
            HookEvent::Record => "record",
        }
    }
}

impl fmt::Display for HookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`HookEvent`]s a hook set wants.
///
/// # Examples
///
/// ```
/// use async_hooks_core::{HookEvent, Interest};
///
/// let interest = Interest::INIT | Interest::DESTROY;
/// assert!(interest.contains(HookEvent::Init));
/// assert!(!interest.contains(HookEvent::Before));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u8);

impl Interest {
    /// No event.
    pub const NONE: Interest = Interest(0);
    /// [`HookEvent::Init`]
    pub const INIT: Interest = HookEvent::Init.interest();
    /// [`HookEvent::Before`]
    pub const BEFORE: Interest = HookEvent::Before.interest();
    /// [`HookEvent::After`]
    pub const AFTER: Interest = HookEvent::After.interest();
    /// [`HookEvent::Destroy`]
    pub const DESTROY: Interest = HookEvent::Destroy.interest();
    /// [`HookEvent::PromiseResolve`]
    pub const PROMISE_RESOLVE: Interest = HookEvent::PromiseResolve.interest();
    /// [`HookEvent::Record`]
    pub const RECORD: Interest = HookEvent::Record.interest();
    /// Every event.
    pub const ALL: Interest = Interest(0b11_1111);

    /// Whether `event` is in the set.
    #[inline]
    pub const fn contains(self, event: HookEvent) -> bool {
        self.0 & event.interest().0 != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set as bits, one per event in declaration order.
    pub const fn bits(self) -> u8 {
        self.0
    }

    pub(crate) const fn from_bits(bits: u8) -> Interest {
        Interest(bits & Interest::ALL.0)
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

impl BitOrAssign for Interest {
    fn bitor_assign(&mut self, other: Interest) {
        self.0 |= other.0;
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let events = [
            HookEvent::Init,
            HookEvent::Before,
            HookEvent::After,
            HookEvent::Destroy,
            HookEvent::PromiseResolve,
            HookEvent::Record,
        ];
        f.debug_set().entries(events.iter().filter(|event| self.contains(**event))).finish()
    }
}
