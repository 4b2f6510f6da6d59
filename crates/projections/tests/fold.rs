//! The runner against a from-scratch fold: partitions, checkpoints taken
//! with their position, crashes (the runner dropped between checkpoints)
//! at random points while the log grows, and the failure policies.

use std::collections::BTreeMap;

use hindsight_projections::{FailurePolicy, HandlerError, Partitioning, Projection, Runner, Status};
use hindsight_store::{EventStore, ExpectedVersion, Filter, MemoryStore, NewEvent, RecordedEvent};
use proptest::prelude::*;
use serde_json::json;

/// Per order stream: how many events and the sum of their amounts.
struct OrderTotals;

impl Projection for OrderTotals {
    type State = (u64, i64);
    fn selects(&self) -> Filter {
        Filter { category: Some("order".into()), ..Default::default() }
    }
    fn partitioning(&self) -> Partitioning {
        Partitioning::ForEachStream
    }
    fn init(&self) -> (u64, i64) {
        (0, 0)
    }
    fn apply(&self, s: &mut (u64, i64), e: &RecordedEvent) -> Result<(), HandlerError> {
        let data: serde_json::Value = serde_json::from_str(&e.data).map_err(|x| HandlerError::new(x.to_string()))?;
        s.0 += 1;
        s.1 += data["amount"].as_i64().unwrap_or(0);
        Ok(())
    }
}

/// Per customer (a key in the data), across categories; fails on `Bad`.
struct ByCustomer;

impl Projection for ByCustomer {
    type State = Vec<u64>;
    fn selects(&self) -> Filter {
        Filter::default()
    }
    fn partitioning(&self) -> Partitioning {
        Partitioning::ByKey
    }
    fn partition_key(&self, e: &RecordedEvent) -> Option<String> {
        let data: serde_json::Value = serde_json::from_str(&e.data).ok()?;
        data["customer"].as_str().map(str::to_string)
    }
    fn init(&self) -> Vec<u64> {
        Vec::new()
    }
    fn apply(&self, s: &mut Vec<u64>, e: &RecordedEvent) -> Result<(), HandlerError> {
        if e.event_type == "Bad" {
            return Err(HandlerError::new("cannot handle Bad"));
        }
        s.push(e.position);
        Ok(())
    }
}

fn scratch<P: Projection>(p: &P, log: &[RecordedEvent]) -> BTreeMap<String, P::State> {
    let f = p.selects();
    let mut states = BTreeMap::new();
    for e in log.iter().filter(|e| f.matches(&e.stream, &e.event_type)) {
        let key = match p.partitioning() {
            Partitioning::Single => String::new(),
            Partitioning::ForEachStream => e.stream.clone(),
            Partitioning::ByKey => match p.partition_key(e) {
                Some(k) => k,
                None => continue,
            },
        };
        let mut s = states.get(&key).cloned().unwrap_or_else(|| p.init());
        if p.apply(&mut s, e).is_ok() {
            states.insert(key, s);
        }
    }
    states
}

async fn append(store: &MemoryStore, i: u64, kind: u8) {
    let (stream, t) = match kind % 4 {
        0 => (format!("order-{}", i % 3), "Placed"),
        1 => (format!("order-{}", i % 5), "Paid"),
        2 => (format!("user-{}", i % 2), "Joined"),
        _ => (format!("order-{}", i % 2), "Bad"),
    };
    let data = json!({ "amount": i as i64 % 7 - 2, "customer": format!("c{}", i % 4) });
    store.append(&stream, ExpectedVersion::Any, vec![NewEvent::new(t, data)]).await.unwrap();
}

