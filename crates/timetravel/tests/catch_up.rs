//! A history index caught up over many pages (read ahead on a second
//! thread while the fold runs) and over a few events (in turn) answers
//! exactly what a brute-force fold of the stream does, at every point
//! asked, and its timeline lists every event once, in order.

use std::sync::Arc;

use hindsight_store::{EventReader, EventStore, ExpectedVersion, MemoryStore, NewEvent};
use hindsight_timetravel::service::TimelineAsk;
use hindsight_timetravel::streams::Streams;
use hindsight_timetravel::Spacing;
use serde_json::{json, Value};

/// The n-th event's data: a counter, a field that changes every 7th
/// event, and one removed and set again.
fn data(n: u64) -> Value {
    let mut d = json!({ "n": n, "seventh": n / 7 });
    if n.is_multiple_of(5) {
        d["gone"] = if n.is_multiple_of(10) { Value::Null } else { json!(n) };
    }
    d
}

async fn append(store: &MemoryStore, from: u64, to: u64) {
    for chunk in (from..to).collect::<Vec<_>>().chunks(500) {
        let events: Vec<NewEvent> = chunk.iter().map(|&n| NewEvent::new("E", data(n))).collect();
        store.append("s", ExpectedVersion::Any, events).await.unwrap();
        // Another stream's events between, so positions have gaps.
        store.append("other", ExpectedVersion::Any, vec![NewEvent::new("O", json!({}))]).await.unwrap();
    }
}

/// The document after the first `count` events, folded by hand.
fn brute(count: u64) -> Value {
    let mut doc = json!({});
    for n in 0..count {
        json_patch::merge(&mut doc, &data(n));
    }
    doc
}

async fn check(streams: &Streams, reader: Arc<dyn EventReader>, count: u64) {
    let t = streams
        .ask(reader.clone(), "s", |h, key, feed| {
            h.timeline(key, feed, TimelineAsk { limit: 10_000, ..Default::default() })
        })
        .await
        .unwrap();
    assert_eq!(t["count"], count);
    let versions: Vec<u64> = t["events"].as_array().unwrap().iter().map(|e| e["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, (0..count).collect::<Vec<_>>(), "every event once, in order");
    for version in [0, 1, count / 3, count / 2 + 1, count - 2, count - 1] {
        let at = Some(hindsight_store::AsOf::Version(version));
        let got = streams.ask(reader.clone(), "s", move |h, key, feed| h.state(key, feed, at)).await.unwrap();
        assert_eq!(got["state"], brute(version + 1), "state at version {version}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_caught_up_over_many_pages_or_a_few_events_matches_a_brute_fold() {
    let store = Arc::new(MemoryStore::default());
    let reader: Arc<dyn EventReader> = store.clone();
    let streams = Streams::new(Spacing { every: 64, per_octave: 4 }, 8);
    append(&store, 0, 3_500).await;
    check(&streams, reader.clone(), 3_500).await;
    append(&store, 3_500, 5_200).await;
    check(&streams, reader.clone(), 5_200).await;
    append(&store, 5_200, 5_203).await;
    check(&streams, reader, 5_203).await;
}
