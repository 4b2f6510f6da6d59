//! JavaScript projections: the KurrentDB-shaped definitions, the sandbox
//! (no clock, no randomness, no modules, no host; time, memory and stack
//! budgets), handlers that throw, and checkpoints of states kept inside
//! the sandbox.

use std::time::{Duration, Instant};

use hindsight_projections::js::{JsFold, Limits, Source};
use hindsight_projections::{FailurePolicy, Fold, Runner, Status};
use hindsight_store::{EventStore, ExpectedVersion, MemoryStore, NewEvent, RecordedEvent};
use serde_json::json;

const ORDERS: &str = r#"
fromCategory('order')
  .foreachStream()
  .when({
    $init: () => ({ total: 0, status: 'new' }),
    Placed: (s, e) => { s.total = e.data.total; s.status = 'placed'; },
    Cancelled: (s, e) => ({ ...s, status: 'cancelled' }),
  })
"#;

fn event(position: u64, stream: &str, event_type: &str, data: serde_json::Value) -> RecordedEvent {
    RecordedEvent {
        id: uuid::Uuid::from_u128(position as u128 + 1),
        stream: stream.to_string(),
        event_type: event_type.to_string(),
        version: 0,
        position,
        timestamp_us: 1_764_000_000_000_000 + position * 1_000,
        data: data.to_string(),
        metadata: "{}".to_string(),
        tags: Vec::new(),
    }
}

fn fold(f: &mut JsFold, e: &RecordedEvent) -> Result<(), String> {
    let key = f.partition(e).map_err(|x| x.message)?.map(|k| k.into_owned());
    match key {
        Some(k) => f.apply(&k, e).map_err(|x| x.message),
        None => Ok(()),
    }
}

fn handler(body: &str) -> JsFold {
    let source = format!("fromAll().when({{ $init: () => ({{ n: 0 }}), $any: (s, e) => {{ {body} }} }})");
    JsFold::new(&source, Limits { call_time: Duration::from_millis(100), ..Limits::default() }).unwrap()
}

#[test]
fn a_definition_declares_its_source_partitioning_and_types() {
    let f = JsFold::new(ORDERS, Limits::default()).unwrap();
    let def = f.definition();
    assert_eq!(def.source, Source::Category { name: "order".into() });
    assert_eq!(def.partitioning, "stream");
    assert_eq!(def.types, ["Placed", "Cancelled"]);
    let filter = f.selects();
    assert_eq!(
        (filter.category.as_deref(), filter.event_types.len()),
        (Some("order"), 0),
        "the category index selects"
    );
    let by_type = JsFold::new("fromAll().when({ A: (s) => s, B: (s) => s })", Limits::default()).unwrap().selects();
    assert_eq!(by_type.event_types, ["A", "B"], "without a category, the type index selects");
    for bad in ["fromAll()", "fromAll().when(3)", "this is not javascript", "throw new Error('no')"] {
        let e = JsFold::new(bad, Limits::default()).err().expect(bad);
        assert!(!e.message.is_empty(), "{bad}");
    }
}

#[test]
fn handlers_mutate_or_return_a_new_state_per_stream() {
    let mut f = JsFold::new(ORDERS, Limits::default()).unwrap();
    fold(&mut f, &event(0, "order-1", "Placed", json!({"total": 30}))).unwrap();
    fold(&mut f, &event(1, "order-2", "Placed", json!({"total": 5}))).unwrap();
    fold(&mut f, &event(2, "order-1", "Cancelled", json!({}))).unwrap();
    fold(&mut f, &event(3, "order-2", "Shipped", json!({}))).unwrap();
    assert_eq!(f.state("order-1", false), Some(json!({"total": 30, "status": "cancelled"})));
    assert_eq!(f.state("order-2", false), Some(json!({"total": 5, "status": "placed"})));
    assert_eq!(f.state("order-3", false), None);
    assert_eq!(f.state("order-3", true), Some(json!({"total": 0, "status": "new"})));
    assert_eq!(f.partitions(None, 10), ["order-1", "order-2"]);
    assert_eq!(f.partitions(Some("order-1"), 10), ["order-2"]);
    assert_eq!(f.partition_count(), 2);
    // Saved and loaded into a fresh sandbox: the same states.
    let saved = f.save().unwrap();
    let mut g = JsFold::new(ORDERS, Limits::default()).unwrap();
    g.load(&saved).unwrap();
    assert_eq!(g.save().unwrap().get(), saved.get());
}

