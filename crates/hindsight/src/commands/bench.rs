//! `bench`: throughput and latency of the embedded store, in process,
//! printed as one JSON object, next to a raw fdatasync probe run in the
//! same directory in the same run so that the ratio is what matters.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hindsight_store::{EventReader, EventStore, ExpectedVersion, JsonText, NewEvent, ReadAll};
use serde_json::json;

use super::open_store;
use crate::cli::{BenchAppendArgs, BenchHttpArgs, BenchHttpReadArgs, BenchReadAllArgs, BenchSseArgs, LoadArgs};

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

pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// Bytes this process has caused to be written to storage so far
/// (`write_bytes` of /proc/self/io).
fn disk_bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines().find_map(|l| l.strip_prefix("write_bytes:")).and_then(|v| v.trim().parse().ok())
}

pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

pub fn payload(event_size: usize) -> JsonText {
    // {"p":"..."} is 8 bytes around the padding.
    json!({ "p": "x".repeat(event_size.saturating_sub(8)) }).into()
}

/// Bench time and probe time alternate in slices this long, so both see
/// the same disk (virtual disks drift by 2x within seconds).
const SLICE_SECONDS: f64 = 0.5;

/// One append of a bench writer: returns the events it stored.
pub type AppendFn = Arc<dyn Fn(usize) -> futures::future::BoxFuture<'static, anyhow::Result<u64>> + Send + Sync>;

/// What a sliced run measured.
struct Sliced {
    latencies_us: Vec<u32>,
    events: u64,
    bench_seconds: f64,
    raw_records_per_sec: f64,
    /// Process CPU time (user + system) during the bench slices.
    bench_cpu_seconds: f64,
}

/// User plus system CPU time of this process so far, in seconds.
pub fn cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// Writer tasks that append while the gate is open, until `stop`; each
/// returns its appends' latencies.
fn spawn_writers(
    writers: usize,
    append: &AppendFn,
    gate_rx: &tokio::sync::watch::Receiver<bool>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    in_flight: &Arc<std::sync::atomic::AtomicUsize>,
    events: &Arc<std::sync::atomic::AtomicU64>,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<Vec<u32>>>> {
    use std::sync::atomic::Ordering;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (append, mut gate, stop, in_flight, events) =
            (append.clone(), gate_rx.clone(), stop.clone(), in_flight.clone(), events.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies_us = Vec::new();
            loop {
                while !*gate.borrow_and_update() {
                    if stop.load(Ordering::SeqCst) {
                        return anyhow::Ok(latencies_us);
                    }
                    gate.changed().await?;
                }
                in_flight.fetch_add(1, Ordering::SeqCst);
                let t = Instant::now();
                let result = append(w).await;
                latencies_us.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                in_flight.fetch_sub(1, Ordering::SeqCst);
                events.fetch_add(result?, Ordering::SeqCst);
            }
        }));
    }
    tasks
}

