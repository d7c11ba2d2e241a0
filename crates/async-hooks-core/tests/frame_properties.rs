//! Property test of the current-frame slot: random nestings of owned
//! frames (`enter_with_value`), lent frames (`ContextFrame::run`, resource
//! scopes, unguarded scopes), `set_current`, captures and releases of
//! captures always show the value a simple stack model predicts, and every
//! value is dropped exactly once, after its last frame is gone. The slot
//! mixes owned and lent handles and keeps spare counts of its owned frame
//! (which captures take and dropped captures give back); this checks that
//! no lent copy is ever released and no owned one or spare count leaked.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_hooks_core::{AsyncResource, ContextFrame, StoreKey};
use proptest::prelude::*;

mod support;
use support::Counted;

#[derive(Clone, Debug)]
enum Op {
    /// `enter_with_value` for the length of `body` (what `run` does).
    Run(u32, Vec<Op>),
    /// A resource created here; `body` runs in its scope.
    Scope(Vec<Op>),
    /// A resource created here; `body` runs between its embedder-API
    /// `emit_before` and `emit_after` (no guard).
    Embedder(Vec<Op>),
    /// A resource created here; `body` runs between `enter_unguarded` and
    /// `exit_unguarded`.
    Unguarded(Vec<Op>),
    /// Captures the current frame into the next capture slot.
    Capture,
    /// Drops capture number `index` (modulo the count), here.
    Release(usize),
    /// Runs `body` inside capture number `index` (modulo the count), lent.
    Lend(usize, Vec<Op>),
    /// `set_current` with a new value, for the rest of the enclosing scope.
    SetCurrent(u32),
    /// Reads the current value and compares it with the model.
    Check,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let leaf = prop_oneof![
        Just(Op::Capture),
        (0..8_usize).prop_map(Op::Release),
        (0..1000_u32).prop_map(Op::SetCurrent),
        Just(Op::Check)
    ];
    let op = leaf.prop_recursive(4, 48, 4, |inner| {
        prop_oneof![
            ((0..1000_u32), prop::collection::vec(inner.clone(), 0..4)).prop_map(|(value, body)| Op::Run(value, body)),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Op::Scope),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Op::Embedder),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Op::Unguarded),
            ((0..8_usize), prop::collection::vec(inner, 0..4)).prop_map(|(index, body)| Op::Lend(index, body)),
        ]
    });
    prop::collection::vec(op, 0..8)
}

struct Harness {
    key: StoreKey,
    drops: Arc<AtomicUsize>,
    created: usize,
    captures: Vec<(ContextFrame, Option<u32>)>,
}

impl Harness {
    fn value(&mut self, value: u32) -> Counted {
        self.created += 1;
        Counted { value, drops: self.drops.clone() }
    }

    fn current(&self) -> Option<u32> {
        ContextFrame::with_current(|frame| frame.get_as::<Counted>(self.key).map(|counted| counted.value))
    }

    /// Runs `ops` with `model` as the value the model says is current;
    /// returns the model's current value after them (changed only by
    /// `SetCurrent` at this level).
    fn run(&mut self, ops: &[Op], mut model: Option<u32>) -> Option<u32> {
        for op in ops {
            match op {
                Op::Run(value, body) => {
                    let counted = self.value(*value);
                    let _entered = ContextFrame::enter_with_value(self.key, counted);
                    self.run(body, Some(*value));
                }
                Op::Scope(body) => {
                    let resource = AsyncResource::new("Property");
                    resource.run_in_async_scope(|| self.run(body, model));
                }
                Op::Embedder(body) => {
                    let resource = AsyncResource::new("Property");
                    resource.emit_before();
                    self.run(body, model);
                    resource.emit_after();
                }
                Op::Unguarded(body) => {
                    let resource = AsyncResource::new("Property");
                    // SAFETY: `resource` lives until after the exit below,
                    // and every scope `body` opens is closed before it
                    // returns (guards end with their calls; embedder and
                    // unguarded scopes are closed by their own ops).
                    let scope = unsafe { resource.enter_unguarded() };
                    self.run(body, model);
                    // SAFETY: the scope from above, on this thread.
                    unsafe { resource.exit_unguarded(scope) };
                }
                Op::Capture => self.captures.push((ContextFrame::current(), model)),
                Op::Release(index) => {
                    if !self.captures.is_empty() {
                        let (frame, captured) = self.captures.swap_remove(index % self.captures.len());
                        let seen = frame.get_as::<Counted>(self.key).map(|counted| counted.value);
                        assert_eq!(seen, captured, "a capture kept its value until released");
                        drop(frame);
                    }
                }
                Op::Lend(index, body) => {
                    if self.captures.is_empty() {
                        continue;
                    }
                    let (frame, captured) = self.captures[index % self.captures.len()].clone();
                    frame.run(|| self.run(body, captured));
                }
                Op::SetCurrent(value) => {
                    let counted = self.value(*value);
                    ContextFrame::set_current(ContextFrame::current().with_value(self.key, counted));
                    model = Some(*value);
                }
                Op::Check => assert_eq!(self.current(), model),
            }
            assert_eq!(self.current(), model, "after {op:?}");
            assert!(self.drops.load(Ordering::Relaxed) <= self.created, "a value was dropped twice");
        }
        model
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn the_slot_shows_the_model_value_and_drops_each_value_once(ops in ops()) {
        // A failed case (while shrinking) may have left a frame behind.
        ContextFrame::set_current(ContextFrame::empty());
        let drops = Arc::new(AtomicUsize::new(0));
        let mut harness = Harness { key: StoreKey::allocate(), drops: drops.clone(), created: 0, captures: Vec::new() };
        let model = harness.run(&ops, None);
        prop_assert_eq!(harness.current(), model);
        let created = harness.created;
        drop(harness);
        ContextFrame::set_current(ContextFrame::empty());
        prop_assert_eq!(drops.load(Ordering::Relaxed), created, "every value dropped exactly once");
    }
}
