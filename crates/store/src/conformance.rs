//! The conformance suite: the storage contract written once, run by every
//! backend. A backend's test file invokes [`crate::conformance_tests!`]
//! with an async factory that returns a fresh, empty store wrapped in a
//! [`Fixture`]; each function below becomes one `#[tokio::test]`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::limits::{NAME_BYTES_MAX, TAGS_PER_EVENT_MAX};
use crate::subscription::subscribe;
use crate::{
    AppendPart, AsOf, EventStore, ExpectedVersion, Filter, InvalidInput, NewEvent, ReadAll, ReadStream, RecordedEvent,
    StoreError,
};

/// A fresh store and whatever must live as long as it (a temporary
/// directory, a database schema).
pub struct Fixture {
    pub store: Arc<dyn EventStore>,
    pub guard: Box<dyn std::any::Any + Send>,
}

/// Generates one `#[tokio::test]` per conformance check, each calling
/// `$factory().await` for a fresh [`Fixture`].
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::__conformance_each!($factory;
            append_assigns_versions_and_positions,
            expected_version_kinds,
            conflict_writes_nothing,
            append_across_streams_is_all_or_nothing,
            retry_with_same_ids_is_idempotent,
            ids_stored_elsewhere_conflict,
            an_id_resent_with_other_content_is_refused,
            read_stream_forward_and_backward,
            read_all_filters_and_pages,
            stream_info_reports_the_stream,
            position_at_finds_first_at_or_after,
            event_by_id_finds_stored_events_only,
            bad_input_is_refused_and_writes_nothing,
            concurrent_writers_one_wins_per_version,
            subscription_catches_up_then_goes_live,
            data_metadata_and_tags_round_trip,
            pages_are_bounded_by_bytes,
            a_filter_matching_nothing_costs_a_bounded_page,
            as_of_a_position_reads_the_past,
            as_of_a_version_or_a_time,
            as_of_beyond_the_head_or_malformed_is_refused,
            read_all_backwards_pages_and_bounds,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_each {
    ($factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = $factory().await;
                $crate::conformance::$name(fixture.store.clone()).await;
                drop(fixture);
            }
        )*
    };
}

fn ev(t: &str, n: u64) -> NewEvent {
    NewEvent::new(t, json!({ "n": n }))
}

fn events(t: &str, count: u64) -> Vec<NewEvent> {
    (0..count).map(|n| ev(t, n)).collect()
}

async fn all(store: &Arc<dyn EventStore>) -> Vec<RecordedEvent> {
    store.read_all(&ReadAll::forward(0).limit(usize::MAX)).await.expect("read_all").events
}

pub async fn append_assigns_versions_and_positions(store: Arc<dyn EventStore>) {
    let r = store.append("order-1", ExpectedVersion::NoStream, events("Placed", 3)).await.unwrap();
    assert_eq!((r.first_position, r.last_position, r.next_expected_version), (0, 2, 2));
    let r = store.append("order-2", ExpectedVersion::Any, events("Placed", 1)).await.unwrap();
    assert_eq!((r.first_position, r.last_position, r.next_expected_version), (3, 3, 0));
    let r = store.append("order-1", ExpectedVersion::Exact(2), events("Paid", 2)).await.unwrap();
    assert_eq!((r.first_position, r.last_position, r.next_expected_version), (4, 5, 4));
    assert_eq!(store.next_position(), 6);
    let got = all(&store).await;
    let shape: Vec<_> = got.iter().map(|e| (e.stream.as_str(), e.version, e.position)).collect();
    assert_eq!(
        shape,
        [
            ("order-1", 0, 0),
            ("order-1", 1, 1),
            ("order-1", 2, 2),
            ("order-2", 0, 3),
            ("order-1", 3, 4),
            ("order-1", 4, 5)
        ]
    );
    let ids: HashSet<_> = got.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 6, "generated ids are unique");
    assert!(got.windows(2).all(|w| w[0].timestamp_us <= w[1].timestamp_us), "timestamps never decrease");
}

fn conflict(err: StoreError) -> (ExpectedVersion, Option<u64>) {
    match err {
        StoreError::WrongExpectedVersion(c) if c.len() == 1 => (c[0].expected, c[0].actual),
        other => panic!("expected a version conflict, got {other:?}"),
    }
}