/// Runs `writers` concurrent appenders in slices alternating with a raw
/// fdatasync probe of `probe_records` records per sync.
async fn run_sliced(
    dir: &Path,
    writers: usize,
    seconds: f64,
    record_bytes: usize,
    probe_records: usize,
    append: AppendFn,
) -> anyhow::Result<Sliced> {
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    let (gate, gate_rx) = tokio::sync::watch::channel(false);
    let stop = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let events = Arc::new(AtomicU64::new(0));
    let tasks = spawn_writers(writers, &append, &gate_rx, &stop, &in_flight, &events);
    let (mut bench_seconds, mut probe_seconds, mut probe_records_done) = (0.0f64, 0.0f64, 0.0f64);
    let probe = Arc::new(std::sync::Mutex::new(RawProbe::new(dir, "raw-probe-interleaved.tmp")?));
    let mut bench_cpu_seconds = 0.0f64;
    while bench_seconds < seconds {
        let t = Instant::now();
        let cpu = cpu_seconds();
        gate.send_replace(true);
        tokio::time::sleep(Duration::from_secs_f64(SLICE_SECONDS)).await;
        gate.send_replace(false);
        while in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
        bench_seconds += t.elapsed().as_secs_f64();
        bench_cpu_seconds += cpu_seconds() - cpu;
        let probe = probe.clone();
        let rate = tokio::task::spawn_blocking(move || {
            probe.lock().map_err(|_| anyhow::anyhow!("probe poisoned"))?.run(record_bytes, probe_records, SLICE_SECONDS)
        })
        .await??;
        probe_records_done += rate * SLICE_SECONDS;
        probe_seconds += SLICE_SECONDS;
    }
    stop.store(true, Ordering::SeqCst);
    gate.send_replace(false);
    let mut latencies_us = Vec::new();
    for t in tasks {
        latencies_us.extend(t.await??);
    }
    latencies_us.sort_unstable();
    Ok(Sliced {
        latencies_us,
        events: events.load(Ordering::SeqCst),
        bench_seconds,
        raw_records_per_sec: probe_records_done / probe_seconds,
        bench_cpu_seconds,
    })
}

/// The JSON both append benches print. Runs the raw probe that was not
/// interleaved (one record per fdatasync when the bench batched, the
/// bench's records per fdatasync when it did not) once, after the run.
fn append_report(workload: &str, dir: &Path, load: &LoadArgs, run: &Sliced) -> anyhow::Result<serde_json::Value> {
    let (writers, batch) = (load.writers, load.batch);
    let single = writers * batch == 1;
    let (raw_batch_records, _) = probe_shape(writers, batch);
    let record_bytes = load.event_size + 80;
    let other_raw = RawProbe::new(dir, "raw-probe-after.tmp")?.run(
        record_bytes,
        if single { raw_batch_records } else { 1 },
        load.probe_seconds,
    )?;
    let events_per_sec = run.events as f64 / run.bench_seconds;
    let appends = run.latencies_us.len() as f64;
    let (raw_fsync_per_sec, raw_batch_records_per_sec) =
        if single { (run.raw_records_per_sec, other_raw) } else { (other_raw, run.raw_records_per_sec) };
    let reference = if single { "raw_fsync_per_sec" } else { "raw_batch_records_per_sec" };
    Ok(json!({
        "workload": workload,
        "writers": writers,
        "batch": batch,
        "event_size": load.event_size,
        "seconds": run.bench_seconds,
        "durability": "fdatasync before every acknowledgement (group commit)",
        "appends": appends as u64,
        "events": run.events,
        "events_per_sec": events_per_sec.round(),
        "appends_per_sec": (appends / run.bench_seconds).round(),
        "p50_us": percentile(&run.latencies_us, 0.50),
        "p99_us": percentile(&run.latencies_us, 0.99),
        "p999_us": percentile(&run.latencies_us, 0.999),
        "max_us": run.latencies_us.last().copied().unwrap_or(0),
        "cpu_us_per_event": (run.bench_cpu_seconds * 1e6 / run.events.max(1) as f64 * 100.0).round() / 100.0,
        "cpu_note": "user + system time of the whole process during the bench slices (server, store and load generator)",
        "raw_fsync_per_sec": raw_fsync_per_sec.round(),
        "raw_batch_records": raw_batch_records,
        "raw_batch_records_per_sec": raw_batch_records_per_sec.round(),
        "raw_reference": reference,
        "raw_method": format!("{reference} interleaved with the bench in {SLICE_SECONDS} s slices; the other probe run once after"),
        "ratio_to_raw": (events_per_sec / run.raw_records_per_sec * 1000.0).round() / 1000.0,
    }))
}

fn probe_shape(writers: usize, batch: usize) -> (usize, usize) {
    let raw_batch_records = (writers * batch).next_power_of_two().max(64);
    let probe_records = if writers * batch == 1 { 1 } else { (writers * batch).next_power_of_two() };
    (raw_batch_records, probe_records)
}

