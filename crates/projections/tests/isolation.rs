//! Forks never reach live data. Random sequences of live appends with
//! fork operations between them (create, skip, edit, append, a candidate
//! projection folded on a fork and compared, impact questions, delete)
//! leave every live observation byte-identical to a run of the same live
//! appends without them: every event as the API writes it, what a live
//! subscriber saw, the live projection's states and position, the head,
//! and `verify`'s report. Timestamps come from a clock the test sets, and
//! ids are given, so the two runs can be equal to the byte.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hindsight_projections::registry::{Registry, Settings, Tuning};
use hindsight_projections::timelines::Options;
use hindsight_projections::whatif::{ForkRuns, WhatIf};
use hindsight_store::{
    AppendPart, EventReader, EventStore, ExpectedVersion, Filter, Limits, NewEvent, ReadAll, RecordedEvent,
};
use hindsight_store_embedded::{Clock, Config, EmbeddedStore};
use hindsight_timetravel::fork::Edit;
use hindsight_timetravel::forks::Forks;
use proptest::prelude::*;
use serde_json::{json, Value};

const LIVE: &str = r#"
fromCategory('acct').foreachStream().when({
  $init: () => ({ balance: 0 }),
  Deposited: (s, e) => { s.balance += e.data.amount; },
  Withdrawn: (s, e) => { s.balance -= e.data.amount; },
})"#;

/// Emits output: on a fork it must only ever reach the fork's journal.
const CANDIDATE: &str = r#"
fromCategory('acct').foreachStream().when({
  $init: () => ({ balance: 0 }),
  Deposited: (s, e) => { s.balance += e.data.amount; emit('echo', 'Seen', { n: s.balance }); },
  Withdrawn: (s, e) => { if (s.balance >= e.data.amount) s.balance -= e.data.amount; },
})"#;

struct HandClock(AtomicU64);

