//! Forks over HTTP: a fork skips, edits and appends on its own timeline;
//! its reads and time-travel answers follow, the live store never moves,
//! and the fork survives a restart. Errors are clear.

mod common;

use common::{Api, Server};
use serde_json::{json, Value};

impl Api {
    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn append(&self, base: &str, stream: &str, event_type: &str, data: Value) -> (u16, Value) {
        self.post(&format!("{base}/streams/{stream}"), json!({ "events": [{ "type": event_type, "data": data }] }))
            .await
    }
}

fn types(read: &Value) -> Vec<String> {
    read["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_skips_edits_and_appends_without_touching_live_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut api = Api::new(&server);
    let live = "/v1";
    api.append(live, "account-1", "Opened", json!({ "owner": "ann", "balance": 0, "status": "open" })).await; // 0
    api.append(live, "account-1", "Deposited", json!({ "balance": 50 })).await; // 1
    api.append(live, "account-2", "Opened", json!({ "balance": 5 })).await; // 2
    api.append(live, "account-1", "Withdrawn", json!({ "balance": -20 })).await; // 3
    api.append(live, "account-1", "Closed", json!({ "status": "closed" })).await; // 4
    let live_all = api.ok("/v1/all").await;
    let live_state = api.ok("/v1/streams/account-1/state").await;

    let (status, fork) = api.post("/v1/forks", json!({ "name": "what-if", "base": "position:3" })).await;
    assert_eq!(status, 201, "{fork}");
    assert_eq!((fork["base_end"].clone(), fork["head"].clone()), (json!(4), json!(4)));
    let f = "/v1/forks/what-if";
    assert_eq!(api.post(&format!("{f}/skip"), json!({ "positions": [3] })).await.0, 200);
    let (status, appended) = api.append(f, "account-1", "Withdrawn", json!({ "balance": 30 })).await;
    assert_eq!(status, 200, "{appended}");
    assert_eq!((appended["first_position"].clone(), appended["next_expected_version"].clone()), (json!(3), json!(2)));
    assert_eq!(types(&api.ok(&format!("{f}/streams/account-1")).await), ["Opened", "Deposited", "Withdrawn"]);
    let state = api.ok(&format!("{f}/streams/account-1/state")).await;
    assert_eq!(state["state"], json!({ "owner": "ann", "balance": 30, "status": "open" }));
    assert_eq!(api.ok(&format!("{f}/streams/account-1/watch?pointer=/balance&op=lt&value=0")).await["found"], false);

    // An edit changes the fork's past; its answers follow.
    let (status, _) = api.post(&format!("{f}/edit"), json!({ "position": 1, "data": { "balance": 70 } })).await;
    assert_eq!(status, 200);
    let blame = api.ok(&format!("{f}/streams/account-1/blame?pointer=/balance&as_of=position:1")).await;
    assert_eq!(blame["value"], 70);
    assert_eq!(api.ok(&format!("{f}/all")).await["events"].as_array().unwrap().len(), 4);
    let diff = api.ok(&format!("{f}/streams/account-1/diff?from=position:0")).await;
    assert_eq!(diff["patch"], json!([{ "op": "replace", "path": "/balance", "value": 30 }]));

    // Against live: the patch from the live document to the fork's, and
    // the first version the two differ at (the edit at version 1).
    let d = api.ok(&format!("{f}/diff?stream=account-1")).await;
    assert_eq!(
        d["patch"],
        json!([{ "op": "replace", "path": "/balance", "value": 30 }, { "op": "replace", "path": "/status", "value": "open" }])
    );
    assert_eq!(d["first_divergence"]["version"], 1, "{d}");
    assert_eq!(d["first_divergence"]["live"]["type"], "Deposited");
    assert_eq!(d["first_divergence"]["what-if"]["position"], 1);
    let same = api.ok(&format!("{f}/diff?stream=account-2")).await;
    assert_eq!((same["patch"].clone(), same["first_divergence"].clone()), (json!([]), Value::Null));
    assert_eq!(api.post("/v1/forks", json!({ "name": "other", "base": "position:3" })).await.0, 201);
    let d = api.ok(&format!("{f}/diff?stream=account-1&against=other")).await;
    assert_eq!((d["from"].clone(), d["first_divergence"]["version"].clone()), (json!("other"), json!(1)));
    assert_eq!(api.call(reqwest::Method::GET, &format!("{f}/diff?stream=nope-1"), None).await.0, 404);
    assert_eq!(api.call(reqwest::Method::DELETE, "/v1/forks/other", None).await.0, 204);

    // Nothing live moved.
    assert_eq!(api.ok("/v1/all").await, live_all);
    assert_eq!(api.ok("/v1/streams/account-1/state").await, live_state);

    // Errors.
    assert_eq!(api.post("/v1/forks", json!({ "name": "what-if" })).await.0, 400);
    assert_eq!(api.post("/v1/forks", json!({ "name": "../x" })).await.0, 400);
    assert_eq!(api.post("/v1/forks", json!({ "name": "far", "base": "position:99" })).await.0, 400);
    assert_eq!(api.post(&format!("{f}/skip"), json!({ "positions": [4] })).await.0, 400, "past the base");
    assert_eq!(api.post(&format!("{f}/edit"), json!({ "position": 3, "data": {} })).await.0, 400, "skipped");
    let conflict = json!({ "expected_version": 0, "events": [{ "type": "X", "data": {} }] });
    assert_eq!(api.post(&format!("{f}/streams/account-1"), conflict).await.0, 409);
    let (status, body) = api.call(reqwest::Method::GET, "/v1/forks/nope/all", None).await;
    assert_eq!((status, body["error"].clone()), (404, json!("fork_not_found")));

    // The fork survives a restart, answering the same.
    assert!(server.terminate());
    let server = Server::start(dir.path(), &[]);
    api.url = server.url.clone();
    assert_eq!(api.ok(&format!("{f}/streams/account-1/state")).await, state);
    assert_eq!(api.ok("/v1/forks").await["forks"][0]["skips"], json!([3]));
    assert_eq!(api.call(reqwest::Method::DELETE, f, None).await.0, 204);
    assert_eq!(api.call(reqwest::Method::GET, f, None).await.0, 404);
    assert_eq!(api.ok("/v1/all").await, live_all);

    // A fork file that cannot be read never keeps the store from starting.
    assert_eq!(api.post("/v1/forks", json!({ "name": "kept" })).await.0, 201);
    assert!(server.terminate());
    std::fs::write(dir.path().join("forks/broken.json"), b"{not json").unwrap();
    let server = Server::start(dir.path(), &[]);
    api.url = server.url.clone();
    let names: Vec<Value> =
        api.ok("/v1/forks").await["forks"].as_array().unwrap().iter().map(|f| f["name"].clone()).collect();
    assert_eq!(names, [json!("kept")]);
    assert_eq!(api.post("/v1/forks", json!({ "name": "broken" })).await.0, 400, "its file is not overwritten");
    assert_eq!(api.ok("/v1/all").await, live_all);
}

const BALANCES: &str = r#"
fromCategory('account')
  .foreachStream()
  .when({
    $init: () => ({ balance: 0 }),
    Deposited: (s, e) => { s.balance += e.data.amount; },
    Withdrawn: (s, e) => { s.balance -= e.data.amount; },
  })
"#;

/// The fix under test: withdrawals never take a balance below zero, and
/// each refused one is announced (emitted output).
const CANDIDATE: &str = r#"
fromCategory('account')
  .foreachStream()
  .when({
    $init: () => ({ balance: 0 }),
    Deposited: (s, e) => { s.balance += e.data.amount; },
    Withdrawn: (s, e) => {
      if (s.balance < e.data.amount) { emit('alerts', 'Refused', { stream: e.stream }); return; }
      s.balance -= e.data.amount;
    },
  })
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_run_on_a_fork_with_candidate_code_and_impact_names_what_one_event_broke() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    let live = "/v1";
    api.append(live, "account-1", "Deposited", json!({ "amount": 50 })).await; // 0
    api.append(live, "account-2", "Deposited", json!({ "amount": 10 })).await; // 1
    let (_, bad) = api.append(live, "account-1", "Withdrawn", json!({ "amount": 80 })).await; // 2: the bad one
    api.append(live, "account-2", "Withdrawn", json!({ "amount": 5 })).await; // 3
    api.append(live, "account-1", "Deposited", json!({ "amount": 1 })).await; // 4
    let put = json!({ "source": BALANCES });
    assert_eq!(api.call(reqwest::Method::PUT, "/v1/projections/balances", Some(put)).await.0, 200);
    let live_all = api.ok("/v1/all").await;
    let bad_id = api.ok("/v1/all").await["events"][2]["id"].clone();
    assert_eq!(bad["first_position"], 2);

    // Impact: skipping the bad withdrawal changes account-1's balance only,
    // diverging at position 2.
    let impact = api.post("/v1/impact", json!({ "ids": [bad_id] })).await;
    assert_eq!(impact.0, 200, "{}", impact.1);
    let balances = &impact.1["projections"][0];
    assert_eq!((balances["projection"].clone(), balances["changed"].clone()), (json!("balances"), json!(1)));
    let p = &balances["partitions"][0];
    assert_eq!((p["partition"].clone(), p["fields"].clone()), (json!("account-1"), json!(["/balance"])));
    assert_eq!(p["patch"], json!([{ "op": "replace", "path": "/balance", "value": 51 }]));
    assert_eq!(p["first_divergence"]["live_position"], 2);
    assert_eq!(
        balances["events_refolded"], 4,
        "account-1's first event once for both, then two live and one on the fork"
    );

    // A fork skipping it, running the live code: the same difference.
    assert_eq!(api.post("/v1/forks", json!({ "name": "fix" })).await.0, 201);
    let f = "/v1/forks/fix";
    assert_eq!(api.post(&format!("{f}/skip"), json!({ "ids": [bad_id] })).await.0, 200);
    let (status, described) =
        api.call(reqwest::Method::PUT, &format!("{f}/projections/balances"), Some(json!({}))).await;
    assert_eq!(status, 200, "{described}");
    assert_eq!(described["projections"][0]["candidate"], false);
    let run = api.ok(&format!("{f}/projections/balances")).await;
    assert_eq!((run["partitions"].clone(), run["events_folded"].clone()), (json!(2), json!(4)));
    let state = api.ok(&format!("{f}/projections/balances/state?partition=account-1")).await;
    assert_eq!(state["state"], json!({ "balance": 51 }));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while api.ok("/v1/projections/balances").await["position"] != 4 {
        assert!(std::time::Instant::now() < deadline, "the live projection never caught up");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let live_state = api.ok("/v1/projections/balances/state?partition=account-1").await;
    assert_eq!(live_state["state"], json!({ "balance": -29 }));
    let blame = api.ok(&format!("{f}/projections/balances/blame?partition=account-1&pointer=/balance")).await;
    assert_eq!(blame["event"]["position"], 3, "fork positions close the gap: {blame}");
    let d = api.ok(&format!("{f}/diff?projection=balances")).await;
    assert_eq!((d["changed"].clone(), d["identical"].clone()), (json!(1), json!(0)), "{d}");
    assert_eq!(d["partitions"][0]["first_divergence"]["live_position"], 2);

    // The candidate code on a fork of the untouched history: it refuses
    // the bad withdrawal, journals its output, and changes account-1 only.
    assert_eq!(api.post("/v1/forks", json!({ "name": "candidate" })).await.0, 201);
    let c = "/v1/forks/candidate";
    let put = json!({ "source": CANDIDATE });
    let (status, described) = api.call(reqwest::Method::PUT, &format!("{c}/projections/balances"), Some(put)).await;
    assert_eq!((status, described["projections"][0]["candidate"].clone()), (200, json!(true)));
    let journal = api.ok(&format!("{c}/projections/balances/journal")).await;
    assert_eq!(journal["events"].as_array().unwrap().len(), 1, "{journal}");
    assert_eq!(
        (journal["events"][0]["stream"].clone(), journal["events"][0]["position"].clone()),
        (json!("alerts"), json!(2))
    );
    let d = api.ok(&format!("{c}/diff?projection=balances")).await;
    assert_eq!((d["partitions_compared"].clone(), d["changed"].clone()), (json!(2), json!(1)), "{d}");
    assert_eq!(d["partitions"][0]["patch"], json!([{ "op": "replace", "path": "/balance", "value": 51 }]));
    assert_eq!(d["partitions"][0]["first_divergence"]["live_position"], 2);
    let against = api.ok(&format!("{c}/diff?projection=balances&against=fix")).await;
    assert_eq!(against["changed"], 0, "the fix and the skip agree: {against}");
    let partitions = api.ok(&format!("{c}/projections/balances/partitions?limit=1")).await;
    assert_eq!(
        (partitions["partitions"][0]["partition"].clone(), partitions["next_after"].clone()),
        (json!("account-1"), json!("account-1"))
    );

    // Nothing live moved: no event, no projection state, no output.
    assert_eq!(api.ok("/v1/all").await, live_all);
    assert_eq!(api.ok("/v1/projections/balances/state?partition=account-1").await["state"], json!({ "balance": -29 }));

    // Errors.
    let (status, body) =
        api.call(reqwest::Method::PUT, &format!("{c}/projections/x"), Some(json!({ "source": "nonsense(" }))).await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid_query")), "{body}");
    assert_eq!(api.call(reqwest::Method::PUT, &format!("{c}/projections/nope"), Some(json!({}))).await.0, 400);
    assert_eq!(api.call(reqwest::Method::GET, &format!("{c}/projections/nope"), None).await.0, 404);
    assert_eq!(api.call(reqwest::Method::GET, &format!("{c}/projections/balances/state?version=1"), None).await.0, 400);
    assert_eq!(api.post("/v1/impact", json!({})).await.0, 400);
    assert_eq!(api.post("/v1/impact", json!({ "skip": [99] })).await.0, 400);
    assert_eq!(api.call(reqwest::Method::GET, &format!("{c}/diff"), None).await.0, 400);
    assert_eq!(api.call(reqwest::Method::DELETE, &format!("{c}/projections/balances"), None).await.0, 204);
    assert_eq!(api.call(reqwest::Method::GET, &format!("{c}/projections/balances"), None).await.0, 404);
}

fn cli(dir: &std::path::Path, server: &Server, args: &[&str]) -> (bool, String) {
    let mut all = args.to_vec();
    all.extend(["--server", server.url.as_str()]);
    let out = common::run(dir, &all);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() || out.status.code() == Some(1), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_makes_forks_asks_impact_and_gates_a_candidate_in_ci() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    api.append("/v1", "account-1", "Deposited", json!({ "amount": 50 })).await;
    api.append("/v1", "account-1", "Withdrawn", json!({ "amount": 80 })).await;
    api.append("/v1", "account-2", "Deposited", json!({ "amount": 10 })).await;
    assert_eq!(
        api.call(reqwest::Method::PUT, "/v1/projections/balances", Some(json!({ "source": BALANCES }))).await.0,
        200
    );
    let files = tempfile::tempdir().unwrap();
    let d = files.path();

    let (ok, out) = cli(d, &server, &["fork", "create", "fix", "--base", "position:2"]);
    assert!(ok && out.starts_with("fix  base position:2 (end 3)"), "{out}");
    let (ok, out) = cli(d, &server, &["fork", "skip", "fix", "--position", "1"]);
    assert!(ok && out.contains("skips [1]"), "{out}");
    let (ok, out) = cli(d, &server, &["fork", "project", "fix", "balances"]);
    assert!(ok && out.contains("projections [balances]"), "{out}");
    let (ok, out) = cli(d, &server, &["fork", "diff", "fix", "--projection", "balances"]);
    assert!(ok && out.contains("changed \"account-1\": /balance  first diverged at live position 1"), "{out}");
    let (ok, out) = cli(d, &server, &["fork", "diff", "fix", "--stream", "account-1", "--json"]);
    assert!(ok && serde_json::from_str::<Value>(&out).unwrap()["first_divergence"]["version"] == 1, "{out}");
    let (_, out) = cli(d, &server, &["fork", "list"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let (ok, out) = cli(d, &server, &["impact", "--skip", "1"]);
    assert!(
        ok && out.starts_with("balances:\n  changed \"account-1\": /balance  first diverged at live position 1"),
        "{out}"
    );

    // The CI gate: a candidate that changes the read model fails with
    // --fail-on changed and writes its report; the live code passes.
    std::fs::write(d.join("candidate.js"), CANDIDATE).unwrap();
    std::fs::write(d.join("same.js"), BALANCES).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while api.ok("/v1/projections/balances").await["position"] != 2 {
        assert!(std::time::Instant::now() < deadline, "the live projection never caught up");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let report = d.join("report.json");
    let (ok, out) = cli(
        d,
        &server,
        &[
            "projection",
            "preview",
            "balances",
            "--file",
            d.join("candidate.js").to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--fail-on",
            "changed,failed",
        ],
    );
    assert!(!ok, "the gate fails: {out}");
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["partitions"], json!({ "added": 0, "removed": 0, "changed": 1 }), "{r}");
    assert_eq!(r["fields"]["/balance"], json!({ "partitions": 1, "examples": ["account-1"] }));
    assert_eq!(r["failed"]["events"], 0);
    let (ok, out) = cli(
        d,
        &server,
        &["projection", "preview", "balances", "--file", d.join("same.js").to_str().unwrap(), "--fail-on", "changed"],
    );
    assert!(ok, "the same code changes nothing: {out}");
    let (ok, out) = cli(
        d,
        &server,
        &[
            "projection",
            "preview",
            "balances",
            "--file",
            d.join("candidate.js").to_str().unwrap(),
            "--from",
            "position:1",
            "--to",
            "2",
            "--json",
        ],
    );
    let r: Value = serde_json::from_str(&out).unwrap();
    assert!(ok && r["position"] == 2 && r["partitions"]["changed"] == 1, "a range given as points: {out}");
    let (ok, out) = cli(d, &server, &["fork", "delete", "fix"]);
    assert!(ok && out.trim() == "deleted", "{out}");
}