pub async fn append(dir: Option<&Path>, args: BenchAppendArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(args.load.writers > 0 && args.load.batch > 0, "--writers and --batch must be at least 1");
    let bench_dir = BenchDir::new(dir)?;
    let store = Arc::new(open_store(&bench_dir.path)?);
    let data = payload(args.load.event_size);
    let batch = args.load.batch;
    let append_store = store.clone();
    let append: AppendFn = Arc::new(move |w| {
        let (store, data) = (append_store.clone(), data.clone());
        Box::pin(async move {
            let events = (0..batch).map(|_| NewEvent::new("BenchEvent", data.clone())).collect();
            store.append(&format!("bench-{w}"), ExpectedVersion::Any, events).await?;
            Ok(batch as u64)
        })
    });
    let record_bytes = args.load.event_size + 80;
    let (_, probe_records) = probe_shape(args.load.writers, args.load.batch);
    let run =
        run_sliced(&bench_dir.path, args.load.writers, args.load.seconds, record_bytes, probe_records, append).await?;
    let rss = rss_bytes();
    let stats = store.stats();
    let store = Arc::try_unwrap(store).map_err(|_| anyhow::anyhow!("store still shared"))?;
    store.close()?;
    drop(store);
    let mut out = append_report("append", &bench_dir.path, &args.load, &run)?;
    out["fsyncs"] = json!(stats.fsyncs);
    out["events_per_fsync"] = json!((stats.events_written as f64 / stats.fsyncs.max(1) as f64 * 10.0).round() / 10.0);
    out["fsync_avg_us"] = json!(stats.fsync_micros / stats.fsyncs.max(1));
    out["rss_bytes"] = json!(rss);
    out["data_dir"] = json!(bench_dir.path.display().to_string());
    out["data_dir_kept"] = json!(!bench_dir.remove);
    println!("{out}");
    Ok(std::process::ExitCode::SUCCESS)
}

/// A server in this process on a temporary (or given) store, for benches
/// that need one; stops when dropped.
struct LocalServer {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    store: Arc<hindsight_store_embedded::EmbeddedStore>,
}

impl LocalServer {
    async fn start(dir: &Path) -> anyhow::Result<Self> {
        let store = Arc::new(open_store(dir)?);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let dyn_store: Arc<dyn EventStore> = store.clone();
        let task = tokio::spawn(hindsight_server::serve(listener, dyn_store, Default::default(), async move {
            let _ = stopped.await;
        }));
        Ok(LocalServer { url, stop: Some(stop), task: Some(task), store })
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await??;
        }
        Ok(())
    }
}

/// A bare HTTP/1.1 keep-alive connection that sends one prepared request
/// and reads the response: the bench's load generator, thin so that the
/// client shares as little of the machine's two cores as it can (like wrk).
struct RawConn {
    stream: tokio::io::BufStream<tokio::net::TcpStream>,
    line: String,
}

impl RawConn {
    async fn connect(addr: &str) -> anyhow::Result<Self> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(RawConn { stream: tokio::io::BufStream::new(tcp), line: String::new() })
    }

    /// Sends `request` and returns the response status.
    async fn call(&mut self, request: &[u8]) -> anyhow::Result<u16> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(request).await?;
        self.stream.flush().await?;
        self.line.clear();
        self.stream.read_line(&mut self.line).await?;
        let status: u16 = self
            .line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("bad status line {:?}", self.line))?;
        let mut length = 0usize;
        loop {
            self.line.clear();
            self.stream.read_line(&mut self.line).await?;
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse()?;
                }
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await?;
        Ok(status)
    }
}

