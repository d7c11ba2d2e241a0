//! [`IdMap`]: a map from async id to a value, made for the span table's
//! shards.
//!
//! Async ids are handed out in increasing order (per thread, in blocks) and
//! most resources live briefly, so the live ids of a shard are mostly a
//! narrow, moving window. The map therefore keeps each value in the slot its
//! id indexes directly (no hashing, no probing), and only an id whose slot
//! a longer-lived one still holds goes to an overflow `HashMap`. When the
//! overflow grows, the slots double, up to [`MAX_SLOTS`].

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use async_hooks_core::AsyncId;

use crate::id_hasher::IdHasher;

/// Slots made at the first insert.
const INITIAL_SLOTS: usize = 16;

/// The most slots one map grows to.
pub(crate) const MAX_SLOTS: usize = 4096;

/// A map from async id to `V`: direct-mapped slots plus an overflow map.
pub(crate) struct IdMap<V> {
    /// Indexed by `(id >> shift) % slots.len()`; the length is zero or a
    /// power of two.
    slots: Vec<Option<(AsyncId, V)>>,
    overflow: HashMap<AsyncId, V, BuildHasherDefault<IdHasher>>,
    /// The low id bits that are the same for every id of this map (the
    /// shard index), skipped so that neighbouring ids of the shard take
    /// neighbouring slots.
    shift: u32,
    len: usize,
}

impl<V> IdMap<V> {
    /// An empty map for ids whose low `shift` bits are all the same.
    pub(crate) fn new(shift: u32) -> IdMap<V> {
        IdMap { slots: Vec::new(), overflow: HashMap::default(), shift, len: 0 }
    }

    #[inline]
    fn slot_index(&self, id: AsyncId) -> usize {
        (id.as_u64() >> self.shift) as usize & (self.slots.len() - 1)
    }

    /// Inserts `value` for `id`; returns the value it replaces.
    #[inline]
    pub(crate) fn insert(&mut self, id: AsyncId, value: V) -> Option<V> {
        if self.slots.is_empty() {
            self.slots.resize_with(INITIAL_SLOTS, || None);
        }
        let index = self.slot_index(id);
        let replaced = match &mut self.slots[index] {
            slot @ None => {
                *slot = Some((id, value));
                // An id is in one place only: drop an older copy from the
                // overflow (ids are not reused, so this is for robustness).
                if self.overflow.is_empty() { None } else { self.overflow.remove(&id) }
            }
            Some((held, held_value)) if *held == id => Some(std::mem::replace(held_value, value)),
            Some(_) => {
                let replaced = self.overflow.insert(id, value);
                if replaced.is_none() && self.overflow.len() > self.slots.len() / 2 && self.slots.len() < MAX_SLOTS {
                    self.len += 1;
                    self.grow();
                    return None;
                }
                replaced
            }
        };
        if replaced.is_none() {
            self.len += 1;
        }
        replaced
    }

    /// The value of `id`.
    #[inline]
    pub(crate) fn get(&self, id: AsyncId) -> Option<&V> {
        if self.slots.is_empty() {
            return None;
        }
        match &self.slots[self.slot_index(id)] {
            Some((held, value)) if *held == id => Some(value),
            _ if self.overflow.is_empty() => None,
            _ => self.overflow.get(&id),
        }
    }

    /// The value of `id`, to change.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: AsyncId) -> Option<&mut V> {
        if self.slots.is_empty() {
            return None;
        }
        let index = self.slot_index(id);
        match &mut self.slots[index] {
            Some((held, value)) if *held == id => Some(value),
            _ => self.overflow.get_mut(&id),
        }
    }

    /// Takes the value of `id` out.
    #[inline]
    pub(crate) fn remove(&mut self, id: AsyncId) -> Option<V> {
        if self.slots.is_empty() {
            return None;
        }
        let index = self.slot_index(id);
        let slot = &mut self.slots[index];
        let removed = if slot.as_ref().is_some_and(|(held, _)| *held == id) {
            slot.take().map(|(_, value)| value)
        } else if self.overflow.is_empty() {
            None
        } else {
            self.overflow.remove(&id)
        };
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    /// How many values the map holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Takes every value out.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = V> + '_ {
        self.len = 0;
        let slots = self.slots.iter_mut().filter_map(|slot| slot.take().map(|(_, value)| value));
        slots.chain(self.overflow.drain().map(|(_, value)| value))
    }

    /// Doubles the slots (or more, while the overflow stays large) and puts
    /// every value in its new place.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let mut entries: Vec<(AsyncId, V)> = self.slots.iter_mut().filter_map(Option::take).collect();
        entries.extend(self.overflow.drain());
        let n_slots = (self.slots.len() * 2).min(MAX_SLOTS);
        self.slots.clear();
        self.slots.resize_with(n_slots, || None);
        self.len = 0;
        for (id, value) in entries {
            // Cannot grow again: the overflow is at most what it was.
            let index = self.slot_index(id);
            match &mut self.slots[index] {
                slot @ None => *slot = Some((id, value)),
                Some(_) => {
                    self.overflow.insert(id, value);
                }
            }
            self.len += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Remove(u64),
        Get(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Ids of one shard (low 6 bits equal), some far apart so that they
        // share slots.
        let id = prop_oneof![0_u64..64, 0_u64..100_000].prop_map(|n| n << 6 | 5);
        prop_oneof![id.clone().prop_map(Op::Insert), id.clone().prop_map(Op::Remove), id.prop_map(Op::Get)]
    }

    proptest! {
        #[test]
        fn the_map_agrees_with_a_hash_map(ops in proptest::collection::vec(op(), 0..400)) {
            let mut map = IdMap::new(6);
            let mut model = HashMap::new();
            for (step, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Insert(raw) => {
                        let id = AsyncId::from_u64(raw);
                        prop_assert_eq!(map.insert(id, step), model.insert(id, step));
                    }
                    Op::Remove(raw) => {
                        let id = AsyncId::from_u64(raw);
                        prop_assert_eq!(map.remove(id), model.remove(&id));
                    }
                    Op::Get(raw) => {
                        let id = AsyncId::from_u64(raw);
                        prop_assert_eq!(map.get(id), model.get(&id));
                        prop_assert_eq!(map.get_mut(id).copied(), model.get(&id).copied());
                    }
                }
                prop_assert_eq!(map.len(), model.len());
            }
            let mut drained: Vec<usize> = map.drain().collect();
            let mut expected: Vec<usize> = model.into_values().collect();
            drained.sort_unstable();
            expected.sort_unstable();
            prop_assert_eq!(drained, expected);
            prop_assert_eq!(map.len(), 0);
        }
    }

    #[test]
    fn many_long_lived_ids_grow_the_slots() {
        let mut map = IdMap::new(0);
        for raw in 0..10_000_u64 {
            map.insert(AsyncId::from_u64(raw), raw);
        }
        assert_eq!(map.len(), 10_000);
        assert_eq!(map.slots.len(), MAX_SLOTS);
        for raw in 0..10_000_u64 {
            assert_eq!(map.get(AsyncId::from_u64(raw)), Some(&raw));
        }
    }
}
