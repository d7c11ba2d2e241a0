//! Captures of the current frame (`ContextFrame::current`, which every
//! resource and snapshot makes) taken from the thread slot's spare counts:
//! they keep their values alive exactly as long as a counted clone would —
//! past the end of the `run` that made them, on other threads, in any
//! number — and never longer: once the frame has left the slot and the last
//! capture is gone, the value is dropped, once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_hooks_core::{AsyncResource, ContextFrame, StoreKey};

mod support;
use support::Counted;

fn counted(value: u32) -> (Counted, Arc<AtomicUsize>) {
    let drops = Arc::new(AtomicUsize::new(0));
    (Counted { value, drops: drops.clone() }, drops)
}

fn value_in(frame: &ContextFrame, key: StoreKey) -> Option<u32> {
    frame.get_as::<Counted>(key).map(|counted| counted.value)
}

fn current_value(key: StoreKey) -> Option<u32> {
    ContextFrame::with_current(|frame| value_in(frame, key))
}

#[test]
fn captures_dropped_inside_the_run_leave_the_value_to_the_run() {
    let key = StoreKey::allocate();
    let (value, drops) = counted(1);
    {
        let _entered = ContextFrame::enter_with_value(key, value);
        for _ in 0..10 {
            let capture = ContextFrame::current();
            assert_eq!(value_in(&capture, key), Some(1));
        }
        assert_eq!(drops.load(Ordering::Relaxed), 0);
        assert_eq!(current_value(key), Some(1));
    }
    assert_eq!(drops.load(Ordering::Relaxed), 1, "the run's end dropped the value, once");
    assert_eq!(current_value(key), None);
}

#[test]
fn more_captures_than_one_batch_of_spare_counts_all_keep_the_value() {
    let key = StoreKey::allocate();
    let (value, drops) = counted(2);
    let captures: Vec<ContextFrame> = {
        let _entered = ContextFrame::enter_with_value(key, value);
        // More than the slot takes at once (1024), so it takes several
        // batches; half are dropped inside the run and given back.
        let mut captures: Vec<ContextFrame> = (0..5000).map(|_| ContextFrame::current()).collect();
        captures.truncate(2500);
        captures
    };
    assert_eq!(drops.load(Ordering::Relaxed), 0, "2500 captures outlive the run");
    assert!(captures.iter().all(|capture| value_in(capture, key) == Some(2)));
    drop(captures);
    assert_eq!(drops.load(Ordering::Relaxed), 1);
}

#[test]
fn a_capture_moved_to_another_thread_outlives_the_run_and_drops_the_value_there() {
    let key = StoreKey::allocate();
    let (value, drops) = counted(3);
    let (go, wait_for_go) = std::sync::mpsc::channel::<()>();
    let other = {
        let _entered = ContextFrame::enter_with_value(key, value);
        let capture = ContextFrame::current();
        std::thread::spawn(move || {
            wait_for_go.recv().unwrap();
            assert_eq!(value_in(&capture, key), Some(3));
            drop(capture);
        })
    };
    assert_eq!(drops.load(Ordering::Relaxed), 0, "the other thread's capture keeps it");
    go.send(()).unwrap();
    other.join().unwrap();
    assert_eq!(drops.load(Ordering::Relaxed), 1);
}

#[test]
fn replacing_the_frame_releases_the_spare_counts_with_it() {
    let key = StoreKey::allocate();
    let (value, drops) = counted(4);
    ContextFrame::set_current(ContextFrame::empty().with_value(key, value));
    let capture = ContextFrame::current();
    // A resource made here captures the same frame.
    let resource = AsyncResource::new("Captures");
    ContextFrame::set_current(ContextFrame::empty());
    assert_eq!(drops.load(Ordering::Relaxed), 0, "the capture and the resource keep it");
    assert_eq!(resource.run_in_async_scope(|| current_value(key)), Some(4));
    drop(resource);
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    drop(capture);
    assert_eq!(drops.load(Ordering::Relaxed), 1, "nothing left in the slot keeps the value");
}

#[test]
fn a_capture_dropped_while_its_frame_is_current_again_is_released_with_the_slot() {
    let key = StoreKey::allocate();
    let (value, drops) = counted(5);
    let frame = ContextFrame::empty().with_value(key, value);
    let capture = frame.run(ContextFrame::current);
    {
        // The same frame, owned by the slot this time: the capture's count
        // is given back to the slot, which releases it when the frame goes.
        let _entered = frame.enter();
        drop(capture);
        assert_eq!(current_value(key), Some(5));
    }
    assert_eq!(drops.load(Ordering::Relaxed), 0, "`frame` still holds it");
    drop(frame);
    assert_eq!(drops.load(Ordering::Relaxed), 1);
}

#[test]
fn captures_inside_a_resource_scope_are_counted_clones_of_the_lent_frame() {
    let key = StoreKey::allocate();
    let (value, drops) = counted(6);
    let resource = {
        let _entered = ContextFrame::enter_with_value(key, value);
        AsyncResource::new("Captures")
    };
    // The scope lends the resource's frame to the thread: captures clone it.
    let captures: Vec<ContextFrame> = resource.run_in_async_scope(|| (0..3).map(|_| ContextFrame::current()).collect());
    drop(resource);
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    assert!(captures.iter().all(|capture| value_in(capture, key) == Some(6)));
    drop(captures);
    assert_eq!(drops.load(Ordering::Relaxed), 1);
}

#[test]
fn nested_runs_keep_each_frame_until_its_own_end() {
    let key = StoreKey::allocate();
    let (outer_value, outer_drops) = counted(7);
    let (inner_value, inner_drops) = counted(8);
    let _outer = ContextFrame::enter_with_value(key, outer_value);
    let outer_capture = ContextFrame::current();
    {
        let _inner = ContextFrame::enter_with_value(key, inner_value);
        let inner_capture = ContextFrame::current();
        assert_eq!(value_in(&inner_capture, key), Some(8));
        drop(outer_capture);
        assert_eq!(outer_drops.load(Ordering::Relaxed), 0, "the outer run is still open");
    }
    assert_eq!(inner_drops.load(Ordering::Relaxed), 1);
    assert_eq!(current_value(key), Some(7));
    drop(_outer);
    assert_eq!(outer_drops.load(Ordering::Relaxed), 1);
}