/// What an in-process server's store reports, added to a bench's JSON:
/// where the log's own fdatasyncs fall (tails there are the disk's),
/// bytes written per event (log and index apart), events per fdatasync.
fn add_store_figures(
    out: &mut serde_json::Value,
    fsync_stats: Option<hindsight_store_embedded::StoreStats>,
    fsync_histogram: Option<hindsight_store::Histogram>,
    written: Option<u64>,
) {
    if let Some(h) = fsync_histogram {
        // Where the log's own fdatasyncs fall: tails here are the disk's.
        let at = |q: f64| {
            let want = (h.count as f64 * q).ceil() as u64;
            h.bounds.iter().zip(&h.cumulative_counts).find(|(_, c)| **c >= want).map(|(b, _)| b * 1e6)
        };
        out["log_fsync_us_p99_at_most"] = json!(at(0.99));
        out["log_fsync_us_p999_at_most"] = json!(at(0.999));
        out["log_fsync_us_max_at_most"] = json!(at(1.0));
    }
    if let Some(stats) = &fsync_stats {
        // What the store itself wrote: log bytes and index runs.
        let per_event = |b: u64| (b as f64 / stats.events_written.max(1) as f64).round();
        out["log_bytes_per_event"] = json!(per_event(stats.bytes_written));
        out["index_bytes_per_event"] = json!(per_event(stats.index_bytes_written));
        if let Some(bytes) = written {
            out["process_disk_bytes_per_event_incl_probe"] = json!(per_event(bytes));
        }
    }
    if let Some(stats) = fsync_stats {
        out["events_per_fsync"] =
            json!((stats.events_written as f64 / stats.fsyncs.max(1) as f64 * 10.0).round() / 10.0);
    }
}

