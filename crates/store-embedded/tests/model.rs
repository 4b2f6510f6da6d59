//! Model-based property test: random sequences of appends (every
//! expectation kind, retries with the same ids, ids reused elsewhere,
//! appends across streams, bad input), reads, subscriptions, clean
//! restarts, crash restarts (no final checkpoint) and power cuts (only
//! what was fdatasynced survives, unsynced pages torn per a seed) run
//! against the embedded engine, on the simulated disk, and the in-memory
//! reference model; after every step both must agree on every result and
//! on the whole of `$all` (every step's append was acknowledged, so a
//! power cut may lose none of them).
//!
//! Segments and the memtable are tiny so that rotations, index flushes,
//! run merges and tail replays happen constantly. `PROPTEST_CASES` scales
//! the number of sequences.

use std::sync::Arc;

use hindsight_store::model_check::{
    build, comparable, outcome, read_all_agrees, read_stream_agrees, subscription_agrees, AllRead, StreamRead,
};
use hindsight_store::{
    AppendPart, EventReader, EventStore, ExpectedVersion, Limits, MemoryStore, NewEvent, ReadAll, StoreError,
};
use hindsight_store_embedded::fs::SimFs;
use hindsight_store_embedded::{Config, EmbeddedStore};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Op {
    Append {
        parts: Vec<(u8, u8, Vec<Option<u16>>)>,
    },
    RetryLast,
    ReadStream {
        stream: u8,
        from: Option<u8>,
        backward: bool,
        limit: u8,
        as_of: Option<(u8, u8)>,
    },
    ReadAll {
        from: u8,
        limit: u8,
        category: Option<u8>,
        backward: bool,
        as_of: Option<(u8, u8)>,
    },
    Subscribe {
        from: u8,
    },
    TooLarge,
    Restart,
    Crash,
    PowerCut {
        seed: u64,
    },
    /// An append on a nearly full disk: it is stored whole or not at all.
    FullDisk {
        space: u16,
        parts: Vec<(u8, u8, Vec<Option<u16>>)>,
    },
    /// The next fdatasync fails and its pages are lost; when an append
    /// meets it, the store poisons itself and a restart must show nothing
    /// of that append.
    SyncFails {
        parts: Vec<(u8, u8, Vec<Option<u16>>)>,
    },
    /// The wall clock jumps (backwards when `back`).
    ClockJump {
        back: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let event_ids = prop::collection::vec(prop::option::weighted(0.7, 0u16..40), 1..4);
    let part = (0u8..5, 0u8..8, event_ids);
    prop_oneof![
        8 => prop::collection::vec(part, 1..3).prop_map(|parts| Op::Append { parts }),
        2 => Just(Op::RetryLast),
        3 => (0u8..5, prop::option::of(0u8..6), any::<bool>(), 0u8..5, as_of())
            .prop_map(|(stream, from, backward, limit, as_of)| Op::ReadStream { stream, from, backward, limit, as_of }),
        2 => (0u8..30, 1u8..10, prop::option::of(0u8..3), any::<bool>(), as_of())
            .prop_map(|(from, limit, category, backward, as_of)| Op::ReadAll { from, limit, category, backward, as_of }),
        1 => (0u8..30).prop_map(|from| Op::Subscribe { from }),
        1 => Just(Op::TooLarge),
        1 => Just(Op::Restart),
        1 => Just(Op::Crash),
        1 => any::<u64>().prop_map(|seed| Op::PowerCut { seed }),
        1 => (0u16..600, prop::collection::vec((0u8..5, 0u8..2, prop::collection::vec(prop::option::weighted(0.5, 0u16..40), 1..4)), 1..2))
            .prop_map(|(space, parts)| Op::FullDisk { space, parts }),
        1 => prop::collection::vec((0u8..5, 0u8..2, prop::collection::vec(prop::option::weighted(0.5, 0u16..40), 1..3)), 1..2)
            .prop_map(|parts| Op::SyncFails { parts }),
        1 => any::<bool>().prop_map(|back| Op::ClockJump { back }),
    ]
}

/// (kind, n): position n, version n, or the time of the store's event n.
fn as_of() -> impl Strategy<Value = Option<(u8, u8)>> {
    prop::option::weighted(0.5, (0u8..3, 0u8..30))
}

const LIMITS: Limits = Limits { event_size_bytes_max: 200, append_events_max: 10_000, append_size_bytes_max: 16 << 20 };

/// A wall clock the sequence moves by hand.
struct HandClock(std::sync::atomic::AtomicU64);

impl hindsight_store_embedded::Clock for HandClock {
    fn now_us(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn config(dir: &std::path::Path, fs: &SimFs, clock: &Arc<HandClock>) -> Config {
    let mut config = Config::new(dir);
    config.clock = clock.clone();
    config.segment_bytes_target = 4096;
    config.memtable_events_max = 7;
    config.limits = LIMITS;
    config.fs = Arc::new(fs.clone());
    config
}

fn open(dir: &std::path::Path, fs: &SimFs, clock: &Arc<HandClock>) -> Arc<EmbeddedStore> {
    Arc::new(EmbeddedStore::open(config(dir, fs, clock)).expect("open"))
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let mut fs = SimFs::new(dir.path());
    let clock = Arc::new(HandClock(std::sync::atomic::AtomicU64::new(1_800_000_000_000_000)));
    let model = Arc::new(MemoryStore::new(LIMITS));
    let mut store = open(dir.path(), &fs, &clock);
    let mut last: Option<Vec<AppendPart>> = None;
    let mut client_ids = std::collections::HashSet::new();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Append { parts } => {
                let parts = build(&parts, step);
                client_ids.extend(parts.iter().flat_map(|p| &p.events).filter_map(|e| e.id));
                let a = store.append_multi(parts.clone()).await;
                let b = model.append_multi(parts.clone()).await;
                assert_eq!(outcome(&a), outcome(&b), "step {step}: append");
                last = Some(parts);
            }
            Op::RetryLast => {
                if let Some(parts) = last.clone() {
                    let a = store.append_multi(parts.clone()).await;
                    let b = model.append_multi(parts).await;
                    assert_eq!(outcome(&a), outcome(&b), "step {step}: retry");
                }
            }
            Op::ReadStream { stream, from, backward, limit, as_of } => {
                let r = StreamRead { stream, from, backward, limit, as_of };
                read_stream_agrees(&*store, &model, &client_ids, step, r).await;
            }
            Op::ReadAll { from, limit, category, backward, as_of } => {
                let r = AllRead { from, limit, category, backward, as_of };
                read_all_agrees(&*store, &model, &client_ids, step, r).await;
            }
            Op::Subscribe { from } => {
                subscription_agrees(store.clone(), &model, &client_ids, step, from).await;
            }
            Op::TooLarge => {
                let parts = vec![AppendPart {
                    stream: "cat-0".into(),
                    expected: ExpectedVersion::Any,
                    events: vec![NewEvent::new("Big", json!("x".repeat(300)))],
                }];
                let a = store.append_multi(parts.clone()).await;
                assert_eq!(outcome(&a), outcome(&model.append_multi(parts).await), "step {step}: too large");
            }
            Op::Restart => {
                store.close().unwrap();
                drop(store);
                store = open(dir.path(), &fs, &clock);
                let r = store.stats().recovery;
                assert!(!r.rebuilt_index && r.replayed_events == 0, "step {step}: a clean restart redid work: {r:?}");
            }
            Op::Crash => {
                store.close_without_checkpoint();
                drop(store);
                store = open(dir.path(), &fs, &clock);
                assert!(!store.stats().recovery.rebuilt_index, "step {step}: the checkpoint was lost");
            }
            Op::FullDisk { space, parts } => {
                let parts = build(&parts, step);
                client_ids.extend(parts.iter().flat_map(|p| &p.events).filter_map(|e| e.id));
                fs.faults().set_space_left(i64::from(space));
                let a = store.append_multi(parts.clone()).await;
                fs.faults().set_space_left(-1);
                match &a {
                    Err(StoreError::StorageFull) => {}
                    _ => {
                        let b = model.append_multi(parts.clone()).await;
                        assert_eq!(outcome(&a), outcome(&b), "step {step}: append on a nearly full disk");
                        last = Some(parts);
                    }
                }
            }
            Op::SyncFails { parts } => {
                let parts = build(&parts, step);
                client_ids.extend(parts.iter().flat_map(|p| &p.events).filter_map(|e| e.id));
                fs.faults().writeback_error_on_next_sync();
                let a = store.append_multi(parts.clone()).await;
                fs.faults().no_writeback_error();
                match &a {
                    Err(StoreError::Poisoned { .. }) => {
                        // Restart in the same boot: nothing of the append is there.
                        store.close_without_checkpoint();
                        drop(store);
                        store = open(dir.path(), &fs, &clock);
                    }
                    _ => {
                        // An index file's sync met the error (retried), or a
                        // refusal: the append went as it would have anyway.
                        let b = model.append_multi(parts.clone()).await;
                        assert_eq!(outcome(&a), outcome(&b), "step {step}: append with a failing sync");
                        last = Some(parts);
                        if store.status().refusing_writes.is_some() {
                            // A rotation after the acknowledgement met it:
                            // what was acknowledged must survive the restart.
                            store.close_without_checkpoint();
                            drop(store);
                            store = open(dir.path(), &fs, &clock);
                        }
                    }
                }
            }
            Op::ClockJump { back } => {
                let hour = 3_600_000_000u64;
                if back {
                    clock.0.fetch_sub(hour, std::sync::atomic::Ordering::SeqCst);
                } else {
                    clock.0.fetch_add(hour, std::sync::atomic::Ordering::SeqCst);
                }
            }
            Op::PowerCut { seed } => {
                let image = fs.power_cut(Some(seed));
                store.close_without_checkpoint();
                drop(store);
                fs = image;
                store = open(dir.path(), &fs, &clock);
                assert!(!store.stats().recovery.rebuilt_index, "step {step}: the checkpoint was lost to a power cut");
            }
        }
        assert_eq!(store.next_position(), model.next_position(), "step {step}: next position");
    }
    let a = store.read_all(&ReadAll::forward(0).limit(usize::MAX)).await.unwrap().events;
    let b = model.all_events();
    assert_eq!(comparable(&a, &client_ids), comparable(&b, &client_ids));
    assert!(a.windows(2).all(|w| w[0].timestamp_us <= w[1].timestamp_us), "timestamps never decrease");
    store.close().unwrap();
    drop(store);
    let report = hindsight_store_embedded::verify::verify(&config(dir.path(), &fs, &clock), |_, _| {}).unwrap();
    assert!(report.is_clean(), "verify: {:?}", report.problem);
    assert_eq!(report.index_checked, b.len() as u64);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}
