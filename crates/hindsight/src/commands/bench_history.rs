//! `bench history`: time travel, in process, through the same code the
//! server answers with. One store of `--events` events in which one
//! stream (`acct-1`, `--subject-events` of them, spread evenly) is asked
//! about: as a stream document and as a partition of a JavaScript
//! projection. For each: the first question (which builds the index),
//! then state as of random points, blame and watch at random points.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use hindsight_projections::registry::{Registry, Settings};
use hindsight_store::{AppendPart, AsOf, EventReader, EventStore, ExpectedVersion, NewEvent};
use hindsight_timetravel::service::{Feed, Histories, HistoryError};
use hindsight_timetravel::streams::Streams;
use hindsight_timetravel::Predicate;
use serde_json::{json, Value};

use super::bench::BenchDir;
use super::open_store;
use crate::cli::BenchHistoryArgs;

const SOURCE: &str = r#"fromCategory('acct').foreachStream().when({
  $init: () => ({ balance: 0, status: 'new', count: 0 }),
  Changed: (s, e) => { s.balance = e.data.balance; s.status = e.data.status; s.count += 1; },
})"#;

/// Batches of 1,000 events, the subject's share of each in one part.
async fn fill(store: &hindsight_store_embedded::EmbeddedStore, events: u64, subject: u64) -> anyhow::Result<()> {
    let per_batch = (subject * 1000).div_ceil(events.max(1)).min(1000);
    super::bench::fill_with(store, events, 1000, |batch, n| {
        let mine = per_batch.min(n);
        let changed = (0..mine).map(|i| {
            let k = batch * per_batch + i;
            let status = ["open", "held", "closed"][(k % 3) as usize];
            NewEvent::new("Changed", json!({ "balance": (k % 2000) as i64 - 1000, "status": status, "n": k }))
        });
        let other = (0..n - mine).map(|i| NewEvent::new("Noted", json!({ "i": i, "note": "x".repeat(40) })));
        let mut parts = vec![AppendPart {
            stream: format!("other-{}", batch % 1000),
            expected: ExpectedVersion::Any,
            events: other.collect(),
        }];
        if mine > 0 {
            parts.push(AppendPart {
                stream: "acct-1".into(),
                expected: ExpectedVersion::Any,
                events: changed.collect(),
            });
        }
        parts.retain(|p| !p.events.is_empty());
        parts
    })
    .await
}

/// A small deterministic generator of points.
struct Points(u64);