pub async fn http(dir: Option<&Path>, args: BenchHttpArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(args.load.writers > 0 && args.load.batch > 0, "--writers and --batch must be at least 1");
    let bench_dir = BenchDir::new(dir)?;
    let server = match &args.url {
        Some(_) => None,
        None => Some(LocalServer::start(&bench_dir.path).await?),
    };
    let url = args.url.clone().or_else(|| server.as_ref().map(|s| s.url.clone())).unwrap_or_default();
    let host = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let data = json!({ "p": "x".repeat(args.load.event_size.saturating_sub(8)) });
    let batch = args.load.batch;
    let events: Vec<serde_json::Value> = (0..batch).map(|_| json!({ "type": "BenchEvent", "data": data })).collect();
    let body = json!({ "expected_version": "any", "events": events }).to_string();
    // One connection per writer, each with its request prepared once.
    let mut conns = Vec::new();
    for w in 0..args.load.writers {
        let request = format!(
            "POST /v1/streams/bench-{w} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        conns.push(Arc::new(tokio::sync::Mutex::new((RawConn::connect(&host).await?, request.into_bytes()))));
    }
    let append: AppendFn = Arc::new(move |w| {
        let conn = conns[w].clone();
        Box::pin(async move {
            let mut guard = conn.lock().await;
            let (conn, request) = &mut *guard;
            let status = conn.call(request).await?;
            anyhow::ensure!(status == 200, "append answered {status}");
            Ok(batch as u64)
        })
    });
    let record_bytes = args.load.event_size + 80;
    let (_, probe_records) = probe_shape(args.load.writers, args.load.batch);
    let written_before = disk_bytes_written();
    let run =
        run_sliced(&bench_dir.path, args.load.writers, args.load.seconds, record_bytes, probe_records, append).await?;
    let fsync_stats = server.as_ref().map(|s| s.store.stats());
    let fsync_histogram = server.as_ref().and_then(|s| {
        hindsight_store::EventStore::status(s.store.as_ref())
            .histograms
            .into_iter()
            .find(|h| h.name == "hindsight_fsync_duration_seconds")
    });
    if let Some(s) = server {
        s.stop().await?;
    }
    // Log, index runs, merges and the raw probe's own writes, per event.
    let written = disk_bytes_written().zip(written_before).map(|(after, before)| after.saturating_sub(before));
    let mut out = append_report("http-append", &bench_dir.path, &args.load, &run)?;
    out["url"] = json!(args.url.clone().unwrap_or_else(|| format!("{url} (started by the bench)")));
    out["client"] = json!(
        "one keep-alive HTTP/1.1 connection per writer, requests prepared once (a thin load generator, like wrk)"
    );
    add_store_figures(&mut out, fsync_stats, fsync_histogram, written);
    println!("{out}");
    Ok(std::process::ExitCode::SUCCESS)
}

/// Reads `$all` back over HTTP with one client, page after page, as NDJSON
/// and as JSON; counts events by their lines (NDJSON) or by their
/// positions (JSON), so the figure is the server's, not a JSON parser's.
pub async fn http_read(dir: Option<&Path>, args: BenchHttpReadArgs) -> anyhow::Result<std::process::ExitCode> {
    let bench_dir = BenchDir::new(dir)?;
    let server = LocalServer::start(&bench_dir.path).await?;
    let data = payload(100);
    fill(&server.store, args.events, 100, u64::MAX, &data).await?;
    let total = server.store.next_position();
    let client = reqwest::Client::new();
    let mut figures = serde_json::Map::new();
    for (name, accept) in [("ndjson", "application/x-ndjson"), ("json", "application/json")] {
        let mut best = f64::MAX;
        let mut bytes_read = 0usize;
        for _ in 0..3 {
            let started = Instant::now();
            let (mut from, mut bytes) = (0u64, 0usize);
            while from < total {
                let url = format!("{}/v1/all?from={from}&limit={}", server.url, args.page);
                let body = client.get(url).header("accept", accept).send().await?.error_for_status()?.bytes().await?;
                let n = if name == "ndjson" {
                    memchr::memchr_iter(b'\n', &body).count() as u64
                } else {
                    memchr::memmem::find_iter(&body, b"\"position\":").count() as u64
                };
                anyhow::ensure!(n > 0, "an empty page at {from}");
                bytes += body.len();
                from += n;
            }
            best = best.min(started.elapsed().as_secs_f64());
            bytes_read = bytes;
        }
        figures.insert(format!("{name}_events_per_sec"), json!((total as f64 / best).round()));
        figures.insert(format!("{name}_bytes_per_event"), json!(bytes_read as f64 / total.max(1) as f64));
    }
    let mut out = json!({ "workload": "http-read", "events": total, "page_events": args.page, "client": "one reqwest client, pages in order, best of 3" });
    if let Some(obj) = out.as_object_mut() {
        obj.extend(figures);
    }
    println!("{out}");
    Ok(std::process::ExitCode::SUCCESS)
}

pub async fn sse(dir: Option<&Path>, args: BenchSseArgs) -> anyhow::Result<std::process::ExitCode> {
    use futures::StreamExt;
    let bench_dir = BenchDir::new(dir)?;
    let server = LocalServer::start(&bench_dir.path).await?;
    let store = server.store.clone();
    let data = payload(100);
    fill(&store, args.events, 100, u64::MAX, &data).await?;
    let total = store.next_position();
    // Catch-up: a thin reader that counts SSE events (lines starting
    // `id: `), so the figure is the server's delivery rate, not a JSON
    // parser's.
    let started = Instant::now();
    let response = reqwest::get(format!("{}/v1/subscribe?from=0", server.url)).await?.error_for_status()?;
    let mut body = response.bytes_stream();
    let (mut received, mut at_line_start, mut matched) = (0u64, true, 0usize);
    'read: while let Some(chunk) = body.next().await {
        for &b in chunk?.iter() {
            if matched > 0 || at_line_start {
                if b == b"id: "[matched] {
                    matched += 1;
                    if matched == 4 {
                        received += 1;
                        matched = 0;
                        if received >= total {
                            break 'read;
                        }
                    }
                } else {
                    matched = 0;
                }
            }
            at_line_start = b == b'\n';
        }
    }
    drop(body);
    let catch_up_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(received == total, "the subscription delivered {received} of {total} events");
    let client = hindsight_client::Client::new(&server.url);
    let mut sub = Box::pin(client.subscribe(total, hindsight_client::Filter::default()));
    // Live: append at a steady rate; measure commit-to-delivery latency.
    let rate = args.live_rate.max(1);
    let per_tick = (rate / 1000).max(1);
    let appender_store = store.clone();
    let live_for = Duration::from_secs_f64(args.live_seconds);
    let appender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let t0 = Instant::now();
        let mut sent = 0u64;
        while t0.elapsed() < live_for {
            tick.tick().await;
            let due = (t0.elapsed().as_secs_f64() * rate as f64) as u64;
            let n = due.saturating_sub(sent).min(per_tick * 10);
            if n == 0 {
                continue;
            }
            let events = (0..n).map(|_| NewEvent::new("Live", json!({ "t": 1 }))).collect::<Vec<_>>();
            appender_store.append("live-1", ExpectedVersion::Any, events).await?;
            sent += n;
        }
        anyhow::Ok(sent)
    });
    let mut latencies_us = Vec::new();
    let deadline = Instant::now() + live_for + Duration::from_secs(2);
    while Instant::now() < deadline {
        match tokio::time::timeout_at(deadline.into(), sub.next()).await {
            Ok(Some(Ok(e))) => {
                let ts = humantime::parse_rfc3339(&e.timestamp).map_err(|x| anyhow::anyhow!("{x}"))?;
                let lag = std::time::SystemTime::now().duration_since(ts).unwrap_or_default();
                latencies_us.push(lag.as_micros().min(u128::from(u32::MAX)) as u32);
                if appender.is_finished() && store.next_position() == e.position + 1 {
                    break;
                }
            }
            Ok(Some(Err(e))) => return Err(e.into()),
            _ => break,
        }
    }
    let sent = appender.await??;
    latencies_us.sort_unstable();
    server.stop().await?;
    let out = json!({
        "workload": "sse",
        "catch_up_events": total,
        "catch_up_seconds": catch_up_seconds,
        "catch_up_events_per_sec": (total as f64 / catch_up_seconds).round(),
        "catch_up_reader": "raw SSE over HTTP, counting events (no JSON parsing)",
        "live_rate_per_sec": rate,
        "live_events_sent": sent,
        "live_events_received": latencies_us.len(),
        "live_p50_us": percentile(&latencies_us, 0.50),
        "live_p99_us": percentile(&latencies_us, 0.99),
        "live_p999_us": percentile(&latencies_us, 0.999),
        "latency": "server commit timestamp to client receipt, same machine",
        "durability": "fdatasync before every acknowledgement (group commit)",
    });
    println!("{out}");
    Ok(std::process::ExitCode::SUCCESS)
}

