//! Model-based property test on PostgreSQL: random sequences of appends
//! (every expectation kind, retries with the same ids, ids reused
//! elsewhere, appends across streams, bad input), reads, subscriptions
//! and server restarts, run through two stores on one database (two
//! servers) and against the in-memory reference model. After every step
//! both servers must see the same head as the model (the second learns
//! of the first's commits by NOTIFY or its poll) and answer every read
//! as the model does. `PROPTEST_CASES` scales the number of sequences.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hindsight_store::model_check::{
    build, comparable, outcome, read_all_agrees, read_stream_agrees, subscription_agrees, AllRead, StreamRead,
};
use hindsight_store::{AppendPart, EventReader, EventStore, ExpectedVersion, Limits, MemoryStore, NewEvent, ReadAll};
use hindsight_store_postgres::{Options, PostgresStore};
use proptest::prelude::*;
use serde_json::json;

type Parts = Vec<(u8, u8, Vec<Option<u16>>)>;

#[derive(Debug, Clone)]
enum Op {
    Append { server: bool, parts: Parts },
    RetryLast { server: bool },
    ReadStream { server: bool, stream: u8, from: Option<u8>, backward: bool, limit: u8, as_of: Option<(u8, u8)> },
    ReadAll { server: bool, from: u8, limit: u8, category: Option<u8>, backward: bool, as_of: Option<(u8, u8)> },
    Subscribe { server: bool, from: u8 },
    TooLarge,
    Restart { server: bool },
}

fn op() -> impl Strategy<Value = Op> {
    let event_ids = prop::collection::vec(prop::option::weighted(0.7, 0u16..40), 1..4);
    let part = (0u8..5, 0u8..8, event_ids);
    let as_of = || prop::option::weighted(0.5, (0u8..3, 0u8..30));
    prop_oneof![
        8 => (any::<bool>(), prop::collection::vec(part, 1..3)).prop_map(|(server, parts)| Op::Append { server, parts }),
        2 => any::<bool>().prop_map(|server| Op::RetryLast { server }),
        3 => (any::<bool>(), 0u8..5, prop::option::of(0u8..6), any::<bool>(), 0u8..5, as_of()).prop_map(
            |(server, stream, from, backward, limit, as_of)| Op::ReadStream { server, stream, from, backward, limit, as_of }
        ),
        2 => (any::<bool>(), 0u8..30, 1u8..10, prop::option::of(0u8..3), any::<bool>(), as_of()).prop_map(
            |(server, from, limit, category, backward, as_of)| Op::ReadAll { server, from, limit, category, backward, as_of }
        ),
        1 => (any::<bool>(), 0u8..30).prop_map(|(server, from)| Op::Subscribe { server, from }),
        1 => Just(Op::TooLarge),
        1 => any::<bool>().prop_map(|server| Op::Restart { server }),
    ]
}

const LIMITS: Limits = Limits { event_size_bytes_max: 200, append_events_max: 10_000, append_size_bytes_max: 16 << 20 };

async fn open(url: &str) -> Arc<PostgresStore> {
    let options = Options { poll_interval: Duration::from_millis(200), limits: LIMITS, ..Options::default() };
    Arc::new(PostgresStore::connect(url, options).await.expect("connect"))
}

/// Waits until `store` has seen every commit the model holds.
async fn caught_up(store: &PostgresStore, model: &MemoryStore, what: &str) {
    let started = Instant::now();
    while store.next_position() != model.next_position() {
        assert!(
            store.next_position() < model.next_position() && started.elapsed() < Duration::from_secs(10),
            "{what}: the head is {} and the model's {}",
            store.next_position(),
            model.next_position()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn run(ops: Vec<Op>) {
    let db = common::Database::create().await;
    let model = Arc::new(MemoryStore::new(LIMITS));
    let mut servers = [open(&db.url).await, open(&db.url).await];
    let mut last: Option<Vec<AppendPart>> = None;
    let mut client_ids = std::collections::HashSet::new();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Append { server, parts } => {
                let parts = build(&parts, step);
                client_ids.extend(parts.iter().flat_map(|p| &p.events).filter_map(|e| e.id));
                let a = servers[server as usize].append_multi(parts.clone()).await;
                let b = model.append_multi(parts.clone()).await;
                assert_eq!(outcome(&a), outcome(&b), "step {step}: append");
                last = Some(parts);
            }
            Op::RetryLast { server } => {
                if let Some(parts) = last.clone() {
                    let a = servers[server as usize].append_multi(parts.clone()).await;
                    let b = model.append_multi(parts).await;
                    assert_eq!(outcome(&a), outcome(&b), "step {step}: retry on the other server too");
                }
            }
            Op::ReadStream { server, stream, from, backward, limit, as_of } => {
                let r = StreamRead { stream, from, backward, limit, as_of };
                read_stream_agrees(&*servers[server as usize], &model, &client_ids, step, r).await;
            }
            Op::ReadAll { server, from, limit, category, backward, as_of } => {
                let r = AllRead { from, limit, category, backward, as_of };
                read_all_agrees(&*servers[server as usize], &model, &client_ids, step, r).await;
            }
            Op::Subscribe { server, from } => {
                subscription_agrees(servers[server as usize].clone(), &model, &client_ids, step, from).await;
            }
            Op::TooLarge => {
                let parts = vec![AppendPart {
                    stream: "cat-0".into(),
                    expected: ExpectedVersion::Any,
                    events: vec![NewEvent::new("Big", json!("x".repeat(300)))],
                }];
                let a = servers[0].append_multi(parts.clone()).await;
                assert_eq!(outcome(&a), outcome(&model.append_multi(parts).await), "step {step}: too large");
            }
            Op::Restart { server } => {
                servers[server as usize] = open(&db.url).await;
            }
        }
        for (i, s) in servers.iter().enumerate() {
            caught_up(s, &model, &format!("step {step}: server {i}")).await;
        }
    }
    let a = servers[1].read_all(&ReadAll::forward(0).limit(usize::MAX)).await.unwrap().events;
    let b = model.all_events();
    assert_eq!(comparable(&a, &client_ids), comparable(&b, &client_ids));
    assert!(a.windows(2).all(|w| w[0].timestamp_us <= w[1].timestamp_us), "timestamps never decrease");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn two_servers_on_postgres_match_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}
