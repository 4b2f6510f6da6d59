//! `bench`: throughput and latency of the embedded store, in process,
//! printed as one JSON object, next to a raw fdatasync probe run in the
//! same directory in the same run so that the ratio is what matters.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hindsight_store::{EventStore, ExpectedVersion, Filter, NewEvent};
use serde_json::json;

use super::open_store;
use crate::cli::{BenchAppendArgs, BenchReadAllArgs};

/// The bench's store directory: the one given, kept; or a fresh temporary
/// one, removed afterwards.
pub struct BenchDir {
    pub path: PathBuf,
    remove: bool,
}

impl BenchDir {
    pub fn new(given: Option<&Path>) -> anyhow::Result<Self> {
        match given {
            Some(p) => Ok(BenchDir { path: p.to_path_buf(), remove: false }),
            None => {
                let path = std::env::temp_dir().join(format!("hindsight-bench-{}", std::process::id()));
                std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
                Ok(BenchDir { path, remove: true })
            }
        }
    }
}

impl Drop for BenchDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Writes `records` records of `record_bytes` and fdatasyncs, over and
/// over for `seconds`; returns records per second.
fn raw_probe(dir: &Path, record_bytes: usize, records: usize, seconds: f64) -> anyhow::Result<f64> {
    let path = dir.join("raw-fsync-probe.tmp");
    let mut file = OpenOptions::new().create(true).write(true).truncate(true).open(&path)?;
    let buf = vec![0x5au8; record_bytes * records];
    let start = Instant::now();
    let mut syncs = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        file.write_all(&buf)?;
        file.sync_data()?;
        syncs += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(syncs as f64 * records as f64 / elapsed)
}

fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

fn payload(event_size: usize) -> serde_json::Value {
    // {"p":"..."} is 8 bytes around the padding.
    json!({ "p": "x".repeat(event_size.saturating_sub(8)) })
}

pub async fn append(dir: Option<&Path>, args: BenchAppendArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(args.writers > 0 && args.batch > 0, "--writers and --batch must be at least 1");
    let bench_dir = BenchDir::new(dir)?;
    let store = Arc::new(open_store(&bench_dir.path)?);
    let data = payload(args.event_size);
    let run_for = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let store = store.clone();
        let data = data.clone();
        let batch = args.batch;
        tasks.push(tokio::spawn(async move {
            let stream = format!("bench-{w}");
            let mut latencies_us = Vec::new();
            while started.elapsed() < run_for {
                let events = (0..batch).map(|_| NewEvent::new("BenchEvent", data.clone())).collect();
                let t = Instant::now();
                store.append(&stream, ExpectedVersion::Any, events).await?;
                latencies_us.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
            anyhow::Ok(latencies_us)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rss = rss_bytes();
    let stored = store.next_position();
    let store = Arc::try_unwrap(store).map_err(|_| anyhow::anyhow!("store still shared"))?;
    store.close()?;
    drop(store);
    latencies.sort_unstable();
    let appends = latencies.len() as f64;
    let events = appends * args.batch as f64;
    let events_per_sec = events / elapsed;
    // Same bytes per record as an event frame of this size, roughly.
    let record_bytes = args.event_size + 80;
    let raw_fsync_per_sec = raw_probe(&bench_dir.path, record_bytes, 1, args.probe_seconds)?;
    let raw_batch_records = (args.writers * args.batch).next_power_of_two();
    let raw_batch_records_per_sec = raw_probe(&bench_dir.path, record_bytes, raw_batch_records, args.probe_seconds)?;
    let (reference, raw) = if args.writers * args.batch == 1 {
        ("raw_fsync_per_sec", raw_fsync_per_sec)
    } else {
        ("raw_batch_records_per_sec", raw_batch_records_per_sec)
    };
    let out = json!({
        "workload": "append",
        "writers": args.writers,
        "batch": args.batch,
        "event_size": args.event_size,
        "seconds": elapsed,
        "durability": "fdatasync before every acknowledgement (group commit)",
        "appends": appends as u64,
        "events": events as u64,
        "store_events": stored,
        "events_per_sec": events_per_sec.round(),
        "appends_per_sec": (appends / elapsed).round(),
        "p50_us": percentile(&latencies, 0.50),
        "p99_us": percentile(&latencies, 0.99),
        "p999_us": percentile(&latencies, 0.999),
        "max_us": latencies.last().copied().unwrap_or(0),
        "raw_fsync_per_sec": raw_fsync_per_sec.round(),
        "raw_batch_records": raw_batch_records,
        "raw_batch_records_per_sec": raw_batch_records_per_sec.round(),
        "raw_reference": reference,
        "ratio_to_raw": (events_per_sec / raw * 1000.0).round() / 1000.0,
        "rss_bytes": rss,
        "data_dir": bench_dir.path.display().to_string(),
        "data_dir_kept": !bench_dir.remove,
    });
    println!("{out}");
    Ok(std::process::ExitCode::SUCCESS)
}

pub async fn read_all(dir: Option<&Path>, args: BenchReadAllArgs) -> anyhow::Result<std::process::ExitCode> {
    let bench_dir = BenchDir::new(dir)?;
    let store = open_store(&bench_dir.path)?;
    let data = payload(args.event_size);
    let fill_started = Instant::now();
    let mut in_flight = std::collections::VecDeque::new();
    let mut queued = store.next_position();
    let mut i = 0u64;
    while queued < args.events {
        let n = (args.events - queued).min(1000);
        let events = (0..n).map(|_| NewEvent::new("BenchEvent", data.clone())).collect();
        let part = hindsight_store::AppendPart {
            stream: format!("fill-{}", i % args.streams.max(1)),
            expected: ExpectedVersion::Any,
            events,
        };
        in_flight.push_back(store.enqueue_multi(vec![part]).await?);
        if in_flight.len() >= 16 {
            if let Some(f) = in_flight.pop_front() {
                f.await?;
            }
        }
        queued += n;
        i += 1;
    }
    for f in in_flight {
        f.await?;
    }
    let fill_seconds = fill_started.elapsed().as_secs_f64();
    let rss_before = rss_bytes();
    let started = Instant::now();
    let mut from = 0;
    let mut read = 0u64;
    loop {
        let slice = store.read_all(from, 10_000, &Filter::default()).await?;
        read += slice.events.len() as u64;
        from = slice.next_position;
        if slice.end_of_log {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let out = json!({
        "workload": "read-all",
        "events": read,
        "seconds": elapsed,
        "events_per_sec": (read as f64 / elapsed).round(),
        "page_events": 10_000,
        "page_cache": "warm (the store was just written or read)",
        "fill_seconds": fill_seconds,
        "rss_bytes_before": rss_before,
        "rss_bytes_after": rss_bytes(),
        "data_dir": bench_dir.path.display().to_string(),
        "data_dir_kept": !bench_dir.remove,
    });
    store.close()?;
    println!("{out}");
    Ok(std::process::ExitCode::SUCCESS)
}
