//! Loom models of the core's concurrent parts. Run with
//! `RUSTFLAGS="--cfg async_hooks_loom" cargo test -p async-hooks-core --release --lib loom`.

use std::sync::Arc as StdArc;
use std::sync::atomic::AtomicUsize;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

use crate::dispatch;
use crate::frame::{ContextFrame, StoreKey};
use crate::registry::registry;
use crate::{AsyncId, HookCallbacks, HookEvent, create_hook};

/// Enable and disable on one thread race with dispatch on another: the hook
/// is never called before `enable` began or after its `disable` returned
/// (as observed through a flag published after it), and the registry's
/// snapshot and version stay consistent.
#[test]
fn loom_enable_disable_races_with_dispatch() {
    loom::model(|| {
        let calls = StdArc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let hook = StdArc::new(create_hook(HookCallbacks::new().on_destroy(move |_| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })));
        let disabled = StdArc::new(AtomicBool::new(false));

        let toggler = {
            let (hook, disabled) = (hook.clone(), disabled.clone());
            thread::spawn(move || {
                hook.enable();
                hook.disable();
                disabled.store(true, Ordering::Release);
            })
        };

        dispatch::dispatch(HookEvent::Destroy, AsyncId::from_u64(10));
        let saw_disabled = disabled.load(Ordering::Acquire);
        let calls_before = calls.load(std::sync::atomic::Ordering::SeqCst);
        dispatch::dispatch(HookEvent::Destroy, AsyncId::from_u64(11));
        if saw_disabled {
            // Disabled before this dispatch began: it must not be called.
            assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), calls_before);
        }
        toggler.join().unwrap();
        assert!(calls.load(std::sync::atomic::Ordering::SeqCst) <= 2);
        assert!(!hook.is_enabled());
        assert!(registry().interest().is_empty());
    });
}

/// A frame captured on one thread is entered on another while the first
/// replaces its own: the value stays readable wherever it is entered, and
/// the shared entries are freed exactly once (loom checks the `Arc`), with
/// two stores set and one removed concurrently.
#[test]
fn loom_frame_swap_across_threads() {
    loom::model(|| {
        // Two stores, as two `AsyncLocalStorage`s would set them.
        let (first, second) = (StoreKey::allocate(), StoreKey::allocate());
        let frame = ContextFrame::empty().with_value(first, 5_u32);
        let _entered = frame.enter();
        let frame = ContextFrame::current().with_value(second, "two");
        let _entered_both = frame.enter();
        let captured = ContextFrame::current();

        let other = thread::spawn(move || {
            let _entered = captured.enter();
            ContextFrame::with_current(|current| {
                assert_eq!(current.get_as::<u32>(first), Some(&5));
                assert_eq!(current.get_as::<&str>(second), Some(&"two"));
            });
        });

        drop(frame);
        ContextFrame::set_current(ContextFrame::current().without(first));
        ContextFrame::with_current(|current| assert_eq!(current.get_as::<&str>(second), Some(&"two")));
        ContextFrame::set_current(ContextFrame::empty());
        ContextFrame::with_current(|current| assert!(current.is_empty()));
        other.join().unwrap();
    });
}

/// A store value that counts its drops (through loom's atomics); `alive`
/// lets readers check it was not dropped yet.
struct Counted {
    drops: crate::sync::Arc<crate::sync::AtomicUsize>,
    alive: u32,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.alive = 0;
        self.drops.fetch_add(1, crate::sync::Ordering::Relaxed);
    }
}

/// A store entry shared by two threads is dropped exactly once, by
/// whichever handle goes last, whether that drop takes the unique-handle
/// shortcut (no read-modify-write) or the counted path; and the value is
/// still intact for the other thread until then.
#[test]
fn loom_entry_is_dropped_once_by_the_last_handle() {
    use crate::entry::EntryRef;
    use crate::sync::{Arc, AtomicUsize, Ordering};

    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let entry = EntryRef::new(StoreKey::allocate(), Counted { drops: drops.clone(), alive: 7 });
        let shared = entry.clone();
        let other = thread::spawn(move || {
            assert_eq!(shared.value_as::<Counted>().map(|value| value.alive), Some(7));
            drop(shared);
        });
        assert_eq!(entry.value_as::<Counted>().map(|value| value.alive), Some(7));
        drop(entry);
        other.join().unwrap();
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    });
}

/// The frame slot's spare counts: captures taken from them (`current`) are
/// dropped on another thread while this one gives one back to the slot and
/// then ends its `run`, releasing the frame with the remaining spare counts
/// in one step. The batch is taken with a plain store when the slot's handle
/// is the only one, and with a read-modify-write when another thread
/// already holds a clone; either way the value stays intact for every
/// reader and is dropped exactly once, by whichever thread goes last.
#[test]
fn loom_spare_counts_with_captures_on_another_thread() {
    use crate::sync::{Arc, AtomicUsize, Ordering};

    for shared_before_capture in [false, true] {
        loom::model(move || {
            let key = StoreKey::allocate();
            let drops = Arc::new(AtomicUsize::new(0));
            let entered = ContextFrame::enter_with_value(key, Counted { drops: drops.clone(), alive: 7 });
            let alive = move |frame: &ContextFrame| frame.get_as::<Counted>(key).map(|value| value.alive);
            // A clone made before the first capture: the batch of spare
            // counts is then added with a read-modify-write.
            let early = shared_before_capture.then(|| ContextFrame::with_current(ContextFrame::clone));
            let sent = ContextFrame::current();
            let kept = ContextFrame::current();
            let other = thread::spawn(move || {
                assert_eq!(alive(&sent), Some(7));
                drop(sent);
                if let Some(early) = early {
                    assert_eq!(alive(&early), Some(7));
                }
            });
            drop(kept);
            assert_eq!(ContextFrame::with_current(|current| alive(current)), Some(7));
            drop(entered);
            other.join().unwrap();
            assert_eq!(drops.load(Ordering::Relaxed), 1);
        });
    }
}
