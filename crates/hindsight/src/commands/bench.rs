//! `bench`: throughput and latency of the embedded store, in process,
//! printed as one JSON object, next to a raw fdatasync probe run in the
//! same directory in the same run so that the ratio is what matters.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hindsight_store::{EventStore, ExpectedVersion, Filter, JsonText, NewEvent};
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

/// The raw-disk reference: an append-only file in the bench's directory
/// that grows by `records` records of `record_bytes`, fdatasynced after
/// each write, the way the log grows. Kept open across slices.
struct RawProbe {
    path: PathBuf,
    file: std::fs::File,
}

impl RawProbe {
    fn new(dir: &Path, name: &str) -> anyhow::Result<Self> {
        let path = dir.join(name);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(RawProbe { path, file })
    }

    /// Records per second over about `seconds`.
    fn run(&mut self, record_bytes: usize, records: usize, seconds: f64) -> anyhow::Result<f64> {
        let buf = vec![0x5au8; record_bytes * records];
        let start = Instant::now();
        let mut syncs = 0u64;
        while start.elapsed().as_secs_f64() < seconds {
            self.file.write_all(&buf)?;
            self.file.sync_data()?;
            syncs += 1;
        }
        Ok(syncs as f64 * records as f64 / start.elapsed().as_secs_f64())
    }
}

impl Drop for RawProbe {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
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

fn payload(event_size: usize) -> JsonText {
    // {"p":"..."} is 8 bytes around the padding.
    json!({ "p": "x".repeat(event_size.saturating_sub(8)) }).into()
}

/// Bench time and probe time alternate in slices this long, so both see
/// the same disk (virtual disks drift by 2x within seconds).
const SLICE_SECONDS: f64 = 0.5;

pub async fn append(dir: Option<&Path>, args: BenchAppendArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(args.writers > 0 && args.batch > 0, "--writers and --batch must be at least 1");
    let bench_dir = BenchDir::new(dir)?;
    let store = Arc::new(open_store(&bench_dir.path)?);
    let data = payload(args.event_size);
    // Writers append while the gate is open; the probe runs while it is shut.
    let (gate, gate_rx) = tokio::sync::watch::channel(false);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let (store, data, mut gate, stop, in_flight) =
            (store.clone(), data.clone(), gate_rx.clone(), stop.clone(), in_flight.clone());
        let batch = args.batch;
        tasks.push(tokio::spawn(async move {
            let stream = format!("bench-{w}");
            let mut latencies_us = Vec::new();
            loop {
                while !*gate.borrow_and_update() {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return anyhow::Ok(latencies_us);
                    }
                    gate.changed().await?;
                }
                in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let events = (0..batch).map(|_| NewEvent::new("BenchEvent", data.clone())).collect();
                let t = Instant::now();
                let result = store.append(&stream, ExpectedVersion::Any, events).await;
                latencies_us.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                result?;
            }
        }));
    }
    let record_bytes = args.event_size + 80;
    let raw_batch_records = (args.writers * args.batch).next_power_of_two();
    let single = args.writers * args.batch == 1;
    let probe_records = if single { 1 } else { raw_batch_records };
    let (mut bench_seconds, mut probe_seconds, mut probe_records_done) = (0.0f64, 0.0f64, 0.0f64);
    let probe = Arc::new(std::sync::Mutex::new(RawProbe::new(&bench_dir.path, "raw-probe-interleaved.tmp")?));
    let start_events = store.next_position();
    while bench_seconds < args.seconds {
        let t = Instant::now();
        gate.send_replace(true);
        tokio::time::sleep(Duration::from_secs_f64(SLICE_SECONDS)).await;
        gate.send_replace(false);
        while in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            tokio::task::yield_now().await;
        }
        bench_seconds += t.elapsed().as_secs_f64();
        let probe = probe.clone();
        let rate = tokio::task::spawn_blocking(move || {
            probe.lock().map_err(|_| anyhow::anyhow!("probe poisoned"))?.run(record_bytes, probe_records, SLICE_SECONDS)
        })
        .await??;
        probe_records_done += rate * SLICE_SECONDS;
        probe_seconds += SLICE_SECONDS;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    gate.send_replace(false);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let rss = rss_bytes();
    let stored = store.next_position();
    let stats = store.stats();
    let store = Arc::try_unwrap(store).map_err(|_| anyhow::anyhow!("store still shared"))?;
    store.close()?;
    drop(store);
    latencies.sort_unstable();
    let appends = latencies.len() as f64;
    let events = (stored - start_events) as f64;
    let events_per_sec = events / bench_seconds;
    let raw_interleaved = probe_records_done / probe_seconds;
    // The other probe, for reference, in one piece after the run.
    let mut other = RawProbe::new(&bench_dir.path, "raw-probe-after.tmp")?;
    let (raw_fsync_per_sec, raw_batch_records_per_sec) = if single {
        (raw_interleaved, other.run(record_bytes, raw_batch_records.max(64), args.probe_seconds)?)
    } else {
        (other.run(record_bytes, 1, args.probe_seconds)?, raw_interleaved)
    };
    drop(other);
    let reference = if single { "raw_fsync_per_sec" } else { "raw_batch_records_per_sec" };
    let out = json!({
        "workload": "append",
        "writers": args.writers,
        "batch": args.batch,
        "event_size": args.event_size,
        "seconds": bench_seconds,
        "durability": "fdatasync before every acknowledgement (group commit)",
        "appends": appends as u64,
        "events": events as u64,
        "events_per_sec": events_per_sec.round(),
        "appends_per_sec": (appends / bench_seconds).round(),
        "p50_us": percentile(&latencies, 0.50),
        "p99_us": percentile(&latencies, 0.99),
        "p999_us": percentile(&latencies, 0.999),
        "max_us": latencies.last().copied().unwrap_or(0),
        "raw_fsync_per_sec": raw_fsync_per_sec.round(),
        "raw_batch_records": if single { raw_batch_records.max(64) } else { raw_batch_records },
        "raw_batch_records_per_sec": raw_batch_records_per_sec.round(),
        "raw_reference": reference,
        "raw_method": format!("{reference} interleaved with the bench in {SLICE_SECONDS} s slices; the other probe run once after"),
        "ratio_to_raw": (events_per_sec / raw_interleaved * 1000.0).round() / 1000.0,
        "fsyncs": stats.fsyncs,
        "events_per_fsync": (stats.events_written as f64 / stats.fsyncs.max(1) as f64 * 10.0).round() / 10.0,
        "commits_per_fsync": (stats.commits as f64 / stats.fsyncs.max(1) as f64 * 10.0).round() / 10.0,
        "fsync_avg_us": stats.fsync_micros / stats.fsyncs.max(1),
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