fn run(kinds: Vec<u8>, crashes: Vec<(u16, usize)>, every: u64, page: usize) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryStore::default();
        let mut appended = 0u64;
        for (grow, pages) in crashes {
            for _ in 0..grow % 40 {
                append(&store, appended, kinds[appended as usize % kinds.len()]).await;
                appended += 1;
            }
            // Runs a few pages, then "crashes": dropped without a checkpoint.
            let mut a = Runner::open(OrderTotals, dir.path().join("a"), FailurePolicy::Park)
                .unwrap()
                .checkpoint_every(every)
                .page_events(page);
            a.advance(&store, appended, pages).await.unwrap();
            let mut b = Runner::open(ByCustomer, dir.path().join("b"), FailurePolicy::Park)
                .unwrap()
                .checkpoint_every(every)
                .page_events(page);
            b.advance(&store, appended, pages).await.unwrap();
        }
        let log = store.all_events();
        let mut a = Runner::open(OrderTotals, dir.path().join("a"), FailurePolicy::Park).unwrap().page_events(page);
        a.run_to(&store, appended).await.unwrap();
        assert_eq!(a.states(), &scratch(&OrderTotals, &log));
        assert_eq!(a.position(), appended.checked_sub(1));
        let mut b = Runner::open(ByCustomer, dir.path().join("b"), FailurePolicy::Park).unwrap().page_events(page);
        b.run_to(&store, appended).await.unwrap();
        assert_eq!(b.states(), &scratch(&ByCustomer, &log));
        let bad: Vec<u64> = log.iter().filter(|e| e.event_type == "Bad").map(|e| e.position).collect();
        let parked: Vec<u64> = b.parked().iter().map(|p| p.position).collect();
        assert_eq!(parked, bad, "every Bad event parked exactly once");
        // A restart from the final checkpoint changes nothing.
        let again = Runner::open(ByCustomer, dir.path().join("b"), FailurePolicy::Park).unwrap();
        assert_eq!(again.states(), b.states());
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// However the runner is stopped (crashes between checkpoints, at any
    /// page), its states end equal to a from-scratch fold: nothing applied
    /// twice, nothing skipped, every failing event parked once.
    #[test]
    fn states_equal_a_fold_from_scratch_across_crashes(
        kinds in prop::collection::vec(0u8..4, 1..20),
        crashes in prop::collection::vec((0u16..200, 0usize..4), 1..12),
        every in 1u64..20,
        page in 1usize..8,
    ) {
        run(kinds, crashes, every, page);
    }
}

#[tokio::test]
async fn stop_faults_at_the_failing_event_and_holds_there() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryStore::default();
    for (i, kind) in [0u8, 1, 3, 0].into_iter().enumerate() {
        append(&store, i as u64, kind).await;
    }
    let mut b = Runner::open(ByCustomer, dir.path(), FailurePolicy::Stop).unwrap();
    b.run_to(&store, 4).await.unwrap();
    match b.status() {
        Status::Faulted { position, error } => assert_eq!((*position, error.as_str()), (2, "cannot handle Bad")),
        other => panic!("expected faulted, got {other:?}"),
    }
    assert_eq!(b.position(), Some(1), "the failing event is not taken into account");
    assert_eq!(b.states().values().flatten().copied().collect::<Vec<_>>().len(), 2);
    // The fault is part of the checkpoint: a restart stays faulted there.
    let again = Runner::open(ByCustomer, dir.path(), FailurePolicy::Stop).unwrap();
    assert_eq!(again.status(), b.status());
    assert_eq!(again.position(), Some(1));
}

#[tokio::test]
async fn a_damaged_checkpoint_is_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryStore::default();
    for i in 0..10 {
        append(&store, i, (i % 3) as u8).await;
    }
    let mut a = Runner::open(OrderTotals, dir.path(), FailurePolicy::Park).unwrap();
    a.run_to(&store, 10).await.unwrap();
    let want = a.states().clone();
    let path = dir.path().join(hindsight_projections::checkpoint::FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let mut rebuilt = Runner::open(OrderTotals, dir.path(), FailurePolicy::Park).unwrap();
    assert_eq!(rebuilt.position(), None, "starts over");
    rebuilt.run_to(&store, 10).await.unwrap();
    assert_eq!(rebuilt.states(), &want);
}

/// On the embedded store, where the next page is read on the store's
/// threads while the current one is folded: crashes between checkpoints
/// at several points, then a fold to the end equal to a from-scratch fold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapped_reads_on_the_embedded_store_fold_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        hindsight_store_embedded::EmbeddedStore::open(hindsight_store_embedded::Config::new(dir.path().join("store")))
            .unwrap();
    let mut appended = 0u64;
    for round in 0..6u64 {
        for i in 0..3_000 {
            let n = round * 3_000 + i;
            let stream = format!("order-{}", n % 17);
            store
                .append(&stream, ExpectedVersion::Any, vec![NewEvent::new("Placed", json!({ "amount": n % 11 }))])
                .await
                .unwrap();
            appended += 1;
        }
        let mut a = Runner::open(OrderTotals, dir.path().join("a"), FailurePolicy::Stop)
            .unwrap()
            .checkpoint_every(2_500)
            .page_events(700);
        a.advance(&store, appended, 1 + round as usize).await.unwrap();
        // dropped here: a crash after the last checkpoint it wrote
    }
    let mut a = Runner::open(OrderTotals, dir.path().join("a"), FailurePolicy::Stop).unwrap().page_events(700);
    a.run_to(&store, appended).await.unwrap();
    let log = hindsight_store::EventReader::read_all(&store, &hindsight_store::ReadAll::forward(0).limit(usize::MAX))
        .await
        .unwrap()
        .events;
    assert_eq!(log.len() as u64, appended);
    assert_eq!(a.states(), &scratch(&OrderTotals, &log));
    assert_eq!(a.states().values().map(|s| s.0).sum::<u64>(), appended);
}
