//! Reads as of a point from the outside, over HTTP and on the CLI: each
//! selector kind, a point beyond the head, a malformed point, `stream-info`,
//! `$all` backwards; and the CLI and the server print the same bytes for
//! the same events and the same errors (both write through
//! `hindsight-wire`).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{import, run, Server};
use serde_json::Value;

/// a-1 at positions 0, 1, 4; b-1 at 2, 3; three imports a few
/// milliseconds apart, so each has its own timestamp.
fn build(dir: &Path) -> Vec<Value> {
    let batches = [
        vec![r#"{"stream":"a-1","events":[{"type":"A","data":0},{"type":"A","data":1}]}"#],
        vec![r#"{"stream":"b-1","events":[{"type":"B","data":2},{"type":"B","data":3}]}"#],
        vec![r#"{"stream":"a-1","type":"A2","data":4,"tags":["t:1"],"metadata":{"who":"x\"y"}}"#],
    ];
    for lines in batches {
        let out = import(dir, &lines);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(5));
    }
    lines(&ok(run(dir, &["read-all"])))
}

fn ok(out: std::process::Output) -> Vec<u8> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn positions(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["position"].as_u64().unwrap()).collect()
}

/// The JSON error line a failed command prints.
fn error_line(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected a failure: {}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    text.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON error in {text}")).to_string()
}

#[test]
fn the_cli_reads_as_of_each_kind_of_point() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = build(d);
    assert_eq!(positions(&log), [0, 1, 2, 3, 4]);
    let read = |args: &[&str]| positions(&lines(&ok(run(d, args))));
    assert_eq!(read(&["read-all", "--as-of", "position:2"]), [0, 1, 2]);
    assert_eq!(read(&["read-all", "--backward"]), [4, 3, 2, 1, 0]);
    assert_eq!(read(&["read-all", "--backward", "--as-of", "position:3", "--limit", "2"]), [3, 2]);
    assert_eq!(read(&["read", "a-1", "--as-of", "position:3"]), [0, 1]);
    assert_eq!(read(&["read", "a-1", "--as-of", "version:2"]), [0, 1, 4]);
    assert_eq!(read(&["read", "a-1", "--backward", "--as-of", "version:1"]), [1, 0]);
    let t = log[2]["timestamp"].as_str().unwrap();
    assert_eq!(read(&["read-all", "--as-of", &format!("time:{t}")]), [0, 1, 2, 3]);
    assert_eq!(read(&["read", "b-1", "--as-of", "time:2001-01-01T00:00:00Z"]), Vec::<u64>::new());
    let info: Value = serde_json::from_slice(&ok(run(d, &["stream-info", "a-1", "--as-of", "position:3"]))).unwrap();
    assert_eq!(
        (info["last_version"].as_u64(), info["last_position"].as_u64(), info["events"].as_u64()),
        (Some(1), Some(1), Some(2))
    );
    let now: Value = serde_json::from_slice(&ok(run(d, &["stream-info", "a-1"]))).unwrap();
    assert_eq!(now["last_position"], 4);
    // Did not exist yet: exit 1, like a stream that does not exist.
    assert_eq!(run(d, &["stream-info", "b-1", "--as-of", "position:1"]).status.code(), Some(1));
    // Beyond the head, and malformed.
    let beyond = error_line(&run(d, &["read-all", "--as-of", "position:5"]));
    assert!(beyond.contains("\"error\":\"as_of_beyond_head\""), "{beyond}");
    let beyond = error_line(&run(d, &["read", "a-1", "--as-of", "version:3"]));
    assert!(beyond.contains("as_of_beyond_head"), "{beyond}");
    let version_on_all = error_line(&run(d, &["read-all", "--as-of", "version:1"]));
    assert!(version_on_all.contains("invalid_as_of"), "{version_on_all}");
    let malformed = run(d, &["read-all", "--as-of", "yesterday"]);
    assert_eq!(malformed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&malformed.stderr).contains("position:N"));
}