/// Appends batches of 1,000 events over `streams` streams until the store
/// holds `events`, keeping 16 appends in flight through group commit.
async fn fill(
    store: &hindsight_store_embedded::EmbeddedStore,
    events: u64,
    streams: u64,
    rare_every: u64,
    data: &JsonText,
) -> anyhow::Result<()> {
    let batch_events = rare_every.clamp(1, 1000);
    fill_with(store, events, batch_events, |i, n| {
        let rare = n == batch_events && rare_every <= 1000;
        let batch = (0..n - u64::from(rare)).map(|_| NewEvent::new("BenchEvent", data.clone())).collect();
        let mut parts = vec![hindsight_store::AppendPart {
            stream: format!("fill-{}", i % streams.max(1)),
            expected: ExpectedVersion::Any,
            events: batch,
        }];
        if rare {
            parts.push(hindsight_store::AppendPart {
                stream: format!("rare-{}", i % 10),
                expected: ExpectedVersion::Any,
                events: vec![NewEvent::new("RareEvent", data.clone())],
            });
        }
        parts
    })
    .await
}

/// Appends `batch(i, n)` (the i-th append, of n events) until the store
/// holds `events`, keeping 16 appends in flight through group commit.
pub async fn fill_with(
    store: &hindsight_store_embedded::EmbeddedStore,
    events: u64,
    batch_events: u64,
    mut batch: impl FnMut(u64, u64) -> Vec<hindsight_store::AppendPart>,
) -> anyhow::Result<()> {
    let mut in_flight = std::collections::VecDeque::new();
    let mut queued = store.next_position();
    let mut i = 0u64;
    while queued < events {
        let n = (events - queued).min(batch_events.max(1));
        in_flight.push_back(store.enqueue_multi(batch(i, n)).await?);
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
    Ok(())
}

/// Pages through a read to its end: (events, seconds).
async fn time_read_all(store: &impl EventReader, mut read: ReadAll) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let mut events = 0u64;
    loop {
        let slice = store.read_all(&read).await?;
        events += slice.events.len() as u64;
        read.from = Some(slice.next_position);
        if slice.end_of_log {
            return Ok((events, started.elapsed().as_secs_f64()));
        }
    }
}

