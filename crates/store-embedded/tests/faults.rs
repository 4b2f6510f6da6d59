//! Fault injection through the file-system seam: a failed fdatasync (EIO)
//! poisons the store (it refuses writes until restarted, and never
//! acknowledges what it could not sync); a full disk (ENOSPC) fails the
//! append cleanly and leaves the store consistent and writable once space
//! returns. After either, everything acknowledged is there and `verify` is
//! clean.

mod common;

use std::sync::Arc;

use common::*;
use hindsight_store::{EventReader, EventStore, ExpectedVersion, NewEvent, StoreError};
use hindsight_store_embedded::fs::{Faults, FaultyFs};
use hindsight_store_embedded::{EmbeddedStore, OpenError};
use serde_json::json;

fn faulty(dir: &std::path::Path) -> (EmbeddedStore, Arc<Faults>) {
    let faults = Faults::new();
    let mut c = config(dir);
    c.segment_bytes_target = 1 << 20;
    c.fs = Arc::new(FaultyFs { faults: faults.clone() });
    (EmbeddedStore::open(c).unwrap(), faults)
}

fn one(n: u64) -> Vec<NewEvent> {
    vec![NewEvent::new("E", json!({ "n": n }))]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fsync_poisons_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (store, faults) = faulty(dir.path());
    for n in 0..5 {
        store.append("s-1", ExpectedVersion::Any, one(n)).await.unwrap();
    }
    faults.fail_sync_after(0);
    let err = store.append("s-1", ExpectedVersion::Any, one(5)).await.unwrap_err();
    assert!(matches!(err, StoreError::Poisoned { .. }), "{err:?}");
    assert!(err.to_string().contains("fdatasync"), "{err}");
    faults.fail_sync_after(-1);
    // Even with the disk healthy again, the store refuses until restarted.
    let err = store.append("s-1", ExpectedVersion::Any, one(6)).await.unwrap_err();
    assert!(matches!(err, StoreError::Poisoned { .. }), "{err:?}");
    assert_eq!(store.next_position(), 5, "nothing unsynced was acknowledged or published");
    assert_eq!(all(&store).await.len(), 5, "reads still work");
    drop(store);
    let store = open(dir.path());
    // The unsynced commit may or may not have reached the disk; the five
    // acknowledged events are there either way.
    let events = all(&store).await;
    assert!(events.len() == 5 || events.len() == 6, "{}", events.len());
    assert!(events.iter().take(5).enumerate().all(|(i, e)| e.data == format!("{{\"n\":{i}}}")));
    store.append("s-1", ExpectedVersion::Any, one(7)).await.unwrap();
    store.close().unwrap();
    drop(store);
    verify_clean(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_fails_the_append_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (store, faults) = faulty(dir.path());
    for n in 0..5 {
        store.append("s-1", ExpectedVersion::Any, one(n)).await.unwrap();
    }
    let big: Vec<NewEvent> = (0..20).map(|n| NewEvent::new("Big", json!("x".repeat(500 + n)))).collect();
    faults.set_space_left(1000);
    let err = store.append("s-1", ExpectedVersion::Any, big.clone()).await.unwrap_err();
    assert!(matches!(err, StoreError::StorageFull), "{err:?}");
    let err = store.append("s-2", ExpectedVersion::Any, one(0)).await.unwrap_err();
    assert!(matches!(err, StoreError::StorageFull), "still full: {err:?}");
    assert_eq!(store.next_position(), 5);
    let status = store.status();
    assert!(status.refusing_writes.is_none(), "a full disk never poisons");
    assert!(status.degraded.is_some_and(|d| d.contains("disk is full")), "a full disk is reported");
    faults.set_space_left(-1);
    assert_eq!(store.status().degraded, None, "space returned: healthy again without an append");
    let r = store.append("s-1", ExpectedVersion::Exact(4), big).await.unwrap();
    assert_eq!((r.first_position, r.next_expected_version), (5, 24), "versions and positions continue without a gap");
    assert_eq!(all(&store).await.len(), 25);
    store.close().unwrap();
    drop(store);
    verify_clean(dir.path());
    let store = open(dir.path());
    assert_eq!(all(&store).await.len(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_open_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    match EmbeddedStore::open(config(dir.path())) {
        Err(OpenError::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
        Err(e) => panic!("expected a lock error, got {e}"),
        Ok(_) => panic!("opened twice"),
    }
    let msg = EmbeddedStore::open(config(dir.path())).err().unwrap().to_string();
    assert!(msg.contains(&format!("already in use by pid {}", std::process::id())), "{msg}");
    store.close().unwrap();
    drop(store);
    open(dir.path());
}

/// Index writes failing (out of file descriptors, say: every file creation
/// fails) never poison the store: appends go on, the trouble is reported,
/// and once creations work again the index catches up by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_index_writes_never_poison() {
    let dir = tempfile::tempdir().unwrap();
    let fs = hindsight_store_embedded::fs::SimFs::new(dir.path());
    let mut c = sim_config(dir.path(), &fs);
    c.memtable_events_max = 8;
    let store = EmbeddedStore::open(c.clone()).unwrap();
    fs.faults().fail_creates_after(0);
    for n in 0..60 {
        store.append("s-1", ExpectedVersion::Any, one(n)).await.expect("appends go on");
    }
    let status = store.status();
    assert!(status.refusing_writes.is_none(), "{:?}", status.refusing_writes);
    assert!(status.degraded.is_some_and(|d| d.contains("index")), "the trouble is reported");
    fs.faults().fail_creates_after(-1);
    for _ in 0..200 {
        store.append("s-1", ExpectedVersion::Any, one(0)).await.unwrap();
        if store.status().degraded.is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(store.status().degraded, None, "the index caught up");
    assert!(store.stats().checkpoint_position > 0);
    store.close().unwrap();
    drop(store);
    let store = EmbeddedStore::open(c.clone()).unwrap();
    assert_eq!(store.stats().recovery.replayed_events, 0, "a clean close checkpointed everything");
    store.close().unwrap();
    drop(store);
    sim_verify_clean(&c);
}
