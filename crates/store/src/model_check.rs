//! What the model-based property tests of every backend share: how a
//! step's input is built from small generated numbers, and how a backend's
//! answers are compared with the reference model's (without the fields
//! each store picks itself: generated ids and timestamps). The tests
//! themselves (their operations and strategies) live with each backend.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::subscription::subscribe;
use crate::{
    AppendPart, AsOf, Direction, EventReader, EventStore, ExpectedVersion, Filter, MemoryStore, NewEvent, ReadAll,
    ReadStream, RecordedEvent, StoreError,
};

/// The as-of point for the store and the same point for the model. The
/// model stamps its own times, so a time point on the store (the time of
/// one of its events) is a position point on the model: the last event
/// stamped at or before it; or, when the store's clock has not moved past
/// it yet (events may still be stamped with it), a point beyond the head.
pub fn as_of_points(log: &[RecordedEvent], clock_us: u64, point: Option<(u8, u8)>) -> (Option<AsOf>, Option<AsOf>) {
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
pub fn same_outcome<T: PartialEq + std::fmt::Debug>(a: Result<T, StoreError>, b: Result<T, StoreError>, what: &str) {
    match (a, b) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
        (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{what}: {a} / {b}"),
        (a, b) => panic!("{what}: store {a:?}, model {b:?}"),
    }
}

pub fn stream_name(s: u8) -> String {
    format!("{}-{}", ["cat", "dog", "cow"][s as usize % 3], s)
}

pub fn expected(e: u8) -> ExpectedVersion {
    match e {
        0 | 1 => ExpectedVersion::Any,
        2 => ExpectedVersion::NoStream,
        3 => ExpectedVersion::Exists,
        n => ExpectedVersion::Exact(u64::from(n - 4)),
    }
}

pub fn build(parts: &[(u8, u8, Vec<Option<u16>>)], step: usize) -> Vec<AppendPart> {
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
pub fn comparable(events: &[RecordedEvent], client_ids: &HashSet<Uuid>) -> Vec<String> {
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

pub fn outcome<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> String {
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

/// One step's read, as the model tests generate it.
#[derive(Debug, Clone, Copy)]
pub struct StreamRead {
    pub stream: u8,
    pub from: Option<u8>,
    pub backward: bool,
    pub limit: u8,
    pub as_of: Option<(u8, u8)>,
}

/// `$all` read as the model tests generate it.
#[derive(Debug, Clone, Copy)]
pub struct AllRead {
    pub from: u8,
    pub limit: u8,
    pub category: Option<u8>,
    pub backward: bool,
    pub as_of: Option<(u8, u8)>,
}

/// A stream read and its stream's info agree with the model's.
pub async fn read_stream_agrees(
    store: &dyn EventStore,
    model: &MemoryStore,
    client_ids: &HashSet<Uuid>,
    step: usize,
    r: StreamRead,
) {
    let log = store.read_all(&ReadAll::forward(0).limit(usize::MAX)).await.unwrap().events;
    let (at_store, at_model) = as_of_points(&log, store.clock_us(), r.as_of);
    let read = ReadStream {
        from: r.from.map(u64::from),
        direction: if r.backward { Direction::Backward } else { Direction::Forward },
        limit: r.limit.into(),
        ..ReadStream::forward(&stream_name(r.stream))
    };
    let a = store.read_stream(&ReadStream { as_of: at_store, ..read.clone() }).await;
    let b = model.read_stream(&ReadStream { as_of: at_model, ..read.clone() }).await;
    let what = format!("step {step}: read_stream as of {at_store:?}");
    same_outcome(a.map(|e| comparable(&e, client_ids)), b.map(|e| comparable(&e, client_ids)), &what);
    let a = store.stream_info(&read.stream, at_store).await;
    let b = model.stream_info(&read.stream, at_model).await;
    same_outcome(a, b, &format!("step {step}: stream_info as of {at_store:?}"));
}

/// A page of `$all` agrees with the model's.
pub async fn read_all_agrees(
    store: &dyn EventStore,
    model: &MemoryStore,
    client_ids: &HashSet<Uuid>,
    step: usize,
    r: AllRead,
) {
    let log = store.read_all(&ReadAll::forward(0).limit(usize::MAX)).await.unwrap().events;
    let (at_store, at_model) = as_of_points(&log, store.clock_us(), r.as_of);
    let filter =
        Filter { category: r.category.map(|c| ["cat", "dog", "cow"][c as usize].to_string()), ..Default::default() };
    let read = ReadAll {
        from: (!r.backward || r.from.is_multiple_of(2)).then_some(r.from.into()),
        direction: if r.backward { Direction::Backward } else { Direction::Forward },
        limit: r.limit.into(),
        filter,
        as_of: None,
    };
    let a = store.read_all(&ReadAll { as_of: at_store, ..read.clone() }).await;
    let b = model.read_all(&ReadAll { as_of: at_model, ..read.clone() }).await;
    let page = |s: crate::AllSlice| (comparable(&s.events, client_ids), s.next_position, s.end_of_log);
    same_outcome(a.map(page), b.map(page), &format!("step {step}: read_all {read:?} as of {at_store:?}"));
}

/// A subscription from `from` delivers what the model holds from there.
pub async fn subscription_agrees(
    store: Arc<dyn EventStore>,
    model: &MemoryStore,
    client_ids: &HashSet<Uuid>,
    step: usize,
    from: u8,
) {
    let end = store.next_position();
    let from = u64::from(from).min(end);
    let got: Vec<RecordedEvent> =
        subscribe(store, from, Filter::default()).take((end - from) as usize).map(|r| r.unwrap()).collect().await;
    let want = model.read_all(&ReadAll::forward(from).limit(usize::MAX)).await.unwrap().events;
    assert_eq!(comparable(&got, client_ids), comparable(&want, client_ids), "step {step}: subscribe");
}
