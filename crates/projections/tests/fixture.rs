//! Fixture minimization: on a history where 3 of 500 events determine a
//! value, delta debugging keeps exactly those 3; the JavaScript fixture
//! generated from them runs under Node and passes, and the Rust fixture is
//! `generated_fixture.rs` beside this file, byte for byte (cargo runs it
//! as a test of its own). `HINDSIGHT_BLESS=1` rewrites that file after a
//! change to the generator.

use hindsight_projections::fixture::{javascript, minimize, rust, Subject};
use hindsight_store::RecordedEvent;
use serde_json::json;

const SOURCE: &str = r#"fromCategory('order').foreachStream().when({
  $init: () => ({ flags: 0, notes: 0, status: 'new' }),
  Flagged: (s) => { s.flags += 1; },
  Noted: (s, e) => { s.notes += 1; s.status = e.data.status; },
})"#;

fn history() -> Vec<RecordedEvent> {
    (0..500u64)
        .map(|i| {
            let flagged = [41, 250, 433].contains(&i);
            RecordedEvent {
                id: uuid::Uuid::from_u128(u128::from(i) + 1),
                stream: "order-1".into(),
                event_type: if flagged { "Flagged" } else { "Noted" }.into(),
                version: i,
                position: i * 3,
                timestamp_us: 1_800_000_000_000_000 + i * 1_000,
                data: if flagged { json!({ "why": "fraud" }) } else { json!({ "status": format!("s{}", i % 7) }) }
                    .to_string(),
                metadata: "{}".into(),
                tags: vec![],
            }
        })
        .collect()
}

#[test]
fn three_of_five_hundred_events_are_kept_and_the_generated_tests_pass() {
    let m = minimize(SOURCE, Default::default(), "order-1", "/flags", history()).unwrap();
    assert_eq!(m.value, Some(json!(3)));
    let kept: Vec<u64> = m.events.iter().map(|e| e.version).collect();
    assert_eq!(kept, vec![41, 250, 433], "exactly the three flags, in order ({} subsets folded)", m.tests);
    assert_eq!(m.events_total, 500);

    let subject = Subject {
        projection: "orders",
        source: SOURCE,
        partition: "order-1",
        pointer: "/flags",
        as_of: "position:1497",
    };
    let generated = rust(&subject, &m);
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/generated_fixture.rs");
    if std::env::var_os("HINDSIGHT_BLESS").is_some() {
        std::fs::write(&committed, &generated).unwrap();
    }
    assert_eq!(generated, std::fs::read_to_string(&committed).unwrap(), "regenerate with HINDSIGHT_BLESS=1");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.test.js");
    std::fs::write(&file, javascript(&subject, &m)).unwrap();
    let out =
        std::process::Command::new("node").arg(&file).output().expect("node runs the generated JavaScript fixture");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok: /flags is 3");

    // A value the fold no longer gives fails the JavaScript fixture.
    let broken = javascript(&subject, &m).replace("const EXPECTED = 3;", "const EXPECTED = 4;");
    std::fs::write(&file, broken).unwrap();
    assert!(!std::process::Command::new("node").arg(&file).output().unwrap().status.success());
}

#[test]
fn a_value_one_event_sets_keeps_one_and_a_missing_one_keeps_none() {
    let m = minimize(SOURCE, Default::default(), "order-1", "/status", history()).unwrap();
    assert_eq!(m.value, Some(json!("s2")), "the last note (version 499) sets s2");
    assert_eq!(m.events.len(), 1, "one note with that status is enough");
    let m = minimize(SOURCE, Default::default(), "order-1", "/missing", history()).unwrap();
    assert_eq!((m.value, m.events.len()), (None, 0));
}
