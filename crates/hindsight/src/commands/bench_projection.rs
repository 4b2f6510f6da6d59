//! `bench projection`: rebuilding projections from the log, in process.
//! One log of order events (Placed, Paid, Cancelled over `--streams`
//! order streams, ~100-byte data); a Rust fold (events and data bytes per
//! stream), the JavaScript per-stream order totals through the runner, and
//! in the same run the same JavaScript handlers in a bare QuickJS loop, the
//! yardstick the runtime is held to.

use std::path::Path;
use std::time::Instant;

use hindsight_projections::js::parallel::ParallelJsFold;
use hindsight_projections::js::{baseline, JsFold, Limits};
use hindsight_projections::{builtin::StreamCounts, FailurePolicy, Fold, Runner};
use hindsight_store::{AppendPart, EventReader, ExpectedVersion, NewEvent, ReadAll};
use serde_json::json;

use super::bench::{cpu_seconds, BenchDir};
use super::open_store;
use crate::cli::BenchProjectionArgs;

/// The handlers of the JavaScript fold (the object given to `.when`).
const ORDER_HANDLERS: &str = r#"{
  $init: () => ({ total: 0, items: 0, status: 'new' }),
  Placed: (s, e) => { s.total += e.data.total; s.items += 1; s.status = 'placed'; },
  Paid: (s, e) => { s.status = 'paid'; s.paid_at = e.timestamp; },
  Cancelled: (s, e) => ({ ...s, status: 'cancelled' }),
}"#;

/// Appends `events` order events in batches of 1,000 (one stream each).
async fn fill_orders(store: &hindsight_store_embedded::EmbeddedStore, events: u64, streams: u64) -> anyhow::Result<()> {
    let first = store.next_position();
    super::bench::fill_with(store, events, 1000, |batch, n| {
        let list = (0..n)
            .map(|i| {
                let k = first + batch * 1000 + i;
                let t = ["Placed", "Placed", "Paid", "Cancelled"][(k % 4) as usize];
                let data = json!({ "total": k % 997, "customer": format!("c{}", k % 5000), "note": "x".repeat(40) });
                NewEvent::new(t, data)
            })
            .collect();
        vec![AppendPart {
            stream: format!("order-{}", batch % streams.max(1)),
            expected: ExpectedVersion::Any,
            events: list,
        }]
    })
    .await
}

/// Runs a fold over the whole log three times from scratch: the best
/// (seconds, CPU seconds, partitions).
async fn rebuild<F: Fold>(
    store: &hindsight_store_embedded::EmbeddedStore,
    dir: &Path,
    name: &str,
    make: impl Fn() -> anyhow::Result<F>,
) -> anyhow::Result<(f64, f64, usize)> {
    let head = store.next_position();
    let mut best = (f64::MAX, 0.0, 0);
    for run in 0..3 {
        let scratch = dir.join(format!("projection-{name}-{run}"));
        let (started, cpu) = (Instant::now(), cpu_seconds());
        let mut runner = Runner::open_fold(make()?, &scratch, FailurePolicy::Stop)?.page_events(10_000);
        runner.run_to(store, head).await?;
        let seconds = started.elapsed().as_secs_f64();
        anyhow::ensure!(runner.status() == &hindsight_projections::Status::Running, "{name}: {:?}", runner.status());
        if seconds < best.0 {
            best = (seconds, cpu_seconds() - cpu, runner.fold().partition_count());
        }
        let _ = std::fs::remove_dir_all(&scratch);
    }
    Ok(best)
}

fn rate(events: u64, seconds: f64) -> f64 {
    (events as f64 / seconds).round()
}

pub async fn projection(dir: Option<&Path>, args: BenchProjectionArgs) -> anyhow::Result<std::process::ExitCode> {
    let bench_dir = BenchDir::new(dir)?;
    let store = open_store(&bench_dir.path)?;
    fill_orders(&store, args.events, args.streams).await?;
    let head = store.next_position();
    let rust = rebuild(&store, &bench_dir.path, "rust", || {
        Ok(hindsight_projections::RustFold::new(StreamCounts { filter: Default::default() }))
    })
    .await?;
    let source = format!("fromCategory('order').foreachStream().when({ORDER_HANDLERS})");
    let js = rebuild(&store, &bench_dir.path, "js", || Ok(JsFold::new(&source, Limits::default())?)).await?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).max(2);
    let js_parallel = rebuild(&store, &bench_dir.path, "js-parallel", || {
        ParallelJsFold::new(&source, Limits::default(), cores)?.ok_or_else(|| anyhow::anyhow!("not per stream"))
    })
    .await?;
    // The same events, read once, for the bare loop.
    let mut events = Vec::with_capacity(head as usize);
    let mut from = 0;
    while from < head {
        let page = store.read_all(&ReadAll::forward(from).limit(10_000)).await?;
        events.extend(page.events);
        from = page.next_position;
    }
    let bare = baseline::bare_fold(ORDER_HANDLERS, &events, true).map_err(anyhow::Error::msg)?;
    let preparsed = baseline::bare_fold(ORDER_HANDLERS, &events, false).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(bare.partitions == js.2, "the bare loop and the runtime disagree on partitions");
    store.close()?;
    let lag = match args.lag_rate {
        0 => serde_json::Value::Null,
        rate => live_lag(&bench_dir.path, rate, args.lag_seconds).await?,
    };
    let out = json!({
        "workload": "projection-rebuild",
        "events": head,
        "streams": args.streams,
        "rust": { "projection": "events and data bytes per stream (no JSON parsing)", "events_per_sec": rate(head, rust.0),
                  "seconds": rust.0, "cpu_seconds": rust.1, "partitions": rust.2 },
        "js": { "projection": "per-stream order totals (JavaScript, sandboxed, through the runner)", "events_per_sec": rate(head, js.0),
                "events_per_cpu_sec": rate(head, js.1), "seconds": js.0, "cpu_seconds": js.1, "partitions": js.2 },
        "js_parallel": { "projection": "the same, folded on one sandbox per core (by stream)", "sandboxes": cores,
                         "events_per_sec": rate(head, js_parallel.0), "events_per_cpu_sec": rate(head, js_parallel.1),
                         "seconds": js_parallel.0, "partitions": js_parallel.2 },
        "bare_quickjs": { "events_per_sec": rate(head, bare.seconds), "note": "the same handlers in one QuickJS loop over the same events, parsing each event's data" },
        "bare_quickjs_preparsed": { "events_per_sec": rate(head, preparsed.seconds), "note": "the same loop over data parsed beforehand (untimed)" },
        "live_lag": lag,
        "js_vs_bare": ((rate(head, js.0) / rate(head, bare.seconds)) * 1000.0).round() / 1000.0,
        "note": "best of 3 rebuilds from scratch, one runner each, reading the embedded store in process; the checkpoint is written at the end",
    });
    println!("{out}");
    Ok(std::process::ExitCode::SUCCESS)
}

