//! `bench append --store postgres://...`: appends through Hindsight's
//! PostgreSQL backend (group commit under a store-wide lock, gapless
//! commit-ordered positions, the hash chain) against a naive events table
//! (bigserial position, unique (stream, version), one transaction per
//! append) in the same run, in alternating one-second slices so both see
//! the same database; then `$all` read back through the backend.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hindsight_store::{AppendPart, EventReader, EventStore, ExpectedVersion, JsonText, NewEvent, ReadAll};
use hindsight_store_postgres::{Options, PostgresStore};
use serde_json::json;
use tokio::sync::Mutex;
use tokio_postgres::NoTls;

use super::bench::{payload, percentile, AppendFn};
use crate::cli::BenchAppendArgs;

const SLICE: Duration = Duration::from_secs(1);

/// What one workload's slices measured.
#[derive(Default)]
struct Run {
    events: u64,
    seconds: f64,
    latencies_us: Vec<u32>,
}

impl Run {
    fn report(mut self) -> serde_json::Value {
        self.latencies_us.sort_unstable();
        let l = &self.latencies_us;
        json!({
            "events": self.events,
            "seconds": (self.seconds * 100.0).round() / 100.0,
            "events_per_sec": (self.events as f64 / self.seconds.max(1e-9)).round(),
            "appends": l.len(),
            "p50_us": percentile(l, 0.50),
            "p99_us": percentile(l, 0.99),
            "p999_us": percentile(l, 0.999),
        })
    }
}

/// `writers` tasks append until the slice ends; adds what they did to `run`.
async fn slice(writers: usize, append: &AppendFn, run: &mut Run) -> anyhow::Result<()> {
    let started = Instant::now();
    let deadline = started + SLICE;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let append = append.clone();
            tokio::spawn(async move {
                let (mut events, mut latencies) = (0u64, Vec::new());
                while Instant::now() < deadline {
                    let t = Instant::now();
                    events += append(w).await?;
                    latencies.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                }
                anyhow::Ok((events, latencies))
            })
        })
        .collect();
    for t in tasks {
        let (events, latencies) = t.await??;
        run.events += events;
        run.latencies_us.extend(latencies);
    }
    run.seconds += started.elapsed().as_secs_f64();
    Ok(())
}

fn hindsight(store: Arc<PostgresStore>, data: JsonText, batch: usize) -> AppendFn {
    Arc::new(move |w| {
        let (store, data) = (store.clone(), data.clone());
        Box::pin(async move {
            let events = (0..batch).map(|_| NewEvent::new("BenchEvent", data.clone())).collect();
            store.append(&format!("bench-{w}"), ExpectedVersion::Any, events).await?;
            Ok(batch as u64)
        })
    })
}

/// The naive table, and a connection per writer.
async fn naive(url: &str, writers: usize, data: JsonText, batch: usize) -> anyhow::Result<AppendFn> {
    let mut clients = Vec::with_capacity(writers);
    for _ in 0..writers {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(connection);
        clients.push(Arc::new(Mutex::new(client)));
    }
    clients[0]
        .lock()
        .await
        .batch_execute(
            "DROP TABLE IF EXISTS bench_naive_events;
             CREATE TABLE bench_naive_events (
                 position bigserial PRIMARY KEY, stream text NOT NULL, version bigint NOT NULL,
                 type text NOT NULL, data text NOT NULL, UNIQUE (stream, version))",
        )
        .await
        .context("creating the naive table")?;
    let data = data.into_string();
    Ok(Arc::new(move |w| {
        let (client, data) = (clients[w].clone(), data.clone());
        Box::pin(async move {
            let mut client = client.lock().await;
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO bench_naive_events (stream, version, type, data)
                 SELECT $1, coalesce((SELECT max(version) FROM bench_naive_events WHERE stream = $1), -1) + g,
                        'BenchEvent', $2
                 FROM generate_series(1, $3::int) g",
                &[&format!("naive-{w}"), &data, &(batch as i32)],
            )
            .await?;
            tx.commit().await?;
            Ok(batch as u64)
        })
    }))
}

/// Fills `$all` up to `events`, then reads it all back: events per second.
async fn read_all(store: &Arc<PostgresStore>, events: u64, data: &JsonText) -> anyhow::Result<(u64, f64)> {
    while store.next_position() < events {
        let left = (events - store.next_position()).min(8_000);
        let appends = (0..left.div_ceil(1_000)).map(|i| {
            let part = AppendPart {
                stream: format!("fill-{}", i % 100),
                expected: ExpectedVersion::Any,
                events: (0..1_000).map(|_| NewEvent::new("Filled", data.clone())).collect(),
            };
            store.append_multi(vec![part])
        });
        for r in futures::future::join_all(appends).await {
            r?;
        }
    }
    let started = Instant::now();
    let (mut from, mut read) = (0, 0u64);
    loop {
        let page = store.read_all(&ReadAll::forward(from).limit(10_000)).await?;
        read += page.events.len() as u64;
        from = page.next_position;
        if page.end_of_log {
            break;
        }
    }
    Ok((read, started.elapsed().as_secs_f64()))
}

pub async fn append(url: &str, args: BenchAppendArgs) -> anyhow::Result<ExitCode> {
    let load = &args.load;
    anyhow::ensure!(load.writers > 0 && load.batch > 0, "--writers and --batch must be at least 1");
    let options = Options { queue_depth: 65_536, ..Options::default() };
    let store = Arc::new(PostgresStore::connect(url, options).await.context("connecting to PostgreSQL")?);
    let data = payload(load.event_size);
    let ours = hindsight(store.clone(), data.clone(), load.batch);
    let theirs = naive(url, load.writers, data.clone(), load.batch).await?;
    let (mut h, mut n) = (Run::default(), Run::default());
    while h.seconds < load.seconds {
        slice(load.writers, &ours, &mut h).await?;
        slice(load.writers, &theirs, &mut n).await?;
    }
    let (read, read_seconds) = read_all(&store, args.read_events, &data).await?;
    let (h, n) = (h.report(), n.report());
    let ratio = h["events_per_sec"].as_f64().unwrap_or(0.0) / n["events_per_sec"].as_f64().unwrap_or(1.0).max(1.0);
    let out = json!({
        "workload": "append",
        "store": "postgres",
        "writers": load.writers,
        "batch": load.batch,
        "event_size": load.event_size,
        "durability": "PostgreSQL commit (synchronous_commit as the server sets it) before every acknowledgement",
        "hindsight": h,
        "naive_table": n,
        "naive_method": "bigserial position, unique (stream, version), one transaction per append; alternating 1 s slices with Hindsight's",
        "ratio_to_naive": (ratio * 1000.0).round() / 1000.0,
        "read_all_events": read,
        "read_all_events_per_sec": (read as f64 / read_seconds.max(1e-9)).round(),
    });
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}
