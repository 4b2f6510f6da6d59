//! Memory is bounded per request by bytes, not only by event count: over
//! ~1 MiB events, ten subscribers that stop reading plus four concurrent
//! full-page reads of `$all` keep the server's resident memory under the
//! budget (read from /proc).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Server;

/// The server's resident set, in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

const EVENTS: usize = 48;
const BUDGET_BYTES: u64 = 300 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_events_keep_memory_bounded_per_reader_and_subscriber() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let pad = "m".repeat((1 << 20) - 64);
    for n in 0..EVENTS {
        let body = format!(r#"{{"events":[{{"type":"Big","data":{{"n":{n},"pad":"{pad}"}}}}]}}"#);
        let r = client
            .post(format!("{}/v1/streams/big-{}", server.url, n % 4))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let pid = server.child.id();
    let before = rss_bytes(pid);
    // Ten subscribers that read a few bytes and then stop reading.
    let mut stalled = Vec::new();
    for _ in 0..10 {
        let mut c = TcpStream::connect(&server.addr).unwrap();
        write!(c, "GET /v1/subscribe?from=0 HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
        let mut first = [0u8; 256];
        let _ = c.read(&mut first).unwrap();
        stalled.push(c);
    }
    // Four concurrent reads asking for every event in one page.
    let mut peak = rss_bytes(pid);
    let reads: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (client.clone(), server.url.clone());
            tokio::spawn(async move {
                let r = client.get(format!("{url}/v1/all?limit=10000")).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let v: serde_json::Value = r.json().await.unwrap();
                v["events"].as_array().unwrap().len()
            })
        })
        .collect();
    let watcher = tokio::spawn(async move {
        let mut peak = 0;
        for _ in 0..40 {
            peak = peak.max(rss_bytes(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    });
    for r in reads {
        let n = r.await.unwrap();
        assert!((1..EVENTS).contains(&n), "a page holds {n} of {EVENTS} big events: bounded by bytes");
    }
    peak = peak.max(watcher.await.unwrap()).max(rss_bytes(pid));
    println!(
        "{}",
        serde_json::json!({ "rss_before_bytes": before, "rss_peak_bytes": peak, "budget_bytes": BUDGET_BYTES })
    );
    assert!(peak < BUDGET_BYTES, "server RSS peaked at {} MiB", peak >> 20);
    drop(stalled);
}