pub async fn expected_version_kinds(store: Arc<dyn EventStore>) {
    use ExpectedVersion::*;
    let err = store.append("s-1", Exists, events("E", 1)).await.unwrap_err();
    assert_eq!(conflict(err), (Exists, None));
    let err = store.append("s-1", Exact(0), events("E", 1)).await.unwrap_err();
    assert_eq!(conflict(err), (Exact(0), None));
    store.append("s-1", NoStream, events("E", 1)).await.unwrap();
    let err = store.append("s-1", NoStream, events("E", 1)).await.unwrap_err();
    assert_eq!(conflict(err), (NoStream, Some(0)));
    store.append("s-1", Exists, events("E", 1)).await.unwrap();
    let err = store.append("s-1", Exact(0), events("E", 1)).await.unwrap_err();
    assert_eq!(conflict(err), (Exact(0), Some(1)));
    let err = store.append("s-1", Exact(5), events("E", 1)).await.unwrap_err();
    assert_eq!(conflict(err), (Exact(5), Some(1)));
    store.append("s-1", Exact(1), events("E", 1)).await.unwrap();
    store.append("s-1", Any, events("E", 1)).await.unwrap();
    store.append("s-2", Any, events("E", 1)).await.unwrap();
    assert_eq!(store.stream_info("s-1", None).await.unwrap().unwrap().last_version, 3);
}

pub async fn conflict_writes_nothing(store: Arc<dyn EventStore>) {
    store.append("s-1", ExpectedVersion::Any, events("E", 2)).await.unwrap();
    let before = all(&store).await;
    store.append("s-1", ExpectedVersion::Exact(0), events("E", 5)).await.unwrap_err();
    assert_eq!(all(&store).await, before);
    assert_eq!(store.next_position(), 2);
}

pub async fn append_across_streams_is_all_or_nothing(store: Arc<dyn EventStore>) {
    use ExpectedVersion::*;
    store.append("b-1", Any, events("E", 1)).await.unwrap();
    let part = |s: &str, e, n| AppendPart { stream: s.into(), expected: e, events: events("E", n) };
    let err = store
        .append_multi(vec![part("a-1", NoStream, 2), part("b-1", NoStream, 1), part("c-1", Exact(3), 1)])
        .await
        .unwrap_err();
    match err {
        StoreError::WrongExpectedVersion(c) => {
            let named: Vec<_> = c.iter().map(|c| (c.part, c.stream.as_str(), c.actual)).collect();
            assert_eq!(named, [(1, "b-1", Some(0)), (2, "c-1", None)], "every failing part is named");
        }
        other => panic!("expected a version conflict, got {other:?}"),
    }
    assert_eq!(store.next_position(), 1, "nothing of a refused append is stored");
    assert!(store.stream_info("a-1", None).await.unwrap().is_none());
    let results = store.append_multi(vec![part("a-1", NoStream, 2), part("b-1", Exact(0), 3)]).await.unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!((results[0].first_position, results[0].last_position, results[0].next_expected_version), (1, 2, 1));
    assert_eq!((results[1].first_position, results[1].last_position, results[1].next_expected_version), (3, 5, 3));
    let err = store.append_multi(vec![part("a-1", Any, 1), part("a-1", Any, 1)]).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(InvalidInput::StreamRepeated { .. })), "{err:?}");
}

pub async fn retry_with_same_ids_is_idempotent(store: Arc<dyn EventStore>) {
    let batch: Vec<NewEvent> = (0..3).map(|n| ev("E", n).with_id(Uuid::new_v4())).collect();
    store.append("other-1", ExpectedVersion::Any, events("E", 2)).await.unwrap();
    let first = store.append("s-1", ExpectedVersion::NoStream, batch.clone()).await.unwrap();
    store.append("s-1", ExpectedVersion::Exact(2), events("E", 1)).await.unwrap();
    let next = store.next_position();
    // The retry's expectation no longer holds, yet it returns the original result.
    let again = store.append("s-1", ExpectedVersion::NoStream, batch.clone()).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(store.next_position(), next, "a retry writes nothing");
    let parts = vec![
        AppendPart {
            stream: "m-1".into(),
            expected: ExpectedVersion::NoStream,
            events: vec![ev("E", 0).with_id(Uuid::new_v4())],
        },
        AppendPart {
            stream: "m-2".into(),
            expected: ExpectedVersion::NoStream,
            events: vec![ev("E", 0).with_id(Uuid::new_v4())],
        },
    ];
    let first = store.append_multi(parts.clone()).await.unwrap();
    assert_eq!(store.append_multi(parts).await.unwrap(), first);
    assert_eq!(store.next_position(), next + 2);
}

fn json_text(text: &str) -> crate::JsonText {
    crate::JsonText::parse(text).expect("valid JSON")
}

