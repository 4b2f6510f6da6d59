//! Projections on a fork answer exactly as on a store holding exactly the
//! fork's events: for random forks (skips, edits, appended events), a
//! reference store is made by copying the fork's events, and each
//! projection's partition states (the fork fold, and time travel on the
//! fork's partitions: state and history) must equal the reference's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hindsight_projections::registry::{Registry, Settings, Tuning};
use hindsight_projections::timelines::{self, Side};
use hindsight_store::{AppendPart, EventReader, EventStore, ExpectedVersion, Limits, MemoryStore, NewEvent, ReadAll};
use hindsight_timetravel::fork::{Edit, ForkReader};
use hindsight_timetravel::streams::Streams;
use proptest::prelude::*;
use serde_json::{json, Value};

const PROJECTIONS: [(&str, &str); 2] = [
    ("sums", "fromCategory('a').foreachStream().when({ $init: () => ({ sum: 0, n: 0 }), $any: (s, e) => { s.sum += e.data.v; s.n += 1; } })"),
    ("buckets", "fromAll().partitionBy(e => e.data.v % 3).when({ $init: () => ({ n: 0, last: null }), $any: (s, e) => { s.n += 1; s.last = e.stream; } })"),
];
const STREAMS: [&str; 3] = ["a-0", "a-1", "b-0"];
const PARTITIONS: [&str; 5] = ["a-0", "a-1", "0", "1", "2"];

#[derive(Debug, Clone)]
struct Case {
    live: Vec<(usize, u8)>,
    skips: Vec<prop::sample::Index>,
    edits: Vec<(prop::sample::Index, u8)>,
    appends: Vec<(usize, u8)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((0usize..3, 0u8..30), 1..30),
        prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..30), 0..4),
        prop::collection::vec((0usize..3, 0u8..30), 0..6),
    )
        .prop_map(|(live, skips, edits, appends)| Case { live, skips, edits, appends })
}

fn event(id: u128, v: u8) -> NewEvent {
    NewEvent::new("Put", json!({ "v": v })).with_id(uuid::Uuid::from_u128(id))
}

async fn append(store: &dyn EventStore, stream: &str, e: NewEvent) {
    let part = AppendPart { stream: stream.into(), expected: ExpectedVersion::Any, events: vec![e] };
    store.append_multi(vec![part]).await.unwrap();
}

async fn registry(store: Arc<MemoryStore>, dir: &std::path::Path) -> Arc<Registry> {
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let r = Registry::open(dir, dyn_store, tokio::runtime::Handle::current(), Settings::default()).unwrap();
    for (name, source) in PROJECTIONS {
        r.put(name, source, "park", Tuning::default()).await.unwrap();
    }
    r
}

/// An answer without its events' timestamps.
fn untimed(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            m.remove("timestamp");
            for x in m.values_mut() {
                *x = untimed(x.take());
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| *x = untimed(x.take())),
        _ => {}
    }
    v
}

async fn run(c: Case) {
    let live = Arc::new(MemoryStore::new(Limits::default()));
    for (i, (s, v)) in c.live.iter().enumerate() {
        append(&*live, STREAMS[*s], event(i as u128 + 1, *v)).await;
    }
    let reader: Arc<dyn EventReader> = live.clone();
    let fork = Arc::new(ForkReader::new(reader, None, Limits::default()).await.unwrap());
    let n = c.live.len();
    let skips: Vec<u64> = c.skips.iter().map(|i| i.index(n) as u64).collect();
    fork.skip(&skips).await.unwrap();
    for (i, v) in &c.edits {
        let _ = fork.edit(i.index(n) as u64, Edit { data: json!({ "v": v }).to_string(), metadata: None }).await;
    }
    for (k, (s, v)) in c.appends.iter().enumerate() {
        let part = AppendPart {
            stream: STREAMS[*s].into(),
            expected: ExpectedVersion::Any,
            events: vec![event(1000 + k as u128, *v)],
        };
        fork.append(vec![part]).await.unwrap();
    }
    // The reference: a fresh store holding exactly the fork's events.
    let reference = Arc::new(MemoryStore::new(Limits::default()));
    for e in fork.read_all(&ReadAll::forward(0).limit(10_000)).await.unwrap().events {
        let data: Value = serde_json::from_str(&e.data).unwrap();
        append(&*reference, &e.stream, NewEvent::new(e.event_type.clone(), data).with_id(e.id)).await;
    }
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (on_live, on_reference) =
        (registry(live.clone(), dirs.0.path()).await, registry(reference.clone(), dirs.1.path()).await);
    let head = reference.next_position();
    let deadline = Instant::now() + Duration::from_secs(20);
    for (name, _) in PROJECTIONS {
        while on_reference.info(name).unwrap().position.map_or(0, |p| p + 1) < head {
            assert!(Instant::now() < deadline, "{name} never caught up on the reference");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let histories = Streams::new(Default::default(), 64);
    for (name, source) in PROJECTIONS {
        let folded = timelines::fold(Side::fork("f", &fork, source.into()), Default::default()).await.unwrap();
        for partition in PARTITIONS {
            let want = on_reference.state_answer(name, partition).await.unwrap()["state"].clone();
            assert_eq!(
                folded.states.get(partition).cloned().unwrap_or(Value::Null),
                want,
                "{name}/{partition}: the fork's fold"
            );
            let on: (Arc<dyn EventReader>, _) = (fork.clone(), histories.shared());
            let got = on_live.fork_time(on.clone(), name, source, partition, |h, k, f| h.state(k, f, None)).await;
            let want = on_reference.time(name, partition, None, None, |h, k, f| h.state(k, f, None)).await;
            assert_eq!(got.map_err(|e| e.to_string()), want.map_err(|e| e.to_string()), "{name}/{partition}: state");
            let history =
                |h: &hindsight_timetravel::service::Histories, k: &str, f: &dyn hindsight_timetravel::service::Feed| {
                    h.history(k, f, None, None, 100)
                };
            let got = on_live.fork_time(on, name, source, partition, history).await;
            let want = on_reference.time(name, partition, None, None, history).await;
            // The reference stamps its copies anew: everything else is equal.
            let (got, want) =
                (got.map(untimed).map_err(|e| e.to_string()), want.map(untimed).map_err(|e| e.to_string()));
            assert_eq!(got, want, "{name}/{partition}: history");
        }
    }
    on_live.shutdown().await;
    on_reference.shutdown().await;
    assert_eq!(live.next_position(), n as u64, "the live store is as it was");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn projections_on_a_fork_answer_as_on_a_store_holding_its_events(c in case()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(c));
    }
}
