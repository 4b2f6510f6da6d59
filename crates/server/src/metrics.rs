//! Prometheus metrics: HTTP requests by route and status (a middleware),
//! append latency, reads and subscriptions (the handlers), and the store's
//! own totals and histograms (asked for at scrape time).

use std::fmt::Write;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use hindsight_store::StoreStatus;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The process-wide recorder (installed once, shared by every server in
/// the process).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); then this
            // handle still renders what it records.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Counts and times every request by matched route and status.
pub async fn track(req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("hindsight_http_requests_total", &labels).increment(1);
    metrics::histogram!("hindsight_http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

/// The store's totals and histograms in Prometheus text format.
type Summary = hindsight_projections::registry::Summary;
/// A gauge: its name, help and value.
type Gauge = (&'static str, &'static str, fn(&Summary) -> f64);

/// Every projection's lag, status, rate and parked events.
pub fn render_projections(summaries: &[Summary], out: &mut String) {
    let gauges: [Gauge; 4] = [
        ("hindsight_projection_lag_events", "Events of the log a projection has not taken into account yet.", |s| {
            s.lag_events as f64
        }),
        ("hindsight_projection_lag_seconds", "Time since a projection last had the whole log.", |s| s.lag_seconds),
        ("hindsight_projection_events_per_second", "A projection's recent rate.", |s| s.events_per_sec),
        ("hindsight_projection_parked_events", "Events a projection set aside.", |s| s.parked as f64),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for s in summaries {
            let _ = writeln!(out, "{name}{{projection=\"{}\"}} {}", s.name, value(s));
        }
    }
    let _ = writeln!(out, "# HELP hindsight_projection_status 1 for a projection's current status.\n# TYPE hindsight_projection_status gauge");
    for s in summaries {
        let _ = writeln!(out, "hindsight_projection_status{{projection=\"{}\",status=\"{}\"}} 1", s.name, s.status);
    }
}

pub fn render_store(status: &StoreStatus, out: &mut String) {
    let _ = writeln!(out, "# HELP hindsight_store_events Events stored.\n# TYPE hindsight_store_events gauge");
    let _ = writeln!(out, "hindsight_store_events{{store=\"{}\"}} {}", status.kind, status.events);
    let _ = writeln!(out, "# HELP hindsight_store_streams Streams stored.\n# TYPE hindsight_store_streams gauge");
    let _ = writeln!(out, "hindsight_store_streams{{store=\"{}\"}} {}", status.kind, status.streams);
    let _ = writeln!(
        out,
        "# HELP hindsight_store_writable 1 while the store accepts writes.\n# TYPE hindsight_store_writable gauge"
    );
    let _ = writeln!(out, "hindsight_store_writable {}", u8::from(status.refusing_writes.is_none()));
    for (name, help, value) in &status.counters {
        let _ = writeln!(out, "# HELP {name} {help}.\n# TYPE {name} counter\n{name} {value}");
    }
    for h in &status.histograms {
        let _ = writeln!(out, "# HELP {} {}.\n# TYPE {} histogram", h.name, h.help, h.name);
        for (bound, count) in h.bounds.iter().zip(&h.cumulative_counts) {
            let le = if bound.is_infinite() { "+Inf".to_string() } else { bound.to_string() };
            let _ = writeln!(out, "{}_bucket{{le=\"{le}\"}} {count}", h.name);
        }
        let _ = writeln!(out, "{}_sum {}\n{}_count {}", h.name, h.sum, h.name, h.count);
    }
}
