//! Hindsight on PostgreSQL through the binary: the CLI on `--store URL`
//! (migrate, import, read, info, verify; verify names a row changed by
//! hand with psql), and two servers on one database: appends through both
//! while a raw SSE subscriber on each must see every position exactly once
//! and in order, the same event ids sent to both are stored once, and one
//! server killed under load leaves the other serving.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{Api, BIN};
use futures::StreamExt;
use hindsight_store_postgres::scratch::Database;
use serde_json::{json, Value};

/// One CLI command on the database (and a data directory beside it).
fn cli(db: &Database, dir: &Path, args: &[&str]) -> Output {
    common::run(dir, &[&["--store", db.url.as_str()], args].concat())
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_works_on_postgres_and_verify_finds_a_row_changed_by_hand() {
    let db = Database::create().await;
    let dir = tempfile::tempdir().unwrap();
    let migrated = cli(&db, dir.path(), &["migrate"]);
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let v: Value = serde_json::from_str(&stdout(&migrated)).unwrap();
    let newest = hindsight_store_postgres::schema::MIGRATIONS.last().map(|m| i64::from(m.0));
    assert_eq!((v["schema_was"].as_i64(), v["schema"].as_i64()), (Some(0), newest), "{v}");

    let mut import = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--store", &db.url, "import"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = import.stdin.take().unwrap();
        for i in 0..20 {
            writeln!(stdin, r#"{{"stream":"order-{}","type":"Placed","data":{{"n":{i}}}}}"#, i % 4).unwrap();
        }
    }
    let imported = import.wait_with_output().unwrap();
    assert!(imported.status.success());
    assert_eq!(stdout(&imported).lines().count(), 20);

    let all = cli(&db, dir.path(), &["read-all"]);
    let positions: Vec<u64> =
        stdout(&all).lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["position"].as_u64().unwrap()).collect();
    assert_eq!(positions, (0..20).collect::<Vec<_>>());
    let stream = cli(&db, dir.path(), &["read", "order-1"]);
    assert_eq!(stdout(&stream).lines().count(), 5);
    let info = cli(&db, dir.path(), &["info", "--json"]);
    let info: Value = serde_json::from_str(&stdout(&info)).unwrap();
    assert_eq!(
        (info["store"].as_str(), info["events"].as_u64(), info["streams"].as_u64()),
        (Some("postgres"), Some(20), Some(4))
    );

    let ok = cli(&db, dir.path(), &["verify", "--json"]);
    assert!(ok.status.success(), "{}", stdout(&ok));
    assert_eq!(serde_json::from_str::<Value>(&stdout(&ok)).unwrap()["events"], 20);

    // Someone edits a row behind Hindsight's back.
    let tampered = Command::new("psql")
        .arg(&db.url)
        .args(["-v", "ON_ERROR_STOP=1", "-c", r#"UPDATE hs_events SET data = '{"n": 999}' WHERE position = 7"#])
        .output()
        .expect("psql (PostgreSQL's client) runs");
    assert!(tampered.status.success(), "{}", String::from_utf8_lossy(&tampered.stderr));
    let found = cli(&db, dir.path(), &["verify", "--json"]);
    assert_eq!(found.status.code(), Some(1), "verify must fail: {}", stdout(&found));
    let report: Value = serde_json::from_str(&stdout(&found)).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["problem"]["position"], 7, "{report}");

    // Put back as it was, the row verifies again; a gap (a row deleted by
    // hand) is found, at the missing position.
    db.execute("UPDATE hs_events SET data = '{\"n\":7}' WHERE position = 7; DELETE FROM hs_events WHERE position = 12")
        .await
        .unwrap();
    let gap: Value = serde_json::from_str(&stdout(&cli(&db, dir.path(), &["verify", "--json"]))).unwrap();
    assert_eq!(gap["problem"]["position"], 12, "{gap}");
    assert!(gap["problem"]["detail"].as_str().unwrap().starts_with("missing"), "{gap}");

    let refused = Command::new(BIN).args(["--store", "mysql://x/y", "info"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a postgres:// URL"));
}

/// Positions a raw SSE connection delivers (no client-side dedup: a
/// duplicate or a step back shows), until `want` have arrived.
async fn subscribe_raw(url: String, want: usize) -> Vec<u64> {
    let response = reqwest::get(format!("{url}/v1/subscribe?from=0")).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let (mut got, mut buffer) = (Vec::with_capacity(want), String::new());
    while got.len() < want {
        let chunk = tokio::time::timeout(Duration::from_secs(30), body.next())
            .await
            .expect("events keep coming")
            .expect("the stream stays open")
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                if frame.lines().any(|l| l.starts_with("id: ")) {
                    let event: Value = serde_json::from_str(data).unwrap();
                    got.push(event["position"].as_u64().unwrap());
                }
            }
        }
    }
    got
}

async fn append(api: &Api, stream: &str, id: Option<String>) -> (u16, Value) {
    let mut event = json!({ "type": "Written", "data": { "stream": stream } });
    if let Some(id) = id {
        event["id"] = json!(id);
    }
    api.call(reqwest::Method::POST, &format!("/v1/streams/{stream}"), Some(json!({ "events": [event] }))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_agree_on_one_gapless_order() {
    let db = Database::create().await;
    let common::Pair { a, b, dirs } = common::two_servers(&db.url);
    let (api_a, api_b) = (Api::new(&a), Api::new(&b));
    let info = api_b.get_ok("/v1/info").await;
    assert_eq!(info["store"], "postgres", "{info}");

    const WRITERS: usize = 8;
    const EACH: usize = 40;
    // The same ids through both servers: stored once, same answer.
    let ids = ["0190f0c5-8c4e-7000-8000-000000000001".to_string()];
    let first = append(&api_a, "retry-1", Some(ids[0].clone())).await;
    let again = append(&api_b, "retry-1", Some(ids[0].clone())).await;
    assert_eq!((first.0, again.0), (200, 200), "{first:?} {again:?}");
    assert_eq!(first.1["first_position"], again.1["first_position"], "a retry is answered with the original");
    let total = 1 + WRITERS * EACH;

    let subs = [tokio::spawn(subscribe_raw(a.url.clone(), total)), tokio::spawn(subscribe_raw(b.url.clone(), total))];
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let api = Api { http: reqwest::Client::new(), url: if w % 2 == 0 { a.url.clone() } else { b.url.clone() } };
            tokio::spawn(async move {
                for i in 0..EACH {
                    let (status, body) = append(&api, &format!("w-{}", (w + i) % 5), None).await;
                    assert_eq!(status, 200, "{body}");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    for sub in subs {
        let got = sub.await.unwrap();
        assert!(got == (0..total as u64).collect::<Vec<_>>(), "every position once, in order: {got:?}");
    }
    let stored = api_a.get_ok("/v1/streams/retry-1").await;
    assert_eq!(stored["events"].as_array().unwrap().len(), 1, "the retried event is stored once: {stored}");

    // One server killed under load: the other keeps serving, nothing it
    // acknowledged is lost, and the log stays gapless.
    let load: Vec<_> = (0..4)
        .map(|w| {
            let api = Api { http: reqwest::Client::new(), url: a.url.clone() };
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for _ in 0..60 {
                    let (status, body) = append(&api, &format!("after-{w}"), None).await;
                    assert_eq!(status, 200, "the surviving server keeps serving: {body}");
                    acked.push(body["first_position"].as_u64().unwrap());
                }
                acked
            })
        })
        .collect();
    let doomed: Vec<_> = (0..4)
        .map(|w| {
            let api = Api { http: reqwest::Client::new(), url: b.url.clone() };
            tokio::spawn(async move {
                for _ in 0..1_000 {
                    if api
                        .http
                        .post(format!("{}/v1/streams/doomed-{w}", api.url))
                        .json(&json!({ "events": [{ "type": "X", "data": {} }] }))
                        .send()
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    b.kill9();
    let mut acked = Vec::new();
    for l in load {
        acked.extend(l.await.unwrap());
    }
    for d in doomed {
        d.await.unwrap();
    }
    let head = api_a.get_ok("/v1/info").await["events"].as_u64().unwrap();
    let all = subscribe_raw(a.url.clone(), head as usize).await;
    assert!(all == (0..head).collect::<Vec<_>>(), "gapless after the kill");
    assert!(acked.iter().all(|p| *p < head), "every acknowledged append is in the log");
    let verified = cli(&db, dirs[0].path(), &["verify", "--json"]);
    assert!(verified.status.success(), "{}", stdout(&verified));
    drop(a);
}
