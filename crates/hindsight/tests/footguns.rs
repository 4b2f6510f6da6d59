//! No silent footguns, over HTTP and on the command line: an event id
//! re-sent with other content is a 409 naming where it is stored (an
//! identical retry still returns the original result); a null or negative
//! `expected_version` is a 400 that says what to send; unknown query
//! parameters are refused; `stream=` follows exactly one stream; every
//! error, 404, 405 and a bad path included, is JSON; CORS is off unless
//! an origin is configured; `import` exits 1 when a line failed and
//! refuses unknown fields; read-only commands never create a store, and
//! read through a running server with `--server`.

mod common;

use common::{run, Server};
use serde_json::{json, Value};

async fn call(method: &str, url: &str, body: Option<Value>, headers: &[(&str, &str)]) -> (u16, Value, String) {
    let mut req = reqwest::Client::new().request(method.parse().unwrap(), url);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), ct)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_has_no_silent_footguns() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let u = &server.url;
    let id = "7d444840-9dc0-11d1-b245-5ffdce74fad2";
    let body = |total: u64| json!({ "events": [{ "id": id, "type": "Placed", "data": { "total": total } }] });
    let (s, first, _) = call("POST", &format!("{u}/v1/streams/order-1"), Some(body(5)), &[]).await;
    assert_eq!(s, 200, "{first}");
    let (s, again, _) = call("POST", &format!("{u}/v1/streams/order-1"), Some(body(5)), &[]).await;
    assert_eq!((s, &again), (200, &first), "an identical retry returns the original result");
    let (s, v, _) = call("POST", &format!("{u}/v1/streams/order-1"), Some(body(6)), &[]).await;
    assert_eq!((s, v["error"].as_str(), v["field"].as_str()), (409, Some("event_id_reused"), Some("data")), "{v}");
    assert_eq!((v["stream"].as_str(), v["position"].as_u64()), (Some("order-1"), Some(0)));

    for (expected, says) in [(json!(null), "is null"), (json!(-1), "-1 is not a version"), (json!(1.5), "1.5")] {
        let b = json!({ "expected_version": expected, "events": [{ "type": "T", "data": 1 }] });
        let (s, v, _) = call("POST", &format!("{u}/v1/streams/order-2"), Some(b), &[]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_expected_version")), "{expected}: {v}");
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains(says) && msg.contains("no_stream"), "{msg}");
    }
    let (s, v, _) = call("GET", &format!("{u}/v1/info"), None, &[]).await;
    assert_eq!((s, v["events"].as_u64()), (200, Some(1)), "nothing refused was written");

    for path in ["/v1/all?limit=5&stream_prefix=order", "/v1/streams/order-1?form=0", "/v1/subscribe?strem=order-1"] {
        let (s, v, ct) = call("GET", &format!("{u}{path}"), None, &[]).await;
        assert_eq!(
            (s, v["error"].as_str(), ct.as_str()),
            (400, Some("invalid_query"), "application/json"),
            "{path}: {v}"
        );
    }

    // Read-only commands work while the server holds the directory, through it.
    let out = run(dir.path(), &["read-all", "--server", u, "--stream", "order-1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((lines.len(), lines[0]["stream"].as_str()), (1, Some("order-1")));
    let out = run(dir.path(), &["read", "order-1", "--server", u]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let out = run(dir.path(), &["info", "--server", u]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["events"].as_u64(), Some(1));
    let out = run(dir.path(), &["stream-info", "order-1", "--server", u]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["last_version"].as_u64(), v["events"].as_u64()), (Some(0), Some(1)));
    let out = run(dir.path(), &["read-all"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("use its HTTP API"), "the lock error says what to do");
    // verify works on the held directory, while appends go on.
    let appends = {
        let u = u.clone();
        tokio::spawn(async move {
            for n in 0..300 {
                let b = json!({ "events": [{ "type": "Busy", "data": { "n": n, "pad": "v".repeat(500) } }] });
                call("POST", &format!("{u}/v1/streams/busy-{}", n % 7), Some(b), &[]).await;
            }
        })
    };
    for _ in 0..3 {
        let out = run(dir.path(), &["verify", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(out.status.success() && v["live"] == true, "{v}");
    }
    appends.await.unwrap();

    // stream= is exactly one stream: order-10 is not order-1.
    call("POST", &format!("{u}/v1/streams/order-10"), Some(json!({ "events": [{ "type": "T", "data": 1 }] })), &[])
        .await;
    let (s, v, _) = call("GET", &format!("{u}/v1/all?stream=order-1"), None, &[]).await;
    let streams: Vec<&str> = v["events"].as_array().unwrap().iter().map(|e| e["stream"].as_str().unwrap()).collect();
    assert_eq!((s, streams), (200, vec!["order-1"]));
    let sub = reqwest::Client::new().get(format!("{u}/v1/subscribe?stream=order-10")).send().await.unwrap();
    let mut body = sub.bytes_stream();
    use futures::StreamExt;
    let chunk = String::from_utf8(body.next().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(chunk.contains("\"stream\":\"order-10\"") && !chunk.contains("\"stream\":\"order-1\""), "{chunk}");

    // Errors are JSON, whatever went wrong.
    for (method, path, status, code) in [
        ("DELETE", "/v1/all", 405, "method_not_allowed"),
        ("PUT", "/v1/streams/order-1", 405, "method_not_allowed"),
        ("GET", "/v2/nothing", 404, "not_found"),
        ("GET", "/v1/streams/%FF%FE", 400, "invalid_path"),
    ] {
        let (s, v, ct) = call(method, &format!("{u}{path}"), None, &[]).await;
        assert_eq!((s, v["error"].as_str(), ct.as_str()), (status, Some(code), "application/json"), "{method} {path}");
    }

    // No CORS unless configured.
    let r = reqwest::Client::new()
        .get(format!("{u}/v1/info"))
        .header("origin", "http://elsewhere.test")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_the_configured_origins_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--cors-origin", "http://ui.test:5173"]);
    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{}/v1/streams/order-1", server.url))
        .header("origin", "http://ui.test:5173")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let allow =
        |r: &reqwest::Response| r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(allow(&preflight).as_deref(), Some("http://ui.test:5173"));
    let other =
        client.get(format!("{}/v1/info", server.url)).header("origin", "http://evil.test").send().await.unwrap();
    assert_eq!(allow(&other), None, "another origin gets no CORS grant");
}

#[test]
fn the_command_line_has_no_silent_footguns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Read-only commands never create a store.
    let missing = d.join("typo");
    for args in [&["read-all"][..], &["read", "order-1"], &["info"], &["verify"], &["repair"]] {
        let out = run(&missing, args);
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("no store at"), "{args:?}");
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
    // import: unknown fields refused like the HTTP API does, and the exit code says a line failed.
    let out = common::import(
        d,
        &[
            r#"{"stream":"a-1","type":"T","data":1}"#,
            r#"{"stream":"a-1","type":"T","data":2,"expected_versoin":5}"#,
            r#"{"stream":"a-1","type":"T","data":3,"expected_version":null}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let answers: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), 3, "every line is answered");
    assert!(answers[1]["error"]["message"].as_str().unwrap().contains("unknown field \"expected_versoin\""));
    assert!(answers[2]["error"]["message"].as_str().unwrap().contains("is null"));
    let out = run(d, &["info", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["events"], 1);
    // An id re-sent with other data.
    let id = "7d444840-9dc0-11d1-b245-5ffdce74fad2";
    assert!(run(d, &["append", "b-1", "--type", "T", "--json", "1", "--id", id]).status.success());
    assert!(run(d, &["append", "b-1", "--type", "T", "--json", "1", "--id", id]).status.success(), "a retry");
    let out = run(d, &["append", "b-1", "--type", "T", "--json", "2", "--id", id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("event_id_reused"));
}
