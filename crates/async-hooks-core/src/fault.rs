//! Faults the core contains instead of crashing: panicking hooks and a
//! corrupted execution stack. Each is reported to a replaceable handler and
//! then handled by a policy.

use std::fmt;
use std::io::Write;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::{AsyncId, HookEvent};

/// What the core does after reporting a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FaultPolicy {
    /// Report, contain and go on: a panicking hook set is disabled; a
    /// corrupted stack is repaired. The default.
    #[default]
    Report,
    /// Report, then abort the process, as Node does (Node exits with 1).
    Abort,
}

/// A fault the core contained.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// A hook callback panicked. The hook set was disabled.
    HookPanicked {
        /// The hook set's name ([`Hooks::name`](crate::Hooks::name)).
        hook: String,
        /// The event whose callback panicked.
        event: HookEvent,
        /// The panic's message, or a placeholder if it was not a string.
        message: String,
    },
    /// A scope was left that was not the innermost one open on its thread.
    StackCorrupted {
        /// The execution id on top of the stack.
        actual: AsyncId,
        /// The id whose scope was being left.
        expected: AsyncId,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::HookPanicked { hook, event, message } => {
                write!(f, "async hook `{hook}` panicked in `{event}`: {message}; the hook set was disabled")
            }
            Fault::StackCorrupted { actual, expected } => {
                write!(f, "async hook stack has become corrupted (actual: {actual}, expected: {expected})")
            }
        }
    }
}

impl std::error::Error for Fault {}

type FaultHandler = Box<dyn Fn(&Fault) + Send + Sync>;

static FAULT_HANDLER: RwLock<Option<FaultHandler>> = RwLock::new(None);
static HOOK_PANIC_POLICY: AtomicU8 = AtomicU8::new(0);
static STACK_CORRUPTION_POLICY: AtomicU8 = AtomicU8::new(0);

/// Replaces the handler that receives every [`Fault`]. The default handler
/// writes one line to stderr, prefixed `async-hooks: `.
///
/// The handler runs on the thread where the fault happened; events it
/// causes are not dispatched to hooks.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use async_hooks_core::{create_hook, set_fault_handler, Fault, HookCallbacks};
///
/// let faults = Arc::new(Mutex::new(Vec::new()));
/// let sink = faults.clone();
/// set_fault_handler(move |fault: &Fault| sink.lock().unwrap().push(fault.to_string()));
///
/// let hook = create_hook(HookCallbacks::new().on_init(|_, _, _, _| panic!("boom")));
/// hook.enable();
/// drop(async_hooks_core::AsyncResource::new("Example"));
/// assert!(!hook.is_enabled());
/// assert!(faults.lock().unwrap()[0].contains("panicked in `init`: boom"));
/// ```
pub fn set_fault_handler(handler: impl Fn(&Fault) + Send + Sync + 'static) {
    *FAULT_HANDLER.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Box::new(handler));
}

/// Restores the default fault handler (one line on stderr).
pub fn reset_fault_handler() {
    *FAULT_HANDLER.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
}

/// Sets what happens after a hook callback panicked.
pub fn set_hook_panic_policy(policy: FaultPolicy) {
    HOOK_PANIC_POLICY.store(policy as u8, Ordering::Relaxed);
}

/// Sets what happens after the execution stack was found corrupted.
pub fn set_stack_corruption_policy(policy: FaultPolicy) {
    STACK_CORRUPTION_POLICY.store(policy as u8, Ordering::Relaxed);
}

fn policy_for(fault: &Fault) -> FaultPolicy {
    let raw = match fault {
        Fault::HookPanicked { .. } => HOOK_PANIC_POLICY.load(Ordering::Relaxed),
        Fault::StackCorrupted { .. } => STACK_CORRUPTION_POLICY.load(Ordering::Relaxed),
    };
    if raw == FaultPolicy::Abort as u8 { FaultPolicy::Abort } else { FaultPolicy::Report }
}

/// Reports `fault` and applies its policy.
#[cold]
pub(crate) fn report(fault: Fault) {
    // Events caused by the handler itself are not dispatched.
    let _in_hook = crate::dispatch::InHookGuard::enter();
    let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let handler = FAULT_HANDLER.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        match handler.as_ref() {
            Some(handler) => handler(&fault),
            None => write_to_stderr(&fault),
        }
    }));
    if handled.is_err() {
        // A handler that panics must not take the application with it.
        write_to_stderr(&fault);
    }
    if policy_for(&fault) == FaultPolicy::Abort {
        let _ = writeln!(std::io::stderr(), "async-hooks: aborting (fault policy is Abort)");
        std::process::abort();
    }
}

fn write_to_stderr(fault: &Fault) {
    let _ = writeln!(std::io::stderr(), "async-hooks: {fault}");
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
