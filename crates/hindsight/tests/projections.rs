//! Projections from the outside, over HTTP against a started server: a
//! poison event parked (and replayed once the source is fixed) or stopped
//! at, while the other projections keep going; a runaway handler that
//! never slows the others; states, partitions and status across a
//! restart; and faults showing in `/ready` and `/metrics`.

mod common;

use std::time::{Duration, Instant};

use common::{Api, Server};
use serde_json::{json, Value};

const TOTALS: &str = "fromCategory('order').foreachStream().when({ \
    $init: () => ({ total: 0, n: 0 }), \
    Placed: (s, e) => { s.n += 1; if (e.data.poison) throw new Error('poisoned order'); s.total += e.data.total; } })";

const FIXED: &str = "fromCategory('order').foreachStream().when({ \
    $init: () => ({ total: 0, n: 0 }), \
    Placed: (s, e) => { s.n += 1; s.total += e.data.poison ? 0 : e.data.total; } })";

const COUNT: &str = "fromAll().when({ $init: () => ({ n: 0 }), $any: (s, e) => { s.n += 1; } })";

impl Api {
    async fn get(&self, path: &str) -> Value {
        let (status, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    async fn put(&self, name: &str, source: &str, on_error: &str) -> (u16, Value) {
        let body = json!({ "source": source, "on_error": on_error });
        self.call(reqwest::Method::PUT, &format!("/v1/projections/{name}"), Some(body)).await
    }

    async fn append(&self, stream: &str, event_type: &str, data: Value) {
        let body = json!({ "events": [{ "type": event_type, "data": data }] });
        let (status, v) = self.call(reqwest::Method::POST, &format!("/v1/streams/{stream}"), Some(body)).await;
        assert_eq!(status, 200, "{v}");
    }

    /// Waits until the projection has taken the whole log into account.
    async fn caught_up(&self, name: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.get(&format!("/v1/projections/{name}")).await;
            if s["lag_events"] == 0 && s["position"].is_u64() || s["status"] == "faulted" {
                return s;
            }
            assert!(Instant::now() < deadline, "{name} never caught up: {s}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `version` answers for the projection (blue/green switch).
    async fn switched(&self, name: &str, version: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.get(&format!("/v1/projections/{name}")).await;
            if s["version"] == version && s["rebuild"].is_null() {
                return s;
            }
            assert!(Instant::now() < deadline, "{name} never switched to v{version}: {s}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn state(&self, name: &str, partition: &str) -> Value {
        self.get(&format!("/v1/projections/{name}/state?partition={partition}")).await
    }
}

async fn orders(api: &Api) {
    for i in 0..12u64 {
        let data = json!({ "total": i, "poison": i == 5 });
        api.append(&format!("order-{}", i % 3), "Placed", data).await;
    }
    api.append("user-1", "Joined", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_parked_or_stopped_at_and_replayed_after_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    assert_eq!(api.put("totals", TOTALS, "park").await.0, 200);
    assert_eq!(api.put("strict", TOTALS, "stop").await.0, 200);
    assert_eq!(api.put("count", COUNT, "park").await.0, 200);
    orders(&api).await;

    let totals = api.caught_up("totals").await;
    assert_eq!(
        (totals["status"].as_str(), totals["parked"].as_u64(), totals["position"].as_u64()),
        (Some("running"), Some(1), Some(12))
    );
    // order-2 got 2, 5 (poison), 8, 11: the poison is not applied and its half-done `n += 1` rolled back.
    assert_eq!(api.state("totals", "order-2").await["state"], json!({ "total": 21, "n": 3 }));
    let parked = api.get("/v1/projections/totals/parked").await;
    let p = &parked["parked"][0];
    assert_eq!((p["position"].as_u64(), p["error"].as_str()), (Some(5), Some("Error: poisoned order")));
    assert_eq!(p["state_before"], json!({ "total": 2, "n": 1 }));
    assert!(p["stack"].is_string(), "the JS stack is kept: {p}");
    // The flight recorder: the case reproduces the failure on the state before it.
    let case = api.get("/v1/projections/totals/parked/5/case").await;
    assert_eq!((case["how"].as_str(), case["partition"].as_str()), (Some("parked"), Some("order-2")), "{case}");
    assert_eq!(case["state_before"], json!({ "total": 2, "n": 1 }));
    assert_eq!((case["event"]["position"].as_u64(), case["event"]["data"]["poison"].as_bool()), (Some(5), Some(true)));
    assert_eq!(
        (case["rerun"]["failed"].as_bool(), case["rerun"]["error"].as_str()),
        (Some(true), Some("Error: poisoned order"))
    );
    assert!(case["rerun"]["duration_ms"].as_f64().is_some_and(|d| d >= 0.0));
    assert_eq!(case["actions"]["impact_of_skipping"]["body"], json!({ "skip": [5], "projections": ["totals"] }));
    let missing = api.http.get(format!("{}/v1/projections/totals/parked/4/case", api.url)).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    let strict = api.caught_up("strict").await;
    assert_eq!(strict["status"], "faulted");
    assert_eq!(strict["fault"]["position"], 5);
    assert_eq!(strict["position"], 4, "stopped before the failing event");
    let case = api.get("/v1/projections/strict/parked/5/case").await;
    assert_eq!((case["how"].as_str(), case["partition"].as_str()), (Some("faulted"), Some("order-2")), "{case}");
    assert_eq!(case["state_before"], json!({ "total": 2, "n": 1 }));
    assert_eq!(case["rerun"]["failed"], true);
    let count = api.caught_up("count").await;
    assert_eq!(api.state("count", "").await["state"], json!({ "n": 13 }), "the others keep running: {count}");

    // Faults are said in /ready's body and in /metrics; the server stays ready.
    let ready = api.get("/ready").await;
    assert!(ready["attention"].to_string().contains("projection strict is faulted"), "{ready}");
    let metrics = api.http.get(format!("{}/metrics", api.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("hindsight_projection_status{projection=\"strict\",status=\"faulted\"} 1"), "{metrics}");
    assert!(metrics.contains("hindsight_projection_parked_events{projection=\"totals\"} 1"));

    // A fixed source for `totals` is a new version, rebuilt from scratch beside the old: nothing parked.
    let (status, v) = api.put("totals", FIXED, "park").await;
    assert_eq!(status, 200, "{v}");
    api.switched("totals", 2).await;
    let totals = api.caught_up("totals").await;
    assert_eq!((totals["parked"].as_u64(), totals["version"].as_u64()), (Some(0), Some(2)));
    assert_eq!(api.state("totals", "order-2").await["state"], json!({ "total": 21, "n": 4 }));

    // Replaying a parked event after a fix, then discarding: on `count`'s own copy.
    assert_eq!(
        api.put(
            "p2",
            "fromAll().when({ $any: (s, e) => { if (e.type === 'Joined') throw new Error('no'); } })",
            "park"
        )
        .await
        .0,
        200
    );
    api.caught_up("p2").await;
    let (status, _) = api.call(reqwest::Method::POST, "/v1/projections/p2/parked/12/replay", None).await;
    assert_eq!(status, 200);
    let (status, _) = api.call(reqwest::Method::POST, "/v1/projections/p2/parked/12/discard", None).await;
    assert_eq!(status, 200);
    let (status, v) = api.call(reqwest::Method::POST, "/v1/projections/p2/parked/12/discard", None).await;
    assert_eq!((status, v["error"].as_str()), (404, Some("not_parked")));
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_survive_a_restart_and_bad_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    for (name, source, on_error, code) in [
        ("bad name!", COUNT, "park", "invalid_projection"),
        ("x", "fromAll(", "park", "invalid_projection"),
        ("x", "fromAll()", "park", "invalid_projection"),
        ("x", COUNT, "retry", "invalid_projection"),
    ] {
        let (status, v) = api.put(&name.replace(' ', "%20").replace('!', "%21"), source, on_error).await;
        assert_eq!((status, v["error"].as_str()), (400, Some(code)), "{name} {source}: {v}");
    }
    let (status, v) = api.call(reqwest::Method::GET, "/v1/projections/nope", None).await;
    assert_eq!((status, v["error"].as_str()), (404, Some("projection_not_found")));
    let (status, v) = api.put("x", "builtin:nope", "park").await;
    assert!(status == 400 && v["message"].as_str().unwrap().contains("type_counts"), "{v}");
    // A built-in Rust projection, by name.
    assert_eq!(api.put("types", "builtin:type_counts", "park").await.0, 200);
    api.put("totals", FIXED, "park").await;
    orders(&api).await;
    api.caught_up("totals").await;
    let parts = api.get("/v1/projections/totals/partitions?limit=2").await;
    assert_eq!(parts, json!({ "partitions": ["order-0", "order-1"], "next_after": "order-1" }));
    let parts = api.get("/v1/projections/totals/partitions?after=order-1&limit=2").await;
    assert_eq!(parts, json!({ "partitions": ["order-2"], "next_after": null }));
    let before = api.state("totals", "order-0").await;
    api.caught_up("types").await;
    assert_eq!(api.state("types", "Placed").await["state"], 12);
    assert_eq!(api.state("types", "Joined").await["state"], 1);
    assert_eq!(api.call(reqwest::Method::POST, "/v1/projections/totals/pause", None).await.1["status"], "paused");
    assert!(server.terminate());

    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    assert_eq!(api.get("/v1/projections/totals").await["status"], "paused", "paused is remembered");
    api.append("order-0", "Placed", json!({ "total": 100 })).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(api.state("totals", "order-0").await, before, "paused: no progress");
    api.call(reqwest::Method::POST, "/v1/projections/totals/resume", None).await;
    api.caught_up("totals").await;
    let after = api.state("totals", "order-0").await;
    assert_eq!(after["state"]["total"].as_u64(), before["state"]["total"].as_u64().map(|t| t + 100));
    assert_eq!(after["position"], 13);
    for name in ["totals", "types"] {
        let (status, _) = api.call(reqwest::Method::DELETE, &format!("/v1/projections/{name}"), None).await;
        assert_eq!(status, 204);
    }
    assert_eq!(api.get("/v1/projections").await, json!({ "projections": [] }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_handler_is_stopped_and_never_holds_the_others_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    api.put("spin", "fromAll().when({ $any: (s, e) => { while (true) {} } })", "park").await;
    api.put(
        "alloc",
        "fromAll().when({ $any: (s, e) => { s.x = []; for (;;) s.x.push(new Array(1e6).fill(1)); } })",
        "park",
    )
    .await;
    api.put("count", COUNT, "park").await;
    let started = Instant::now();
    for i in 0..3 {
        api.append("a-1", "T", json!({ "i": i })).await;
    }
    api.caught_up("count").await;
    assert_eq!(api.state("count", "").await["state"], json!({ "n": 3 }));
    assert!(api.get("/health").await["status"] == "ok");
    let spin = api.caught_up("spin").await;
    assert_eq!(spin["parked"], 3, "each event: over the time budget, retried, parked: {spin}");
    let parked = api.get("/v1/projections/spin/parked").await;
    assert!(parked["parked"][0]["error"].as_str().unwrap().contains("time budget"), "{parked}");
    let alloc = api.caught_up("alloc").await;
    assert_eq!(alloc["parked"], 3, "{alloc}");
    assert!(started.elapsed() < Duration::from_secs(30));
    drop(server);
}

/// The CLI: each command against a running server, text and `--json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_lists_and_queries_projections() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    let file = dir.path().join("orders.js");
    std::fs::write(&file, FIXED).unwrap();
    let cli = |args: &[&str]| {
        let out = common::run(dir.path(), &[&["projection", "--server", &server.url], args].concat());
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, stdout, stderr) = cli(&["create", "orders", "--file", file.to_str().unwrap(), "--on-error", "stop"]);
    assert!(ok && stdout.starts_with("orders  running  v1"), "{stdout}{stderr}");
    orders(&api).await;
    api.caught_up("orders").await;
    // A new version, waited for: the command returns once it answers.
    std::fs::write(&file, format!("{FIXED}\n// v2")).unwrap();
    let (ok, stdout, stderr) =
        cli(&["create", "orders", "--file", file.to_str().unwrap(), "--on-error", "stop", "--wait"]);
    assert!(ok && stdout.starts_with("orders  running  v2  at 12  lag 0 events"), "{stdout}{stderr}");
    let (ok, stdout, _) = cli(&["list"]);
    assert!(ok && stdout.contains("orders  running  v2  at 12  lag 0 events"), "{stdout}");
    let (ok, stdout, _) = cli(&["state", "orders", "--partition", "order-1", "--json"]);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert!(ok);
    assert_eq!(v["state"], json!({ "total": 1 + 4 + 7 + 10, "n": 4 }));
    let (ok, stdout, _) = cli(&["partitions", "orders", "--limit", "1", "--json"]);
    assert!(ok && stdout.contains("order-0"), "{stdout}");
    let (ok, stdout, _) = cli(&["pause", "orders"]);
    assert!(ok && stdout.starts_with("orders  paused"), "{stdout}");
    let (ok, _, stderr) = cli(&["status", "nope"]);
    assert!(!ok && stderr.contains("projection_not_found") || stderr.contains("not found"), "{stderr}");
    let (ok, stdout, _) = cli(&["delete", "orders"]);
    assert!(ok && stdout.trim() == "deleted");
    let (ok, stdout, _) = cli(&["list"]);
    assert!(ok && stdout.trim() == "no projections");
}

/// A dry run names exactly the partitions a candidate changes, adds or
/// removes, with patches, and changes nothing live; verify passes for a
/// deterministic source and names the first difference otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_diffs_a_candidate_and_verify_catches_non_determinism() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    api.put("totals", FIXED, "park").await;
    orders(&api).await;
    api.caught_up("totals").await;
    let before = api.state("totals", "order-1").await;
    let candidate = "fromAll().foreachStream().when({ $init: () => ({ total: 0, n: 0 }), \
        Placed: (s, e) => { s.n += 1; s.total += e.stream === 'order-1' ? 2 * e.data.total : (e.data.poison ? 0 : e.data.total); }, \
        Joined: (s, e) => { if (e.stream === 'user-1') throw new Error('no users'); } })";
    let (status, d) =
        api.call(reqwest::Method::POST, "/v1/projections/totals/dry-run", Some(json!({ "source": candidate }))).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["position"], 12);
    assert_eq!(d["added"], json!([]), "user-1 failed, so it has no state: {d}");
    assert_eq!(d["removed"], json!([]));
    assert_eq!(d["changed"].as_array().unwrap().len(), 1, "{d}");
    assert_eq!(d["changed"][0]["partition"], "order-1");
    assert_eq!(d["changed"][0]["patch"], json!([{ "op": "replace", "path": "/total", "value": 44 }]));
    assert_eq!(d["failed"][0]["position"], 12);
    assert_eq!(api.state("totals", "order-1").await, before, "nothing live changed");
    // Over a range: the current source and the candidate, both from nothing over positions 6..=12.
    let body = json!({ "source": candidate, "from": 6, "to": 12 });
    let (status, d) = api.call(reqwest::Method::POST, "/v1/projections/totals/dry-run", Some(body)).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["changed"].as_array().unwrap().len(), 1, "{d}");
    assert_eq!(
        d["changed"][0]["patch"],
        json!([{ "op": "replace", "path": "/total", "value": 34 }]),
        "7 + 10, doubled"
    );
    let body = json!({ "source": candidate, "from": 9, "to": 3 });
    let (status, d) = api.call(reqwest::Method::POST, "/v1/projections/totals/dry-run", Some(body)).await;
    assert_eq!((status, d["error"].as_str()), (400, Some("invalid_range")));
    let (status, v) = api.call(reqwest::Method::POST, "/v1/projections/totals/verify", None).await;
    assert_eq!((status, &v["ok"]), (200, &json!(true)), "{v}");

    // A global survives in the live sandbox but not across a restart: not deterministic.
    let counter = "let calls = 0; fromAll().when({ $any: (s, e) => { calls += 1; s.calls = calls; } })";
    api.put("leaky", counter, "park").await;
    api.caught_up("leaky").await;
    assert!(server.terminate());
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    api.append("order-0", "Placed", json!({ "total": 1 })).await;
    api.caught_up("leaky").await;
    let (status, v) = api.call(reqwest::Method::POST, "/v1/projections/leaky/verify", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["first_difference"], json!({ "partition": "", "live": { "calls": 1 }, "rebuilt": { "calls": 14 } }));
    let (status, v) =
        api.call(reqwest::Method::POST, "/v1/projections/totals/dry-run", Some(json!({ "source": "nope(" }))).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_projection")));
}

/// Blue/green: a new version is built beside the live one under concurrent
/// appends; the old one answers every query until the switch, and the new
/// one has every event exactly once (a counter that sums positions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_rebuilds_beside_the_live_one_and_switches_with_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    let v1 = "fromAll().when({ $init: () => ({ n: 0, sum: 0 }), $any: (s, e) => { s.n += 1; s.sum += e.position; } })";
    let v2 =
        "fromAll().when({ $init: () => ({ n: 0, sum: 0, v: 2 }), $any: (s, e) => { s.n += 1; s.sum += e.position; } })";
    api.put("count", v1, "park").await;
    let batch: Vec<Value> = (0..1000).map(|i| json!({ "type": "T", "data": { "i": i } })).collect();
    for i in 0..30 {
        let (status, _) =
            api.call(reqwest::Method::POST, &format!("/v1/streams/s-{i}"), Some(json!({ "events": batch }))).await;
        assert_eq!(status, 200);
    }
    api.caught_up("count").await;
    let appending = {
        let (client, url) = (api.http.clone(), api.url.clone());
        tokio::spawn(async move {
            for i in 0..40 {
                let body = json!({ "events": [{ "type": "T", "data": { "i": i } }] });
                client.post(format!("{url}/v1/streams/late-{}", i % 3)).json(&body).send().await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let (status, put) = api.put("count", v2, "park").await;
    assert_eq!((status, put["version"].as_u64()), (200, Some(1)), "v1 answers while v2 rebuilds: {put}");
    assert_eq!(put["status"], "rebuilding", "{put}");
    assert_eq!(put["rebuild"]["version"], 2);
    let (mut saw_v1, mut saw_v2) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(saw_v2 && appending.is_finished()) {
        let s = api.state("count", "").await;
        match s["state"]["v"].as_u64() {
            Some(2) => saw_v2 = true,
            _ => {
                assert!(!saw_v2, "once switched, never back: {s}");
                saw_v1 = true;
            }
        }
        assert!(Instant::now() < deadline, "never switched");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(saw_v1 && saw_v2);
    appending.await.unwrap();
    let status = api.switched("count", 2).await;
    assert_eq!(status["status"], "running");
    let status = api.caught_up("count").await;
    let n = status["position"].as_u64().unwrap() + 1;
    assert_eq!(n, 30_040);
    assert_eq!(api.state("count", "").await["state"], json!({ "n": n, "sum": n * (n - 1) / 2, "v": 2 }));
    let versions = std::fs::read_to_string(dir.path().join("projections/count/definition.json")).unwrap();
    let def: Value = serde_json::from_str(&versions).unwrap();
    assert_eq!((def["active"].as_u64(), def["versions"].as_array().unwrap().len()), (Some(2), 2), "every version kept");
    assert!(!dir.path().join("projections/count/v1").exists(), "the old states are removed");
}

/// Output only through emitted events, published once per input event by
/// the live version: not again by a reset (the same ids are a retry), not
/// by a dry run, not by a rebuild beside the live version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emitted_events_are_published_once_by_the_live_version_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    let emitting = |tag: &str| {
        format!(
            "fromCategory('order').foreachStream().when({{ $init: () => ({{ total: 0 }}), \
             Placed: (s, e) => {{ s.total += e.data.poison ? 0 : e.data.total; \
             emit('totals-' + e.stream.slice(6), 'TotalChanged', {{ total: s.total }}, {{ tag: '{tag}' }}); }} }})"
        )
    };
    api.put("emitter", &emitting("a"), "park").await;
    orders(&api).await;
    api.caught_up("emitter").await;
    let emitted = |api: &Api| {
        let (client, url) = (api.http.clone(), api.url.clone());
        async move {
            let page: Value = client
                .get(format!("{url}/v1/all?category=totals&limit=1000"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            page["events"].as_array().unwrap().clone()
        }
    };
    let wait_for = |n: usize| {
        let emitted = &emitted;
        let api = &api;
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let events = emitted(api).await;
                if events.len() >= n || Instant::now() > deadline {
                    return events;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let events = wait_for(12).await;
    assert_eq!(events.len(), 12, "one per Placed event");
    let last_of_1 = events.iter().rev().find(|e| e["stream"] == "totals-1").unwrap();
    assert_eq!(last_of_1["data"], json!({ "total": 22 }));
    assert_eq!(last_of_1["metadata"]["$projection"], "emitter");
    let order_1 = api.get("/v1/streams/order-1").await;
    let last_input = order_1["events"].as_array().unwrap().last().unwrap()["position"].clone();
    assert_eq!(last_of_1["metadata"]["$caused_by"], last_input);
    assert_eq!(last_of_1["metadata"]["tag"], "a");

    // A reset folds everything again: the same output, not published twice.
    api.call(reqwest::Method::POST, "/v1/projections/emitter/reset", None).await;
    api.caught_up("emitter").await;
    // A dry run and a rebuild of a new version (emitting the same) publish nothing.
    let (status, _) = api
        .call(reqwest::Method::POST, "/v1/projections/emitter/dry-run", Some(json!({ "source": emitting("b") })))
        .await;
    assert_eq!(status, 200);
    api.put("emitter", &format!("{}\n// v2", emitting("a")), "park").await;
    api.switched("emitter", 2).await;
    api.append("order-1", "Placed", json!({ "total": 8 })).await;
    let events = wait_for(13).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events_later = emitted(&api).await;
    assert_eq!((events.len(), events_later.len()), (13, 13), "{events_later:?}");
    assert!(events_later.iter().all(|e| e["metadata"]["tag"] == "a"), "nothing from the dry run");
    assert_eq!(events_later[12]["data"], json!({ "total": 30 }));
}

/// Retries, then the circuit breaker: after N failures in the window the
/// projection stops trying (status circuit_open, said in /ready), then
/// half-opens after the cool-down; a success closes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_breaker_opens_after_repeated_failures_and_closes_on_success() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    let source = "fromAll().when({ $init: () => ({ ok: 0 }), Bad: () => { throw new Error('bad'); }, Good: (s) => { s.ok += 1; } })";
    let body = json!({ "source": source, "on_error": "park", "retries": 1, "retry_backoff_ms": 1,
                       "breaker_failures": 3, "breaker_window_secs": 60, "breaker_cool_down_secs": 1 });
    let (status, v) = api.call(reqwest::Method::PUT, "/v1/projections/flaky", Some(body)).await;
    assert_eq!(status, 200, "{v}");
    for t in ["Bad", "Bad", "Bad", "Bad", "Good", "Good"] {
        api.append("s-1", t, json!({})).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let open = loop {
        let s = api.get("/v1/projections/flaky").await;
        if s["status"] == "circuit_open" {
            break s;
        }
        assert!(Instant::now() < deadline, "never opened: {s}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!((open["parked"].as_u64(), open["position"].as_u64()), (Some(3), Some(2)), "{open}");
    assert!(api.get("/ready").await["attention"].to_string().contains("flaky is circuit_open"));
    // Half-open after a second: the 4th Bad opens it again; a second later Good closes it.
    let done = api.caught_up("flaky").await;
    assert_eq!(
        (done["status"].as_str(), done["parked"].as_u64(), done["circuit"].as_str()),
        (Some("running"), Some(4), None)
    );
    assert_eq!(api.state("flaky", "").await["state"], json!({ "ok": 2 }));
    assert!(Instant::now() < deadline);
}

/// With no server, the CLI works on the data directory itself.
#[test]
fn the_cli_works_on_the_data_directory_when_no_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> =
        (0..30).map(|i| format!(r#"{{"stream":"order-{}","type":"Placed","data":{{"total":{i}}}}}"#, i % 3)).collect();
    assert!(common::import(dir.path(), &lines).status.success());
    let file = dir.path().join("totals.js");
    std::fs::write(&file, FIXED).unwrap();
    // A port nothing listens on stands in for "no server at the default address".
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(common::BIN)
            .arg("--data-dir")
            .arg(dir.path())
            .arg("projection")
            .args(args)
            .env_remove("HINDSIGHT_URL")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, stdout, stderr) = cli(&["create", "totals", "--file", file.to_str().unwrap(), "--wait"]);
    assert!(ok && stdout.starts_with("totals  running  v1  at 29  lag 0 events"), "{stdout}{stderr}");
    let (ok, stdout, stderr) = cli(&["state", "totals", "--partition", "order-2", "--json"]);
    assert!(ok, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["state"], json!({ "total": (0..30).filter(|i| i % 3 == 2).sum::<u64>(), "n": 10 }));
    let (ok, stdout, _) = cli(&["list"]);
    assert!(ok && stdout.contains("totals  running  v1  at 29"), "{stdout}");
    // A server started later picks the projection up where the CLI left it.
    let server = Server::start(dir.path(), &[]);
    let out = common::run(dir.path(), &["projection", "--server", &server.url, "status", "totals", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["position"], 29);
}

/// A projection that is behind and makes no progress for longer than the
/// stall threshold is reported stalled (status, /ready, /metrics), and
/// running again once it moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_without_progress_is_reported_stalled() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), "127.0.0.1:0", &[], &[("HINDSIGHT_PROJECTION_STALL_SECS", "0.3")]);
    let api = Api::new(&server);
    // About 50-100 ms an event (a loop, under the 250 ms budget): a page of 40 takes seconds.
    let slow = "fromAll().when({ $init: () => ({ n: 0 }), $any: (s) => { let x = 0; for (let i = 0; i < 4e6; i++) x += i; s.n += 1; } })";
    api.put("slow", slow, "park").await;
    let batch: Vec<Value> = (0..40).map(|i| json!({ "type": "T", "data": { "i": i } })).collect();
    api.call(reqwest::Method::POST, "/v1/streams/s-1", Some(json!({ "events": batch }))).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let stalled = loop {
        let s = api.get("/v1/projections/slow").await;
        if s["status"] == "stalled" {
            break s;
        }
        assert!(Instant::now() < deadline && s["lag_events"] != 0, "never reported stalled: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(stalled["lag_events"].as_u64().unwrap() > 0);
    assert!(api.get("/ready").await["attention"].to_string().contains("projection slow is stalled"));
    let metrics = api.http.get(format!("{}/metrics", api.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("hindsight_projection_status{projection=\"slow\",status=\"stalled\"} 1"), "{metrics}");
    let done = api.caught_up("slow").await;
    assert_eq!(done["status"], "running");
    // On a slow machine an event may run over its budget and be parked.
    let n = api.state("slow", "").await["state"]["n"].as_u64().unwrap();
    assert_eq!(n + done["parked"].as_u64().unwrap(), 40);
}
