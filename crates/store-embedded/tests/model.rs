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

use futures::StreamExt;
use hindsight_store::subscription::subscribe;
use hindsight_store::{
    AppendPart, AsOf, Direction, EventReader, EventStore, ExpectedVersion, Filter, Limits, MemoryStore, NewEvent,
    ReadAll, ReadStream, RecordedEvent, StoreError,
};
use hindsight_store_embedded::fs::SimFs;
use hindsight_store_embedded::{Config, EmbeddedStore};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

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

/// The as-of point for the store and the same point for the model. The
/// model stamps its own times, so a time point on the store (the time of
/// one of its events) is a position point on the model: the last event
/// stamped at or before it; or, when the store's clock has not moved past
/// it yet (events may still be stamped with it), a point beyond the head.
fn as_of_points(log: &[RecordedEvent], clock_us: u64, point: Option<(u8, u8)>) -> (Option<AsOf>, Option<AsOf>) {
    match point {
        None => (None, None),
        Some((0, n)) => (Some(AsOf::Position(n.into())), Some(AsOf::Position(n.into()))),
        Some((1, n)) => (Some(AsOf::Version(n.into())), Some(AsOf::Version(n.into()))),
        Some((_, n)) => match log.get(usize::from(n)) {
            Some(e) if e.timestamp_us >= clock_us => (Some(AsOf::Time(e.timestamp_us)), Some(AsOf::Position(u64::MAX))),
            Some(e) => {
                let last = log.iter().rposition(|x| x.timestamp_us <= e.timestamp_us).unwrap_or(0);
                (Some(AsOf::Time(e.timestamp_us)), Some(AsOf::Position(last as u64)))
            }
            None => (Some(AsOf::Position(n.into())), Some(AsOf::Position(n.into()))),
        },
    }
}

/// Both read the same, or both refused with the same code.
fn same_outcome<T: PartialEq + std::fmt::Debug>(a: Result<T, StoreError>, b: Result<T, StoreError>, what: &str) {
    match (a, b) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
        (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{what}: {a} / {b}"),
        (a, b) => panic!("{what}: store {a:?}, model {b:?}"),
    }
}

fn stream_name(s: u8) -> String {
    format!("{}-{}", ["cat", "dog", "cow"][s as usize % 3], s)
}

fn expected(e: u8) -> ExpectedVersion {
    match e {
        0 | 1 => ExpectedVersion::Any,
        2 => ExpectedVersion::NoStream,
        3 => ExpectedVersion::Exists,
        n => ExpectedVersion::Exact(u64::from(n - 4)),
    }
}

fn build(parts: &[(u8, u8, Vec<Option<u16>>)], step: usize) -> Vec<AppendPart> {
    parts
        .iter()
        .map(|(s, e, ids)| AppendPart {
            stream: stream_name(*s),
            expected: expected(*e),
            events: ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let mut ev = NewEvent::new(format!("T{}", i % 2), json!({ "step": step, "i": i }))
                        .with_tags(vec![format!("step:{step}")]);
                    ev.id = id.map(|n| Uuid::from_u128(0xabc0_0000 + u128::from(n)));
                    ev
                })
                .collect(),
        })
        .collect()
}

/// Events compared without the fields each store picks itself (generated
/// ids and timestamps).
fn comparable(events: &[RecordedEvent], client_ids: &std::collections::HashSet<Uuid>) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let id = if client_ids.contains(&e.id) { e.id.to_string() } else { "-".into() };
            format!(
                "{id} {} {} v{} p{} {} {} {:?}",
                e.stream, e.event_type, e.version, e.position, e.data, e.metadata, e.tags
            )
        })
        .collect()
}

fn outcome<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(StoreError::IdConflict { id, stream, version, position }) => {
            format!("id_conflict {id} {stream} {version} {position}")
        }
        Err(StoreError::WrongExpectedVersion(c)) => format!("conflict {c:?}"),
        Err(StoreError::Invalid(i)) => format!("invalid {i:?}"),
        Err(e) => format!("other {e}"),
    }
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
                let log = store.read_all(&ReadAll::forward(0).limit(usize::MAX)).await.unwrap().events;
                let (at_store, at_model) = as_of_points(&log, store.clock_us(), as_of);
                let dir = if backward { Direction::Backward } else { Direction::Forward };
                let read = ReadStream {
                    from: from.map(u64::from),
                    direction: dir,
                    limit: limit.into(),
                    ..ReadStream::forward(&stream_name(stream))
                };
                let a = store.read_stream(&ReadStream { as_of: at_store, ..read.clone() }).await;
                let b = model.read_stream(&ReadStream { as_of: at_model, ..read.clone() }).await;
                let what = format!("step {step}: read_stream as of {at_store:?}");
                same_outcome(a.map(|e| comparable(&e, &client_ids)), b.map(|e| comparable(&e, &client_ids)), &what);
                let a = store.stream_info(&read.stream, at_store).await;
                let b = model.stream_info(&read.stream, at_model).await;
                same_outcome(a, b, &format!("step {step}: stream_info as of {at_store:?}"));
            }
            Op::ReadAll { from, limit, category, backward, as_of } => {
                let log = store.read_all(&ReadAll::forward(0).limit(usize::MAX)).await.unwrap().events;
                let (at_store, at_model) = as_of_points(&log, store.clock_us(), as_of);
                let filter = Filter {
                    category: category.map(|c| ["cat", "dog", "cow"][c as usize].to_string()),
                    ..Default::default()
                };
                let read = ReadAll {
                    from: (!backward || from % 2 == 0).then_some(from.into()),
                    direction: if backward { Direction::Backward } else { Direction::Forward },
                    limit: limit.into(),
                    filter,
                    as_of: None,
                };
                let a = store.read_all(&ReadAll { as_of: at_store, ..read.clone() }).await;
                let b = model.read_all(&ReadAll { as_of: at_model, ..read.clone() }).await;
                let page =
                    |s: hindsight_store::AllSlice| (comparable(&s.events, &client_ids), s.next_position, s.end_of_log);
                same_outcome(a.map(page), b.map(page), &format!("step {step}: read_all {read:?} as of {at_store:?}"));
            }
            Op::Subscribe { from } => {
                let end = store.next_position();
                let from = u64::from(from).min(end);
                let got: Vec<RecordedEvent> = subscribe(store.clone(), from, Filter::default())
                    .take((end - from) as usize)
                    .map(|r| r.unwrap())
                    .collect()
                    .await;
                let want = model.read_all(&ReadAll::forward(from).limit(usize::MAX)).await.unwrap().events;
                assert_eq!(comparable(&got, &client_ids), comparable(&want, &client_ids), "step {step}: subscribe");
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
