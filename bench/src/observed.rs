//! The observability contenders of the 4 KiB read row: the same aiofs guest on stores
//! observed more and more, measured in one run (issue 12's overhead goal).

use crate::report::Contender;
use aiofs_host::{AioFsCtx, AioFsCtxBuilder, Audit};
use std::sync::Arc;
use tracing::instrument::WithSubscriber;

/// How a contender's guest run is observed beyond its store's settings.
pub enum Observe {
    /// Nothing more.
    Plain,
    /// Every span of the run goes to a subscriber that formats it (into a sink), and the
    /// audit channel is drained by a thread.
    Traced(tracing::Dispatch, std::thread::JoinHandle<()>),
}

/// The store of `who`: no metrics export, metrics to a Prometheus recorder of its own, or
/// that plus spans and an audit channel recording mutations.
pub fn ctx(builder: AioFsCtxBuilder, who: Contender) -> (AioFsCtx, Observe) {
    let prometheus =
        || Arc::new(metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder());
    match who {
        Contender::AiofsBare => (builder.metrics(false).build(), Observe::Plain),
        Contender::AiofsMetrics => (
            builder.metrics_recorder(prometheus()).build(),
            Observe::Plain,
        ),
        Contender::AiofsTraced => {
            let (audit, rx) = Audit::channel_with_mutations(4096);
            let drain = std::thread::spawn(move || while rx.recv().is_some() {});
            let ctx = builder.metrics_recorder(prometheus()).audit(audit).build();
            (ctx, Observe::Traced(dispatch(), drain))
        }
        other => unreachable!("{other:?} is not an observability contender"),
    }
}

/// A subscriber that formats every `aiofs` span when it closes, into a sink.
fn dispatch() -> tracing::Dispatch {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::fmt::format::FmtSpan;
    use tracing_subscriber::prelude::*;
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_span_events(FmtSpan::CLOSE),
        )
        .with(Targets::new().with_target("aiofs", LevelFilter::DEBUG));
    tracing::Dispatch::new(subscriber)
}

impl Observe {
    /// Run `fut` observed as configured.
    pub async fn run<T>(self, fut: impl Future<Output = T>) -> T {
        match self {
            Observe::Plain => fut.await,
            Observe::Traced(dispatch, drain) => {
                let out = fut.with_subscriber(dispatch).await;
                // Detached: it ends when the store's last audit sender goes.
                drop(drain);
                out
            }
        }
    }
}
