//! kill -9 under HTTP load: concurrent clients append batches (with ids)
//! while a subscriber follows `$all`; the server is killed at random
//! moments and restarted on the same address and data directory. After
//! every restart every 2xx-acknowledged event is stored at its
//! acknowledged position, every batch is whole or absent, and at the end
//! the subscriber (reconnecting with Last-Event-ID) has seen every event
//! exactly once, in order. `HINDSIGHT_HTTP_CRASH_KILLS` sets the number of
//! kills (default 20).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Server;
use futures::StreamExt;
use hindsight_client::{Client, Expected, Filter, NewEvent};
use serde_json::json;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_http_load_loses_nothing_acknowledged() {
    let kills: u64 = std::env::var("HINDSIGHT_HTTP_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let env_args = ["--heartbeat-secs", "0.5"];
    let first = Server::start(dir.path(), &env_args);
    let addr = first.addr.clone();
    let client = Client::new(&first.url);
    let mut server = Some(first);
    // The subscriber lives across every kill.
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sub_seen = seen.clone();
    let sub_client = client.clone();
    let subscriber = tokio::spawn(async move {
        let mut events = Box::pin(sub_client.subscribe(0, Filter::default()));
        while let Some(e) = events.next().await {
            match e {
                Ok(e) => sub_seen.lock().unwrap().push(e.position),
                Err(e) => panic!("subscription refused: {e}"),
            }
        }
    });
    // batch ids → acknowledged first position
    let acked: Arc<Mutex<HashMap<Vec<Uuid>, u64>>> = Arc::default();
    let sent: Arc<Mutex<Vec<Vec<Uuid>>>> = Arc::default();
    let mut rng = 0x853c_49e6_748f_ea9bu64;
    for kill in 0..kills {
        let writers: Vec<_> = (0..6u64)
            .map(|w| {
                let (client, acked, sent) = (client.clone(), acked.clone(), sent.clone());
                tokio::spawn(async move {
                    for i in 0u64.. {
                        let ids: Vec<Uuid> = (0..1 + (i + w) % 5).map(|_| Uuid::new_v4()).collect();
                        sent.lock().unwrap().push(ids.clone());
                        let events = ids
                            .iter()
                            .map(|id| NewEvent::new("Load", json!({ "w": w, "i": i })).with_id(*id))
                            .collect();
                        match client.append(&format!("load-{w}-{}", kill % 3), Expected::Any, events).await {
                            Ok(r) => {
                                acked.lock().unwrap().insert(ids, r.first_position);
                            }
                            Err(_) => return, // the server died
                        }
                    }
                })
            })
            .collect();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(Duration::from_millis(50 + rng % 250)).await;
        if let Some(s) = server.take() {
            tokio::task::spawn_blocking(move || s.kill9()).await.unwrap();
        }
        for w in writers {
            w.await.unwrap();
        }
        server = Some(Server::start_at(dir.path(), &addr, &env_args));
        // Every acknowledged batch at its place; every batch whole or absent.
        let mut stored: HashMap<Uuid, u64> = HashMap::new();
        let mut from = 0;
        loop {
            let page = client
                .read_all(&hindsight_client::ReadAllQuery {
                    from: Some(from),
                    limit: Some(10_000),
                    ..Default::default()
                })
                .await
                .unwrap();
            for e in &page.events {
                assert_eq!(e.position, stored.len() as u64, "kill {kill}: positions gapless");
                stored.insert(e.id, e.position);
            }
            from = page.next_position;
            if page.end_of_log {
                break;
            }
        }
        for (ids, first) in acked.lock().unwrap().iter() {
            for (k, id) in ids.iter().enumerate() {
                assert_eq!(stored.get(id), Some(&(first + k as u64)), "kill {kill}: acknowledged event lost or moved");
            }
        }
        for ids in sent.lock().unwrap().iter() {
            let present = ids.iter().filter(|id| stored.contains_key(id)).count();
            assert!(present == 0 || present == ids.len(), "kill {kill}: partial batch");
        }
    }
    // The subscriber catches up with everything, once and in order.
    let total = client.info().await.unwrap()["events"].as_u64().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while (seen.lock().unwrap().len() as u64) < total && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen == (0..total).collect::<Vec<_>>(),
        "subscriber saw {} events, {total} stored, not exactly once in order",
        seen.len()
    );
    subscriber.abort();
    println!("http crash loop: {kills} kills, {} batches acknowledged, {total} events", acked.lock().unwrap().len());
}