/// Live lag: appends of 10 events each at `rate` events/s to a store a
/// registry runs the JavaScript order totals on; for every append, the
/// time from its acknowledgement to the first checkpoint that covers it.
/// Returns (p50, p99, max) in ms and the appends measured.
async fn live_lag(dir: &Path, rate: u64, seconds: u64) -> anyhow::Result<serde_json::Value> {
    use hindsight_projections::registry::{Registry, Settings};
    use std::sync::{Arc, Mutex};
    let store = Arc::new(open_store(&dir.join("lag-store"))?);
    let dyn_store: Arc<dyn hindsight_store::EventStore> = store.clone();
    let registry =
        Registry::open(dir.join("lag-projections"), dyn_store, tokio::runtime::Handle::current(), Settings::default())?;
    let source = format!("fromCategory('order').foreachStream().when({ORDER_HANDLERS})");
    registry.put("lag", &source, "park", Default::default()).await?;
    let acks: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let checkpoints: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (registry_info, checkpoints, stop) =
            (move |r: &Registry| r.info("lag").ok(), checkpoints.clone(), stop.clone());
        let registry = &registry;
        async move {
            let mut last = None;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(cp) = registry_info(registry).and_then(|i| i.checkpointed) {
                    if last != Some(cp) {
                        checkpoints.lock().unwrap_or_else(|p| p.into_inner()).push((cp, Instant::now()));
                        last = Some(cp);
                    }
                }
                tokio::task::yield_now().await;
            }
        }
    };
    let appender = async {
        let per_tick = 10u64;
        let mut tick = tokio::time::interval(std::time::Duration::from_micros(1_000_000 * per_tick / rate.max(1)));
        let end = Instant::now() + std::time::Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        let mut i = 0u64;
        while Instant::now() < end {
            tick.tick().await;
            let (store, acks) = (store.clone(), acks.clone());
            let events = (0..per_tick).map(|k| NewEvent::new("Placed", json!({ "total": k }))).collect();
            let part = AppendPart { stream: format!("order-{}", i % 100), expected: ExpectedVersion::Any, events };
            i += 1;
            tasks.push(tokio::spawn(async move {
                let results = store.enqueue_multi(vec![part]).await?.await?;
                let last = results.iter().map(|r| r.last_position).max().unwrap_or(0);
                acks.lock().unwrap_or_else(|p| p.into_inner()).push((last, Instant::now()));
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        anyhow::Ok(())
    };
    let (appended, ()) = tokio::join!(appender, watcher);
    appended?;
    registry.shutdown().await;
    let checkpoints = checkpoints.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let acks = acks.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(lag_figures(&acks, &checkpoints, rate, seconds))
}

/// For every acknowledged append (last position, when), the time until the
/// first checkpoint at or past it; their quantiles.
fn lag_figures(acks: &[(u64, Instant)], checkpoints: &[(u64, Instant)], rate: u64, seconds: u64) -> serde_json::Value {
    let mut lags: Vec<f64> = acks
        .iter()
        .filter_map(|&(pos, acked)| {
            let at = checkpoints.iter().find(|(cp, _)| *cp >= pos)?.1;
            Some(at.saturating_duration_since(acked).as_secs_f64() * 1e3)
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    let q =
        |p: f64| lags.get(((lags.len() as f64 * p) as usize).min(lags.len().saturating_sub(1))).copied().unwrap_or(0.0);
    json!({ "rate_events_per_sec": rate, "seconds": seconds, "appends": acks.len(), "appends_measured": lags.len(),
            "p50_ms": q(0.5), "p99_ms": q(0.99), "p999_ms": q(0.999), "max_ms": lags.last().copied().unwrap_or(0.0),
            "measured": "append acknowledgement to the projection's checkpoint (states + position fdatasynced) covering it" })
}
