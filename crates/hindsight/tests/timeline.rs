//! What the debugger pages through: a subject's events by index
//! (`/timeline` on streams, projection partitions and both on forks),
//! where a point falls among them, ticks for a time axis; and finding
//! streams by prefix or category, newest first, with a bounded scan that
//! says when it did not reach the start.

mod common;

use common::{Api, Server};
use serde_json::{json, Value};

const TOTALS: &str = r#"
fromCategory('order').foreachStream().when({
  $init: () => ({ total: 0 }),
  Added: (s, e) => { s.total += e.data.n; },
  Noted: (s, e) => {},
})"#;

fn positions(t: &Value) -> Vec<u64> {
    t["events"].as_array().unwrap().iter().map(|e| e["position"].as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeline_pages_a_subjects_events_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    // order-1 at positions 0, 2, 4, ... (interleaved with order-2).
    for i in 0..10 {
        let (kind, data) = if i == 5 { ("Noted", json!({})) } else { ("Added", json!({ "n": i })) };
        api.post_ok("/v1/streams/order-1", json!({ "events": [{ "type": kind, "data": data }] })).await;
        api.post_ok("/v1/streams/order-2", json!({ "events": [{ "type": "Added", "data": { "n": 1 } }] })).await;
    }
    let t = api.get_ok("/v1/streams/order-1/timeline?from=3&limit=4&at=position:9&ticks=3").await;
    assert_eq!((t["count"].as_u64(), t["from"].as_u64(), t["stream"].as_str()), (Some(10), Some(3), Some("order-1")));
    assert_eq!(positions(&t), [6, 8, 10, 12]);
    assert_eq!(t["events"][0]["index"], 3);
    assert_eq!(t["events"][0]["version"], 3);
    // Position 9 is order-2's: the last of order-1's at or before it is #4.
    assert_eq!(t["at_index"], 4);
    let ticks: Vec<(u64, u64)> = t["ticks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["index"].as_u64().unwrap(), k["position"].as_u64().unwrap()))
        .collect();
    assert_eq!(ticks, [(0, 0), (4, 8), (9, 18)]);
    assert!(t["ticks"][0]["timestamp"].as_str().unwrap().ends_with('Z'));
    // Before the subject's first event nothing is at or before the point.
    let t = api.get_ok("/v1/streams/order-2/timeline?limit=0&at=position:0").await;
    assert_eq!((t["at_index"].clone(), t["events"].as_array().unwrap().len()), (Value::Null, 0));

    // A projection partition: the events it folded, and which changed it.
    api.call(reqwest::Method::PUT, "/v1/projections/totals", Some(json!({ "source": TOTALS }))).await;
    let p = loop {
        let p = api.get_ok("/v1/projections/totals").await;
        if p["lag_events"] == 0 && p["position"] == 19 {
            break p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(p["status"], "running");
    let t = api.get_ok("/v1/projections/totals/timeline?partition=order-1&from=4&limit=3").await;
    assert_eq!((t["count"].as_u64(), t["partition"].as_str()), (Some(10), Some("order-1")));
    assert_eq!(positions(&t), [8, 10, 12]);
    let changes: Vec<u64> = t["events"].as_array().unwrap().iter().map(|e| e["changes"].as_u64().unwrap()).collect();
    assert_eq!(changes, [1, 0, 1], "the Noted event at #5 left the state as it was");

    // On a fork that skips order-1's #2: its own positions, one fewer event.
    api.post_ok("/v1/forks", json!({ "name": "f" })).await;
    api.post_ok("/v1/forks/f/skip", json!({ "positions": [4] })).await;
    let t = api.get_ok("/v1/forks/f/streams/order-1/timeline?limit=3").await;
    assert_eq!(t["count"], 9);
    assert_eq!(positions(&t), [0, 2, 5], "fork positions close the gap the skip left");
    let t = api.get_ok("/v1/forks/f/projections/totals/timeline?partition=order-1&limit=0").await;
    assert_eq!(t["count"], 9);

    // Mistakes are 400s and 404s with the API's error bodies.
    for (path, status, code) in [
        ("/v1/streams/nope/timeline", 404, "stream_not_found"),
        ("/v1/streams/order-1/timeline?partition=x", 400, "invalid_query"),
        ("/v1/streams/order-1/timeline?ticks=65", 400, "invalid_query"),
        ("/v1/streams/order-1/timeline?at=position:x", 400, "invalid_as_of"),
        ("/v1/forks/nope/streams/order-1/timeline", 404, "fork_not_found"),
    ] {
        let (got, body) = api.call(reqwest::Method::GET, path, None).await;
        assert_eq!((got, body["error"].as_str().unwrap_or("")), (status, code), "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_found_by_prefix_and_category_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    let empty = api.get_ok("/v1/streams?prefix=order").await;
    assert_eq!(empty, json!({ "streams": [], "scanned_from": 0, "complete": true }));
    for s in ["order-1", "order-2", "orderly-1", "stock-1", "order-1"] {
        api.post_ok(&format!("/v1/streams/{s}"), json!({ "events": [{ "type": "E", "data": {} }] })).await;
    }
    let names = |v: &Value| -> Vec<String> {
        v["streams"].as_array().unwrap().iter().map(|s| s["stream"].as_str().unwrap().to_string()).collect()
    };
    let found = api.get_ok("/v1/streams?prefix=order").await;
    assert_eq!(names(&found), ["order-1", "orderly-1", "order-2"]);
    assert_eq!(found["streams"][0]["last_position"], 4);
    assert_eq!(found["complete"], true);
    assert_eq!(names(&api.get_ok("/v1/streams?category=order").await), ["order-1", "order-2"]);
    assert_eq!(names(&api.get_ok("/v1/streams").await), ["order-1", "stock-1", "orderly-1", "order-2"]);
    let first = api.get_ok("/v1/streams?prefix=order&limit=1").await;
    assert_eq!((names(&first), first["complete"].as_bool()), (vec!["order-1".to_string()], Some(false)));
    // A scan bounded to the newest two positions says it stopped short.
    let short = api.get_ok("/v1/streams?scan=2").await;
    assert_eq!((names(&short), short["complete"].as_bool()), (vec!["order-1".into(), "stock-1".into()], Some(false)));
    assert_eq!(short["scanned_from"], 3);
    let (status, body) = api.call(reqwest::Method::GET, "/v1/streams?limit=0", None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_query")));
}
