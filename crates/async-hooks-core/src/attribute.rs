//! Attributes: facts about a resource that subscribers may read.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A key/value fact about an async resource, such as a pool task's worker
/// index or queue wait.
///
/// Attributes given at creation reach hooks through
/// [`Resource::attributes`](crate::Resource::attributes); facts learned later
/// reach them through the [`record`](crate::Hooks::record) event.
///
/// # Examples
///
/// ```
/// use async_hooks_core::{Attribute, AttributeValue};
///
/// let attribute = Attribute::new("pool.worker", 3_u64);
/// assert_eq!(attribute.key(), "pool.worker");
/// assert_eq!(attribute.value(), &AttributeValue::U64(3));
/// assert_eq!(attribute.to_string(), "pool.worker=3");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    key: &'static str,
    value: AttributeValue,
}

impl Attribute {
    /// An attribute named `key`.
    pub fn new(key: &'static str, value: impl Into<AttributeValue>) -> Attribute {
        Attribute { key, value: value.into() }
    }

    /// The attribute's name.
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// The attribute's value.
    pub fn value(&self) -> &AttributeValue {
        &self.value
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// The value of an [`Attribute`].
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    /// A flag.
    Bool(bool),
    /// A signed number.
    I64(i64),
    /// An unsigned number (counts, indices, durations in a stated unit).
    U64(u64),
    /// A real number.
    F64(f64),
    /// Text.
    Str(Cow<'static, str>),
}

impl fmt::Display for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::Bool(value) => fmt::Display::fmt(value, f),
            AttributeValue::I64(value) => fmt::Display::fmt(value, f),
            AttributeValue::U64(value) => fmt::Display::fmt(value, f),
            AttributeValue::F64(value) => fmt::Display::fmt(value, f),
            AttributeValue::Str(value) => fmt::Display::fmt(value, f),
        }
    }
}

impl From<bool> for AttributeValue {
    fn from(value: bool) -> Self {
        AttributeValue::Bool(value)
    }
}

impl From<i64> for AttributeValue {
    fn from(value: i64) -> Self {
        AttributeValue::I64(value)
    }
}

impl From<u64> for AttributeValue {
    fn from(value: u64) -> Self {
        AttributeValue::U64(value)
    }
}

impl From<usize> for AttributeValue {
    fn from(value: usize) -> Self {
        AttributeValue::U64(value as u64)
    }
}

impl From<f64> for AttributeValue {
    fn from(value: f64) -> Self {
        AttributeValue::F64(value)
    }
}

impl From<&'static str> for AttributeValue {
    fn from(value: &'static str) -> Self {
        AttributeValue::Str(Cow::Borrowed(value))
    }
}

impl From<String> for AttributeValue {
    fn from(value: String) -> Self {
        AttributeValue::Str(Cow::Owned(value))
    }
}

/// A list of attributes shared by many resources, such as every task of one
/// pool: built once, attached to each resource with one reference-count
/// increment instead of an allocation.
///
/// # Examples
///
/// ```
/// use async_hooks_core::{AsyncResource, Attribute, AttributeSet};
///
/// let pool_attributes = AttributeSet::new([Attribute::new("pool.name", "images")]);
/// let task = AsyncResource::builder("WorkerPoolTask").attribute_set(pool_attributes.clone()).build();
/// assert_eq!(task.resource().attributes(), pool_attributes.as_slice());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttributeSet(Arc<Vec<Attribute>>);

impl AttributeSet {
    /// A set of `attributes`.
    pub fn new(attributes: impl IntoIterator<Item = Attribute>) -> AttributeSet {
        AttributeSet(Arc::new(attributes.into_iter().collect()))
    }

    /// The attributes.
    pub fn as_slice(&self) -> &[Attribute] {
        &self.0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many handles share the set (for tests of its release).
    #[cfg(test)]
    pub(crate) fn handles(&self) -> usize {
        Arc::strong_count(&self.0)
    }
}