/// Median microseconds of the first page of a category with nothing after
/// `from`.
async fn empty_page_micros(store: &impl EventReader, filter: hindsight_store::Filter) -> anyhow::Result<f64> {
    let from = store.next_position();
    let mut micros = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let slice = store.read_all(&ReadAll::forward(from).limit(100).filter(filter.clone())).await?;
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(slice.events.is_empty() && slice.end_of_log, "expected an empty last page");
    }
    micros.sort_by(f64::total_cmp);
    Ok(micros[micros.len() / 2])
}

pub async fn read_all(dir: Option<&Path>, args: BenchReadAllArgs) -> anyhow::Result<std::process::ExitCode> {
    let bench_dir = BenchDir::new(dir)?;
    let store = open_store(&bench_dir.path)?;
    let data = payload(args.event_size);
    let fill_started = Instant::now();
    fill(&store, args.events, args.streams, args.rare_every, &data).await?;
    let fill_seconds = fill_started.elapsed().as_secs_f64();
    let rss_before = rss_bytes();
    let head = store.next_position();
    // Plain and bounded as of the last position (what a bound costs),
    // alternated, best of three each, so neither gets a warmer cache.
    let as_of = hindsight_store::AsOf::Position(head.saturating_sub(1));
    let (mut read, mut elapsed, mut as_of_elapsed) = (0, f64::MAX, f64::MAX);
    for _ in 0..3 {
        let (n, secs) = time_read_all(&store, ReadAll::forward(0).limit(10_000)).await?;
        (read, elapsed) = (n, elapsed.min(secs));
        let (_, secs) = time_read_all(&store, ReadAll::forward(0).limit(10_000).as_of(as_of)).await?;
        as_of_elapsed = as_of_elapsed.min(secs);
    }
    let rare = hindsight_store::Filter { category: Some("rare".into()), ..Default::default() };
    // Best of several: one pass is only milliseconds long.
    let mut rare_runs = Vec::new();
    for _ in 0..20 {
        rare_runs.push(time_read_all(&store, ReadAll::forward(0).limit(10_000).filter(rare.clone())).await?);
    }
    let (rare_events, rare_elapsed) = rare_runs.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or_default();
    let empty_page_us = empty_page_micros(&store, rare).await?;
    let out = json!({
        "workload": "read-all",
        "events": read,
        "seconds": elapsed,
        "events_per_sec": (read as f64 / elapsed).round(),
        "as_of_events_per_sec": (read as f64 / as_of_elapsed).round(),
        "as_of_ratio": elapsed / as_of_elapsed,
        "category_events": rare_events,
        "category_share": rare_events as f64 / read.max(1) as f64,
        "category_events_per_sec": (rare_events as f64 / rare_elapsed).round(),
        "category_empty_page_us_p50": empty_page_us,
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
