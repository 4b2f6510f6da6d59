//! Time travel over a stream's document from the outside, over HTTP: the
//! state at each kind of point, history, diff (both formats), blame with
//! its history, watch both ways, and clear errors for bad pointers, ops,
//! values, points and unknown streams.

mod common;

use common::Server;
use serde_json::{json, Value};

struct Api {
    url: String,
    http: reqwest::Client,
}

impl Api {
    async fn append(&self, stream: &str, event_type: &str, data: Value) {
        let body = json!({ "events": [{ "type": event_type, "data": data, "metadata": { "correlation_id": "c-1" } }] });
        let r = self.http.post(format!("{}/v1/streams/{stream}", self.url)).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn error(&self, path: &str) -> (u16, String) {
        let (status, body) = self.get(path).await;
        assert_ne!(status, 200, "{path} answered {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        (status, body["error"].as_str().unwrap().to_string())
    }
}

/// account-1: v0 opened (position 0), v1 deposit (1), v2 overdrawn (3),
/// v3 tagged (4), v4 closed (5); account-2 at position 2.
async fn build(api: &Api) {
    api.append("account-1", "Opened", json!({ "owner": "ann", "balance": 0, "status": "open" })).await;
    api.append("account-1", "Deposited", json!({ "balance": 50 })).await;
    api.append("account-2", "Opened", json!({ "balance": 5 })).await;
    api.append("account-1", "Withdrawn", json!({ "balance": -20 })).await;
    api.append("account-1", "Tagged", json!({ "tags": { "vip": true } })).await;
    api.append("account-1", "Closed", json!({ "status": "closed", "tags": { "vip": null } })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streams_document_at_any_point_its_history_blame_and_watch() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api { url: server.url.clone(), http: reqwest::Client::new() };
    build(&api).await;
    let base = "/v1/streams/account-1";

    // State at each kind of point.
    let then = api.ok(&format!("{base}/state?as_of=version:1")).await;
    assert_eq!(then["state"], json!({ "owner": "ann", "balance": 50, "status": "open" }));
    assert_eq!((then["version"].as_u64(), then["position"].as_u64()), (Some(1), Some(1)));
    assert_eq!(api.ok(&format!("{base}/state?as_of=position:2")).await["state"], then["state"]);
    let now = api.ok(&format!("{base}/state")).await;
    assert_eq!(now["state"], json!({ "owner": "ann", "balance": -20, "status": "closed", "tags": {} }));
    assert_eq!(now["events_folded"], 5, "{now}");
    assert_eq!(now["keyframe_position"], Value::Null);

    // History: what each event after version 0 changed.
    let h = api.ok(&format!("{base}/history?from=version:0&limit=2")).await;
    let changes = h["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0]["event"]["type"], "Deposited");
    assert_eq!(changes[0]["patch"], json!([{ "op": "replace", "path": "/balance", "value": 50 }]));
    assert!(changes[0]["event"].get("data").is_none());
    assert_eq!(h["next_from"], "position:3");
    let rest = api.ok(&format!("{base}/history?from=position:3")).await;
    let types: Vec<&str> =
        rest["changes"].as_array().unwrap().iter().map(|c| c["event"]["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["Tagged", "Closed"]);
    assert_eq!(rest["next_from"], Value::Null);

    // Diff: the patch turns the old document into the new one.
    let d = api.ok(&format!("{base}/diff?from=version:1")).await;
    let mut doc = then["state"].clone();
    json_patch::patch(&mut doc, &serde_json::from_value::<json_patch::Patch>(d["patch"].clone()).unwrap()).unwrap();
    assert_eq!(doc, now["state"]);
    let side = api.ok(&format!("{base}/diff?from=version:1&to=version:2&format=side-by-side")).await;
    assert_eq!(side["changed"], json!(["/balance"]));
    assert_eq!(side["to"]["state"]["balance"], -20);

    // Blame: who set the status, and what it was before.
    let b = api.ok(&format!("{base}/blame?pointer=/status")).await;
    assert_eq!((b["value"].clone(), b["event"]["type"].clone()), (json!("closed"), json!("Closed")));
    assert_eq!(b["event"]["metadata"]["correlation_id"], "c-1");
    assert_eq!(b["history"][0]["value"], "open");
    assert_eq!(b["history"][0]["event"]["version"], 0);
    assert_eq!((b["more"].clone(), b["next_as_of"].clone()), (json!(false), Value::Null));
    // Paged: one earlier value a page, the next page as of just before it.
    let page = api.ok(&format!("{base}/blame?pointer=/balance&limit=1")).await;
    assert_eq!((page["more"].clone(), page["history"][0]["value"].clone()), (json!(true), json!(50)));
    let next = page["next_as_of"].as_str().unwrap();
    let page = api.ok(&format!("{base}/blame?pointer=/balance&limit=1&as_of={next}")).await;
    assert_eq!((page["value"].clone(), page["event"]["type"].clone()), (json!(0), json!("Opened")));
    let b = api.ok(&format!("{base}/blame?pointer=/balance&as_of=version:1")).await;
    assert_eq!((b["value"].clone(), b["event"]["version"].clone()), (json!(50), json!(1)));
    // A container blames the newest change under it, naming the leaves.
    let b = api.ok(&format!("{base}/blame?pointer=/tags")).await;
    assert_eq!(b["event"]["type"], "Closed");
    assert_eq!(b["value"], json!({}));
    let pointers: Vec<&str> = b["writes"].as_array().unwrap().iter().map(|w| w["pointer"].as_str().unwrap()).collect();
    assert_eq!(pointers, ["/tags", "/tags/vip"]);

    // Watch: when did the balance first go below zero?
    let w = api.ok(&format!("{base}/watch?pointer=/balance&op=lt&value=0")).await;
    assert_eq!((w["found"].clone(), w["event"]["version"].clone()), (json!(true), json!(2)));
    assert_eq!((w["value"].clone(), w["previous"].clone()), (json!(-20), json!(50)));
    let w = api.ok(&format!("{base}/watch?pointer=/balance&op=lt&value=0&direction=forward&from=version:0")).await;
    assert_eq!(w["event"]["version"], 2);
    let w = api.ok(&format!("{base}/watch?pointer=/status&op=eq&value=%22closed%22&from=version:3")).await;
    assert_eq!(w["found"], false);
    let w = api.ok(&format!("{base}/watch?pointer=/tags/vip&op=exists")).await;
    assert_eq!(w["event"]["type"], "Tagged");
    let w = api.ok(&format!("{base}/watch?pointer=/balance&op=gt&value=100")).await;
    assert_eq!((w["found"].clone(), w["event"].clone()), (json!(false), Value::Null));

    // Errors name what is wrong.
    assert_eq!(api.error(&format!("{base}/blame?pointer=status")).await, (400, "invalid_query".into()));
    assert_eq!(api.error(&format!("{base}/blame?pointer=/nope")).await, (404, "never_set".into()));
    assert_eq!(api.error(&format!("{base}/watch?pointer=/balance&op=between")).await, (400, "invalid_query".into()));
    assert_eq!(api.error(&format!("{base}/watch?pointer=/balance&op=lt")).await, (400, "invalid_query".into()));
    assert_eq!(api.error(&format!("{base}/watch?pointer=/balance&op=eq&value=closed")).await.0, 400);
    assert_eq!(api.error(&format!("{base}/state?as_of=position:99")).await.0, 400);
    assert_eq!(api.error(&format!("{base}/state?as_of=yesterday")).await.0, 400);
    assert_eq!(api.error(&format!("{base}/diff?to=version:1")).await.0, 400);
    assert_eq!(api.error(&format!("{base}/diff?from=version:1&format=table")).await.0, 400);
    assert_eq!(api.error(&format!("{base}/history?from=version:3&until=version:1")).await.0, 400);
    assert_eq!(api.error("/v1/streams/account-9/state").await, (404, "stream_not_found".into()));
    assert_eq!(api.error("/v1/streams/account-2/state?as_of=position:1").await, (404, "stream_not_found".into()));

    // New events are seen by the next question.
    api.append("account-1", "Reopened", json!({ "status": "open" })).await;
    assert_eq!(api.ok(&format!("{base}/blame?pointer=/status")).await["event"]["type"], "Reopened");
}

/// The CLI answers the same with a server and on the data directory
/// alone (`--json`), prints text by default, and fails on a watch that
/// finds nothing and on bad input with the API's error.
#[test]
fn the_cli_travels_in_time_with_and_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lines = [
        r#"{"stream":"order-1","type":"Placed","data":{"total":30,"status":"placed"},"metadata":{"correlation_id":"k-7"}}"#,
        r#"{"stream":"order-2","type":"Placed","data":{"total":5}}"#,
        r#"{"stream":"order-1","type":"Discounted","data":{"total":-3}}"#,
        r#"{"stream":"order-1","type":"Cancelled","data":{"status":"cancelled"}}"#,
    ];
    let out = common::import(d, &lines);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let asks: [&[&str]; 6] = [
        &["at", "--stream", "order-1", "--as-of", "version:1"],
        &["history", "--stream", "order-1", "--from", "version:0"],
        &["diff", "--stream", "order-1", "--from", "version:0", "--side-by-side"],
        &["blame", "--stream", "order-1", "/status"],
        &["watch", "--stream", "order-1", "/total", "lt", "0"],
        &["watch", "--stream", "order-1", "/status", "eq", r#""shipped""#],
    ];
    let json_of = |out: std::process::Output| -> Value { serde_json::from_slice(&out.stdout).unwrap() };
    let local: Vec<Value> = asks.iter().map(|a| json_of(common::run(d, &[a, &["--json"][..]].concat()))).collect();
    assert_eq!(local[0]["state"], json!({ "total": -3, "status": "placed" }));
    assert_eq!(local[3]["event"]["type"], "Cancelled");
    assert_eq!(local[4]["event"]["version"], 1);
    assert_eq!(local[5]["found"], false);

    // Text for people.
    let text = |args: &[&str]| {
        let out = common::run(d, args);
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string())
    };
    let (ok, blame) = text(asks[3]);
    assert!(ok);
    assert!(blame.starts_with("/status = \"cancelled\"\nset by Cancelled  position 3  version 2"), "{blame}");
    assert!(blame.contains("\"placed\"") && blame.contains("correlation_id k-7"), "{blame}");
    let (ok, watch) = text(asks[5]);
    assert!(!ok, "a watch that finds nothing fails");
    assert_eq!(watch, "/status eq \"shipped\": never\n");
    let bad = common::run(d, &["blame", "--stream", "order-1", "status"]);
    assert!(!bad.status.success());
    let err: Value = serde_json::from_str(String::from_utf8_lossy(&bad.stderr).lines().last().unwrap()).unwrap();
    assert_eq!(err["error"], "invalid_query");

    // The same answers through a server.
    let server = Server::start(d, &[]);
    for (ask, want) in asks.iter().zip(&local) {
        let got = json_of(common::run(d, &[ask, &["--json", "--server", &server.url][..]].concat()));
        assert_eq!(&got, want, "{ask:?}");
    }
    let bad = common::run(d, &["blame", "--stream", "order-1", "status", "--server", &server.url]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid_query"));
}

const TOTALS: &str = r#"
fromCategory('order').foreachStream().when({
  $init: () => ({ total: 0, status: 'new', lines: 0 }),
  Placed: (s, e) => { s.total = e.data.total; s.status = 'placed'; },
  LineAdded: (s, e) => { s.lines += 1; s.total += e.data.amount; },
  Cancelled: (s, e) => ({ ...s, status: 'cancelled' }),
  Bad: (s, e) => { throw new Error('bad event'); },
})
"#;

const BY_CUSTOMER: &str = r#"
fromCategory('order').partitionBy(e => e.data.customer).when({
  $init: () => ({ orders: 0 }),
  Placed: (s, e) => { s.orders += 1; s.last = e.stream; },
})
"#;

impl Api {
    async fn put(&self, name: &str, source: &str) {
        let body = json!({ "source": source, "on_error": "park" });
        let r = self.http.put(format!("{}/v1/projections/{name}", self.url)).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// Waits until version `version` answers and has taken every event in.
    async fn settled(&self, name: &str, version: u64) {
        for _ in 0..1000 {
            let s = self.ok(&format!("/v1/projections/{name}")).await;
            if s["version"] == version && s["rebuild"].is_null() && s["lag_events"] == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{name} never settled at version {version}");
    }
}

/// A projection partition at any point, folded by the version live then
/// (or the one asked for), with history, diff, blame and watch; a parked
/// event changes nothing; keyed partitions too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_partition_at_any_point_by_the_version_live_then() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api { url: server.url.clone(), http: reqwest::Client::new() };
    api.put("totals", TOTALS).await;
    api.put("customers", BY_CUSTOMER).await;
    api.append("order-1", "Placed", json!({ "total": 10, "customer": "c-1" })).await; // 0
    api.append("order-2", "Placed", json!({ "total": 5, "customer": "c-1" })).await; // 1
    api.append("order-1", "LineAdded", json!({ "amount": 3 })).await; // 2
    api.append("order-1", "Bad", json!({})).await; // 3: parked
    api.append("order-1", "Cancelled", json!({})).await; // 4
    api.settled("totals", 1).await;
    api.settled("customers", 1).await;
    let p = "/v1/projections/totals";

    let at = api.ok(&format!("{p}/state?partition=order-1&as_of=position:3")).await;
    assert_eq!(at["state"], json!({ "total": 13, "status": "placed", "lines": 1 }));
    assert_eq!((at["partition"].clone(), at["position"].clone()), (json!("order-1"), json!(2)));
    let live = api.ok(&format!("{p}/state?partition=order-1")).await;
    assert_eq!(live["state"], json!({ "total": 13, "status": "cancelled", "lines": 1 }));
    let now = api.ok(&format!("{p}/state?partition=order-1&as_of=position:4")).await;
    assert_eq!(now["state"], live["state"], "time travel to the head equals the live state");

    let b = api.ok(&format!("{p}/blame?partition=order-1&pointer=/status")).await;
    assert_eq!((b["value"].clone(), b["event"]["position"].clone()), (json!("cancelled"), json!(4)));
    assert_eq!(b["history"][0]["value"], "placed");
    assert_eq!(b["history"][0]["writes"][0]["old"], "new", "the initial state's value");
    let w = api.ok(&format!("{p}/watch?partition=order-1&pointer=/total&op=gt&value=12")).await;
    assert_eq!(w["event"]["type"], "LineAdded");
    let h = api.ok(&format!("{p}/history?partition=order-1")).await;
    let types: Vec<&str> =
        h["changes"].as_array().unwrap().iter().map(|c| c["event"]["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["Placed", "LineAdded", "Cancelled"], "the parked event changed nothing");
    let d = api.ok(&format!("{p}/diff?partition=order-1&from=position:0&to=version:1")).await;
    assert_eq!(
        d["patch"],
        json!([{ "op": "replace", "path": "/lines", "value": 1 }, { "op": "replace", "path": "/total", "value": 13 }])
    );

    // A keyed partition (its events are spread over streams).
    let c = api.ok("/v1/projections/customers/state?partition=c-1&as_of=position:1").await;
    assert_eq!(c["state"], json!({ "orders": 2, "last": "order-2" }));
    let c = api.ok("/v1/projections/customers/blame?partition=c-1&pointer=/last").await;
    assert_eq!(c["event"]["stream"], "order-2");

    // A new version: points before its switch fold with version 1, later
    // ones (and version=2) with version 2; neither's keyframes serve the other.
    api.put("totals", &TOTALS.replace("s.total = e.data.total;", "s.total = 2 * e.data.total;")).await;
    api.settled("totals", 2).await;
    api.append("order-1", "LineAdded", json!({ "amount": 1 })).await; // 5
    api.settled("totals", 2).await;
    let v1 = api.ok(&format!("{p}/state?partition=order-1&as_of=position:2")).await;
    assert_eq!(v1["state"]["total"], 13);
    let v2 = api.ok(&format!("{p}/state?partition=order-1&as_of=position:2&version=2")).await;
    assert_eq!(v2["state"]["total"], 23);
    let later = api.ok(&format!("{p}/state?partition=order-1&as_of=position:5")).await;
    assert_eq!(later["state"]["total"], 24);
    assert_eq!(api.ok(&format!("{p}/state?partition=order-1")).await["state"], later["state"]);

    // Errors.
    assert_eq!(api.error("/v1/projections/nope/state?as_of=position:1").await, (404, "projection_not_found".into()));
    assert_eq!(api.error(&format!("{p}/state?partition=order-1&version=9")).await, (404, "version_not_found".into()));
    assert_eq!(
        api.error(&format!("{p}/state?partition=order-9&as_of=position:1")).await,
        (404, "partition_not_found".into())
    );
    assert_eq!(api.error(&format!("{p}/blame?partition=order-1&pointer=/nope")).await, (404, "never_set".into()));
    assert_eq!(api.error("/v1/streams/order-1/state?partition=x").await, (400, "invalid_query".into()));
}

/// The CLI on a projection partition: through a server, then on the data
/// directory once the server is gone, with the same answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_travels_in_a_projection_with_and_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api { url: server.url.clone(), http: reqwest::Client::new() };
    api.put("totals", TOTALS).await;
    api.append("order-1", "Placed", json!({ "total": 10 })).await;
    api.append("order-1", "LineAdded", json!({ "amount": 3 })).await;
    api.append("order-1", "Cancelled", json!({})).await;
    api.settled("totals", 1).await;
    let target = ["--projection", "totals", "--partition", "order-1", "--json"];
    let asks: [&[&str]; 3] = [
        &["at", "--as-of", "position:1"],
        &["blame", "/status"],
        &["watch", "/total", "ge", "13", "--forward", "--from", "position:0"],
    ];
    let d = dir.path().to_path_buf();
    let run = move |args: Vec<String>| {
        let d = d.clone();
        async move {
            let out = tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                common::run(&d, &args)
            })
            .await
            .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        }
    };
    let mut served = Vec::new();
    for ask in asks {
        let args = [ask, &target[..], &["--server", &server.url][..]].concat();
        served.push(run(args.iter().map(|s| s.to_string()).collect()).await);
    }
    assert_eq!(served[0]["state"], json!({ "total": 13, "status": "placed", "lines": 1 }));
    assert_eq!(served[1]["event"]["type"], "Cancelled");
    assert_eq!(served[2]["event"]["position"], 1);
    assert!(server.terminate());
    for (ask, want) in asks.iter().zip(&served) {
        let args = [*ask, &target[..]].concat();
        assert_eq!(&run(args.iter().map(|s| s.to_string()).collect()).await, want, "{ask:?} on the data directory");
    }
}

/// The history index is derived: after kill -9 it is rebuilt from the log,
/// and its answers equal a brute-force fold of the events read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_rebuilt_after_kill_9_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut api = Api { url: server.url.clone(), http: reqwest::Client::new() };
    // A deterministic mix of sets, removals and nested writes.
    for i in 0..300u64 {
        let data = match i % 5 {
            0 => json!({ "n": i, "flag": i % 2 == 0 }),
            1 => json!({ "nested": { "a": i, "b": null } }),
            2 => json!({ "flag": null }),
            3 => json!({ "nested": { "b": [i, i + 1] } }),
            _ => json!({ "n": null, "status": format!("s{}", i % 7) }),
        };
        api.append("doc-1", "Changed", data).await;
    }
    let points = [3u64, 7, 151, 299];
    let asks = |point: u64| {
        [
            format!("/v1/streams/doc-1/state?as_of=version:{point}"),
            format!("/v1/streams/doc-1/blame?pointer=/nested&as_of=version:{point}&limit=5"),
            format!("/v1/streams/doc-1/watch?pointer=/status&op=eq&value=%22s3%22&from=version:{point}"),
        ]
    };
    let mut before = Vec::new();
    for p in points {
        for path in asks(p) {
            before.push(api.ok(&path).await);
        }
    }
    server.kill9();
    let server = Server::start(dir.path(), &[]);
    api.url = server.url.clone();
    let mut after = Vec::new();
    for p in points {
        for path in asks(p) {
            after.push(api.ok(&path).await);
        }
    }
    assert_eq!(before, after, "the rebuilt index answers the same");
    // Brute force: fold the events read back.
    let events = api.ok("/v1/streams/doc-1?limit=1000").await;
    let events = events["events"].as_array().unwrap();
    for (i, p) in points.iter().enumerate() {
        let mut doc = json!({});
        for e in &events[..=*p as usize] {
            json_patch::merge(&mut doc, &e["data"]);
        }
        assert_eq!(after[i * 3]["state"], doc, "state at version {p}");
        let last_nested =
            events[..=*p as usize].iter().rposition(|e| e["data"].get("nested").is_some()).map(|v| v as u64);
        assert_eq!(after[i * 3 + 1]["event"]["version"].as_u64(), last_nested, "blame /nested at version {p}");
    }
}

/// Snapshots: a pinned point answers like its position everywhere a point
/// is taken (time travel and plain reads, over HTTP and on the CLI),
/// survives a restart, and clear errors for bad bodies and unknown ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_pins_a_point_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut api = Api { url: server.url.clone(), http: reqwest::Client::new() };
    build(&api).await;
    let post = |api: &Api, body: Value| {
        let req = api.http.post(format!("{}/v1/snapshots", api.url)).json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, snap) =
        post(&api, json!({ "name": "before the withdrawal", "stream": "account-1", "as_of": "version:1" })).await;
    assert_eq!(status, 201, "{snap}");
    assert_eq!((snap["position"].clone(), snap["as_of"].clone()), (json!(1), json!("version:1")));
    let id = snap["id"].as_str().unwrap().to_string();
    let at = format!("snapshot:{id}");
    let by_snapshot = api.ok(&format!("/v1/streams/account-1/state?as_of={at}")).await;
    assert_eq!(by_snapshot, api.ok("/v1/streams/account-1/state?as_of=position:1").await);
    let read = api.ok(&format!("/v1/streams/account-1?as_of={at}")).await;
    assert_eq!(read["events"].as_array().unwrap().len(), 2);
    assert_eq!(api.ok(&format!("/v1/streams/account-1/blame?pointer=/balance&as_of={at}")).await["value"], 50);
    assert_eq!(api.ok("/v1/snapshots").await["snapshots"][0]["id"], json!(id));

    // Bad bodies and unknown ids.
    assert_eq!(post(&api, json!({ "as_of": "position:1" })).await.0, 400);
    assert_eq!(post(&api, json!({ "stream": "account-1", "projection": "p" })).await.0, 400);
    assert_eq!(post(&api, json!({ "stream": "nope-1" })).await.0, 404);
    assert_eq!(post(&api, json!({ "stream": "account-1", "as_of": "position:999" })).await.0, 400);
    assert_eq!(post(&api, json!({ "stream": "account-1", "colour": "red" })).await.0, 400);
    assert_eq!(api.error("/v1/streams/account-1/state?as_of=snapshot:nope").await, (404, "snapshot_not_found".into()));

    // It survives a restart, and the CLI on the data directory knows it.
    assert!(server.terminate());
    let out = common::run(dir.path(), &["at", "--stream", "account-1", "--as-of", &at, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), by_snapshot);
    let server = Server::start(dir.path(), &[]);
    api.url = server.url.clone();
    assert_eq!(api.ok(&format!("/v1/snapshots/{id}")).await["name"], "before the withdrawal");
    let r = api.http.delete(format!("{}/v1/snapshots/{id}", api.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(api.error(&format!("/v1/snapshots/{id}")).await, (404, "snapshot_not_found".into()));
}

/// Keyframe spacing is a setting: with one every 2 events, the state at
/// version 4 starts from the keyframe after 4 events and folds one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_spacing_is_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), "127.0.0.1:0", &[], &[("HINDSIGHT_KEYFRAME_EVERY", "2")]);
    let api = Api { url: server.url.clone(), http: reqwest::Client::new() };
    build(&api).await; // account-1 v0..v4 at positions 0, 1, 3, 4, 5
    let s = api.ok("/v1/streams/account-1/state?as_of=version:4").await;
    assert_eq!((s["keyframe_position"].clone(), s["events_folded"].clone()), (json!(4), json!(1)), "{s}");
    let s = api.ok("/v1/streams/account-1/state?as_of=version:1").await;
    assert_eq!((s["keyframe_position"].clone(), s["events_folded"].clone()), (json!(1), json!(0)), "{s}");
    assert_eq!(s["state"], json!({ "owner": "ann", "balance": 50, "status": "open" }));
}
