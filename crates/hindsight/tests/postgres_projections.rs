//! Projections and forks shared by two servers on one PostgreSQL
//! database. Projections: a
//! projection created on one runs on both, exactly one leads it (writes
//! its checkpoint to the database), both answer its state, one deleted on
//! a follower stops on the leader, and when the
//! leader is killed under load the other takes over within seconds and
//! the checkpoint moves on. Forks: made, changed and deleted through
//! either server, seen through both.

mod common;

use std::time::{Duration, Instant};

use common::Api;
use hindsight_store_postgres::scratch::Database;
use serde_json::{json, Value};

const COUNT: &str = "fromAll().when({ $init: () => ({ n: 0 }), $any: (s, e) => { s.n += 1; } })";

async fn append(api: &Api, n: usize) {
    for i in 0..n {
        let body = json!({ "events": [{ "type": "Ticked", "data": { "i": i } }] });
        let (status, v) = api.call(reqwest::Method::POST, "/v1/streams/ticks", Some(body)).await;
        assert_eq!(status, 200, "{v}");
    }
}

/// Waits until `check` holds for the projection's summary on `api`.
async fn until(api: &Api, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, s) = api.call(reqwest::Method::GET, "/v1/projections/count", None).await;
        if status == 200 && check(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: {status} {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_status(api: &Api, path: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.call(reqwest::Method::GET, path, None).await.0 != want {
        assert!(Instant::now() < deadline, "{path} never answered {want} on {}", api.url);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The position of the checkpoint the database holds for `count`.
async fn checkpointed(db: &Database) -> Option<i64> {
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let row = client.query_opt("SELECT position FROM hs_checkpoints WHERE name = 'count'", &[]).await.unwrap();
    row.and_then(|r| r.get::<_, Option<i64>>(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_leads_a_shared_projection_and_the_other_takes_over_when_it_dies() {
    let db = Database::create().await;
    let common::Pair { a, b, dirs: _dirs } = common::two_servers(&db.url);
    let (api_a, api_b) = (Api::new(&a), Api::new(&b));
    append(&api_a, 50).await;
    let (status, v) = api_a
        .call(reqwest::Method::PUT, "/v1/projections/count", Some(json!({ "source": COUNT, "on_error": "park" })))
        .await;
    assert_eq!(status, 200, "{v}");

    // Created on A, it runs on B too; A leads, B follows; both answer.
    let on_a = until(&api_a, "A catches up and leads", |s| s["lag_events"] == 0 && s["leader"] == true).await;
    let on_b = until(&api_b, "B follows and catches up", |s| s["lag_events"] == 0).await;
    assert_eq!(on_b["leader"], false, "exactly one leader: {on_a} {on_b}");
    for api in [&api_a, &api_b] {
        assert_eq!(api.get_ok("/v1/projections/count/state").await["state"]["n"], 50);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while checkpointed(&db).await != Some(49) {
        assert!(Instant::now() < deadline, "the leader's checkpoint reaches the database");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Created on the follower and deleted there: the leader follows both.
    let (status, v) = api_b
        .call(reqwest::Method::PUT, "/v1/projections/brief", Some(json!({ "source": COUNT, "on_error": "park" })))
        .await;
    assert_eq!(status, 200, "{v}");
    wait_status(&api_a, "/v1/projections/brief", 200).await;
    let (status, v) = api_b.call(reqwest::Method::DELETE, "/v1/projections/brief", None).await;
    assert!(status < 300, "{status} {v}");
    wait_status(&api_a, "/v1/projections/brief", 404).await;

    // A dies under load: B takes over within seconds and checkpoints on.
    let load = {
        let api = Api { http: reqwest::Client::new(), url: b.url.clone() };
        tokio::spawn(async move { append(&api, 100).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let killed = Instant::now();
    a.kill9();
    until(&api_b, "B takes over", |s| s["leader"] == true).await;
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(10), "took over after {took:?}");
    load.await.unwrap();
    let s = until(&api_b, "B catches up as leader", |s| s["lag_events"] == 0).await;
    assert_eq!(api_b.get_ok("/v1/projections/count/state").await["state"]["n"], 150, "{s}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while checkpointed(&db).await != Some(149) {
        assert!(Instant::now() < deadline, "the new leader's checkpoint reaches the database");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("took over {took:?} after the leader was killed");
}

/// Waits until `path` on `api` answers 200 with a body `check` accepts.
async fn until_body(api: &Api, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = api.call(reqwest::Method::GET, path, None).await;
        if status == 200 && check(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} on {}: {status} {body}", api.url);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_are_shared_by_the_servers_on_one_database() {
    let db = Database::create().await;
    let common::Pair { a, b, dirs: _dirs } = common::two_servers(&db.url);
    let (api_a, api_b) = (Api::new(&a), Api::new(&b));
    append(&api_a, 5).await;
    let (status, fork) = api_a.call(reqwest::Method::POST, "/v1/forks", Some(json!({ "name": "what-if" }))).await;
    assert_eq!(status, 201, "{fork}");
    // Made on A, B serves it; a skip on B reaches A; an event appended on
    // A's fork is read on B's.
    until_body(&api_b, "/v1/forks/what-if/all", |b| b["events"].as_array().is_some_and(|e| e.len() == 5)).await;
    let (status, v) =
        api_b.call(reqwest::Method::POST, "/v1/forks/what-if/skip", Some(json!({ "positions": [2] }))).await;
    assert_eq!(status, 200, "{v}");
    until_body(&api_a, "/v1/forks/what-if/all", |b| b["events"].as_array().is_some_and(|e| e.len() == 4)).await;
    let body = json!({ "events": [{ "type": "Extra", "data": {} }] });
    let (status, v) = api_a.call(reqwest::Method::POST, "/v1/forks/what-if/streams/ticks", Some(body)).await;
    assert_eq!(status, 200, "{v}");
    let all =
        until_body(&api_b, "/v1/forks/what-if/all", |b| b["events"].as_array().is_some_and(|e| e.len() == 5)).await;
    assert_eq!(all["events"][4]["type"], "Extra", "{all}");
    // Deleted on B, gone on A.
    assert_eq!(api_b.call(reqwest::Method::DELETE, "/v1/forks/what-if", None).await.0, 204);
    wait_status(&api_a, "/v1/forks/what-if", 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_put_through_a_follower_is_rebuilt_and_switched_on_both() {
    let db = Database::create().await;
    let common::Pair { a, b, dirs: _dirs } = common::two_servers(&db.url);
    let (api_a, api_b) = (Api::new(&a), Api::new(&b));
    append(&api_a, 20).await;
    let put = |api: &Api, source: &'static str| {
        let (http, url) = (api.http.clone(), api.url.clone());
        async move {
            let body = json!({ "source": source, "on_error": "park" });
            let r = http.put(format!("{url}/v1/projections/count")).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    put(&api_a, COUNT).await;
    until(&api_a, "A leads v1", |s| s["leader"] == true && s["lag_events"] == 0).await;
    until(&api_b, "B follows v1", |s| s["version"] == 1 && s["lag_events"] == 0).await;
    // Version 2 counts twice as fast; put through the follower.
    const DOUBLE: &str = "fromAll().when({ $init: () => ({ n: 0 }), $any: (s, e) => { s.n += 2; } })";
    put(&api_b, DOUBLE).await;
    for api in [&api_a, &api_b] {
        until(api, "v2 answers on both", |s| s["version"] == 2 && s["rebuild"].is_null() && s["lag_events"] == 0).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while api.get_ok("/v1/projections/count/state").await["state"]["n"] != 40 {
            assert!(Instant::now() < deadline, "v2's state on {}", api.url);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (sa, sb) = (api_a.get_ok("/v1/projections/count").await, api_b.get_ok("/v1/projections/count").await);
    assert_eq!([&sa["leader"], &sb["leader"]].iter().filter(|l| ***l == true).count(), 1, "one leader: {sa} {sb}");
}
