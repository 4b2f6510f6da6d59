//! Timestamps never decrease in position order, even when the wall clock
//! jumps backwards (an NTP step, a VM restored from a snapshot), also
//! across a restart: the store never issues a timestamp below the last one
//! it issued, so "the first event at or after time T" stays well defined.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use hindsight_store::{EventReader, EventStore, ExpectedVersion, NewEvent};
use hindsight_store_embedded::{Clock, EmbeddedStore};
use serde_json::json;

/// A wall clock a test sets by hand.
struct HandClock(AtomicU64);

impl Clock for HandClock {
    fn now_us(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

const HOUR_US: u64 = 3_600_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_never_decrease_when_the_clock_jumps_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(HandClock(AtomicU64::new(1_800_000_000_000_000)));
    let mut c = config(dir.path());
    c.clock = clock.clone();
    let store = EmbeddedStore::open(c.clone()).unwrap();
    let one = |n: u64| vec![NewEvent::new("Tick", json!({ "n": n }))];
    store.append("t-1", ExpectedVersion::Any, one(0)).await.unwrap();
    clock.0.fetch_add(1_000, Ordering::SeqCst);
    store.append("t-1", ExpectedVersion::Any, one(1)).await.unwrap();
    let high = clock.0.load(Ordering::SeqCst);
    clock.0.fetch_sub(HOUR_US, Ordering::SeqCst); // the wall clock steps back an hour
    store.append("t-1", ExpectedVersion::Any, one(2)).await.unwrap();
    store.close().unwrap();
    drop(store);
    // And after a restart, with the clock still behind.
    let store = EmbeddedStore::open(c.clone()).unwrap();
    store.append("t-1", ExpectedVersion::Any, one(3)).await.unwrap();
    clock.0.store(high + 5_000, Ordering::SeqCst); // back ahead
    store.append("t-1", ExpectedVersion::Any, one(4)).await.unwrap();
    let events = all(&store).await;
    let stamps: Vec<u64> = events.iter().map(|e| e.timestamp_us).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "timestamps in position order: {stamps:?}");
    assert_eq!(stamps[2], stamps[1], "a clock behind the last timestamp issues the last one again");
    assert_eq!(stamps[3], stamps[1], "also after a restart");
    assert_eq!(stamps[4], high + 5_000);
    // The store's own UUID v7s stay unique (and increasing within a process).
    assert!(events[..3].windows(2).all(|w| w[0].id < w[1].id), "ids in position order within a process");
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), events.len());
    // A time lookup finds the first event at or after it.
    assert_eq!(store.position_at(stamps[1]).await.unwrap(), Some(1));
    assert_eq!(store.position_at(stamps[1] + 1).await.unwrap(), Some(4));
    store.close().unwrap();
    drop(store);
    verify_clean(dir.path());
}
