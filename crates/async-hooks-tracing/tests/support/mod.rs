//! A `tracing` layer that records every span in memory, for assertions.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::ThreadId;

use async_hooks_core::AsyncId;
use tracing_core::Subscriber;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One span as the layer saw it.
#[derive(Clone, Debug, Default)]
pub struct SpanRecord {
    pub index: usize,
    pub name: &'static str,
    pub target: String,
    pub fields: BTreeMap<String, String>,
    pub parent: Option<usize>,
    pub follows_from: Vec<usize>,
    pub enters: Vec<ThreadId>,
    pub exits: Vec<ThreadId>,
    pub closed: bool,
}

impl SpanRecord {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct State {
    spans: Vec<SpanRecord>,
    live: HashMap<u64, usize>,
}

/// The recorded spans, shared with the layer.
#[derive(Clone, Default)]
pub struct Recorded(Arc<Mutex<State>>);

impl Recorded {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn spans(&self) -> Vec<SpanRecord> {
        self.lock().spans.clone()
    }

    /// The span of resource `id`.
    pub fn resource(&self, id: AsyncId) -> SpanRecord {
        let id = id.as_u64().to_string();
        self.spans()
            .into_iter()
            .find(|span| span.field("async_id") == Some(id.as_str()))
            .unwrap_or_else(|| panic!("no span for resource {id}"))
    }

    pub fn named(&self, name: &str) -> Vec<SpanRecord> {
        self.spans().into_iter().filter(|span| span.name == name).collect()
    }

    pub fn layer(&self) -> RecordingLayer {
        RecordingLayer(self.clone())
    }
}

/// The layer that fills a [`Recorded`].
pub struct RecordingLayer(Recorded);

struct FieldVisitor<'a>(&'a mut BTreeMap<String, String>);

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S> Layer<S> for RecordingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent_id = ctx.span(id).and_then(|span| span.parent().map(|parent| parent.id().into_u64()));
        let mut state = self.0.lock();
        let index = state.spans.len();
        let parent = parent_id.and_then(|parent| state.live.get(&parent).copied());
        let mut record = SpanRecord {
            index,
            name: attrs.metadata().name(),
            target: attrs.metadata().target().to_owned(),
            parent,
            ..SpanRecord::default()
        };
        attrs.record(&mut FieldVisitor(&mut record.fields));
        state.spans.push(record);
        state.live.insert(id.into_u64(), index);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut state = self.0.lock();
        if let Some(index) = state.live.get(&id.into_u64()).copied() {
            values.record(&mut FieldVisitor(&mut state.spans[index].fields));
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, _ctx: Context<'_, S>) {
        let mut state = self.0.lock();
        if let (Some(index), Some(follows)) =
            (state.live.get(&id.into_u64()).copied(), state.live.get(&follows.into_u64()).copied())
        {
            state.spans[index].follows_from.push(follows);
        }
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        let mut state = self.0.lock();
        if let Some(index) = state.live.get(&id.into_u64()).copied() {
            state.spans[index].enters.push(std::thread::current().id());
        }
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let mut state = self.0.lock();
        if let Some(index) = state.live.get(&id.into_u64()).copied() {
            state.spans[index].exits.push(std::thread::current().id());
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        let mut state = self.0.lock();
        if let Some(index) = state.live.remove(&id.into_u64()) {
            state.spans[index].closed = true;
        }
    }
}

/// Installs (once per test process) a global subscriber with the recording
/// layer and returns what it records.
pub fn install_global() -> Recorded {
    static RECORDED: OnceLock<Recorded> = OnceLock::new();
    RECORDED
        .get_or_init(|| {
            let recorded = Recorded::default();
            let subscriber = tracing_subscriber::registry().with(recorded.layer());
            tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in this test");
            recorded
        })
        .clone()
}
