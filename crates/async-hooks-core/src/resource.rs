//! [`Resource`]: what hooks and `execution_async_resource()` see of an async
//! resource.

use std::fmt;
use std::panic::Location;

use crate::{AsyncId, Attribute, AttributeSet, AttributeValue};

/// A cheap, cloneable description of an async resource: its ids, its type,
/// where it was created, and the attributes it was created with.
///
/// Hooks receive one in [`init`](crate::Hooks::init);
/// [`execution_async_resource`](crate::execution_async_resource) returns the
/// current one.
///
/// # Examples
///
/// ```
/// use async_hooks_core::{AsyncResource, execution_async_resource};
///
/// let resource = AsyncResource::new("Query");
/// resource.run_in_async_scope(|| {
///     let current = execution_async_resource().expect("inside a scope");
///     assert_eq!(current.id(), resource.async_id());
///     assert_eq!(current.resource_type(), "Query");
///     assert_eq!(current.location().file(), file!());
/// });
/// assert!(execution_async_resource().is_none());
/// ```
#[derive(Clone)]
pub struct Resource {
    id: AsyncId,
    trigger: AsyncId,
    resource_type: &'static str,
    location: &'static Location<'static>,
    attributes: Option<AttributeSet>,
}

impl Resource {
    pub(crate) fn new(
        id: AsyncId,
        trigger: AsyncId,
        resource_type: &'static str,
        location: &'static Location<'static>,
        attributes: Option<AttributeSet>,
    ) -> Resource {
        Resource { id, trigger, resource_type, location, attributes }
    }

    /// The resource's async id.
    #[inline]
    pub fn id(&self) -> AsyncId {
        self.id
    }

    /// The id of the resource in whose execution this one was created.
    #[inline]
    pub fn trigger_async_id(&self) -> AsyncId {
        self.trigger
    }

    /// The resource's type, such as `"WorkerPoolTask"`.
    #[inline]
    pub fn resource_type(&self) -> &'static str {
        self.resource_type
    }

    /// Where the resource was created (`#[track_caller]` through every
    /// constructor).
    #[inline]
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The attributes the resource was created with.
    #[inline]
    pub fn attributes(&self) -> &[Attribute] {
        self.attributes.as_ref().map_or(&[], AttributeSet::as_slice)
    }

    /// Whether the resource holds an attribute set (which dropping it
    /// releases).
    #[inline]
    pub(crate) fn has_attributes(&self) -> bool {
        self.attributes.is_some()
    }

    /// The value of the attribute named `key`, if the resource has one.
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.attributes().iter().find(|attribute| attribute.key() == key).map(Attribute::value)
    }
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("id", &self.id.as_u64())
            .field("trigger", &self.trigger.as_u64())
            .field("type", &self.resource_type)
            .field("location", &format_args!("{}", self.location))
            .field("attributes", &self.attributes())
            .finish()
    }
}