impl Points {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Quantiles of latencies in ms.
fn figures(mut ms: Vec<f64>) -> Value {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms.get(((ms.len() as f64 * q) as usize).min(ms.len().saturating_sub(1))).copied().unwrap_or(0.0);
    let r = |x: f64| (x * 1000.0).round() / 1000.0;
    json!({ "p50_ms": r(at(0.5)), "p99_ms": r(at(0.99)), "p999_ms": r(at(0.999)), "max_ms": r(at(1.0)), "queries": ms.len() })
}

type Ask = Box<dyn FnOnce(&Histories, &str, &dyn Feed) -> Result<Value, HistoryError> + Send>;

/// Asks `make(point)` at `n` random points in `[low, head)` (from the
/// subject's first event: before it, it does not exist): the latencies'
/// figures.
async fn measure<F, Fut>(n: u64, (low, head): (u64, u64), seed: u64, ask: F) -> anyhow::Result<Value>
where
    F: Fn(Ask) -> Fut,
    Fut: std::future::Future<Output = Result<Value, HistoryError>>,
{
    let mut points = Points(seed);
    let mut state = Vec::new();
    let mut blame = Vec::new();
    let mut watch = Vec::new();
    let lt = Predicate::parse("lt", Some("-990")).map_err(anyhow::Error::msg)?;
    for _ in 0..n {
        let at = Some(AsOf::Position(low + points.below(head - low)));
        let started = Instant::now();
        ask(Box::new(move |h, key, feed| h.state(key, feed, at))).await?;
        state.push(started.elapsed().as_secs_f64() * 1e3);
        let started = Instant::now();
        ask(Box::new(move |h, key, feed| h.blame(key, feed, "/status", at, 10))).await?;
        blame.push(started.elapsed().as_secs_f64() * 1e3);
        let (lt, started) = (lt.clone(), Instant::now());
        ask(Box::new(move |h, key, feed| h.watch(key, feed, "/balance", &lt, at, true))).await?;
        watch.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(json!({ "state_at": figures(state), "blame": figures(blame), "watch": figures(watch) }))
}

fn storage(histories: &Histories) -> Value {
    let (subjects, events, bytes) = histories.stats();
    json!({ "subjects": subjects, "events": events, "bytes": bytes,
            "bytes_per_event": (bytes as f64 / events.max(1) as f64).round() })
}

/// A fork of the whole store (one event skipped): how long making it
/// takes, and the same questions on it.
async fn on_a_fork(reader: Arc<dyn EventReader>, (low, head): (u64, u64), queries: u64) -> anyhow::Result<Value> {
    let started = Instant::now();
    let fork = hindsight_timetravel::fork::ForkReader::new(reader, None, Default::default()).await?;
    let create_ms = started.elapsed().as_secs_f64() * 1e3;
    fork.skip(&[0]).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let fork: Arc<dyn EventReader> = Arc::new(fork);
    let streams = Streams::new(Default::default(), 16);
    let started = Instant::now();
    streams.ask(fork.clone(), "acct-1", |h, key, feed| h.state(key, feed, None)).await?;
    let build = started.elapsed().as_secs_f64();
    // Position 0 is skipped: every later position moves down by one.
    let asked = measure(queries, (low - 1, head - 1), 1, |f| streams.ask(fork.clone(), "acct-1", f)).await?;
    Ok(json!({
        "create_ms": (create_ms * 1000.0).round() / 1000.0, "index_build_seconds": build, "random_points": asked,
        "note": "a fork of the whole store with its first event skipped (in process, not persisted); the same stream document asked the same way",
    }))
}

pub async fn history(dir: Option<&Path>, args: BenchHistoryArgs) -> anyhow::Result<std::process::ExitCode> {
    let bench_dir = BenchDir::new(dir)?;
    let store = Arc::new(open_store(&bench_dir.path.join("store"))?);
    let started = Instant::now();
    fill(&store, args.events, args.subject_events).await?;
    let fill_seconds = started.elapsed().as_secs_f64();
    let head = store.next_position();
    let info = store.stream_info("acct-1", None).await?.ok_or_else(|| anyhow::anyhow!("no subject events"))?;
    let (subject_events, first) = (info.last_version + 1, info.first_position.max(1));
    let reader: Arc<dyn EventReader> = store.clone();

    // The stream document.
    let streams = Streams::new(Default::default(), 16);
    let started = Instant::now();
    streams.ask(reader.clone(), "acct-1", |h, key, feed| h.state(key, feed, None)).await?;
    let doc_build = started.elapsed().as_secs_f64();
    let doc = measure(args.queries, (first, head), 1, |f| streams.ask(reader.clone(), "acct-1", f)).await?;

    let fork = on_a_fork(reader.clone(), (first, head), args.queries).await?;

    // The projection partition: the live fold first, then time travel.
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let registry = Registry::open(
        bench_dir.path.join("projections"),
        dyn_store,
        tokio::runtime::Handle::current(),
        Settings::default(),
    )?;
    let started = Instant::now();
    registry.put("acct", SOURCE, "park", Default::default()).await?;
    while registry.info("acct")?.position.map_or(0, |p| p + 1) < head {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let live_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    registry.time("acct", "acct-1", None, None, |h, key, feed| h.state(key, feed, None)).await?;
    let partition_build = started.elapsed().as_secs_f64();
    let ask = |f: Ask| registry.time("acct", "acct-1", None, None, f);
    let partition = measure(args.queries, (first, head), 2, ask).await?;
    let out = json!({
        "workload": "time-travel",
        "events": head,
        "subject_events": subject_events,
        "fill_seconds": (fill_seconds * 100.0).round() / 100.0,
        "stream_document": {
            "index_build_seconds": doc_build, "index_build_events_per_sec": (subject_events as f64 / doc_build).round(),
            "random_points": doc, "storage": storage(streams.histories()),
        },
        "fork": fork,
        "projection_partition": {
            "live_fold_seconds": live_seconds, "live_fold_events_per_sec": (subject_events as f64 / live_seconds).round(),
            "index_build_seconds": partition_build,
            "index_build_events_per_sec": (subject_events as f64 / partition_build).round(),
            "random_points": partition, "storage": storage(registry.histories()),
        },
        "note": "in process through the code the server answers with (no HTTP); warm: each index is built by the first question (timed apart) and caught up after; the live projection does not build it",
    });
    registry.shutdown().await;
    println!("{out}");
    Ok(std::process::ExitCode::SUCCESS)
}
