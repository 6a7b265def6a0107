//! Capturing tracing output in tests, without tracing's process-wide call-site cache
//! getting in the way.
//!
//! tracing caches, per call site and for the whole process, whether any subscriber wants
//! it, and the answer depends on which thread first reached the call site and on the
//! thread-local subscribers alive at that instant: with a thread-local subscriber per test
//! (`set_default`), an event could stay cached as off while another test ran in parallel
//! (a call site first reached on a thread without a subscriber, once only dead thread-local
//! subscribers were registered, is cached as never). So the lib tests install one global
//! subscriber, once, that wants every call site, and route what it sees to the sink the
//! current thread set: the cache is then always "on", whatever the order tests run in.

use std::cell::Cell;
use std::sync::Once;
use tracing_subscriber::layer::SubscriberExt;

/// What a test collects from the spans and events on its own thread.
pub(super) trait Sink: Sync {
    /// A span was opened.
    fn on_new_span(&self, _attrs: &tracing::span::Attributes<'_>) {}
    /// An event was recorded.
    fn on_event(&self, _event: &tracing::Event<'_>) {}
}

thread_local! {
    static SINK: Cell<Option<&'static dyn Sink>> = const { Cell::new(None) };
}

/// Routes every span and event to the current thread's sink, if any.
struct Route;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Route {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(sink) = SINK.with(Cell::get) {
            sink.on_new_span(attrs);
        }
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(sink) = SINK.with(Cell::get) {
            sink.on_event(event);
        }
    }
}

/// While this lives, the current thread's spans and events go to its sink.
pub(super) struct Capture(());

impl Drop for Capture {
    fn drop(&mut self) {
        SINK.with(|s| s.set(None));
    }
}

/// Send this thread's spans and events to `sink` until the guard drops (installing the
/// global subscriber on first use).
pub(super) fn capture(sink: &'static dyn Sink) -> Capture {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Route))
            .expect("no other global subscriber in the lib tests");
        tracing::callsite::rebuild_interest_cache();
    });
    SINK.with(|s| s.set(Some(sink)));
    Capture(())
}
