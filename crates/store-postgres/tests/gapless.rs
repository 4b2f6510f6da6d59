//! Positions stay gapless and in commit order across servers: many
//! writers append concurrently through two stores on one database (two
//! servers), while a subscriber on each checks that it sees every
//! position exactly once, in order, and every acknowledged append at the
//! positions its acknowledgement named. The same event ids sent to both
//! servers are stored once.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hindsight_store::subscription::subscribe;
use hindsight_store::{AppendPart, EventStore, ExpectedVersion, Filter, NewEvent, ReadAll};
use serde_json::json;

const WRITERS_PER_SERVER: usize = 8;
const APPENDS_PER_WRITER: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_servers_leave_no_gap_and_subscribers_miss_nothing() {
    let db = common::Database::create().await;
    let servers: Vec<Arc<dyn EventStore>> =
        vec![Arc::new(common::store(&db).await), Arc::new(common::store(&db).await)];
    let total = 2 * WRITERS_PER_SERVER * APPENDS_PER_WRITER * 2; // two events per append
    let subscribers: Vec<_> = servers
        .iter()
        .map(|s| {
            let events = subscribe(s.clone(), 0, Filter::default()).take(total);
            tokio::spawn(async move { events.map(|r| r.expect("subscription")).collect::<Vec<_>>().await })
        })
        .collect();
    let mut writers = Vec::new();
    for (n, server) in servers.iter().enumerate() {
        for w in 0..WRITERS_PER_SERVER {
            let server = server.clone();
            writers.push(tokio::spawn(async move {
                let mut acks = Vec::new();
                for i in 0..APPENDS_PER_WRITER {
                    let stream = format!("w{n}x{w}-{}", i % 3);
                    let events =
                        (0..2).map(|k| NewEvent::new("E", json!({ "n": n, "w": w, "i": i, "k": k }))).collect();
                    let part = AppendPart { stream: stream.clone(), expected: ExpectedVersion::Any, events };
                    let r = server.append_multi(vec![part]).await.expect("append");
                    acks.push((stream, r[0]));
                }
                acks
            }));
        }
    }
    let mut acked = HashMap::new();
    for w in writers {
        for (stream, r) in w.await.unwrap() {
            acked.insert(r.first_position, (stream.clone(), r.next_expected_version - 1));
            acked.insert(r.last_position, (stream, r.next_expected_version));
        }
    }
    for (i, sub) in subscribers.into_iter().enumerate() {
        let seen = tokio::time::timeout(Duration::from_secs(30), sub).await.expect("subscriber finished").unwrap();
        let positions: Vec<u64> = seen.iter().map(|e| e.position).collect();
        assert_eq!(positions, (0..total as u64).collect::<Vec<_>>(), "server {i}: every position once, in order");
        for e in &seen {
            let (stream, version) = &acked[&e.position];
            assert_eq!(
                (&e.stream, e.version),
                (stream, *version),
                "server {i}: position {} as acknowledged",
                e.position
            );
        }
        assert!(seen.windows(2).all(|w| w[0].timestamp_us <= w[1].timestamp_us), "server {i}: time never goes back");
    }

    // One append with client ids sent to both servers at once: stored once,
    // and both answers name the same positions.
    let ids: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
    let part = |ids: &[uuid::Uuid]| AppendPart {
        stream: "retried-1".into(),
        expected: ExpectedVersion::Any,
        events: ids.iter().map(|id| NewEvent::new("R", json!({})).with_id(*id)).collect(),
    };
    let (a, b) = tokio::join!(servers[0].append_multi(vec![part(&ids)]), servers[1].append_multi(vec![part(&ids)]));
    assert_eq!(a.unwrap(), b.unwrap());
    let stored = servers[0].read_all(&ReadAll::forward(total as u64).limit(100)).await.unwrap().events;
    assert_eq!(stored.iter().map(|e| e.id).collect::<Vec<_>>(), ids, "stored once");
}

/// A server stalled while it holds the append lock holds the others up
/// only for the statement timeout: their appends fail as `Unavailable`
/// (503 with Retry-After over HTTP) and go through once the lock is free,
/// at the next position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_lock_holder_delays_appends_only_for_the_statement_timeout() {
    use hindsight_store::StoreError;
    use hindsight_store_postgres::{Options, PostgresStore, APPEND_LOCK};
    let db = common::Database::create().await;
    let options = Options { statement_timeout: Duration::from_secs(1), ..Options::default() };
    let store = PostgresStore::connect(&db.url, options).await.unwrap();
    let event = || vec![NewEvent::new("E", json!({}))];
    store.append("s", ExpectedVersion::Any, event()).await.unwrap();
    let (holder, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    holder.batch_execute("BEGIN").await.unwrap();
    holder.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK]).await.unwrap();
    let started = std::time::Instant::now();
    let refused = store.append("s", ExpectedVersion::Any, event()).await.unwrap_err();
    assert!(matches!(refused, StoreError::Unavailable { .. }), "{refused}");
    assert!(started.elapsed() < Duration::from_secs(5), "refused after {:?}", started.elapsed());
    holder.batch_execute("ROLLBACK").await.unwrap();
    let r = store.append("s", ExpectedVersion::Any, event()).await.unwrap();
    assert_eq!((r.first_position, r.next_expected_version), (1, 1), "gapless after the refusal");
}