#[test]
fn partition_by_a_key_of_the_event() {
    let src = "fromAll().partitionBy(e => e.data.customer).when({ $any: (s, e) => ({ n: (s.n || 0) + 1 }) })";
    let mut f = JsFold::new(src, Limits::default()).unwrap();
    fold(&mut f, &event(0, "a", "X", json!({"customer": "c1"}))).unwrap();
    fold(&mut f, &event(1, "b", "Y", json!({"customer": "c1"}))).unwrap();
    fold(&mut f, &event(2, "c", "Y", json!({}))).unwrap();
    assert_eq!(f.partitions(None, 10), ["c1"]);
    assert_eq!(f.state("c1", false), Some(json!({"n": 2})));
}

#[test]
fn a_handler_that_throws_leaves_the_state_as_it_was() {
    let mut f = handler("s.n += 1; if (e.type === 'Bad') { s.half = true; throw new Error('cannot handle Bad'); }");
    fold(&mut f, &event(0, "s", "Good", json!({}))).unwrap();
    let e = f.apply("", &event(1, "s", "Bad", json!({}))).unwrap_err();
    assert_eq!(e.message, "Error: cannot handle Bad");
    assert!(e.stack.is_some_and(|s| s.contains("<eval>") || s.contains("at ")), "the JS stack is kept");
    assert_eq!(f.state("", false), Some(json!({"n": 1})), "the half-applied mutation is rolled back");
    fold(&mut f, &event(2, "s", "Good", json!({}))).unwrap();
    assert_eq!(f.state("", false), Some(json!({"n": 2})));
}

#[test]
fn the_clock_and_randomness_are_the_events() {
    let body = "s.now = Date.now(); s.date = new Date().getTime(); s.r = [Math.random(), Math.random()]; \
                s.text = typeof Date();";
    let mut f = handler(body);
    let mut g = handler(body);
    let e = event(7, "s", "T", json!({}));
    fold(&mut f, &e).unwrap();
    fold(&mut g, &e).unwrap();
    let s = f.state("", false).unwrap();
    assert_eq!(s["now"], json!(e.timestamp_us / 1000));
    assert_eq!(s["date"], json!(e.timestamp_us / 1000));
    assert_ne!(s["r"][0], s["r"][1]);
    assert_eq!(Some(s.clone()), g.state("", false), "the same event draws the same numbers");
    std::thread::sleep(Duration::from_millis(5));
    fold(&mut f, &e).unwrap();
    assert_eq!(f.state("", false).unwrap()["r"], s["r"], "and again later");
    assert_eq!(new_date_parses(), json!(0), "new Date(x) still works");
}

fn new_date_parses() -> serde_json::Value {
    let mut f = handler("s.d = new Date('1970-01-01T00:00:00Z').getTime();");
    fold(&mut f, &event(0, "s", "T", json!({}))).unwrap();
    f.state("", false).unwrap()["d"].clone()
}

#[test]
fn the_host_modules_and_timers_are_out_of_reach() {
    for probe in [
        "require('fs')",
        "performance.now()",
        "setTimeout(() => 0, 1)",
        "new WeakRef({})",
        "std.open('/etc/passwd')",
        "os.exec(['ls'])",
    ] {
        let mut f = handler(&format!("{probe};"));
        let err = fold(&mut f, &event(0, "s", "T", json!({}))).unwrap_err();
        assert!(err.contains("ReferenceError") || err.contains("not defined"), "{probe}: {err}");
    }
    // A dynamic import has no loader to reach: it never resolves to a module.
    let mut f = handler("s.p = typeof import('fs');");
    let _ = fold(&mut f, &event(0, "s", "T", json!({})));
    let r = JsFold::new("import * as fs from 'fs'; fromAll().when({})", Limits::default());
    assert!(r.is_err(), "a static import is refused");
}

