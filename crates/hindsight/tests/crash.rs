//! Kill -9 crash loop: a real `hindsight import` process, fed by
//! concurrent generators (single events, batches, appends across streams,
//! fresh streams with `no_stream`, retries of earlier lines), is killed at
//! random moments and restarted, over and over on the same data
//! directory. After every kill:
//! - every acknowledged line's events are stored at the acknowledged
//!   positions, in the acknowledged streams;
//! - every line, acknowledged or not, is stored whole or not at all;
//! - positions are gapless and unique, each stream's versions gapless;
//! - reading a stream through the index agrees with `$all`;
//! - `verify` is clean.
//!
//! `HINDSIGHT_CRASH_KILLS` sets the number of kills (default 50);
//! `HINDSIGHT_CRASH_SEED` replays a run (the seed is printed).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_hindsight");

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One input line as sent: its text and, per part, the stream and ids.
#[derive(Clone, Debug)]
struct Spec {
    text: String,
    parts: Vec<(String, Vec<String>)>,
}

fn event(id: &str, n: u64) -> Value {
    json!({ "type": "Crash", "id": id, "data": { "n": n, "pad": "z".repeat((n % 50) as usize) } })
}

fn generate(rng: &mut Rng, gen: u64, seq: &mut u64, history: &mut Vec<Spec>) -> Spec {
    *seq += 1;
    let mut id = |i: u64| format!("{:08x}-0000-4000-8000-{:012x}", gen, *seq * 1000 + i);
    let kind = rng.below(10);
    if kind == 0 && !history.is_empty() {
        let i = rng.below(history.len() as u64) as usize;
        return history[i].clone();
    }
    let spec = match kind {
        1..=4 => {
            let stream = format!("g{gen}-{}", rng.below(8));
            let id = id(0);
            // Some lines expect an exact version, and are refused when it does not hold.
            let expected = if kind == 4 { json!(rng.below(40)) } else { json!("any") };
            let text = json!({ "stream": stream, "type": "Crash", "id": id, "data": { "n": *seq }, "expected_version": expected })
                .to_string();
            Spec { text, parts: vec![(stream, vec![id])] }
        }
        5..=7 => {
            let fresh = rng.below(2) == 0;
            let stream = if fresh { format!("fresh{gen}-{}", *seq) } else { format!("g{gen}-{}", rng.below(8)) };
            let n = 1 + rng.below(20);
            let ids: Vec<String> = (0..n).map(&mut id).collect();
            let events: Vec<Value> = ids.iter().zip(0..).map(|(i, k)| event(i, k)).collect();
            let expected = if fresh { json!("no_stream") } else { json!("any") };
            let text = json!({ "stream": stream, "expected_version": expected, "events": events }).to_string();
            Spec { text, parts: vec![(stream, ids)] }
        }
        _ => {
            let mut parts = Vec::new();
            let mut appends = Vec::new();
            for p in 0..2 + rng.below(2) {
                let stream = format!("m{gen}-{}-{p}", rng.below(4));
                let ids: Vec<String> = (0..1 + rng.below(3)).map(|k| id(p * 100 + k)).collect();
                let events: Vec<Value> = ids.iter().zip(0..).map(|(i, k)| event(i, k)).collect();
                appends.push(json!({ "stream": stream, "events": events }));
                parts.push((stream, ids));
            }
            Spec { text: json!({ "appends": appends }).to_string(), parts }
        }
    };
    history.push(spec.clone());
    spec
}

#[derive(Debug, Clone)]
struct Stored {
    stream: String,
    version: u64,
    position: u64,
}

