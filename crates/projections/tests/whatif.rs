//! What-if answers on a prepared case: the impact of skipping or editing
//! one event names exactly the projections, partitions and fields it
//! changes, with the first divergence where the event was; a fork's
//! comparison with a candidate source finds every partition the candidate
//! changes; nothing live moves.

use std::sync::Arc;

use hindsight_projections::registry::{Registry, Settings, Tuning};
use hindsight_projections::timelines::Options;
use hindsight_projections::whatif::WhatIf;
use hindsight_store::{EventReader, EventStore, ExpectedVersion, MemoryStore, NewEvent, ReadAll};
use hindsight_timetravel::fork::Edit;
use serde_json::{json, Value};

/// Per account: balance and deposits count.
const ACCOUNTS: &str = r#"
fromCategory('account')
  .foreachStream()
  .when({
    $init: () => ({ balance: 0, deposits: 0 }),
    Deposited: (s, e) => { s.balance += e.data.amount; s.deposits += 1; },
    Withdrawn: (s, e) => { s.balance -= e.data.amount; },
  })
"#;

/// Per customer (a key from the data): total spent.
const CUSTOMERS: &str = r#"
fromAll()
  .partitionBy(e => e.data.customer)
  .when({
    $init: () => ({ spent: 0 }),
    Withdrawn: (s, e) => { s.spent += e.data.amount; },
  })
"#;

/// Counts orders; reads no account event.
const ORDERS: &str = r#"
fromCategory('order')
  .when({ $init: () => ({ n: 0 }), Placed: (s) => { s.n += 1; } })
"#;

async fn prepared() -> (Arc<MemoryStore>, Arc<Registry>, tempfile::TempDir) {
    let store = Arc::new(MemoryStore::new(Default::default()));
    let ev = |t: &str, data: Value| NewEvent::new(t, data);
    for i in 0..20u64 {
        let stream = format!("account-{}", i % 4);
        let customer = format!("c{}", i % 2);
        let e = if i % 3 == 0 {
            ev("Withdrawn", json!({ "amount": 5, "customer": customer }))
        } else {
            ev("Deposited", json!({ "amount": 10, "customer": customer }))
        };
        store.append(&stream, ExpectedVersion::Any, vec![e]).await.unwrap();
    }
    store.append("order-1", ExpectedVersion::Any, vec![ev("Placed", json!({}))]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let registry =
        Registry::open(dir.path().join("p"), dyn_store, tokio::runtime::Handle::current(), Settings::default())
            .unwrap();
    for (name, source) in [("accounts", ACCOUNTS), ("customers", CUSTOMERS), ("orders", ORDERS)] {
        registry.put(name, source, "park", Tuning::default()).await.unwrap();
    }
    (store, registry, dir)
}

fn projection<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["projections"].as_array().unwrap().iter().find(|p| p["projection"] == name).unwrap()
}

async fn all(store: &MemoryStore) -> Vec<hindsight_store::RecordedEvent> {
    store.read_all(&ReadAll::forward(0).limit(usize::MAX)).await.unwrap().events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipping_one_withdrawal_changes_its_account_and_customer_and_nothing_else() {
    let (store, registry, _dir) = prepared().await;
    let before = all(&store).await;
    // Position 6: i = 6, account-2, customer c0, a withdrawal of 5.
    let what = WhatIf { skip: vec![6], ..Default::default() };
    let answer = registry.impact(what, Options::default()).await.unwrap();

    let accounts = projection(&answer, "accounts");
    assert_eq!((accounts["changed"].as_u64(), accounts["added"].as_u64()), (Some(1), Some(0)), "{accounts:#}");
    let changed = &accounts["partitions"][0];
    assert_eq!(changed["partition"], "account-2");
    assert_eq!(changed["fields"], json!(["/balance"]));
    assert_eq!(changed["first_divergence"]["live_position"], 6);
    assert_eq!(changed["first_divergence"]["live"]["position"], 6);
    assert_eq!(changed["first_divergence"]["what_if"], Value::Null);
    // Only account-2's events were folded: the one before the skip once, for both sides, then 4 live and 3 on the fork.
    assert_eq!(accounts["events_refolded"], 8);

    let customers = projection(&answer, "customers");
    assert_eq!(customers["changed"], 1);
    assert_eq!(customers["partitions"][0]["partition"], "c0");
    assert_eq!(customers["partitions"][0]["fields"], json!(["/spent"]));
    assert_eq!(customers["partitions"][0]["first_divergence"]["live_position"], 6);

    let orders = projection(&answer, "orders");
    assert_eq!((orders["changed"].as_u64(), orders["events_refolded"].as_u64()), (Some(0), Some(0)));
    assert_eq!(all(&store).await, before, "an impact question writes nothing live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_that_moves_an_event_to_another_partition_changes_both() {
    let (_store, registry, _dir) = prepared().await;
    // Position 3: i = 3, account-3, customer c1, a withdrawal of 5.
    let edit = Edit { data: json!({ "amount": 5, "customer": "c9" }).to_string(), metadata: None };
    let what = WhatIf { edit: vec![(3, edit)], projections: vec!["customers".into()], ..Default::default() };
    let answer = registry.impact(what, Options::default()).await.unwrap();
    let customers = projection(&answer, "customers");
    assert_eq!((customers["changed"].as_u64(), customers["added"].as_u64()), (Some(1), Some(1)), "{customers:#}");
    let kinds: Vec<(&str, &str)> = customers["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["partition"].as_str().unwrap(), p["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, vec![("c1", "changed"), ("c9", "added")]);
    assert_eq!(answer["projections"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skip_that_changes_nothing_reports_no_partition() {
    let (_store, registry, _dir) = prepared().await;
    // The order: no account or customer reads it, and skipping it empties orders.
    let what = WhatIf { skip: vec![20], ..Default::default() };
    let answer = registry.impact(what, Options::default()).await.unwrap();
    assert_eq!(projection(&answer, "accounts")["changed"], 0);
    assert_eq!(projection(&answer, "customers")["changed"], 0);
    let orders = projection(&answer, "orders");
    assert_eq!((orders["changed"].as_u64(), orders["removed"].as_u64()), (Some(0), Some(1)));
    assert_eq!(orders["partitions"][0]["fields"], json!(["/n"]));
}