impl Clock for HandClock {
    fn now_us(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Live { stream: u8, withdraw: bool, amount: u8 },
    Create { fork: u8, back: u8 },
    Skip { fork: u8, at: u16 },
    Edit { fork: u8, at: u16, amount: u8 },
    Append { fork: u8, stream: u8, amount: u8 },
    Candidate { fork: u8 },
    Impact { at: u16 },
    Delete { fork: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    let f = 0..3u8;
    prop_oneof![
        4 => (0..4u8, any::<bool>(), 1..50u8).prop_map(|(stream, withdraw, amount)| Op::Live { stream, withdraw, amount }),
        1 => (f.clone(), 0..5u8).prop_map(|(fork, back)| Op::Create { fork, back }),
        1 => (f.clone(), any::<u16>()).prop_map(|(fork, at)| Op::Skip { fork, at }),
        1 => (f.clone(), any::<u16>(), 1..50u8).prop_map(|(fork, at, amount)| Op::Edit { fork, at, amount }),
        1 => (f.clone(), 0..4u8, 1..50u8).prop_map(|(fork, stream, amount)| Op::Append { fork, stream, amount }),
        1 => f.clone().prop_map(|fork| Op::Candidate { fork }),
        1 => any::<u16>().prop_map(|at| Op::Impact { at }),
        1 => f.prop_map(|fork| Op::Delete { fork }),
    ]
}

fn event(step: usize, withdraw: bool, amount: u8) -> NewEvent {
    let t = if withdraw { "Withdrawn" } else { "Deposited" };
    NewEvent::new(t, json!({ "amount": amount })).with_id(uuid::Uuid::from_u128(step as u128 + 1))
}

/// Everything a live client could observe.
#[derive(Debug, PartialEq)]
struct Observed {
    events: Vec<String>,
    subscribed: Vec<String>,
    states: Value,
    head: u64,
    verify: String,
}

fn written(events: &[RecordedEvent]) -> Vec<String> {
    events.iter().map(hindsight_wire::event_json).collect()
}

/// Runs the live appends of `ops`, and the fork operations too when `forks`.
async fn run(dir: &Path, ops: &[Op], with_forks: bool) -> Observed {
    let clock = Arc::new(HandClock(AtomicU64::new(1_800_000_000_000_000)));
    let mut config = Config::new(dir.join("store"));
    config.clock = clock.clone();
    let store = Arc::new(EmbeddedStore::open(config.clone()).unwrap());
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let reader: Arc<dyn EventReader> = store.clone();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let subscriber = tokio::spawn({
        let (seen, events) =
            (seen.clone(), hindsight_store::subscription::subscribe(dyn_store.clone(), 0, Filter::default()));
        async move {
            let mut events = std::pin::pin!(events);
            while let Some(e) = events.next().await {
                seen.lock().unwrap().push(e.unwrap());
            }
        }
    });
    let registry =
        Registry::open(dir.join("projections"), dyn_store, tokio::runtime::Handle::current(), Settings::default())
            .unwrap();
    registry.put("balances", LIVE, "park", Tuning::default()).await.unwrap();
    let forks = Forks::open(dir.join("forks"), reader.clone(), Limits::default()).await.unwrap();
    let runs = ForkRuns::default();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Live { stream, withdraw, amount } => {
                clock.0.fetch_add(1_000, Ordering::SeqCst);
                let part = AppendPart {
                    stream: format!("acct-{stream}"),
                    expected: ExpectedVersion::Any,
                    events: vec![event(step, *withdraw, *amount)],
                };
                store.append_multi(vec![part]).await.unwrap();
            }
            _ if with_forks => fork_op(&forks, &registry, &runs, &*reader, op, step).await,
            _ => {}
        }
    }
    let head = store.next_position();
    let deadline = Instant::now() + Duration::from_secs(30);
    while registry.info("balances").unwrap().position.map_or(0, |p| p + 1) < head {
        assert!(Instant::now() < deadline, "the live projection never caught up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut states = serde_json::Map::new();
    for stream in 0..4 {
        let p = format!("acct-{stream}");
        states.insert(p.clone(), registry.state_answer("balances", &p).await.unwrap());
    }
    let events = store.read_all(&ReadAll::forward(0).limit(100_000)).await.unwrap().events;
    while (seen.lock().unwrap().len() as u64) < head {
        assert!(Instant::now() < deadline, "the live subscriber never saw the head");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Anything more (from a fork) would have arrived by now.
    tokio::time::sleep(Duration::from_millis(20)).await;
    subscriber.abort();
    let subscribed = seen.lock().unwrap().clone();
    registry.shutdown().await;
    drop(forks);
    store.close().unwrap();
    let report = hindsight_store_embedded::verify::verify(&config, |_, _| {}).unwrap();
    Observed {
        events: written(&events),
        subscribed: written(&subscribed),
        states: Value::Object(states),
        head,
        verify: format!("{report:?}"),
    }
}

/// One fork operation; refusals (a fork that does not exist, a position
/// outside a fork's base) are part of the game.
async fn fork_op(forks: &Forks, registry: &Registry, runs: &ForkRuns, live: &dyn EventReader, op: &Op, step: usize) {
    let name = |f: &u8| format!("f{f}");
    let head = live.next_position();
    let at = |a: &u16| u64::from(*a) % head.max(1);
    match op {
        Op::Create { fork, back } => {
            let base = head.checked_sub(u64::from(*back) + 1).map(hindsight_store::AsOf::Position);
            let _ = forks.create(&name(fork), base, "2026-11-27T00:00:00Z".into()).await;
        }
        Op::Skip { fork, at: a } => drop(forks.skip(&name(fork), &[at(a)], &[]).await),
        Op::Edit { fork, at: a, amount } => {
            let edit = Edit { data: json!({ "amount": amount }).to_string(), metadata: None };
            let _ = forks.edit(&name(fork), at(a), edit).await;
        }
        Op::Append { fork, stream, amount } => {
            let part = AppendPart {
                stream: format!("acct-{stream}"),
                expected: ExpectedVersion::Any,
                events: vec![event(10_000 + step, false, *amount)],
            };
            let _ = forks.append(&name(fork), vec![part]).await;
        }
        Op::Candidate { fork } => {
            let run = registry.fork_projection("balances", Some(CANDIDATE.into())).unwrap();
            if forks.set_projection(&name(fork), "balances", Some(run)).await.is_ok() {
                let f = forks.get(&name(fork)).unwrap();
                // Its output goes to the fork's journal; the comparison
                // at the end shows none of it reached the live log.
                registry.fork_fold(runs, &f, "balances").await.unwrap();
                registry.fork_diff(&f, None, "balances", None, Options::default()).await.unwrap();
            }
        }
        Op::Impact { at: a } if head > 0 => {
            let what = WhatIf { skip: vec![at(a)], ..Default::default() };
            registry.impact(what, Options::default()).await.unwrap();
        }
        Op::Delete { fork } => drop(forks.delete(&name(fork)).await),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn fork_operations_leave_every_live_observation_byte_identical(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (with, without) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let observed = rt.block_on(run(with.path(), &ops, true));
        let reference = rt.block_on(run(without.path(), &ops, false));
        prop_assert_eq!(observed.subscribed.clone(), observed.events.clone(), "a live subscriber saw exactly the live events");
        prop_assert_eq!(observed, reference);
    }
}
