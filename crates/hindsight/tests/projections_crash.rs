//! kill -9 while projections fold (20 times by default;
//! HINDSIGHT_PROJECTION_KILLS=N): after every restart each projection
//! resumes from its checkpoint, and at the end a counter that also sums
//! the positions it saw proves no event was applied twice or skipped, and
//! per-stream counts equal a from-scratch fold of the log.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{json, Value};

const COUNTER: &str = "fromAll().when({ $init: () => ({ n: 0, sum: 0 }), \
    $any: (s, e) => { s.n += 1; s.sum += e.position; } })";
const PER_STREAM: &str = "fromCategory('c').foreachStream().when({ $init: () => ({ n: 0, last: -1 }), \
    $any: (s, e) => { if (e.version !== s.last + 1) throw new Error('out of order'); s.n += 1; s.last = e.version; } })";

async fn get(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn put(client: &reqwest::Client, url: &str, name: &str, source: &str) {
    let r = client.put(format!("{url}/v1/projections/{name}")).json(&json!({ "source": source, "on_error": "stop" }));
    assert!(r.send().await.unwrap().status().is_success());
}

/// Appends batches until `stop`; returns how many events were acknowledged.
async fn append_until(client: &reqwest::Client, url: &str, round: u64, stop: Instant) -> u64 {
    let mut acked = 0;
    let mut i = 0;
    while Instant::now() < stop {
        let events: Vec<Value> = (0..20).map(|k| json!({ "type": "T", "data": { "k": k } })).collect();
        let stream = format!("c-{}", (round * 7 + i) % 5);
        match client.post(format!("{url}/v1/streams/{stream}")).json(&json!({ "events": events })).send().await {
            Ok(r) if r.status().is_success() => acked += 20,
            _ => break,
        }
        i += 1;
    }
    acked
}

async fn wait_caught_up(client: &reqwest::Client, url: &str, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = get(client, &format!("{url}/v1/projections/{name}")).await;
        assert_ne!(s["status"], "faulted", "{s}");
        if s["lag_events"] == 0 && s["position"].is_u64() {
            return s;
        }
        assert!(Instant::now() < deadline, "{name} never caught up: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_projections_fold_never_applies_an_event_twice_or_skips_one() {
    let kills: u64 = std::env::var("HINDSIGHT_PROJECTION_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut acked = 0;
    for round in 0..=kills {
        let server = Server::start(dir.path(), &[]);
        if round == 0 {
            put(&client, &server.url, "counter", COUNTER).await;
            put(&client, &server.url, "streams", PER_STREAM).await;
        }
        let run_for = Duration::from_millis(60 + (round * 37) % 200);
        acked += append_until(&client, &server.url, round, Instant::now() + run_for).await;
        if round == kills {
            let counter = wait_caught_up(&client, &server.url, "counter").await;
            wait_caught_up(&client, &server.url, "streams").await;
            let n = counter["position"].as_u64().unwrap() + 1;
            assert!(n >= acked, "every acknowledged event is in the log");
            let state = get(&client, &format!("{}/v1/projections/counter/state", server.url)).await;
            assert_eq!(state["state"], json!({ "n": n, "sum": n * (n - 1) / 2 }), "once each, none skipped");
            let mut expected = BTreeMap::new();
            let mut from = 0;
            while from < n {
                let page = get(&client, &format!("{}/v1/all?from={from}&limit=10000", server.url)).await;
                for e in page["events"].as_array().unwrap() {
                    *expected.entry(e["stream"].as_str().unwrap().to_string()).or_insert(0u64) += 1;
                    from = e["position"].as_u64().unwrap() + 1;
                }
            }
            for (stream, count) in expected {
                let s = get(&client, &format!("{}/v1/projections/streams/state?partition={stream}", server.url)).await;
                assert_eq!(s["state"]["n"], count, "{stream}");
            }
            assert!(server.terminate());
        } else {
            server.kill9();
        }
    }
}
