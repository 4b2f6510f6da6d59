//! PostgreSQL stopped and started again under load, through the binary:
//! while it is down, requests fail fast with 503 and Retry-After; clients
//! that retry with the same event ids lose nothing and store nothing
//! twice; `/ready` says the database is unreachable; the server resumes
//! by itself. It restarts the whole PostgreSQL
//! server, so it is the only test in this file (test files run one after
//! another). `HINDSIGHT_TEST_POSTGRES_STOP` and `..._START` give the
//! commands for a server other than the local cluster.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Server;
use hindsight_store_postgres::scratch::Database;
use serde_json::{json, Value};

/// The local cluster's control command (`pg_ctlcluster VERSION main ACTION`).
fn control(action: &str) {
    let var = format!("HINDSIGHT_TEST_POSTGRES_{}", action.to_uppercase());
    let status = match std::env::var(&var) {
        Ok(cmd) => Command::new("sh").args(["-c", &cmd]).status(),
        Err(_) => {
            let version = std::fs::read_dir("/etc/postgresql")
                .expect("a local PostgreSQL cluster under /etc/postgresql (or set HINDSIGHT_TEST_POSTGRES_STOP/START)")
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .max()
                .expect("a PostgreSQL version");
            let mut args = vec!["--skip-systemctl-redirect", version.as_str(), "main", action];
            if action == "stop" {
                args.extend(["-m", "fast"]);
            }
            Command::new("pg_ctlcluster").args(args).status()
        }
    };
    assert!(status.expect("run the PostgreSQL control command").success(), "PostgreSQL {action} failed");
}

/// Makes sure the server is started again even if the test fails.
struct StartAgain;
impl Drop for StartAgain {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| control("start"));
    }
}

/// What one writer saw: the ids acknowledged (with their positions) and
/// the refusals while the database was down.
#[derive(Default)]
struct Seen {
    acked: HashMap<String, u64>,
    unavailable: usize,
    slowest_refusal: Duration,
}

/// Appends event `i` of writer `w` (its id made of both), retrying until
/// it is acknowledged; records what it saw.
async fn append_acked(http: &reqwest::Client, url: &str, w: usize, i: usize, seen: &mut Seen) {
    let id = format!("0190f0c5-8c4e-7000-8000-{w:06x}{i:06x}");
    let body = json!({ "events": [{ "id": id, "type": "Written", "data": { "w": w, "i": i } }] });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "append {id} not acknowledged within a minute");
        let started = Instant::now();
        let r = http.post(format!("{url}/v1/streams/load-{w}")).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        let retry_after = r.headers().get("retry-after").is_some();
        let answer: Value = r.json().await.unwrap();
        match status {
            200 => {
                seen.acked.insert(id, answer["first_position"].as_u64().unwrap());
                return;
            }
            503 => {
                assert!(retry_after, "a 503 says when to retry: {answer}");
                assert_eq!(answer["error"], "unavailable", "{answer}");
                seen.unavailable += 1;
                seen.slowest_refusal = seen.slowest_refusal.max(started.elapsed());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("append answered {other}: {answer}"),
        }
    }
}

/// Appends until `stop` is set.
async fn writer(url: String, w: usize, stop: Arc<AtomicBool>) -> Seen {
    let http = reqwest::Client::new();
    let mut seen = Seen::default();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        append_acked(&http, &url, w, i, &mut seen).await;
        i += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_nothing_and_service_resumes() {
    let db = Database::create().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), "127.0.0.1:0", &[], &[("HINDSIGHT_STORE", db.url.as_str())]);
    const WRITERS: usize = 4;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS).map(|w| tokio::spawn(writer(server.url.clone(), w, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    {
        let _again = StartAgain;
        control("stop");
        // Down for a while: reads are refused too, quickly.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let started = Instant::now();
        let read = reqwest::get(format!("{}/v1/all?limit=1", server.url)).await.unwrap();
        assert_eq!(read.status(), 503);
        assert!(read.headers().get("retry-after").is_some());
        assert!(started.elapsed() < Duration::from_secs(6), "a read fails fast while the database is down");
        let ready = reqwest::get(format!("{}/ready", server.url)).await.unwrap();
        assert_eq!(ready.status(), 503, "not ready while the database is down");
        let body: Value = ready.json().await.unwrap();
        assert_eq!(body["error"], "degraded", "{body}");
    }
    // Back up: the server resumes by itself, and the writers go on a while.
    let mut probe = Seen::default();
    let restarted = Instant::now();
    append_acked(&reqwest::Client::new(), &server.url, WRITERS, 0, &mut probe).await;
    assert!(
        restarted.elapsed() < Duration::from_secs(10),
        "service resumed {:?} after the restart",
        restarted.elapsed()
    );
    let ready_again = Instant::now() + Duration::from_secs(10);
    while reqwest::get(format!("{}/ready", server.url)).await.unwrap().status() != 200 {
        assert!(Instant::now() < ready_again, "ready again once the database is back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = probe.acked;
    let mut unavailable = 0;
    for w in writers {
        let seen = w.await.unwrap();
        assert!(seen.slowest_refusal < Duration::from_secs(6), "refusals come fast: {:?}", seen.slowest_refusal);
        unavailable += seen.unavailable;
        acked.extend(seen.acked);
    }
    assert!(unavailable > 0, "the writers saw the database go away");
    assert!(acked.len() >= WRITERS, "every writer was acknowledged");

    // Every acknowledged id once, at the position it was acknowledged at,
    // in a gapless log that verifies.
    let api = common::Api::new(&server);
    let mut stored: HashMap<String, u64> = HashMap::new();
    let mut from = 0;
    loop {
        let page = api.get_ok(&format!("/v1/all?from={from}&limit=1000")).await;
        for e in page["events"].as_array().unwrap() {
            let (id, position) = (e["id"].as_str().unwrap().to_string(), e["position"].as_u64().unwrap());
            assert_eq!(position, stored.len() as u64, "gapless");
            assert!(stored.insert(id, position).is_none(), "an id stored twice");
        }
        if page["end_of_log"] == true {
            break;
        }
        from = page["next_position"].as_u64().unwrap();
    }
    assert_eq!(stored, acked, "exactly what was acknowledged, where it was acknowledged");
    let verified = common::run(dir.path(), &["--store", &db.url, "verify"]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
}
