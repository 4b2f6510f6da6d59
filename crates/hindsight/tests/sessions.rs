//! Sessions over the CLI: a fork exported with masks and imported into a
//! new data directory and as a fork on a server reproduces the fork's
//! projection states; masked values never appear in the file; a flipped
//! byte is refused with the position whose hash link fails.

mod common;

use common::Server;
use serde_json::{json, Value};

const BALANCES: &str = r#"
fromCategory('account').foreachStream().when({
  $init: () => ({ balance: 0, owner: null }),
  Opened: (s, e) => { s.owner = e.data.email; },
  Deposited: (s, e) => { s.balance += e.data.amount; },
  Withdrawn: (s, e) => { s.balance -= e.data.amount; },
})"#;

async fn call(http: &reqwest::Client, method: reqwest::Method, url: String, body: Option<Value>) -> Value {
    let mut req = http.request(method, &url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

fn cli(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = common::run(dir, args);
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_round_trips_masked_and_a_tampered_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (http, url) = (reqwest::Client::new(), server.url.clone());
    let post = reqwest::Method::POST;
    for (stream, t, data) in [
        ("account-1", "Opened", json!({ "email": "ann@example.com" })),
        ("account-1", "Deposited", json!({ "amount": 50 })),
        ("account-2", "Opened", json!({ "email": "bob@example.com" })),
        ("account-1", "Withdrawn", json!({ "amount": 80 })),
        ("account-2", "Deposited", json!({ "amount": 7 })),
    ] {
        let body = json!({ "events": [{ "type": t, "data": data }] });
        call(&http, post.clone(), format!("{url}/v1/streams/{stream}"), Some(body)).await;
    }
    call(&http, reqwest::Method::PUT, format!("{url}/v1/projections/balances"), Some(json!({ "source": BALANCES })))
        .await;
    call(&http, post.clone(), format!("{url}/v1/forks"), Some(json!({ "name": "incident" }))).await;
    call(&http, post.clone(), format!("{url}/v1/forks/incident/skip"), Some(json!({ "positions": [3] }))).await;
    call(&http, reqwest::Method::PUT, format!("{url}/v1/forks/incident/projections/balances"), Some(json!({}))).await;
    let state = |fork: &'static str, p: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            call(
                &http,
                reqwest::Method::GET,
                format!("{url}/v1/forks/{fork}/projections/balances/state?partition={p}"),
                None,
            )
            .await["state"]
                .clone()
        }
    };
    let expected = (state("incident", "account-1").await, state("incident", "account-2").await);
    assert_eq!(expected.0, json!({ "balance": 50, "owner": "ann@example.com" }));

    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("case.hsession");
    let f = file.to_str().unwrap();
    let (ok, out, err) = cli(
        files.path(),
        &["session", "export", "--fork", "incident", "--mask", "/data/email", "--out", f, "--server", &url],
    );
    assert!(ok, "{err}");
    assert!(out.contains("session of fork incident: 4 events"), "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains("ann@example.com") && !text.contains("bob@example.com"),
        "masked values are not in the file"
    );
    assert!(text.contains("masked:"));

    // Into a new data directory: the same states (the masked owner aside).
    let new_dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = cli(new_dir.path(), &["session", "import", f]);
    assert!(ok, "{err}");
    for (p, want) in [("account-1", &expected.0), ("account-2", &expected.1)] {
        let (ok, out, err) = cli(new_dir.path(), &["projection", "state", "balances", "--partition", p, "--json"]);
        assert!(ok, "{err}");
        let got: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(got["state"]["balance"], want["balance"], "{p}: {got}");
        assert!(got["state"]["owner"].as_str().unwrap().starts_with("masked:"));
    }
    // As a fork on the server: the same again.
    let (ok, _, err) = cli(files.path(), &["session", "import", f, "--fork", "copy", "--server", &url]);
    assert!(ok, "{err}");
    assert_eq!(state("copy", "account-1").await["balance"], expected.0["balance"]);
    assert_eq!(state("copy", "account-2").await["balance"], expected.1["balance"]);

    // A flipped byte in account-2's deposit (fork position 3, after the skip).
    let at = text.find("\"amount\":7").unwrap() + "\"amount\":".len();
    let mut tampered = text.clone().into_bytes();
    tampered[at] = b'9';
    let bad = files.path().join("tampered.hsession");
    std::fs::write(&bad, tampered).unwrap();
    let (ok, _, err) = cli(tempfile::tempdir().unwrap().path(), &["session", "import", bad.to_str().unwrap()]);
    assert!(!ok && err.contains("the event at position 3 does not match the hash chain"), "{err}");
}

const FLAGS: &str = r#"fromCategory('order').foreachStream().when({
  $init: () => ({ flags: 0, notes: 0 }),
  Flagged: (s) => { s.flags += 1; },
  Noted: (s) => { s.notes += 1; },
})"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_command_keeps_the_three_events_that_matter_and_its_test_runs_under_node() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (http, url) = (reqwest::Client::new(), server.url.clone());
    let events: Vec<Value> = (0..500)
        .map(|i| match i {
            41 | 250 | 433 => json!({ "type": "Flagged", "data": { "why": "fraud" } }),
            _ => json!({ "type": "Noted", "data": { "i": i } }),
        })
        .collect();
    call(&http, reqwest::Method::POST, format!("{url}/v1/streams/order-1"), Some(json!({ "events": events }))).await;
    call(&http, reqwest::Method::PUT, format!("{url}/v1/projections/orders"), Some(json!({ "source": FLAGS }))).await;
    let files = tempfile::tempdir().unwrap();
    let js = files.path().join("orders.test.js");
    let args = ["fixture", "--projection", "orders", "--partition", "order-1", "--pointer", "/flags", "--server", &url];
    let (ok, out, err) = cli(files.path(), &[&args[..], &["--out", js.to_str().unwrap()]].concat());
    assert!(ok, "{err}");
    assert!(out.starts_with("/flags of \"order-1\" is 3 as of position:499: 3 of 500 events kept"), "{out}");
    let node = std::process::Command::new("node").arg(&js).output().expect("node runs the fixture");
    assert!(node.status.success(), "{}", String::from_utf8_lossy(&node.stderr));
    let rs = files.path().join("orders_test.rs");
    let (ok, _, err) = cli(files.path(), &[&args[..], &["--lang", "rust", "--out", rs.to_str().unwrap()]].concat());
    assert!(ok, "{err}");
    assert!(std::fs::read_to_string(&rs)
        .unwrap()
        .contains("hindsight_projections::fixture::check(SOURCE, \"order-1\", \"/flags\", EVENTS)"));
    let (ok, _, err) =
        cli(files.path(), &["fixture", "--projection", "nope", "--pointer", "/x", "--out", "x", "--server", &url]);
    assert!(!ok && err.contains("projection \"nope\" does not exist"), "{err}");
}