#[test]
fn an_infinite_loop_deep_recursion_and_a_huge_allocation_are_stopped() {
    let probes = [
        ("while (true) {}", "over the time budget"),
        ("const f = (n) => f(n + 1) + 1; f(0);", "stack"),
        ("s.big = 'x'.repeat(1 << 29) + 'y';", "memory"),
        ("s.big = []; for (let i = 0; i < 1e9; i++) s.big.push({ i });", "memory|budget"),
        ("s.big = new Array(1e9).fill(0);", "memory"),
    ];
    for (body, expect) in probes {
        let mut f = JsFold::new(
            &format!(
                "fromAll().when({{ $init: () => ({{ n: 0 }}), T: (s, e) => {{ {body} }}, Ok: (s) => {{ s.n++; }} }})"
            ),
            Limits { call_time: Duration::from_millis(100), memory_bytes: 64 << 20, ..Limits::default() },
        )
        .unwrap();
        let started = Instant::now();
        let err = fold(&mut f, &event(0, "s", "T", json!({}))).unwrap_err();
        assert!(expect.split('|').any(|x| err.to_lowercase().contains(x)), "{body}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{body}: stopped promptly");
        // The sandbox is still usable afterwards.
        fold(&mut f, &event(1, "s", "Ok", json!({}))).unwrap();
        assert_eq!(f.state("", false).unwrap()["n"], json!(1), "{body}");
    }
    let started = Instant::now();
    let err = JsFold::new("while (true) {}", Limits { call_time: Duration::from_millis(100), ..Limits::default() });
    assert!(err.is_err_and(|e| e.message.contains("over the time budget")));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_runner_parks_a_js_failure_and_checkpoints_the_states() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryStore::default();
    let src = "fromCategory('order').foreachStream().when({ $init: () => ({ n: 0 }), \
               Placed: (s, e) => { s.n += 1; if (e.data.bad) throw new Error('bad order'); } })";
    for i in 0..20u64 {
        let data = json!({ "bad": i == 7 });
        store
            .append(&format!("order-{}", i % 3), ExpectedVersion::Any, vec![NewEvent::new("Placed", data)])
            .await
            .unwrap();
    }
    let open = |policy| Runner::open_fold(JsFold::new(src, Limits::default()).unwrap(), dir.path(), policy).unwrap();
    let mut r = open(FailurePolicy::Park);
    r.run_to(&store, 20).await.unwrap();
    assert_eq!(r.position(), Some(19));
    assert_eq!(r.parked().len(), 1);
    let parked = &r.parked()[0];
    assert_eq!((parked.position, parked.partition.as_str(), parked.error.as_str()), (7, "order-1", "Error: bad order"));
    assert_eq!(parked.state_before, json!({"n": 2}));
    let mut again = open(FailurePolicy::Park);
    assert_eq!(again.fold_mut().state("order-1", false), Some(json!({"n": 6})));
    assert_eq!(again.fold_mut().state("order-0", false), Some(json!({"n": 7})));
    assert_eq!(again.parked().len(), 1);
    assert_eq!(again.status(), &Status::Running);
}

#[test]
fn the_event_reads_as_it_does_over_http() {
    let mut f = handler("s.e = e; s.id = e.id; s.ts = e.timestamp;");
    let mut e = event(3, "order-9", "T", json!({"a": [1, {"b": null}]}));
    e.id = uuid::Uuid::parse_str("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").unwrap();
    e.timestamp_us = 1_764_165_720_123_456;
    e.metadata = r#"{"by":"me"}"#.into();
    e.tags = vec!["x".into(), "y,z".into()];
    fold(&mut f, &e).unwrap();
    let s = f.state("", false).unwrap();
    assert_eq!(s["id"], json!(e.id.to_string()));
    assert_eq!(s["ts"], json!(hindsight_store::timestamp::rfc3339(e.timestamp_us)));
    let expect = json!({ "id": e.id.to_string(), "stream": "order-9", "type": "T", "version": 0, "position": 3,
        "timestamp": hindsight_store::timestamp::rfc3339(e.timestamp_us), "data": {"a": [1, {"b": null}]},
        "metadata": {"by": "me"}, "tags": ["x", "y,z"] });
    assert_eq!(s["e"], expect);
}

