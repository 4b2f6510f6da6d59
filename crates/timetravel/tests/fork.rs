//! A fork reads exactly as a store holding exactly its events would: a
//! reference is built by copying the base's visible events (edited where
//! edited) and then the appended ones into a fresh store, and every read
//! (streams both ways from any version, `$all` paged both ways with
//! filters, stream info, reads as of any point) must agree, positions and
//! versions included. The live store is only read.

use std::sync::Arc;

use hindsight_store::{
    AllSlice, AppendPart, AsOf, Direction, EventReader, EventStore, ExpectedVersion, Filter, Limits, MemoryStore,
    NewEvent, ReadAll, ReadStream, RecordedEvent,
};
use hindsight_timetravel::fork::{Edit, ForkReader};
use proptest::prelude::*;
use serde_json::json;

const STREAMS: [&str; 5] = ["a-0", "a-1", "b-0", "b-1", "c-0"];

/// What identifies an event on both sides (timestamps differ).
fn shown(e: &RecordedEvent) -> (uuid::Uuid, String, String, u64, u64, String, String) {
    (e.id, e.stream.clone(), e.event_type.clone(), e.version, e.position, e.data.clone(), e.metadata.clone())
}

fn all(events: &[RecordedEvent]) -> Vec<(uuid::Uuid, String, String, u64, u64, String, String)> {
    events.iter().map(shown).collect()
}

async fn append(store: &MemoryStore, stream: &str, id: uuid::Uuid, t: &str, data: &str) {
    let e = NewEvent::new(t, serde_json::from_str::<serde_json::Value>(data).unwrap()).with_id(id);
    let part = AppendPart { stream: stream.into(), expected: ExpectedVersion::Any, events: vec![e] };
    store.append_multi(vec![part]).await.unwrap();
}

async fn whole(r: &dyn EventReader, read: ReadAll) -> Vec<(uuid::Uuid, String, String, u64, u64, String, String)> {
    all(&page_all(r, read).await)
}

/// Pages through `$all` to its end: every event, in order.
async fn page_all(r: &dyn EventReader, mut read: ReadAll) -> Vec<RecordedEvent> {
    let mut out = Vec::new();
    for _ in 0..1000 {
        let AllSlice { events, next_position, end_of_log } = r.read_all(&read).await.unwrap();
        out.extend(events);
        if end_of_log {
            return out;
        }
        read.from = Some(next_position);
    }
    panic!("paging never ended");
}

#[derive(Debug, Clone)]
struct Case {
    live: Vec<(usize, u8)>,
    base: usize,
    skips: Vec<usize>,
    edits: Vec<(usize, u8)>,
    appends: Vec<(usize, u8)>,
    later_skips: Vec<usize>,
    reads: Vec<(usize, u64, usize, bool)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((0usize..4, 0u8..50), 1..40),
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..50), 0..4),
        prop::collection::vec((0usize..5, 0u8..50), 0..8),
        prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        prop::collection::vec((0usize..5, 0u64..12, 1usize..6, any::<bool>()), 1..12),
    )
        .prop_map(|(live, base, skips, edits, appends, later, reads)| {
            let base = base.index(live.len() + 1);
            let pick = |i: &prop::sample::Index| i.index(base.max(1));
            Case {
                base,
                skips: if base == 0 { vec![] } else { skips.iter().map(pick).collect() },
                edits: if base == 0 { vec![] } else { edits.iter().map(|(i, v)| (pick(i), *v)).collect() },
                later_skips: if base == 0 { vec![] } else { later.iter().map(pick).collect() },
                live,
                appends,
                reads,
            }
        })
}