pub async fn an_id_resent_with_other_content_is_refused(store: Arc<dyn EventStore>) {
    let id = Uuid::new_v4();
    let original = NewEvent::new("Placed", json_text(r#"{"total":1,"currency":"EUR"}"#))
        .with_metadata(json_text(r#"{"by":"a","traceparent":"00-1"}"#))
        .with_tags(vec!["order:1".into()]);
    let first = store.append("o-1", ExpectedVersion::Any, vec![original.clone().with_id(id)]).await.unwrap();
    let next = store.next_position();
    // The same event, its JSON spelled differently and a new traceparent: a retry.
    let respelled = NewEvent::new("Placed", json_text(r#"{ "currency": "EUR", "total": 1 }"#))
        .with_metadata(json_text(r#"{"traceparent":"00-2","by":"a"}"#))
        .with_tags(vec!["order:1".into()])
        .with_id(id);
    assert_eq!(store.append("o-1", ExpectedVersion::Any, vec![respelled]).await.unwrap(), first);
    let changed = [
        ("type", NewEvent::new("Cancelled", original.data.clone())),
        ("data", NewEvent::new("Placed", json_text(r#"{"total":2,"currency":"EUR"}"#))),
        ("metadata", original.clone().with_metadata(json_text(r#"{"by":"b"}"#))),
        ("tags", original.clone().with_tags(vec![])),
    ];
    for (what, mut event) in changed {
        if what != "metadata" && what != "tags" {
            event = event.with_metadata(original.metadata.clone()).with_tags(original.tags.clone());
        }
        match store.append("o-1", ExpectedVersion::Any, vec![event.with_id(id)]).await {
            Err(StoreError::IdReused { id: got, field, position, .. }) => {
                assert_eq!((got, field, position), (id, what, first.first_position))
            }
            other => panic!("a different {what} under a stored id: {other:?}"),
        }
    }
    assert_eq!(store.next_position(), next, "nothing written");
}

pub async fn ids_stored_elsewhere_conflict(store: Arc<dyn EventStore>) {
    let id = Uuid::new_v4();
    store.append("s-1", ExpectedVersion::Any, vec![ev("E", 0).with_id(id)]).await.unwrap();
    let next = store.next_position();
    let is_id_conflict =
        |r: Result<_, StoreError>| matches!(r, Err(StoreError::IdConflict { id: got, .. }) if got == id);
    // Same id, other stream.
    assert!(is_id_conflict(store.append("s-2", ExpectedVersion::Any, vec![ev("E", 0).with_id(id)]).await));
    // Same id, same stream, with a new event added: not the same append.
    let mixed = vec![ev("E", 0).with_id(id), ev("E", 1).with_id(Uuid::new_v4())];
    assert!(is_id_conflict(store.append("s-1", ExpectedVersion::Any, mixed).await));
    // Same id at another place in the batch.
    let shifted = vec![ev("E", 1).with_id(Uuid::new_v4()), ev("E", 0).with_id(id)];
    assert!(is_id_conflict(store.append("s-1", ExpectedVersion::Any, shifted).await));
    assert_eq!(store.next_position(), next, "nothing written");
}

pub async fn read_stream_forward_and_backward(store: Arc<dyn EventStore>) {
    store.append("s-1", ExpectedVersion::Any, events("E", 5)).await.unwrap();
    store.append("t-1", ExpectedVersion::Any, events("E", 2)).await.unwrap();
    store.append("s-1", ExpectedVersion::Any, events("E", 5)).await.unwrap();
    let versions = |v: Vec<RecordedEvent>| v.iter().map(|e| e.version).collect::<Vec<_>>();
    let fwd = store.read_stream(&ReadStream::forward("s-1").limit(100)).await.unwrap();
    assert_eq!(versions(fwd.clone()), (0..10).collect::<Vec<_>>());
    assert!(fwd.iter().all(|e| e.stream == "s-1"));
    assert_eq!(versions(store.read_stream(&ReadStream::forward("s-1").from(3).limit(4)).await.unwrap()), [3, 4, 5, 6]);
    assert_eq!(versions(store.read_stream(&ReadStream::backward("s-1").limit(3)).await.unwrap()), [9, 8, 7]);
    assert_eq!(versions(store.read_stream(&ReadStream::backward("s-1").from(2).limit(10)).await.unwrap()), [2, 1, 0]);
    assert_eq!(versions(store.read_stream(&ReadStream::backward("s-1").from(50).limit(2)).await.unwrap()), [9, 8]);
    assert!(store.read_stream(&ReadStream::forward("s-1").from(10).limit(10)).await.unwrap().is_empty());
    assert!(store.read_stream(&ReadStream::forward("nope").limit(10)).await.unwrap().is_empty());
    assert!(store.read_stream(&ReadStream::forward("s-1").limit(0)).await.unwrap().is_empty());
}

pub async fn read_all_filters_and_pages(store: Arc<dyn EventStore>) {
    store.append("order-1", ExpectedVersion::Any, events("Placed", 2)).await.unwrap();
    store.append("user-1", ExpectedVersion::Any, events("Joined", 2)).await.unwrap();
    store.append("order-22", ExpectedVersion::Any, events("Paid", 2)).await.unwrap();
    store.append("orders", ExpectedVersion::Any, events("Placed", 1)).await.unwrap();
    let read = |f: Filter| {
        let store = store.clone();
        async move {
            store
                .read_all(&ReadAll::forward(0).limit(100).filter(f.clone()))
                .await
                .unwrap()
                .events
                .iter()
                .map(|e| e.position)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(read(Filter::default()).await, (0..7).collect::<Vec<_>>());
    assert_eq!(read(Filter { category: Some("order".into()), ..Default::default() }).await, [0, 1, 4, 5]);
    assert_eq!(read(Filter { stream_prefix: Some("order".into()), ..Default::default() }).await, [0, 1, 4, 5, 6]);
    assert_eq!(read(Filter { stream: Some("order-1".into()), ..Default::default() }).await, [0, 1]);
    assert_eq!(
        read(Filter { event_types: vec!["Placed".into(), "Joined".into()], ..Default::default() }).await,
        [0, 1, 2, 3, 6]
    );
    let both = Filter { category: Some("order".into()), event_types: vec!["Paid".into()], ..Default::default() };
    assert_eq!(read(both).await, [4, 5]);
    // Paging: every event exactly once.
    let mut from = 0;
    let mut seen = Vec::new();
    loop {
        let slice = store.read_all(&ReadAll::forward(from).limit(3)).await.unwrap();
        seen.extend(slice.events.iter().map(|e| e.position));
        assert!(slice.next_position > from || slice.end_of_log);
        from = slice.next_position;
        if slice.end_of_log {
            break;
        }
    }
    assert_eq!(seen, (0..7).collect::<Vec<_>>());
    let past = store.read_all(&ReadAll::forward(100).limit(10)).await.unwrap();
    assert!(past.events.is_empty() && past.end_of_log);
}

pub async fn stream_info_reports_the_stream(store: Arc<dyn EventStore>) {
    assert!(store.stream_info("s-1", None).await.unwrap().is_none());
    store.append("x-1", ExpectedVersion::Any, events("E", 2)).await.unwrap();
    store.append("s-1", ExpectedVersion::Any, events("E", 2)).await.unwrap();
    store.append("x-1", ExpectedVersion::Any, events("E", 1)).await.unwrap();
    store.append("s-1", ExpectedVersion::Any, events("E", 1)).await.unwrap();
    let info = store.stream_info("s-1", None).await.unwrap().unwrap();
    assert_eq!((info.last_version, info.first_position, info.last_position), (2, 2, 5));
}

pub async fn event_by_id_finds_stored_events_only(store: Arc<dyn EventStore>) {
    store.append("s-1", ExpectedVersion::Any, events("E", 3)).await.unwrap();
    store.append("x-1", ExpectedVersion::Any, events("F", 2)).await.unwrap();
    for e in all(&store).await {
        assert_eq!(store.event_by_id(e.id).await.unwrap(), Some(e));
    }
    assert_eq!(store.event_by_id(uuid::Uuid::new_v4()).await.unwrap(), None);
}

pub async fn position_at_finds_first_at_or_after(store: Arc<dyn EventStore>) {
    assert_eq!(store.position_at(0).await.unwrap(), None);
    store.append("s-1", ExpectedVersion::Any, events("E", 2)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store.append("s-1", ExpectedVersion::Any, events("E", 2)).await.unwrap();
    let got = all(&store).await;
    assert_eq!(store.position_at(0).await.unwrap(), Some(0));
    assert_eq!(store.position_at(got[2].timestamp_us).await.unwrap(), Some(2));
    assert_eq!(store.position_at(got[1].timestamp_us + 1).await.unwrap(), Some(2));
    assert_eq!(store.position_at(got[3].timestamp_us + 1).await.unwrap(), None);
}

pub async fn bad_input_is_refused_and_writes_nothing(store: Arc<dyn EventStore>) {
    store.append("s-1", ExpectedVersion::Any, events("E", 1)).await.unwrap();
    fn invalid<T: std::fmt::Debug>(r: Result<T, StoreError>) -> InvalidInput {
        match r {
            Err(StoreError::Invalid(i)) => i,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }
    let long = "x".repeat(NAME_BYTES_MAX + 1);
    let cases: Vec<(&str, Vec<NewEvent>)> = vec![
        ("", events("E", 1)),
        (&long, events("E", 1)),
        ("bad\u{7}name", events("E", 1)),
        ("s-1", vec![]),
        ("s-1", events("", 1)),
        ("s-1", vec![ev("E", 0).with_metadata(json!([1]))]),
        ("s-1", vec![ev("E", 0).with_tags(vec!["".into()])]),
        ("s-1", vec![ev("E", 0).with_tags(vec!["t".into(); TAGS_PER_EVENT_MAX + 1])]),
        ("s-1", vec![ev("E", 0).with_id(Uuid::nil()), ev("E", 1).with_id(Uuid::nil())]),
        ("s-1", vec![NewEvent::new("E", json!("x".repeat(1 << 20)))]),
        ("s-1", events("E", 10_001)),
    ];
    let mut kinds = Vec::new();
    for (stream, evs) in cases {
        let err = invalid(store.append(stream, ExpectedVersion::Any, evs).await);
        kinds.push(std::mem::discriminant(&err));
    }
    assert_eq!(HashSet::<_>::from_iter(kinds.iter().skip(3)).len(), 8, "each fault has its own error");
    let huge: Vec<NewEvent> = (0..20).map(|_| NewEvent::new("E", json!("y".repeat(900_000)))).collect();
    assert!(matches!(
        invalid(store.append("s-1", ExpectedVersion::Any, huge).await),
        InvalidInput::AppendTooLarge { .. }
    ));
    assert!(matches!(invalid(store.append_multi(vec![]).await), InvalidInput::NoParts));
    assert_eq!(store.next_position(), 1);
    assert_eq!(all(&store).await.len(), 1);
}

pub async fn concurrent_writers_one_wins_per_version(store: Arc<dyn EventStore>) {
    store.append("race-1", ExpectedVersion::NoStream, events("E", 1)).await.unwrap();
    for round in 0..5u64 {
        let tasks: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    store.append("race-1", ExpectedVersion::Exact(round), events(&format!("W{w}"), 1)).await
                })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => wins += 1,
                Err(StoreError::WrongExpectedVersion(_)) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(wins, 1, "exactly one writer wins at version {round}");
        assert_eq!(store.stream_info("race-1", None).await.unwrap().unwrap().last_version, round + 1);
    }
    // Many writers on many streams: positions and versions gapless and unique.
    let tasks: Vec<_> = (0..16)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..20u64 {
                    store
                        .append(&format!("many-{}", (w + i) % 4), ExpectedVersion::Any, events("E", 1 + i % 3))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let got = all(&store).await;
    assert!(got.iter().enumerate().all(|(i, e)| e.position == i as u64), "positions gapless");
    let mut by_stream: HashMap<&str, u64> = HashMap::new();
    for e in &got {
        let next = by_stream.entry(e.stream.as_str()).or_default();
        assert_eq!(e.version, *next, "versions gapless in {}", e.stream);
        *next += 1;
    }
}

pub async fn subscription_catches_up_then_goes_live(store: Arc<dyn EventStore>) {
    for i in 0..50u64 {
        store.append(&format!("sub-{}", i % 3), ExpectedVersion::Any, events("E", 1 + i % 4)).await.unwrap();
    }
    let from = 7;
    let sub = subscribe(store.clone(), from, Filter::default());
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..200u64 {
                store.append(&format!("sub-{}", i % 5), ExpectedVersion::Any, events("E", 1 + i % 3)).await.unwrap();
                if i % 20 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    writer.await.unwrap();
    let end = store.next_position();
    let got: Vec<u64> = sub.take((end - from) as usize).map(|r| r.unwrap().position).collect().await;
    assert_eq!(got, (from..end).collect::<Vec<_>>(), "every event once, in order");
    // Live: a subscriber that started at the end sees new events as they commit.
    let mut live =
        Box::pin(subscribe(store.clone(), end, Filter { category: Some("live".into()), ..Default::default() }));
    let store2 = store.clone();
    let writer = tokio::spawn(async move {
        for _ in 0..10 {
            store2.append("other-1", ExpectedVersion::Any, events("E", 1)).await.unwrap();
            store2.append("live-1", ExpectedVersion::Any, events("E", 1)).await.unwrap();
        }
    });
    for v in 0..10 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), live.next())
            .await
            .expect("live event")
            .unwrap()
            .unwrap();
        assert_eq!((e.stream.as_str(), e.version), ("live-1", v));
    }
    writer.await.unwrap();
}

pub async fn data_metadata_and_tags_round_trip(store: Arc<dyn EventStore>) {
    let id = Uuid::new_v4();
    let data = json!({"name": "Ünïcode ✓", "nested": {"list": [1, 2.5, null, true]}, "big": u64::MAX});
    let meta = json!({"correlation_id": "c-1", "schema_version": 2});
    let e = NewEvent::new("Typé", data.clone())
        .with_id(id)
        .with_metadata(meta.clone())
        .with_tags(vec!["order:1".into(), "user:9".into()]);
    store.append("rt-1", ExpectedVersion::Any, vec![e]).await.unwrap();
    let got = store.read_stream(&ReadStream::forward("rt-1").limit(10)).await.unwrap();
    assert_eq!(got.len(), 1);
    let g = &got[0];
    assert_eq!(g.id, id);
    assert_eq!(g.event_type, "Typé");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&g.data).unwrap(), data);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&g.metadata).unwrap(), meta);
    assert_eq!(g.tags, ["order:1", "user:9"]);
    assert_eq!(all(&store).await, got);
}

/// A page of large events ends at the byte budget, holds at least one
/// event, and paging on reads every event once.
pub async fn pages_are_bounded_by_bytes(store: Arc<dyn EventStore>) {
    use crate::limits::READ_BYTES_MAX;
    let big = "x".repeat(READ_BYTES_MAX / 5);
    for n in 0..8 {
        let e = NewEvent::new("Big", crate::JsonText::from(json!({ "n": n, "pad": big })));
        store.append("big-1", ExpectedVersion::Any, vec![e]).await.unwrap();
    }
    let first = store.read_all(&ReadAll::forward(0).limit(1000)).await.unwrap();
    assert!(!first.events.is_empty() && first.events.len() < 8, "{} events in one page", first.events.len());
    let bytes: usize = first.events.iter().map(|e| e.data.len()).sum();
    assert!(bytes < READ_BYTES_MAX + READ_BYTES_MAX / 2, "{bytes} bytes in one page");
    let mut seen = first.events.len();
    let mut next = first.next_position;
    while seen < 8 {
        let page = store.read_all(&ReadAll::forward(next).limit(1000)).await.unwrap();
        assert!(!page.events.is_empty());
        assert_eq!(page.events[0].position, next);
        seen += page.events.len();
        next = page.next_position;
    }
    assert_eq!(seen, 8);
    let stream = store.read_stream(&ReadStream::forward("big-1").limit(1000)).await.unwrap();
    assert!(!stream.is_empty() && stream.len() < 8);
    assert!(stream.iter().enumerate().all(|(i, e)| e.version == i as u64));
    let back = store.read_stream(&ReadStream::backward("big-1").limit(1000)).await.unwrap();
    assert!(!back.is_empty() && back.len() < 8 && back[0].version == 7);
}

/// A filter that matches nothing still answers in bounded pages: each
/// looks at no more than `READ_EXAMINED_MAX` events and says where to go
/// on, and paging reaches the end of the log.
pub async fn a_filter_matching_nothing_costs_a_bounded_page(store: Arc<dyn EventStore>) {
    use crate::limits::READ_EXAMINED_MAX;
    let total = READ_EXAMINED_MAX + READ_EXAMINED_MAX / 2;
    let mut appended = 0;
    while appended < total {
        let n = (total - appended).min(10_000);
        store.append("many-1", ExpectedVersion::Any, events("E", n as u64)).await.unwrap();
        appended += n;
    }
    store.append("rare-1", ExpectedVersion::Any, events("Rare", 1)).await.unwrap();
    // By type (which a backend may index) and by stream prefix (which it
    // may have to scan): each call makes progress, and paging finds the
    // one match within a bounded number of calls.
    for filter in [
        Filter { event_types: vec!["Rare".into()], ..Default::default() },
        Filter { stream_prefix: Some("rare".into()), ..Default::default() },
    ] {
        let mut read = ReadAll::forward(0).limit(100).filter(filter.clone());
        let mut found = Vec::new();
        let mut calls = 0;
        loop {
            let page = store.read_all(&read).await.unwrap();
            calls += 1;
            assert!(calls <= total / READ_EXAMINED_MAX + 2, "{filter:?}: too many calls");
            assert!(page.next_position > read.from.unwrap() || page.end_of_log, "{filter:?}: no progress");
            found.extend(positions(&page.events));
            if page.end_of_log {
                break;
            }
            read.from = Some(page.next_position);
        }
        assert_eq!(found, [total as u64], "{filter:?}");
    }
}

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

/// Streams a-1 and b-1 interleaved: a-1 at 0, 1, 4, 5; b-1 at 2, 3; c-1 at 6.
async fn interleaved(store: &Arc<dyn EventStore>) -> Vec<RecordedEvent> {
    store.append("a-1", ExpectedVersion::Any, events("A", 2)).await.unwrap();
    store.append("b-1", ExpectedVersion::Any, events("B", 2)).await.unwrap();
    store.append("a-1", ExpectedVersion::Any, events("A2", 2)).await.unwrap();
    store.append("c-1", ExpectedVersion::Any, events("C", 1)).await.unwrap();
    all(store).await
}

/// Reads as of position P answer what the same reads answered when P was
/// the head: every kind of read, at every point.
pub async fn as_of_a_position_reads_the_past(store: Arc<dyn EventStore>) {
    let log = interleaved(&store).await;
    for p in 0..log.len() as u64 {
        let as_of = AsOf::Position(p);
        let then: Vec<RecordedEvent> = log.iter().filter(|e| e.position <= p).cloned().collect();
        let slice = store.read_all(&ReadAll::forward(0).limit(100).as_of(as_of)).await.unwrap();
        assert_eq!(slice.events, then, "$all as of {as_of}");
        assert!(slice.end_of_log && slice.next_position == p + 1, "$all as of {as_of}: {slice:?}");
        let backwards = store.read_all(&ReadAll::backward().limit(100).as_of(as_of)).await.unwrap();
        assert_eq!(backwards.events, then.iter().rev().cloned().collect::<Vec<_>>(), "$all backwards as of {as_of}");
        let filtered =
            ReadAll::forward(0).limit(100).filter(Filter { category: Some("a".into()), ..Default::default() });
        let got = store.read_all(&filtered.as_of(as_of)).await.unwrap();
        assert_eq!(
            positions(&got.events),
            positions(&then.iter().filter(|e| e.stream == "a-1").cloned().collect::<Vec<_>>())
        );
        for stream in ["a-1", "b-1", "c-1"] {
            let mine: Vec<RecordedEvent> = then.iter().filter(|e| e.stream == stream).cloned().collect();
            let fwd = store.read_stream(&ReadStream::forward(stream).as_of(as_of)).await.unwrap();
            assert_eq!(fwd, mine, "{stream} as of {as_of}");
            let back = store.read_stream(&ReadStream::backward(stream).as_of(as_of)).await.unwrap();
            assert_eq!(back, mine.iter().rev().cloned().collect::<Vec<_>>(), "{stream} backwards as of {as_of}");
            let from_1 = store.read_stream(&ReadStream::forward(stream).from(1).as_of(as_of)).await.unwrap();
            assert_eq!(from_1, mine.iter().skip(1).cloned().collect::<Vec<_>>(), "{stream} from 1 as of {as_of}");
            let info = store.stream_info(stream, Some(as_of)).await.unwrap();
            match (info, mine.first(), mine.last()) {
                (None, None, None) => {}
                (Some(info), Some(first), Some(last)) => {
                    assert_eq!(
                        (info.last_version, info.first_position, info.last_position),
                        (last.version, first.position, last.position),
                        "{stream} info as of {as_of}"
                    );
                }
                (info, _, _) => panic!("{stream} as of {as_of}: info {info:?} but events {mine:?}"),
            }
        }
    }
    // The bound holds while the log grows past it.
    store.append("a-1", ExpectedVersion::Any, events("A3", 3)).await.unwrap();
    let still = store.read_stream(&ReadStream::backward("a-1").as_of(AsOf::Position(4))).await.unwrap();
    assert_eq!(positions(&still), [4, 1, 0]);
}

pub async fn as_of_a_version_or_a_time(store: Arc<dyn EventStore>) {
    store.append("a-1", ExpectedVersion::Any, events("A", 2)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    store.append("b-1", ExpectedVersion::Any, events("B", 2)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    store.append("a-1", ExpectedVersion::Any, events("A2", 2)).await.unwrap();
    let log = all(&store).await;
    // version:N is a point in one stream: a-1's version 2 is position 4.
    let v2 = store.read_stream(&ReadStream::forward("a-1").as_of(AsOf::Version(2))).await.unwrap();
    assert_eq!(positions(&v2), [0, 1, 4]);
    let info = store.stream_info("a-1", Some(AsOf::Version(1))).await.unwrap().unwrap();
    assert_eq!((info.last_version, info.last_position), (1, 1));
    // time: the last event stamped at or before it, and nothing stamped later.
    for e in &log {
        let t = e.timestamp_us;
        let want: Vec<u64> = log.iter().filter(|x| x.timestamp_us <= t).map(|x| x.position).collect();
        let got = store.read_all(&ReadAll::forward(0).limit(100).as_of(AsOf::Time(t))).await.unwrap();
        assert_eq!(positions(&got.events), want, "as of time {t}");
        assert!(want.contains(&e.position));
    }
    let before =
        store.read_all(&ReadAll::forward(0).limit(100).as_of(AsOf::Time(log[0].timestamp_us - 1))).await.unwrap();
    assert!(before.events.is_empty() && before.end_of_log && before.next_position == 0, "{before:?}");
    assert!(store.stream_info("a-1", Some(AsOf::Time(log[0].timestamp_us - 1))).await.unwrap().is_none());
    let b_then = store.read_stream(&ReadStream::forward("b-1").as_of(AsOf::Time(log[1].timestamp_us))).await.unwrap();
    assert!(b_then.is_empty(), "b-1 did not exist yet: {b_then:?}");
}

pub async fn as_of_beyond_the_head_or_malformed_is_refused(store: Arc<dyn EventStore>) {
    fn code<T: std::fmt::Debug>(r: Result<T, StoreError>) -> &'static str {
        match r {
            Err(e) => e.code(),
            Ok(v) => panic!("expected a refusal, got {v:?}"),
        }
    }
    let empty = store.read_all(&ReadAll::forward(0).as_of(AsOf::Position(0))).await;
    assert_eq!(code(empty), "as_of_beyond_head");
    store.append("a-1", ExpectedVersion::Any, events("A", 3)).await.unwrap();
    assert_eq!(code(store.read_all(&ReadAll::forward(0).as_of(AsOf::Position(3))).await), "as_of_beyond_head");
    assert_eq!(
        code(store.read_stream(&ReadStream::forward("a-1").as_of(AsOf::Position(9))).await),
        "as_of_beyond_head"
    );
    assert_eq!(code(store.read_stream(&ReadStream::forward("a-1").as_of(AsOf::Version(3))).await), "as_of_beyond_head");
    assert_eq!(code(store.stream_info("zz-1", Some(AsOf::Version(0))).await), "as_of_beyond_head");
    let future = store.clock_us() + 3_600_000_000;
    assert_eq!(code(store.read_all(&ReadAll::forward(0).as_of(AsOf::Time(future))).await), "as_of_beyond_head");
    assert_eq!(code(store.read_all(&ReadAll::forward(0).as_of(AsOf::Version(1))).await), "invalid_as_of");
    // The last position is fine, and a stream that does not exist yet
    // reads as empty at any committed point.
    assert_eq!(store.read_all(&ReadAll::forward(0).as_of(AsOf::Position(2))).await.unwrap().events.len(), 3);
    assert!(store.read_stream(&ReadStream::forward("zz-1").as_of(AsOf::Position(2))).await.unwrap().is_empty());
}

pub async fn read_all_backwards_pages_and_bounds(store: Arc<dyn EventStore>) {
    let log = interleaved(&store).await;
    let mut seen = Vec::new();
    let mut read = ReadAll::backward().limit(2);
    loop {
        let slice = store.read_all(&read).await.unwrap();
        assert!(slice.events.windows(2).all(|w| w[0].position > w[1].position));
        seen.extend(positions(&slice.events));
        if slice.end_of_log {
            break;
        }
        read.from = Some(slice.next_position);
    }
    assert_eq!(seen, (0..log.len() as u64).rev().collect::<Vec<_>>());
    // The last event of a category is one request.
    let last_b = ReadAll::backward().limit(1).filter(Filter { category: Some("b".into()), ..Default::default() });
    assert_eq!(positions(&store.read_all(&last_b).await.unwrap().events), [3]);
    let from_2 = store.read_all(&ReadAll::backward().from(2).limit(100)).await.unwrap();
    assert_eq!(positions(&from_2.events), [2, 1, 0]);
    assert!(from_2.end_of_log);
    let past = store.read_all(&ReadAll::backward().from(1_000).limit(1)).await.unwrap();
    assert_eq!(positions(&past.events), [6]);
    assert_eq!((past.next_position, past.end_of_log), (5, false));
    let types = ReadAll::backward()
        .limit(100)
        .filter(Filter { event_types: vec!["A2".into(), "B".into()], ..Default::default() });
    assert_eq!(positions(&store.read_all(&types).await.unwrap().events), [5, 4, 3, 2]);
}
