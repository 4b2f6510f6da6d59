//! The HTTP API from the outside: the real binary on a free port. Every
//! route, every error status with its code, idempotent retries, racing
//! writers, subscriptions across the catch-up/live hand-over, resume with
//! Last-Event-ID after a disconnect and after a restart, backpressure, and
//! graceful shutdown.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::Server;
use futures::StreamExt;
use hindsight_client::{Client, ClientError, Expected, Filter, NewEvent};
use serde_json::{json, Value};

fn ev(n: u64) -> NewEvent {
    NewEvent::new("Tested", json!({ "n": n }))
}

async fn raw(
    method: &str,
    url: &str,
    body: Option<(&str, &str)>,
    headers: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some((ct, b)) = body {
        req = req.header("content-type", ct).body(b.to_string());
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_and_every_error_has_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--body-bytes-max", "4096"]);
    let u = &server.url;
    let json_ct = "application/json";
    // Appends.
    let (s, v, _) = raw(
        "POST",
        &format!("{u}/v1/streams/order-1"),
        Some((
            json_ct,
            r#"{"expected_version":"no_stream","events":[{"type":"Placed","data":{"total":5},"tags":["order:1"]}]}"#,
        )),
        &[("traceparent", "00-abc-def-01"), ("x-correlation-id", "corr-7")],
    )
    .await;
    assert_eq!((s, v["first_position"].as_u64(), v["next_expected_version"].as_u64()), (200, Some(0), Some(0)), "{v}");
    let (s, v, _) = raw("POST", &format!("{u}/v1/append"), Some((json_ct, r#"{"appends":[{"stream":"a-1","events":[{"type":"T","data":1}]},{"stream":"b-1","expected_version":"no_stream","events":[{"type":"T","data":2}]}]}"#)), &[]).await;
    assert_eq!((s, v["results"].as_array().map(Vec::len)), (200, Some(2)), "{v}");
    // Reads.
    let (s, v, _) = raw("GET", &format!("{u}/v1/streams/order-1"), None, &[]).await;
    assert_eq!(s, 200);
    let e = &v["events"][0];
    assert_eq!((e["type"].as_str(), e["version"].as_u64(), e["position"].as_u64()), (Some("Placed"), Some(0), Some(0)));
    assert_eq!(e["metadata"]["traceparent"], "00-abc-def-01");
    assert_eq!(e["metadata"]["correlation_id"], "corr-7");
    assert_eq!(e["tags"][0], "order:1");
    for field in ["id", "stream", "type", "version", "position", "timestamp", "data", "metadata", "tags"] {
        assert!(e.get(field).is_some(), "event lacks {field}");
    }
    let (s, v, _) = raw("GET", &format!("{u}/v1/streams/order-1/info"), None, &[]).await;
    assert_eq!((s, v["last_version"].as_u64()), (200, Some(0)));
    let (s, v, _) = raw("GET", &format!("{u}/v1/all?from=0&limit=2&category=a"), None, &[]).await;
    assert_eq!((s, v["events"].as_array().map(Vec::len)), (200, Some(1)), "{v}");
    let nd = reqwest::Client::new()
        .get(format!("{u}/v1/all"))
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(nd.headers()["content-type"], "application/x-ndjson");
    assert_eq!(nd.text().await.unwrap().lines().count(), 3);
    let (s, v, _) = raw("GET", &format!("{u}/v1/position?at=2000-01-01T00:00:00%2B02:00"), None, &[]).await;
    assert_eq!((s, v["position"].as_u64()), (200, Some(0)));
    let (s, v, _) = raw("GET", &format!("{u}/v1/info"), None, &[]).await;
    assert_eq!((s, v["events"].as_u64(), v["store"].as_str()), (200, Some(3), Some("embedded")));
    for path in ["/health", "/ready"] {
        assert_eq!(raw("GET", &format!("{u}{path}"), None, &[]).await.0, 200, "{path}");
    }
    let metrics = reqwest::get(format!("{u}/metrics")).await.unwrap().text().await.unwrap();
    for name in [
        "hindsight_http_requests_total",
        "hindsight_http_request_duration_seconds",
        "hindsight_append_duration_seconds",
        "hindsight_events_appended_total",
        "hindsight_bytes_appended_total",
        "hindsight_fsync_batch_events_bucket",
        "hindsight_fsync_duration_seconds_bucket",
        "hindsight_reads_total",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }
    let (s, doc, _) = raw("GET", &format!("{u}/openapi.json"), None, &[]).await;
    assert_eq!(s, 200);
    for (method, path) in hindsight_server::ROUTES {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} undocumented");
    }
    // Errors, each with its status and code.
    let big = format!(r#"{{"events":[{{"type":"T","data":"{}"}}]}}"#, "x".repeat(5000));
    /// (method, url, (content type, body), status, code)
    type Case<'a> = (&'a str, String, Option<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("GET", format!("{u}/v1/streams/nope"), None, 404, "stream_not_found"),
        ("GET", format!("{u}/v1/streams/nope/info"), None, 404, "stream_not_found"),
        ("GET", format!("{u}/no/such/route"), None, 404, "not_found"),
        (
            "POST",
            format!("{u}/v1/streams/order-1"),
            Some((json_ct, r#"{"expected_version":5,"events":[{"type":"T","data":1}]}"#.into())),
            409,
            "wrong_expected_version",
        ),
        ("POST", format!("{u}/v1/streams/order-1"), Some((json_ct, "{nope".into())), 400, "malformed_json"),
        (
            "POST",
            format!("{u}/v1/streams/order-1"),
            Some((json_ct, r#"{"events":[{"data":1}]}"#.into())),
            400,
            "invalid_body",
        ),
        (
            "POST",
            format!("{u}/v1/streams/order-1"),
            Some((json_ct, r#"{"expected_version":"sometimes","events":[{"type":"T","data":1}]}"#.into())),
            400,
            "invalid_expected_version",
        ),
        ("POST", format!("{u}/v1/streams/order-1"), Some((json_ct, r#"{"events":[]}"#.into())), 400, "empty_append"),
        (
            "POST",
            format!("{u}/v1/streams/order-1"),
            Some((json_ct, r#"{"events":[{"type":"T","data":1,"metadata":[1]}]}"#.into())),
            400,
            "metadata_not_object",
        ),
        (
            "POST",
            format!("{u}/v1/streams/%01bad"),
            Some((json_ct, r#"{"events":[{"type":"T","data":1}]}"#.into())),
            400,
            "invalid_stream_name",
        ),
        (
            "POST",
            format!("{u}/v1/streams/order-1"),
            Some(("text/plain", r#"{"events":[]}"#.into())),
            415,
            "unsupported_media_type",
        ),
        ("POST", format!("{u}/v1/streams/order-1"), Some((json_ct, big)), 413, "request_too_large"),
        ("GET", format!("{u}/v1/streams/order-1?direction=sideways"), None, 400, "invalid_query"),
        ("GET", format!("{u}/v1/all?from=minus"), None, 400, "invalid_query"),
        ("GET", format!("{u}/v1/position?at=yesterday"), None, 400, "invalid_time"),
    ];
    for (method, url, body, status, code) in cases {
        let (s, v, _) = raw(method, &url, body.as_ref().map(|(c, b)| (*c, b.as_str())), &[]).await;
        assert_eq!((s, v["error"].as_str()), (status, Some(code)), "{method} {url}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{url}: no message");
    }
    let (s, v, _) = raw("POST", &format!("{u}/v1/append"), Some((json_ct, r#"{"appends":[{"stream":"a-1","expected_version":"no_stream","events":[{"type":"T","data":1}]},{"stream":"z-1","expected_version":3,"events":[{"type":"T","data":1}]}]}"#)), &[]).await;
    assert_eq!(s, 409);
    let named: HashSet<&str> =
        v["conflicts"].as_array().unwrap().iter().map(|c| c["stream"].as_str().unwrap()).collect();
    assert_eq!(named, HashSet::from(["a-1", "z-1"]), "409 names every failing part");
    let (s, v, _) = raw("GET", &format!("{u}/v1/subscribe"), None, &[("last-event-id", "x")]).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_last_event_id")));
    // Bad input wrote nothing.
    assert_eq!(Client::new(u).info().await.unwrap()["events"], 3);
    assert!(server.terminate(), "graceful exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_idempotent_and_racing_writers_get_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let c = Client::new(&server.url);
    let id = uuid::Uuid::new_v4();
    let first = c.append("pay-1", Expected::NoStream, vec![ev(0).with_id(id)]).await.unwrap();
    c.append("pay-1", Expected::Any, vec![ev(1)]).await.unwrap();
    let again = c.append("pay-1", Expected::NoStream, vec![ev(0).with_id(id)]).await.unwrap();
    assert_eq!(first, again);
    assert!(matches!(
        c.append("pay-2", Expected::Any, vec![ev(0).with_id(id)]).await,
        Err(ClientError::IdConflict { .. })
    ));
    for round in 0..5u64 {
        let tasks: Vec<_> = (0..8)
            .map(|w| {
                let c = c.clone();
                tokio::spawn(async move {
                    c.append(
                        "race-1",
                        if round == 0 { Expected::NoStream } else { Expected::Exact(round - 1) },
                        vec![ev(w)],
                    )
                    .await
                })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => wins += 1,
                Err(ClientError::WrongExpectedVersion { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
    let page = c
        .read_stream("race-1", &hindsight_client::ReadStreamQuery { limit: Some(100), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(page.events.iter().map(|e| e.version).collect::<Vec<_>>(), (0..5).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_hands_over_without_gap_and_resumes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--heartbeat-secs", "0.2"]);
    let c = Client::new(&server.url);
    for i in 0..300 {
        c.append(&format!("h-{}", i % 7), Expected::Any, vec![ev(i), ev(i)]).await.unwrap();
    }
    // A subscriber starting mid-way while writers keep appending.
    let mut sub = Box::pin(c.subscribe(100, Filter::default()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let c = c.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    c.append(&format!("live-{w}"), Expected::Any, vec![ev(i)]).await.unwrap();
                }
            })
        })
        .collect();
    let mut got = Vec::new();
    while got.len() < 600 - 100 + 400 {
        let e =
            tokio::time::timeout(Duration::from_secs(20), sub.next()).await.expect("event in time").unwrap().unwrap();
        got.push(e.position);
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(got == (100..1000).collect::<Vec<_>>(), "every event once, in order, across the hand-over");
    // Disconnect: a new subscription resumes with Last-Event-ID.
    drop(sub);
    let r = reqwest::Client::new()
        .get(format!("{}/v1/subscribe", server.url))
        .header("last-event-id", "897")
        .send()
        .await
        .unwrap();
    let mut body = r.bytes_stream();
    let chunk = String::from_utf8(body.next().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(chunk.starts_with("id: 898\n"), "resumes right after the id: {chunk:.60}");
    drop(body);
    // A subscriber that lives through a server restart.
    let addr = server.addr.clone();
    let mut sub = Box::pin(c.subscribe(990, Filter::default()));
    for p in 990..1000 {
        assert_eq!(sub.next().await.unwrap().unwrap().position, p);
    }
    assert!(server.terminate(), "graceful exit with a subscriber attached");
    let server = Server::start_at(dir.path(), &addr, &[]);
    let c = Client::new(&server.url);
    for i in 0..10 {
        c.append("after-1", Expected::Any, vec![ev(i)]).await.unwrap();
    }
    for p in 1000..1010 {
        let e = tokio::time::timeout(Duration::from_secs(20), sub.next()).await.expect("resumed").unwrap().unwrap();
        assert_eq!(e.position, p, "no gap or repeat across the restart");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_beyond_the_queue_gets_503_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--append-queue-depth", "1"]);
    let c = Client::new(&server.url);
    let tasks: Vec<_> = (0..64)
        .map(|w| {
            let c = c.clone();
            tokio::spawn(async move {
                let (mut ok, mut busy) = (Vec::new(), 0u64);
                for i in 0..20 {
                    match c.append(&format!("flood-{w}"), Expected::Any, vec![ev(i)]).await {
                        Ok(r) => ok.push(r.first_position),
                        Err(ClientError::Overloaded { retry_after }) => {
                            assert_eq!(retry_after, Some(Duration::from_secs(1)));
                            busy += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                (ok, busy)
            })
        })
        .collect();
    let (mut acked, mut busy) = (Vec::new(), 0);
    for t in tasks {
        let (ok, b) = t.await.unwrap();
        acked.extend(ok);
        busy += b;
    }
    assert!(busy > 0, "a queue of one must turn some of 64 concurrent writers away");
    assert!(!acked.is_empty());
    let stored =
        c.read_all(&hindsight_client::ReadAllQuery { limit: Some(10_000), ..Default::default() }).await.unwrap();
    let positions: HashSet<u64> = stored.events.iter().map(|e| e.position).collect();
    assert!(acked.iter().all(|p| positions.contains(p)), "every acknowledged event is stored");
    assert_eq!(stored.events.len(), acked.len(), "nothing refused was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_appends_and_they_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let c = Client::new(&server.url);
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let c = c.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..10_000u64 {
                    match c.append(&format!("term-{w}"), Expected::Any, vec![ev(i)]).await {
                        Ok(r) => acked.push(r.first_position),
                        Err(_) => break,
                    }
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(tokio::task::spawn_blocking(move || server.terminate()).await.unwrap(), "exit 0 on SIGTERM");
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(!acked.is_empty());
    let server = Server::start(dir.path(), &[]);
    let c = Client::new(&server.url);
    let info = c.info().await.unwrap();
    let stored = info["events"].as_u64().unwrap();
    assert!(acked.iter().all(|p| *p < stored), "every acknowledged append survived the shutdown");
    assert_eq!(stored, acked.len() as u64, "in-flight appends were finished (answered), not dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_too_far_behind_is_dropped_with_a_final_error_event() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--subscription-lag-max", "100"]);
    let c = Client::new(&server.url);
    for i in 0..10u64 {
        let events = (0..500).map(|j| ev(i * 500 + j)).collect();
        c.append("lag-1", Expected::Any, events).await.unwrap();
    }
    let body = reqwest::get(format!("{}/v1/subscribe?from=0", server.url)).await.unwrap().text().await.unwrap();
    assert!(body.contains("event: error"), "a final error event");
    assert!(body.contains("subscriber_too_slow"));
    assert!(body.trim_end().ends_with('}'), "the stream ends after the error event");
    // Without the limit the same subscriber reads on at its own pace.
    drop(server);
    let server = Server::start(dir.path(), &[]);
    let mut sub = Box::pin(Client::new(&server.url).subscribe(0, Filter::default()));
    for p in 0..5000 {
        assert_eq!(sub.next().await.unwrap().unwrap().position, p);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_too_many_bytes_behind_is_dropped_with_a_final_error_event() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--subscription-lag-bytes-max", "1000000"]);
    let c = Client::new(&server.url);
    let pad = "b".repeat(2000);
    for i in 0..10u64 {
        let events = (0..500).map(|j| NewEvent::new("Big", json!({ "n": i * 500 + j, "pad": pad }))).collect();
        c.append("lagb-1", Expected::Any, events).await.unwrap();
    }
    let body = reqwest::get(format!("{}/v1/subscribe?from=0", server.url)).await.unwrap().text().await.unwrap();
    assert!(body.contains("subscriber_too_slow") && body.contains("bytes of log behind"), "a final error event");
    assert!(body.trim_end().ends_with('}'), "the stream ends after the error event");
    // A subscriber close to the head is not dropped.
    let mut sub = Box::pin(Client::new(&server.url).subscribe(4990, Filter::default()));
    for p in 4990..5000 {
        assert_eq!(sub.next().await.unwrap().unwrap().position, p);
    }
}

#[test]
fn settings_come_from_flags_then_env_then_the_config_file() {
    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hindsight.toml");
    std::fs::write(&config, format!("listen = \"127.0.0.1:{file_port}\"\nheartbeat_secs = 2.5\n")).unwrap();
    let listening = |env: Option<u16>, flag: Option<u16>| {
        let mut cmd = std::process::Command::new(common::BIN);
        cmd.arg("--data-dir").arg(dir.path().join("data")).args(["serve", "--config"]).arg(&config);
        if let Some(p) = flag {
            cmd.args(["--listen", &format!("127.0.0.1:{p}")]);
        }
        match env {
            Some(p) => cmd.env("HINDSIGHT_LISTEN", format!("127.0.0.1:{p}")),
            None => cmd.env_remove("HINDSIGHT_LISTEN"),
        };
        let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let v: Value = serde_json::from_str(&line).unwrap();
        v["listening"].as_str().unwrap().rsplit(':').next().unwrap().parse::<u16>().unwrap()
    };
    assert_eq!(listening(None, None), file_port, "the file");
    assert_eq!(listening(Some(env_port), None), env_port, "env beats the file");
    assert_eq!(listening(Some(env_port), Some(flag_port)), flag_port, "the flag beats env");
    std::fs::write(&config, "listen = \"127.0.0.1:1\"\nno_such_setting = 1\n").unwrap();
    let out = std::process::Command::new(common::BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success(), "an unknown setting is an error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_setting"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_one_line_per_event() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let c = Client::new(&server.url);
    c.append("order-1", Expected::Any, vec![ev(1)]).await.unwrap();
    c.append("user-1", Expected::Any, vec![ev(2)]).await.unwrap();
    c.append("order-2", Expected::Any, vec![ev(3)]).await.unwrap();
    let mut tail = std::process::Command::new(common::BIN)
        .args(["tail", "--url", &server.url, "--from", "0", "--category", "order"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(tail.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let _ = tail.kill();
    let _ = tail.wait();
    assert!(first.starts_with("0 ") && first.contains("order-1@0 Tested"), "{first}");
    assert!(second.starts_with("2 ") && second.contains("order-2@0"), "{second}");
}
