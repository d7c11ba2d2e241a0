//! Property test: random nestings of scopes, creations, drops, manual
//! destroys and panics keep the stack and every resource's event invariant.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use async_hooks_core::{AsyncId, AsyncResource, create_hook, execution_async_id, execution_async_resource};
use proptest::prelude::*;
use support::{Event, Recorder, serial};

#[derive(Clone, Debug)]
enum Op {
    /// Create a resource in the current scope.
    Create,
    /// Run the ops inside a scope of resource `index % live`.
    Enter(usize, Vec<Op>),
    /// Drop resource `index % live`.
    Drop(usize),
    /// `emit_destroy` on resource `index % live` (twice, to hit the error).
    Destroy(usize),
    /// Panic inside a scope of resource `index % live`, caught outside it.
    PanicIn(usize),
}

/// The open scope: its execution id, and its resource's (`None` at the root).
fn current_scope() -> (AsyncId, Option<AsyncId>) {
    (execution_async_id(), execution_async_resource().map(|resource| resource.id()))
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let leaf = prop_oneof![
        Just(Op::Create),
        any::<usize>().prop_map(Op::Drop),
        any::<usize>().prop_map(Op::Destroy),
        any::<usize>().prop_map(Op::PanicIn),
    ];
    let op = leaf.prop_recursive(4, 64, 8, |inner| {
        (any::<usize>(), prop::collection::vec(inner, 0..8)).prop_map(|(index, body)| Op::Enter(index, body))
    });
    prop::collection::vec(op, 1..24)
}

fn run(ops: &[Op], live: &mut Vec<AsyncResource>) {
    for op in ops {
        match op {
            Op::Create => live.push(AsyncResource::new("Prop")),
            Op::Drop(index) if !live.is_empty() => {
                let index = index % live.len();
                drop(live.swap_remove(index));
            }
            Op::Destroy(index) if !live.is_empty() => {
                let resource = &live[index % live.len()];
                let first = resource.emit_destroy();
                assert!(resource.emit_destroy().is_err(), "a second destroy is an error");
                let _ = first;
            }
            Op::Enter(index, body) if !live.is_empty() => {
                // Take the resource out so the body may drop others freely.
                let resource = live.swap_remove(index % live.len());
                let before = current_scope();
                resource.run_in_async_scope(|| {
                    assert_eq!(execution_async_id(), resource.async_id());
                    run(body, live);
                    assert_eq!(execution_async_id(), resource.async_id());
                });
                assert_eq!(current_scope(), before);
                live.push(resource);
            }
            Op::PanicIn(index) if !live.is_empty() => {
                let resource = &live[index % live.len()];
                let before = current_scope();
                let outcome = catch_unwind(AssertUnwindSafe(|| resource.run_in_async_scope(|| panic!("prop panic"))));
                assert!(outcome.is_err());
                assert_eq!(current_scope(), before);
            }
            _ => {}
        }
    }
}

/// Replays the events: `before`/`after` must nest like a stack, nothing
/// may follow `destroy`, every resource starts with `init`.
fn check(events: &[Event]) -> Result<(), String> {
    use std::collections::{HashMap, HashSet};
    let mut open: Vec<AsyncId> = Vec::new();
    let mut inited = HashSet::new();
    let mut destroyed = HashMap::new();
    for (position, event) in events.iter().enumerate() {
        let id = event.id();
        if destroyed.contains_key(&id) {
            return Err(format!("event {event:?} at {position} after destroy"));
        }
        match event {
            Event::Init { .. } if !inited.insert(id) => return Err(format!("second init of {id}")),
            Event::Init { .. } => {}
            _ if !inited.contains(&id) => return Err(format!("{event:?} before init")),
            Event::Before(_) => open.push(id),
            Event::After(_) if open.pop() != Some(id) => {
                return Err(format!("after({id}) does not match the innermost before"));
            }
            Event::Destroy(_) => {
                destroyed.insert(id, position);
            }
            _ => {}
        }
    }
    if !open.is_empty() {
        return Err(format!("scopes left open: {open:?}"));
    }
    if inited.len() != destroyed.len() {
        return Err(format!("{} resources, {} destroyed", inited.len(), destroyed.len()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_keep_the_stack_and_event_invariants(program in ops()) {
        let _serial = serial();
        // Panics are expected; keep the output readable.
        let previous_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let recorder = Recorder::new();
        let hook = create_hook(recorder.clone());
        hook.enable();
        let mut live = Vec::new();
        run(&program, &mut live);
        drop(live);
        hook.disable();
        std::panic::set_hook(previous_hook);
        prop_assert_eq!(current_scope(), (AsyncId::ROOT, None));
        prop_assert_eq!(execution_async_id(), AsyncId::ROOT);
        let checked = check(&recorder.events());
        prop_assert!(checked.is_ok(), "{:?}", checked);
    }
}