async fn get(url: &str, ndjson: bool) -> (u16, String) {
    let mut req = reqwest::Client::new().get(url);
    if ndjson {
        req = req.header("accept", "application/x-ndjson");
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reads_as_of_each_kind_of_point_and_prints_what_the_cli_prints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = build(d);
    // What the CLI prints, before the server takes the directory.
    let cli_all = String::from_utf8(ok(run(d, &["read-all"]))).unwrap();
    let cli_as_of = String::from_utf8(ok(run(d, &["read", "a-1", "--as-of", "position:3"]))).unwrap();
    let cli_conflict =
        error_line(&run(d, &["append", "a-1", "--type", "T", "--json", "{}", "--expected-version", "7"]));
    let cli_beyond = error_line(&run(d, &["read-all", "--as-of", "position:9"]));
    let server = Server::start(d, &[]);
    let u = &server.url;
    // Byte for byte the same events and errors.
    assert_eq!(get(&format!("{u}/v1/all?limit=100"), true).await, (200, cli_all));
    assert_eq!(get(&format!("{u}/v1/streams/a-1?as_of=position:3"), true).await, (200, cli_as_of));
    let conflict = reqwest::Client::new()
        .post(format!("{u}/v1/streams/a-1"))
        .header("content-type", "application/json")
        .body(r#"{"expected_version":7,"events":[{"type":"T","data":{}}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status().as_u16(), 409);
    assert_eq!(conflict.text().await.unwrap(), cli_conflict);
    assert_eq!(get(&format!("{u}/v1/all?as_of=position:9"), false).await, (400, cli_beyond));
    // Each selector kind.
    let page = |body: String| -> Value { serde_json::from_str(&body).unwrap() };
    let (s, body) = get(&format!("{u}/v1/all?as_of=position:2&limit=10"), false).await;
    let v = page(body);
    assert_eq!(
        (s, positions(v["events"].as_array().unwrap()), v["end_of_log"].as_bool()),
        (200, vec![0, 1, 2], Some(true))
    );
    let t = log[2]["timestamp"].as_str().unwrap().replace('+', "%2B");
    let (_, body) = get(&format!("{u}/v1/all?as_of=time:{t}"), false).await;
    assert_eq!(positions(page(body)["events"].as_array().unwrap()), [0, 1, 2, 3]);
    let (_, body) = get(&format!("{u}/v1/streams/a-1?as_of=version:1&direction=backwards"), false).await;
    assert_eq!(positions(page(body)["events"].as_array().unwrap()), [1, 0]);
    let (_, body) = get(&format!("{u}/v1/all?direction=backwards&category=a&limit=1"), false).await;
    let v = page(body);
    assert_eq!((positions(v["events"].as_array().unwrap()), v["next_position"].as_u64()), (vec![4], Some(3)));
    let (s, body) = get(&format!("{u}/v1/streams/a-1/info?as_of=position:3"), false).await;
    let v = page(body);
    assert_eq!((s, v["last_version"].as_u64(), v["last_position"].as_u64()), (200, Some(1), Some(1)));
    let (s, body) = get(&format!("{u}/v1/streams/b-1/info?as_of=position:1"), false).await;
    assert_eq!((s, page(body)["error"].as_str()), (404, Some("stream_not_found")));
    let (s, body) = get(&format!("{u}/v1/streams/b-1?as_of=position:1"), false).await;
    assert_eq!((s, page(body)["error"].as_str()), (404, Some("stream_not_found")));
    // Refusals.
    for (query, status, code) in [
        ("/v1/all?as_of=position:5", 400, "as_of_beyond_head"),
        ("/v1/all?as_of=time:2999-01-01T00:00:00Z", 400, "as_of_beyond_head"),
        ("/v1/streams/a-1?as_of=version:3", 400, "as_of_beyond_head"),
        ("/v1/streams/a-1/info?as_of=position:99", 400, "as_of_beyond_head"),
        ("/v1/all?as_of=version:1", 400, "invalid_as_of"),
        ("/v1/all?as_of=42", 400, "invalid_as_of"),
        ("/v1/streams/a-1?as_of=time:noon", 400, "invalid_as_of"),
        ("/v1/streams/a-1/info?as_of=position:-1", 400, "invalid_as_of"),
        ("/v1/all?direction=sideways", 400, "invalid_query"),
    ] {
        let (s, body) = get(&format!("{u}{query}"), false).await;
        assert_eq!((s, page(body.clone())["error"].as_str()), (status, Some(code)), "{query}: {body}");
    }
    assert!(server.terminate());
}
