//! `bench whatif`: the counterfactual impact of skipping one event, in
//! process through the code `POST /v1/impact` runs, on a store of
//! `--events` events with three JavaScript projections of different
//! shapes (a partition per stream, a partition per key from the data,
//! one partition for everything); and reading the whole log on a fork
//! against reading it live, in the same run.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use hindsight_projections::registry::{Registry, Settings};
use hindsight_projections::timelines::Options;
use hindsight_projections::whatif::WhatIf;
use hindsight_store::{AppendPart, EventReader, EventStore, ExpectedVersion, NewEvent, ReadAll};
use serde_json::{json, Value};

use super::bench::BenchDir;
use super::open_store;
use crate::cli::BenchWhatifArgs;

const PROJECTIONS: [(&str, &str); 3] = [
    (
        "balances",
        r#"fromCategory('acct').foreachStream().when({
  $init: () => ({ balance: 0, n: 0 }),
  Deposited: (s, e) => { s.balance += e.data.amount; s.n += 1; },
  Withdrawn: (s, e) => { s.balance -= e.data.amount; s.n += 1; },
})"#,
    ),
    (
        "customers",
        r#"fromCategory('acct').partitionBy(e => e.data.customer).when({
  $init: () => ({ spent: 0 }),
  Withdrawn: (s, e) => { s.spent += e.data.amount; },
})"#,
    ),
    (
        "totals",
        r#"fromAll().when({
  $init: () => ({ deposited: 0, withdrawn: 0 }),
  Deposited: (s, e) => { s.deposited += e.data.amount; },
  Withdrawn: (s, e) => { s.withdrawn += e.data.amount; },
})"#,
    ),
];

async fn fill(store: &hindsight_store_embedded::EmbeddedStore, events: u64, streams: u64) -> anyhow::Result<()> {
    super::bench::fill_with(store, events, 1000, |batch, n| {
        (0..n)
            .map(|i| {
                let k = batch * 1000 + i;
                let t = if k % 4 == 0 { "Withdrawn" } else { "Deposited" };
                AppendPart {
                    stream: format!("acct-{}", k % streams.max(1)),
                    expected: ExpectedVersion::Any,
                    events: vec![NewEvent::new(t, json!({ "amount": k % 100, "customer": format!("c{}", k % 1000) }))],
                }
            })
            .collect()
    })
    .await
}

/// Pages through the whole log: events per second.
async fn read_rate(reader: &dyn EventReader) -> anyhow::Result<f64> {
    let started = Instant::now();
    let (mut from, mut events) = (0, 0u64);
    loop {
        let page = reader.read_all(&ReadAll::forward(from).limit(1000)).await?;
        events += page.events.len() as u64;
        if page.end_of_log {
            break;
        }
        from = page.next_position;
    }
    Ok((events as f64 / started.elapsed().as_secs_f64()).round())
}

pub async fn whatif(dir: Option<&Path>, args: BenchWhatifArgs) -> anyhow::Result<std::process::ExitCode> {
    let bench_dir = BenchDir::new(dir)?;
    let store = Arc::new(open_store(&bench_dir.path.join("store"))?);
    fill(&store, args.events, args.streams).await?;
    let head = store.next_position();
    let reader: Arc<dyn EventReader> = store.clone();
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let registry = Registry::open(
        bench_dir.path.join("projections"),
        dyn_store,
        tokio::runtime::Handle::current(),
        Settings::default(),
    )?;
    for (name, source) in PROJECTIONS {
        registry.put(name, source, "park", Default::default()).await?;
        registry.set_paused(name, true)?;
    }
    // The event skipped: a withdrawal of a non-zero amount in the middle of the log.
    let skipped = (head / 2) / 4 * 4 + if (head / 2) / 4 * 4 % 100 == 0 { 4 } else { 0 };
    let started = Instant::now();
    let what = WhatIf { skip: vec![skipped], ..Default::default() };
    let impact = registry.impact(what, Options::default()).await?;
    let impact_seconds = started.elapsed().as_secs_f64();
    let per: Vec<Value> = impact["projections"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| json!({ "projection": p["projection"], "changed": p["changed"], "events_refolded": p["events_refolded"] }))
        .collect();

    let started = Instant::now();
    let fork = hindsight_timetravel::fork::ForkReader::new(reader.clone(), None, Default::default()).await?;
    let create_ms = started.elapsed().as_secs_f64() * 1e3;
    fork.skip(&[skipped]).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    // Warm, then alternate: the best of three of each.
    read_rate(&*reader).await?;
    let (mut live_rate, mut fork_rate) = (0f64, 0f64);
    for _ in 0..3 {
        live_rate = live_rate.max(read_rate(&*reader).await?);
        fork_rate = fork_rate.max(read_rate(&fork).await?);
    }
    registry.shutdown().await;
    let out = json!({
        "workload": "what-if",
        "events": head,
        "streams": args.streams,
        "impact": {
            "skipped_position": skipped, "seconds": (impact_seconds * 1000.0).round() / 1000.0,
            "events_refolded": impact["events_refolded"], "projections": per,
        },
        "fork": {
            "create_ms": (create_ms * 1000.0).round() / 1000.0,
            "read_all_events_per_sec": fork_rate, "live_read_all_events_per_sec": live_rate,
            "ratio": (fork_rate / live_rate * 1000.0).round() / 1000.0,
        },
        "note": "in process through the code the server answers with (no HTTP); the projections' live workers are paused (impact folds from the log, not from their states); events re-folded count both timelines",
    });
    println!("{out}");
    Ok(std::process::ExitCode::SUCCESS)
}