async fn run(c: Case) {
    let live = Arc::new(MemoryStore::new(Limits::default()));
    for (i, (s, v)) in c.live.iter().enumerate() {
        let id = uuid::Uuid::from_u128(i as u128 + 1);
        append(&live, STREAMS[*s], id, ["Put", "Del"][(*v % 2) as usize], &json!({ "i": i, "v": v }).to_string()).await;
    }
    let base = (c.base > 0).then(|| AsOf::Position(c.base as u64 - 1));
    let base = if c.base == c.live.len() { None } else { base };
    let reader: Arc<dyn EventReader> = live.clone();
    let fork = ForkReader::new(reader, base.or(Some(AsOf::Position(0))).filter(|_| c.base > 0), Limits::default())
        .await
        .unwrap();
    let base_end = fork.overlay().base_end;
    if c.base == 0 {
        assert_eq!(base_end, c.live.len() as u64, "no base point: the head");
    }
    let skips: Vec<u64> = c.skips.iter().map(|&i| i as u64).filter(|&p| p < base_end).collect();
    fork.skip(&skips).await.unwrap();
    for (p, v) in &c.edits {
        let p = *p as u64;
        if p < base_end && !skips.contains(&p) {
            fork.edit(p, Edit { data: json!({ "edited": v }).to_string(), metadata: None }).await.unwrap();
        }
    }
    for (k, (s, v)) in c.appends.iter().enumerate() {
        let e = NewEvent::new("Hypo", json!({ "v": v })).with_id(uuid::Uuid::from_u128(1000 + k as u128));
        let part = AppendPart { stream: STREAMS[*s].into(), expected: ExpectedVersion::Any, events: vec![e] };
        fork.append(vec![part]).await.unwrap();
    }
    let later: Vec<u64> = c.later_skips.iter().map(|&i| i as u64).filter(|&p| p < base_end).collect();
    fork.skip(&later).await.unwrap();

    // The reference: a fresh store holding exactly the fork's events.
    let o = fork.overlay();
    let reference = MemoryStore::new(Limits::default());
    for e in live.all_events().iter().filter(|e| e.position < base_end && !o.skips().contains(&e.position)) {
        let data = o.edits().get(&e.position).map_or(e.data.clone(), |edit| edit.data.clone());
        append(&reference, &e.stream, e.id, &e.event_type, &data).await;
    }
    let appended = page_all(&fork, ReadAll::forward(o.base_visible()).limit(1000)).await;
    for e in &appended {
        append(&reference, &e.stream, e.id, &e.event_type, &e.data).await;
    }
    assert_eq!(appended.len(), o.appended());
    assert_eq!(fork.next_position(), reference.next_position());

    let head = reference.next_position();
    assert_eq!(whole(&fork, ReadAll::forward(0)).await, whole(&reference, ReadAll::forward(0)).await);
    // Every live id is found on the fork exactly when the fork shows it.
    for e in page_all(&*live, ReadAll::forward(0)).await {
        let (a, b) = (fork.event_by_id(e.id).await.unwrap(), reference.event_by_id(e.id).await.unwrap());
        assert_eq!(a.as_ref().map(shown), b.as_ref().map(shown), "event {}", e.id);
    }
    for e in &appended {
        assert_eq!(fork.event_by_id(e.id).await.unwrap().as_ref().map(shown), Some(shown(e)));
    }
    for (s, from, limit, backward) in &c.reads {
        let stream = STREAMS[*s];
        let direction = if *backward { Direction::Backward } else { Direction::Forward };
        let read = ReadStream { stream: stream.into(), from: Some(*from), direction, limit: *limit, as_of: None };
        let (a, b) = (fork.read_stream(&read).await.unwrap(), reference.read_stream(&read).await.unwrap());
        assert_eq!(all(&a), all(&b), "{read:?}");
        let whole_stream = ReadStream { from: None, limit: 1000, ..read.clone() };
        let (a, b) =
            (fork.read_stream(&whole_stream).await.unwrap(), reference.read_stream(&whole_stream).await.unwrap());
        assert_eq!(all(&a), all(&b), "{whole_stream:?}");
        assert_eq!(fork.stream_info(stream, None).await.unwrap(), reference.stream_info(stream, None).await.unwrap());
        let filter = Filter { category: Some(["a", "b", "c"][*s % 3].into()), ..Default::default() };
        let paged = ReadAll { from: Some(*from), direction, limit: *limit, filter, as_of: None };
        assert_eq!(whole(&fork, paged.clone()).await, whole(&reference, paged.clone()).await, "{paged:?}");
        if head > 0 {
            let at = AsOf::Position(*from % head);
            let as_of = ReadAll { as_of: Some(at), from: None, ..paged.clone() };
            assert_eq!(whole(&fork, as_of.clone()).await, whole(&reference, as_of.clone()).await, "{as_of:?}");
            let read = ReadStream { as_of: Some(at), ..whole_stream.clone() };
            let (a, b) = (fork.read_stream(&read).await.unwrap(), reference.read_stream(&read).await.unwrap());
            assert_eq!(all(&a), all(&b), "{read:?}");
            let (a, b) = (
                fork.stream_info(stream, Some(at)).await.unwrap(),
                reference.stream_info(stream, Some(at)).await.unwrap(),
            );
            assert_eq!(a, b, "stream info of {stream} as of {at}");
        }
    }
    // Time travel on the fork answers as on the reference.
    let streams = hindsight_timetravel::streams::Streams::new(Default::default(), 8);
    let fork: Arc<ForkReader> = Arc::new(fork);
    let reference: Arc<MemoryStore> = Arc::new(reference);
    for stream in STREAMS {
        let ask = |r: Arc<dyn EventReader>| streams.ask(r, stream, |h, key, feed| h.state(key, feed, None));
        let (a, b) = (ask(fork.clone()).await, ask(reference.clone()).await);
        assert_eq!(a.map_err(|e| e.to_string()), b.map_err(|e| e.to_string()), "state of {stream}");
    }
    // The live store is as it was.
    assert_eq!(live.next_position(), c.live.len() as u64);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn a_fork_reads_as_a_store_holding_exactly_its_events(c in case()) {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(run(c));
    }
}
