//! A `destroy` on another thread while `TracingHooks` is inside a call into
//! `tracing` with a span's id (recording attributes on it, making a child
//! under it) leaves the close until that call is done: the subscriber never
//! gets the id of a span it has already closed.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use async_hooks_core::{AsyncId, AsyncResource, AsyncResourceOptions, Attribute};
use async_hooks_tracing::TracingHooks;
use tracing_core::span::{Attributes, Current, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::SubscriberExt;

/// The call a test pauses.
#[derive(Clone, Copy, PartialEq)]
enum Call {
    Record,
    NewChild,
}

/// A pause set up by a test: at the next `call`, tell `reached`, wait for
/// `go`, then note whether the span of `resource` was still open.
struct Pause {
    call: Call,
    resource: AsyncId,
    reached: Sender<()>,
    go: Receiver<()>,
}

struct Pauses {
    recorded: support::Recorded,
    armed: Mutex<Option<Pause>>,
    open_after_pause: AtomicBool,
}

impl Pauses {
    fn pause_at(&self, call: Call) {
        let mut armed = self.armed.lock().unwrap();
        if armed.as_ref().is_none_or(|pause| pause.call != call) {
            return;
        }
        let Some(pause) = armed.take() else { return };
        drop(armed);
        pause.reached.send(()).unwrap();
        pause.go.recv().unwrap();
        self.open_after_pause.store(!self.recorded.resource(pause.resource).closed, Ordering::SeqCst);
    }
}

/// Wraps the subscriber and pauses the armed call before passing it on, so
/// the subscriber sees it only after the test's `destroy`.
struct Pausing<S> {
    inner: S,
    pauses: &'static Pauses,
}

impl<S: Subscriber> Subscriber for Pausing<S> {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        if attrs.parent().is_some() {
            self.pauses.pause_at(Call::NewChild);
        }
        self.inner.new_span(attrs)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        self.pauses.pause_at(Call::Record);
        self.inner.record(span, values);
    }
    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner.record_follows_from(span, follows);
    }
    fn event(&self, event: &Event<'_>) {
        self.inner.event(event);
    }
    fn enter(&self, span: &Id) {
        self.inner.enter(span);
    }
    fn exit(&self, span: &Id) {
        self.inner.exit(span);
    }
    fn clone_span(&self, id: &Id) -> Id {
        self.inner.clone_span(id)
    }
    fn try_close(&self, id: Id) -> bool {
        self.inner.try_close(id)
    }
    fn current_span(&self) -> Current {
        self.inner.current_span()
    }
}

fn pauses() -> &'static Pauses {
    static PAUSES: OnceLock<&'static Pauses> = OnceLock::new();
    PAUSES.get_or_init(|| {
        let recorded = support::Recorded::default();
        let pauses: &'static Pauses =
            Box::leak(Box::new(Pauses { recorded, armed: Mutex::new(None), open_after_pause: AtomicBool::new(false) }));
        let inner = tracing_subscriber::registry().with(pauses.recorded.layer());
        tracing::subscriber::set_global_default(Pausing { inner, pauses }).expect("the only subscriber here");
        std::mem::forget(TracingHooks::builder().enable());
        pauses
    })
}

/// One test at a time: they share the pauses.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `call` on another thread, pauses it at `at`, destroys `resource`
/// meanwhile, lets the call go on, and returns whether the span of
/// `resource` was still open then.
fn destroy_during(at: Call, resource: &AsyncResource, call: impl FnOnce() + Send) -> bool {
    let pauses = pauses();
    let (reached, reached_rx) = channel();
    let (go_tx, go) = channel();
    *pauses.armed.lock().unwrap() = Some(Pause { call: at, resource: resource.async_id(), reached, go });
    pauses.open_after_pause.store(false, Ordering::SeqCst);
    std::thread::scope(|scope| {
        let caller = scope.spawn(call);
        // Bounded, so that a broken hook set (disabled after a fault, say)
        // fails the test instead of hanging it.
        reached_rx.recv_timeout(Duration::from_secs(20)).expect("the call reached the subscriber");
        resource.emit_destroy().unwrap();
        go_tx.send(()).unwrap();
        caller.join().unwrap();
    });
    pauses.open_after_pause.load(Ordering::SeqCst)
}

#[test]
fn a_destroy_during_a_record_closes_the_span_after_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let recorded = &pauses().recorded;
    let resource = AsyncResource::new("RecordedOn");
    let open = destroy_during(Call::Record, &resource, || resource.record(&[Attribute::new("pool.worker", 3_u64)]));
    assert!(open, "the span was closed before the record reached the subscriber");
    let span = recorded.resource(resource.async_id());
    assert_eq!(span.field("pool.worker"), Some("3"));
    assert!(span.closed, "closed once the record was done");
}

#[test]
fn a_destroy_while_a_child_is_made_under_its_span_closes_the_span_after_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let recorded = &pauses().recorded;
    let trigger = AsyncResource::new("Trigger");
    let options = AsyncResourceOptions { trigger_async_id: Some(trigger.async_id()), ..Default::default() };
    let child = Mutex::new(None);
    let open = destroy_during(Call::NewChild, &trigger, || {
        *child.lock().unwrap() = Some(AsyncResource::with_options("Child", options));
    });
    assert!(open, "the parent was closed before the child reached the subscriber");
    let child = child.into_inner().unwrap().expect("the child was made");
    assert_eq!(recorded.resource(child.async_id()).parent, Some(recorded.resource(trigger.async_id()).index));
    // A child keeps its parent open in the subscriber: both close with it.
    let child_id = child.async_id();
    drop(child);
    assert!(recorded.resource(child_id).closed);
    assert!(recorded.resource(trigger.async_id()).closed, "closed once its child was");
}
