//! Field values of a resource span: from [`AttributeValue`]s to a `tracing`
//! [`ValueSet`].

use std::fmt::Write as _;

use async_hooks_core::{Attribute, AttributeValue};
use tracing_core::field::{Field, Value, ValueSet};

use crate::callsite::{CATCH_ALL, ResourceCallsite};

/// One field's value, borrowed for the duration of one span creation or
/// record.
#[derive(Clone, Copy)]
pub(crate) enum Slot<'a> {
    Empty,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(&'a str),
}

impl<'a> From<&'a AttributeValue> for Slot<'a> {
    fn from(value: &'a AttributeValue) -> Slot<'a> {
        match value {
            AttributeValue::Bool(value) => Slot::Bool(*value),
            AttributeValue::I64(value) => Slot::I64(*value),
            AttributeValue::U64(value) => Slot::unsigned(*value),
            AttributeValue::F64(value) => Slot::F64(*value),
            AttributeValue::Str(value) => Slot::Str(value),
        }
    }
}

impl Slot<'_> {
    /// An unsigned number, as a signed one when it fits: OpenTelemetry has
    /// only 64-bit signed integers, and tracing-opentelemetry records `u64`
    /// fields as text.
    pub(crate) fn unsigned(value: u64) -> Slot<'static> {
        match i64::try_from(value) {
            Ok(signed) => Slot::I64(signed),
            Err(_) => Slot::U64(value),
        }
    }

    pub(crate) fn as_value(&self) -> Option<&dyn Value> {
        match self {
            Slot::Empty => None,
            Slot::Bool(value) => Some(value),
            Slot::I64(value) => Some(value),
            Slot::U64(value) => Some(value),
            Slot::F64(value) => Some(value),
            Slot::Str(value) => Some(value),
        }
    }
}

/// The values of one span creation or record, by field index: `N` is
/// [`FIXED_FIELDS`](crate::callsite::FIXED_FIELDS)`.len()` for callsites
/// without extra fields (the common case, and a smaller copy), else
/// [`MAX_FIELDS`](crate::callsite::MAX_FIELDS).
pub(crate) struct Slots<'a, const N: usize> {
    slots: [Slot<'a>; N],
}

impl<'a, const N: usize> Slots<'a, N> {
    pub(crate) fn new() -> Slots<'a, N> {
        Slots { slots: [Slot::Empty; N] }
    }

    /// Puts each attribute in its declared field; returns whether any has
    /// none (those are for [`append_undeclared`]).
    pub(crate) fn fill(&mut self, callsite: &ResourceCallsite, attributes: &'a [Attribute]) -> bool {
        let mut any_undeclared = false;
        for attribute in attributes {
            match callsite.index_of(attribute.key()) {
                Some(index) => self.slots[index] = Slot::from(attribute.value()),
                None => any_undeclared = true,
            }
        }
        any_undeclared
    }

    pub(crate) fn set(&mut self, index: usize, slot: Slot<'a>) {
        self.slots[index] = slot;
    }

    /// Records `text` in the catch-all field.
    pub(crate) fn set_catch_all(&mut self, text: &'a str) {
        self.slots[CATCH_ALL] = Slot::Str(text);
    }

    /// The `(field, value)` pairs for a [`ValueSet`] of `callsite`. Indices
    /// past the callsite's fields repeat its first field with no value, which
    /// a `ValueSet` skips.
    pub(crate) fn pairs<'s>(
        &'s self,
        callsite: &'static ResourceCallsite,
    ) -> [(&'static Field, Option<&'s dyn Value>); N] {
        let fields = callsite.fields();
        std::array::from_fn(|index| match fields.get(index) {
            Some(field) => (field, self.slots[index].as_value()),
            None => (&fields[0], None),
        })
    }
}

/// Appends `key=value` for each attribute of `attributes` without a declared
/// field on `callsite` to `text`, comma-separated.
pub(crate) fn append_undeclared(text: &mut String, callsite: &ResourceCallsite, attributes: &[Attribute]) {
    for attribute in attributes.iter().filter(|attribute| callsite.index_of(attribute.key()).is_none()) {
        if !text.is_empty() {
            text.push_str(", ");
        }
        let _ = write!(text, "{attribute}");
    }
}

/// The value set of `pairs` on `callsite`.
pub(crate) fn value_set<'v, const N: usize>(
    callsite: &'static ResourceCallsite,
    pairs: &'v [(&'static Field, Option<&'v dyn Value>); N],
) -> ValueSet<'v> {
    callsite.metadata().fields().value_set(pairs)
}