/// A page is folded in one call; an event that throws (or runs over its
/// budget) mid-page stops it there: the events before it stay folded,
/// its partition is exactly as it was before it (folded again from before
/// the page), and what the earlier events emitted is kept.
#[test]
fn a_batch_stops_at_a_failing_event_and_undoes_only_it() {
    let src = "fromAll().foreachStream().when({ $init: () => ({ seen: [] }), \
        $any: (s, e) => { s.seen.push(e.data.i); emit('out', 'Saw', { i: e.data.i }); \
                          if (e.data.bad) throw new Error('bad ' + e.data.i); if (e.data.spin) while (true) {} } })";
    for (bad, expect) in [("bad", "Error: bad 3"), ("spin", "over the time budget")] {
        let mut f = JsFold::new(src, Limits { call_time: Duration::from_millis(100), ..Limits::default() }).unwrap();
        fold(&mut f, &event(0, "a", "T", json!({ "i": 0 }))).unwrap();
        let _ = f.take_emitted();
        let page: Vec<RecordedEvent> = (1..6u64)
            .map(|i| {
                let data = if i == 3 { json!({ "i": i, bad: true }) } else { json!({ "i": i }) };
                event(i, if i % 2 == 0 { "b" } else { "a" }, "T", data)
            })
            .collect();
        let (at, e) = f.apply_batch(&page).unwrap_err();
        assert_eq!(at, 2, "{bad}: the third event of the page (position 3)");
        assert!(e.message.contains(expect), "{bad}: {}", e.message);
        assert_eq!(
            f.state("a", false),
            Some(json!({ "seen": [0, 1] })),
            "{bad}: a's earlier event in the page stays, the failed one is undone"
        );
        assert_eq!(f.state("b", false), Some(json!({ "seen": [2] })));
        let emitted: Vec<u64> = f.take_emitted().iter().map(|e| e.position).collect();
        assert_eq!(emitted, [1, 2], "{bad}: output of the events before the failure");
        f.apply_batch(&page[3..]).unwrap();
        assert_eq!(f.state("a", false), Some(json!({ "seen": [0, 1, 5] })));
    }
}

/// Folded on several sandboxes, a per-stream projection gives exactly the
/// states, parked events and output of one sandbox, also when it fails
/// mid-page and when it resumes from a checkpoint with another number of
/// shards.
#[tokio::test]
async fn a_parallel_fold_equals_a_single_one() {
    use hindsight_projections::js::parallel::ParallelJsFold;
    let store = MemoryStore::default();
    for i in 0..3000u64 {
        let (t, data) =
            if i % 97 == 5 { ("Bad", json!({ "i": i })) } else { ("Placed", json!({ "i": i, "total": i % 13 })) };
        store
            .append(&format!("order-{}", (i * 7) % 23), ExpectedVersion::Any, vec![NewEvent::new(t, data)])
            .await
            .unwrap();
    }
    let src = "fromCategory('order').foreachStream().when({ $init: () => ({ n: 0, total: 0, last: -1 }), \
        Placed: (s, e) => { s.n += 1; s.total += e.data.total; s.last = e.position; if (e.data.i % 50 === 0) emit('echo', 'E', { i: e.data.i }); }, \
        Bad: (s, e) => { s.n += 1; throw new Error('bad ' + e.data.i); } })";
    let dir = tempfile::tempdir().unwrap();
    let mut single =
        Runner::open_fold(JsFold::new(src, Limits::default()).unwrap(), dir.path().join("one"), FailurePolicy::Park)
            .unwrap()
            .attempts(1)
            .page_events(700);
    single.run_to(&store, 3000).await.unwrap();
    let expect_states = single.fold_mut().save().unwrap().get().to_string();
    let expect_parked: Vec<u64> = single.parked().iter().map(|p| p.position).collect();
    let expect_out: Vec<u64> = single.take_outbox().iter().map(|e| e.position).collect();
    assert_eq!(expect_parked.len(), 31);

    let open = |shards| {
        let fold = ParallelJsFold::new(src, Limits::default(), shards).unwrap().expect("per stream");
        Runner::open_fold(fold, dir.path().join("many"), FailurePolicy::Park)
            .unwrap()
            .attempts(1)
            .page_events(700)
            .checkpoint_every(500)
    };
    let mut first = open(3);
    first.advance(&store, 3000, 2).await.unwrap();
    let mut out: Vec<u64> = first.take_outbox().iter().map(|e| e.position).collect();
    let at_checkpoint = first.checkpointed().unwrap();
    drop(first); // a crash: what the checkpoint holds survives
    let mut second = open(2);
    assert_eq!(second.position(), Some(at_checkpoint));
    second.run_to(&store, 3000).await.unwrap();
    out.retain(|&p| p <= at_checkpoint);
    out.extend(second.take_outbox().iter().map(|e| e.position));
    let states: serde_json::Value = serde_json::from_str(second.fold_mut().save().unwrap().get()).unwrap();
    assert_eq!(states, serde_json::from_str::<serde_json::Value>(&expect_states).unwrap());
    assert_eq!(second.parked().iter().map(|p| p.position).collect::<Vec<_>>(), expect_parked);
    out.dedup();
    assert_eq!(out, expect_out, "the same output, once per input event");
    assert!(
        ParallelJsFold::new("fromAll().when({ $any: (s) => s })", Limits::default(), 2).unwrap().is_none(),
        "one partition: not split"
    );
}