fn read_all(dir: &Path, from: usize) -> Vec<Value> {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(["read-all", "--from", &from.to_string()])
        .output()
        .expect("run read-all");
    assert!(out.status.success(), "read-all failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout.lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect()
}

/// One run of `import`, killed after `kill_after`; returns the lines sent
/// and the acknowledgements received.
fn run_once(
    dir: &Path,
    run: u64,
    rng_seed: u64,
    kill_after: Duration,
    env: &[(&str, &str)],
) -> (Vec<Spec>, Vec<Value>) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .arg("import")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn import");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let sent: Arc<Mutex<Vec<Spec>>> = Arc::default();
    let (tx, rx) = sync_channel::<Spec>(256);
    let generators: Vec<_> = (0..3u64)
        .map(|g| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut rng = Rng(rng_seed ^ (g + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let mut seq = 0;
                let mut history = Vec::new();
                // Unique per run and generator, so no two lines share an id by accident.
                let gen = run * 4 + g;
                while tx.send(generate(&mut rng, gen, &mut seq, &mut history)).is_ok() {}
            })
        })
        .collect();
    drop(tx);
    let writer_sent = sent.clone();
    let writer = thread::spawn(move || {
        for spec in rx {
            writer_sent.lock().unwrap().push(spec.clone());
            if writeln!(stdin, "{}", spec.text).is_err() {
                break;
            }
        }
    });
    let reader = thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .map(|l| serde_json::from_str::<Value>(&l).unwrap())
            .collect::<Vec<_>>()
    });
    thread::sleep(kill_after);
    child.kill().expect("kill -9");
    child.wait().unwrap();
    let acks = reader.join().unwrap();
    writer.join().unwrap();
    for g in generators {
        g.join().unwrap();
    }
    let sent = sent.lock().unwrap().clone();
    (sent, acks)
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    let kills: u64 = std::env::var("HINDSIGHT_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let seed: u64 = std::env::var("HINDSIGHT_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    println!("crash loop: {kills} kills, HINDSIGHT_CRASH_SEED={seed}");
    let dir = tempfile::tempdir().unwrap();
    // Small segments and memtable: kills land during rotations and index flushes too.
    let env = [("HINDSIGHT_SEGMENT_BYTES", "262144"), ("HINDSIGHT_MEMTABLE_EVENTS", "2000")];
    let mut rng = Rng(seed);
    let mut all_lines: Vec<Spec> = Vec::new();
    let mut acked: HashMap<String, (Spec, Value)> = HashMap::new();
    let mut stored: HashMap<String, Stored> = HashMap::new();
    let mut stream_versions: HashMap<String, u64> = HashMap::new();
    let (mut n_acked, mut n_refused) = (0u64, 0u64);
    let (mut total_replayed, mut total_truncated) = (0u64, 0u64);
    for kill in 0..kills {
        let run_seed = rng.next() | 1;
        let kill_after = Duration::from_millis(5 + rng.below(120));
        let (sent, acks) = run_once(dir.path(), kill, run_seed, kill_after, &env);
        for ack in &acks {
            let line = ack["line"].as_u64().expect("line number") as usize;
            let spec = sent.get(line - 1).unwrap_or_else(|| panic!("ack for unsent line {line}")).clone();
            if ack.get("error").is_some() {
                n_refused += 1;
                continue;
            }
            n_acked += 1;
            acked.insert(format!("{kill}:{line}"), (spec, ack.clone()));
        }
        all_lines.extend(sent);
        // The first open after the kill: the checkpoint (written atomically)
        // is always usable, so recovery replays only the tail.
        let info =
            Command::new(BIN).arg("--data-dir").arg(dir.path()).args(["info", "--json"]).envs(env).output().unwrap();
        assert!(
            info.status.success(),
            "seed {seed}: open after kill {kill}: {}",
            String::from_utf8_lossy(&info.stderr)
        );
        let info: Value = serde_json::from_slice(&info.stdout).unwrap();
        assert_eq!(info["recovery"]["rebuilt_index"], false, "seed {seed}: the index checkpoint was lost: {info}");
        total_replayed += info["recovery"]["replayed_events"].as_u64().unwrap();
        total_truncated += info["recovery"]["truncated_bytes"].as_u64().unwrap();
        // Nothing checked before was lost: the store holds at least as many events.
        let total = info["events"].as_u64().unwrap() as usize;
        assert!(total >= stored.len(), "seed {seed}: the store shrank from {} to {total} events", stored.len());
        // New events since the last check: gapless positions and versions.
        let checked = stored.len();
        let events = read_all(dir.path(), checked);
        assert_eq!(checked + events.len(), total, "seed {seed}: read-all and info disagree");
        for (i, e) in events.iter().enumerate() {
            assert_eq!(
                e["position"].as_u64(),
                Some((checked + i) as u64),
                "seed {seed}: positions gapless at {}",
                checked + i
            );
        }
        for e in events.iter() {
            let stream = e["stream"].as_str().unwrap().to_string();
            let version = e["version"].as_u64().unwrap();
            let want = stream_versions.get(&stream).map_or(0, |v| v + 1);
            assert_eq!(version, want, "seed {seed}: versions of {stream} gapless");
            stream_versions.insert(stream.clone(), version);
            let id = e["id"].as_str().unwrap().to_string();
            let prev = stored.insert(id.clone(), Stored { stream, version, position: e["position"].as_u64().unwrap() });
            assert!(prev.is_none(), "seed {seed}: id {id} stored twice");
        }
        assert_eq!(stored.len(), total, "seed {seed}: every event has a distinct id");
        // Every acknowledged line at its acknowledged place.
        for (key, (spec, ack)) in &acked {
            let results: Vec<&Value> = match ack.get("results") {
                Some(r) => r.as_array().unwrap().iter().collect(),
                None => vec![ack],
            };
            assert_eq!(results.len(), spec.parts.len(), "seed {seed}: {key}");
            for ((stream, ids), r) in spec.parts.iter().zip(results) {
                let first = r["first_position"].as_u64().unwrap();
                for (k, id) in ids.iter().enumerate() {
                    let s = stored.get(id).unwrap_or_else(|| panic!("seed {seed}: acknowledged {key} event {id} lost"));
                    assert_eq!(&s.stream, stream, "seed {seed}: {key}");
                    assert_eq!(s.position, first + k as u64, "seed {seed}: {key} position");
                }
                let last = &stored[ids.last().unwrap()];
                assert_eq!(r["next_expected_version"].as_u64(), Some(last.version), "seed {seed}: {key}");
            }
        }
        // Every line whole or not at all.
        for spec in &all_lines {
            let ids: Vec<&String> = spec.parts.iter().flat_map(|(_, ids)| ids).collect();
            let present = ids.iter().filter(|id| stored.contains_key(**id)).count();
            assert!(present == 0 || present == ids.len(), "seed {seed}: partial append {}", spec.text);
        }
        // The stream index agrees with $all for one stream.
        if let Some(e) = events.last() {
            let stream = e["stream"].as_str().unwrap();
            let out = Command::new(BIN).arg("--data-dir").arg(dir.path()).args(["read", stream]).output().unwrap();
            let via_index: Vec<Value> =
                out.stdout.lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
            let via_all: Vec<&Value> = events.iter().filter(|x| x["stream"] == stream).collect();
            assert_eq!(via_index.iter().collect::<Vec<_>>(), via_all, "seed {seed}: read {stream}");
        }
        let verify = Command::new(BIN).arg("--data-dir").arg(dir.path()).args(["verify", "--json"]).output().unwrap();
        assert!(
            verify.status.success(),
            "seed {seed}: verify after kill {kill}: {}",
            String::from_utf8_lossy(&verify.stdout)
        );
    }
    let distinct: HashSet<&String> = stored.keys().collect();
    println!(
        "crash loop done: {kills} kills, {} lines sent, {n_acked} acknowledged, {n_refused} refused, {} events stored; \
         recovery replayed {total_replayed} events and cut {total_truncated} bytes of unfinished commits in all",
        all_lines.len(),
        distinct.len()
    );
    assert!(n_acked > 0, "the loop must acknowledge something to be meaningful");
}
