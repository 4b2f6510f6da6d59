//! Power loss: on a simulated disk that keeps only what was fdatasynced
//! (`SimFs`), nothing acknowledged is ever lost and no hole opens in the
//! positions, whatever happens between a write and its sync: a crash and
//! a restart in the same boot, a writeback error reported to one fsync of
//! two, a commit torn with a later page on disk and an earlier one not, a
//! rotation that fails half-way, a segment near the end of its offsets, or
//! a power cut at a seeded moment with seeded torn pages. Kill -9 tests
//! cannot see these: kill -9 keeps the page cache.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hindsight_store::{
    EventReader, EventStore, ExpectedVersion, NewEvent, ReadAll, ReadStream, RecordedEvent, StoreError,
};
use hindsight_store_embedded::fs::SimFs;
use hindsight_store_embedded::segment::segment_path;
use hindsight_store_embedded::{Config, EmbeddedStore, OpenError};
use serde_json::json;
use uuid::Uuid;

type Pending = tokio::task::JoinHandle<Result<hindsight_store::AppendResult, StoreError>>;

fn ev(n: u64) -> Vec<NewEvent> {
    vec![NewEvent::new("E", json!({ "n": n }))]
}

fn seg(root: &Path, n: u32) -> PathBuf {
    segment_path(&root.join("log"), n)
}

async fn all_sim(store: &EmbeddedStore) -> Vec<RecordedEvent> {
    store.read_all(&ReadAll::forward(0).limit(usize::MAX)).await.expect("read_all").events
}

/// Waits until the page cache of `path` holds `marker` (the writer has
/// written the commit; its fdatasync may not have run).
async fn wait_until_written(fs: &SimFs, path: &Path, marker: &str) {
    for _ in 0..5000 {
        if let Some(b) = fs.live_bytes(path) {
            if b.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{marker} never reached the page cache");
}

/// Stops a store the way kill -9 would: no checkpoint, nothing more written.
fn kill(store: EmbeddedStore) {
    store.close_without_checkpoint();
    drop(store);
}

fn open_sim(config: &Config) -> EmbeddedStore {
    EmbeddedStore::open(config.clone()).unwrap_or_else(|e| panic!("open failed: {e}"))
}

/// Two events with ids, carrying `marker` so a test can see them land in
/// the page cache.
fn marked_batch(ids: &[Uuid], marker: &str) -> Vec<NewEvent> {
    ids.iter().enumerate().map(|(i, id)| NewEvent::new("C", json!({ "c": i, "m": marker })).with_id(*id)).collect()
}

/// Five acknowledged appends, then an append of `marked_batch` whose
/// commit is written but whose fdatasync is held (the caller releases it).
async fn written_not_synced(fs: &SimFs, root: &Path, marker: &str) -> (Arc<EmbeddedStore>, Pending, Vec<Uuid>) {
    let store = Arc::new(open_sim(&sim_config(root, fs)));
    for n in 0..5 {
        store.append("s-1", ExpectedVersion::Any, ev(n)).await.unwrap();
    }
    let ids: Vec<Uuid> = (0..2).map(|_| Uuid::new_v4()).collect();
    fs.faults().hold_syncs(true);
    let (s2, b) = (store.clone(), marked_batch(&ids, marker));
    let pending = tokio::spawn(async move { s2.append("s-1", ExpectedVersion::Any, b).await });
    wait_until_written(fs, &seg(root, 1), marker).await;
    (store, pending, ids)
}

/// After a power cut, the store on `image` holds the five appends and
/// then the two events `ids`, gapless, and verifies clean.
async fn assert_retry_survived(root: &Path, image: &SimFs, ids: &[Uuid]) {
    let config = sim_config(root, image);
    let store = open_sim(&config);
    let events = all_sim(&store).await;
    assert_eq!(events.len(), 7, "the acknowledged retry survived the power cut");
    assert_eq!((events[5].id, events[6].id), (ids[0], ids[1]));
    assert!(events.iter().enumerate().all(|(i, e)| e.position == i as u64), "no hole");
    store.close().unwrap();
    drop(store);
    sim_verify_clean(&config);
}

/// Finding 1, kill -9 variant: a commit written but not synced when the
/// process died is read back by the next process in the same boot. It must
/// be synced before anything sees it, or a retry acknowledged from it is
/// lost when power fails before writeback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_read_back_after_a_crash_is_synced_before_a_retry_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fs = SimFs::new(root);
    let (store, pending, ids) = written_not_synced(&fs, root, "unsynced-C").await;
    let same_boot = fs.process_crash();
    fs.faults().hold_syncs(false);
    let _ = pending.await;
    kill(Arc::try_unwrap(store).ok().expect("one handle"));

    let store = open_sim(&sim_config(root, &same_boot));
    let retried = store.append("s-1", ExpectedVersion::Any, marked_batch(&ids, "unsynced-C")).await;
    assert_eq!(retried.map(|r| (r.first_position, r.last_position)).unwrap(), (5, 6));
    let after_power = same_boot.power_cut(None);
    kill(store);
    assert_retry_survived(root, &after_power, &ids).await;
}

/// Finding 1, EIO variant: an fdatasync fails and the kernel drops the
/// pages but keeps them in the page cache as clean. A restart in the same
/// boot must not read them back as stored (a sync then cannot bring them
/// back): the store cuts the log back before it poisons itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_lost_to_a_failed_fdatasync_are_never_served_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fs = SimFs::new(root);
    let (store, pending, ids) = written_not_synced(&fs, root, "lost-C").await;
    fs.writeback_error(&seg(root, 1)).unwrap();
    fs.faults().hold_syncs(false);
    let err = pending.await.unwrap().unwrap_err();
    assert!(matches!(err, StoreError::Poisoned { .. }), "{err:?}");
    kill(Arc::try_unwrap(store).ok().expect("one handle"));

    let store = open_sim(&sim_config(root, &fs));
    assert_eq!(store.next_position(), 5, "the lost commit is not read back from the page cache");
    let retried = store.append("s-1", ExpectedVersion::Any, marked_batch(&ids, "lost-C")).await.unwrap();
    assert_eq!(retried.first_position, 5);
    let after_power = fs.power_cut(None);
    kill(store);
    assert_retry_survived(root, &after_power, &ids).await;
}

/// Finding 1, the checkpoint: an intact checkpoint that the log does not
/// bear out (its last commit is gone, zeros in its place keep the file's
/// size) means acknowledged data is missing. The start stops and says so,
/// rather than serving a hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_ahead_of_the_log_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fs = SimFs::new(root);
    let config = sim_config(root, &fs);
    let store = open_sim(&config);
    for n in 0..5 {
        store.append("s-1", ExpectedVersion::Any, ev(n)).await.unwrap();
    }
    let end_before = store.stats().log_bytes;
    store.append("s-1", ExpectedVersion::Any, ev(5)).await.unwrap();
    let end_after = store.stats().log_bytes;
    store.close().unwrap();
    drop(store);
    let mut bytes = fs.live_bytes(&seg(root, 1)).unwrap();
    bytes[end_before as usize..end_after as usize].fill(0);
    fs.set_bytes(&seg(root, 1), &bytes).unwrap();
    match EmbeddedStore::open(config.clone()) {
        Err(OpenError::Corrupt { detail, .. }) => {
            assert!(detail.contains("index checkpoint") && detail.contains("hindsight repair"), "{detail}")
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened over a hole"),
    }
}

/// Finding 2: a rotation's fdatasync and the syncer's race on one file;
/// Linux reports a writeback error to only one of them. Whichever sees it,
/// nothing synced by neither is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writeback_error_collected_by_a_rotation_fails_the_syncers_appends() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fs = SimFs::new(root);
    let mut config = sim_config(root, &fs);
    config.segment_bytes_target = 4096;
    let store = Arc::new(open_sim(&config));
    fs.faults().set_sync_delay(Duration::from_millis(20));
    let acks: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..16u64 {
        let (store, acks, fs) = (store.clone(), acks.clone(), fs.clone());
        tasks.push(tokio::spawn(async move {
            for k in 0..40u64 {
                let data = json!({ "w": w, "k": k, "pad": "x".repeat(200) });
                match store
                    .append(&format!("w-{w}"), ExpectedVersion::Any, vec![NewEvent::new("E", data.clone())])
                    .await
                {
                    Ok(r) => {
                        let mut a = acks.lock().unwrap();
                        a.push((r.first_position, data.to_string()));
                        if a.len() == 60 {
                            fs.faults().writeback_error_on_thread("hindsight-writer");
                        }
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(store.stats().segments > 1, "rotations happened");
    let after_power = fs.power_cut(None);
    kill(Arc::try_unwrap(store).ok().expect("one handle"));
    let config = sim_config(root, &after_power);
    let store = open_sim(&config);
    let events = all_sim(&store).await;
    let acks = acks.lock().unwrap();
    for (position, data) in acks.iter() {
        let got = events.get(*position as usize).map(|e| e.data.as_str());
        assert_eq!(got, Some(data.as_str()), "acknowledged event at position {position} lost");
    }
    store.close().unwrap();
    drop(store);
    sim_verify_clean(&config);
}

/// A store with twelve acknowledged commits, then a multi-page commit
/// written but not synced; returns the disk, the store, where that commit
/// starts and ends, and the events before it.
async fn unsynced_big_commit(root: &Path) -> (SimFs, Arc<EmbeddedStore>, Pending, u64, u64, Vec<RecordedEvent>) {
    let fs = SimFs::new(root);
    let mut config = sim_config(root, &fs);
    config.preallocate_bytes = 0;
    let store = Arc::new(open_sim(&config));
    fill(&store, 12).await;
    let before = all_sim(&store).await;
    let start = store.stats().log_bytes;
    fs.faults().hold_syncs(true);
    let batch: Vec<NewEvent> =
        (0..3).map(|i| NewEvent::new("Big", json!({ "i": i, "m": "big-commit", "pad": "b".repeat(5000) }))).collect();
    let s2 = store.clone();
    let pending = tokio::spawn(async move { s2.append("big-1", ExpectedVersion::Any, batch).await });
    wait_until_written(&fs, &seg(root, 1), "big-commit").await;
    let end = fs.live_bytes(&seg(root, 1)).unwrap().len() as u64;
    (fs, store, pending, start, end, before)
}

/// Finding 3: power fails during the fdatasync of an unacknowledged
/// multi-page commit and the device keeps a later page but not the first.
/// The start recognises an unfinished write (no intact commit records those
/// bytes as durable) and drops it by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_with_a_later_page_on_disk_opens_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (fs, store, pending, start, end, before) = unsynced_big_commit(root).await;
    assert!(end - start > 3 * 4096, "the commit spans pages");
    let image = fs.power_cut(None);
    let mut bytes = fs.live_bytes(&seg(root, 1)).unwrap();
    let first_page_end = (start / 4096 + 1) * 4096;
    bytes[start as usize..first_page_end as usize].fill(0);
    image.set_bytes(&seg(root, 1), &bytes).unwrap();
    fs.faults().hold_syncs(false);
    let _ = pending.await;
    kill(Arc::try_unwrap(store).ok().expect("one handle"));

    let config = sim_config(root, &image);
    let store = open_sim(&config);
    assert_eq!(all_sim(&store).await, before, "everything acknowledged is kept, the unfinished commit dropped");
    assert_eq!(store.stats().recovery.truncated_bytes, end - start);
    store.append("after-1", ExpectedVersion::NoStream, ev(1)).await.unwrap();
    store.close().unwrap();
    drop(store);
    sim_verify_clean(&config);
}

/// The other side of finding 3: damage inside a commit that a later intact
/// commit records as durable was acknowledged. The start refuses, naming
/// the way out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_before_a_recorded_durable_end_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fs = SimFs::new(root);
    let mut config = sim_config(root, &fs);
    config.preallocate_bytes = 0;
    let store = open_sim(&config);
    fill(&store, 12).await;
    let start = store.stats().log_bytes;
    let batch: Vec<NewEvent> =
        (0..3).map(|i| NewEvent::new("Big", json!({ "i": i, "pad": "b".repeat(5000) }))).collect();
    store.append("big-1", ExpectedVersion::Any, batch).await.unwrap();
    store.append("after-1", ExpectedVersion::Any, ev(1)).await.unwrap();
    kill(store);
    let mut bytes = fs.live_bytes(&seg(root, 1)).unwrap();
    bytes[start as usize + 100..start as usize + 200].fill(0);
    fs.set_bytes(&seg(root, 1), &bytes).unwrap();
    match EmbeddedStore::open(config) {
        Err(OpenError::Corrupt { detail, offset, .. }) => {
            assert!(detail.contains("durable") && detail.contains("hindsight repair"), "{detail}");
            assert!(offset >= start && offset <= start + 200, "located at {offset}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened over damaged acknowledged data"),
    }
}

/// Finding 4: a rotation whose directory fsync fails after the rename, and
/// whose clean-up fails too, leaves a segment with a header that no longer
/// continues the log once the old segment grows on. The start deletes it
/// (a header and nothing else) instead of refusing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_segment_from_a_failed_rotation_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fs = SimFs::new(root);
    let mut config = sim_config(root, &fs);
    config.segment_bytes_target = 4096;
    let store = open_sim(&config);
    fs.faults().fail_dir_syncs(1);
    fs.faults().fail_removes(1);
    fs.faults().fail_creates_after(1);
    let mut acked = Vec::new();
    for n in 0..120 {
        let r = store.append("s-1", ExpectedVersion::Any, ev(n)).await.unwrap();
        acked.push(r.first_position);
    }
    assert_eq!(store.stats().segments, 1, "rotation failed and the first segment grew on");
    assert!(fs.paths().contains(&seg(root, 2)), "the half-made segment was left behind");
    let image = fs.power_cut(None);
    kill(store);
    let config = sim_config(root, &image);
    let store = open_sim(&config);
    assert_eq!(store.stats().recovery.removed_orphan_segments, 1);
    let events = all_sim(&store).await;
    assert_eq!(events.len(), 120, "every acknowledged append is there");
    store.append("s-1", ExpectedVersion::Exact(119), ev(120)).await.unwrap();
    store.close().unwrap();
    drop(store);
    sim_verify_clean(&config);
}

/// Finding 5: while rotation fails a segment grows past its target, but
/// never past the offsets a location can hold: the append that would cross
/// is refused (nothing written, the store not poisoned), and appends go on
/// once a new segment can be started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_never_grows_past_its_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fs = SimFs::new(root);
    let mut config = sim_config(root, &fs);
    config.segment_bytes_target = 4096;
    config.segment_offset_max = 64 << 10;
    let store = open_sim(&config);
    fs.faults().fail_creates_after(0);
    let mut acked = 0u64;
    let refused = loop {
        let data = json!({ "n": acked, "pad": "p".repeat(1000) });
        match store.append("s-1", ExpectedVersion::Any, vec![NewEvent::new("E", data)]).await {
            Ok(r) => {
                assert_eq!(r.first_position, acked);
                acked += 1;
            }
            Err(e) => break e,
        }
        assert!(acked < 1000, "never refused");
    };
    assert!(refused.to_string().contains("cannot take"), "{refused}");
    assert!(store.stats().log_bytes <= 64 << 10);
    assert_eq!(store.next_position(), acked, "the refused append wrote nothing");
    fs.faults().fail_creates_after(-1);
    let r = store.append("s-1", ExpectedVersion::Exact(acked - 1), ev(acked)).await.unwrap();
    assert_eq!(r.first_position, acked);
    assert!(store.stats().segments >= 2);
    store.close().unwrap();
    drop(store);
    let store = open_sim(&config);
    assert_eq!(all_sim(&store).await.len() as u64, acked + 1);
    store.close().unwrap();
    drop(store);
    sim_verify_clean(&config);
}

/// Finding 5, the other half: tags count towards an append's size (they
/// used to be free, so one accepted append could write far more than the
/// limit), and a commit takes exactly the bytes the writer's batch
/// estimate says (the check against the segment's offsets relies on it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_count_and_a_commit_takes_the_bytes_estimated() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fs = SimFs::new(root);
    let mut config = sim_config(root, &fs);
    config.limits.append_size_bytes_max = 64 << 10;
    config.limits.event_size_bytes_max = 64 << 10;
    let store = open_sim(&config);
    let tags: Vec<String> = (0..64).map(|i| format!("{i:03}{}", "t".repeat(252))).collect();
    let tagged = |n: usize| -> Vec<NewEvent> {
        (0..n).map(|i| NewEvent::new("Tagged", json!({ "i": i })).with_tags(tags.clone())).collect()
    };
    // Five events carry 5 x 64 x 255 B = 81,600 B of tags: over 64 KiB.
    let err = store.append("t-1", ExpectedVersion::Any, tagged(5)).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(hindsight_store::InvalidInput::AppendTooLarge { .. })), "{err:?}");
    assert_eq!(store.next_position(), 0, "nothing written");
    let before = store.stats().bytes_written;
    store.append("t-1", ExpectedVersion::Any, tagged(3)).await.unwrap();
    let estimate: usize = (0..3)
        .map(|i| {
            hindsight_store_embedded::segment::record::event_frame_bytes(
                "t-1",
                "Tagged",
                &tags,
                "{}",
                &json!({ "i": i }).to_string(),
            )
        })
        .sum::<usize>()
        + hindsight_store_embedded::segment::record::COMMIT_FRAME_BYTES;
    assert_eq!(store.stats().bytes_written - before, estimate as u64, "the estimate is exact");
    let read = store
        .read_stream(&ReadStream {
            from: None,
            direction: hindsight_store::Direction::Forward,
            limit: 10,
            ..ReadStream::forward("t-1")
        })
        .await
        .unwrap();
    assert!(read.len() == 3 && read.iter().all(|e| e.tags == tags));
}

/// Finding 8: the data directory and its `log/` and `index/` are created
/// durably (each parent fsynced), so a power cut right after the first
/// acknowledged append keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_store_survives_a_power_cut_after_its_first_append() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("store")).unwrap(); // for the lock file only
    let fs = SimFs::new(root);
    let config = sim_config(&root.join("store"), &fs);
    let store = open_sim(&config);
    store.append("s-1", ExpectedVersion::NoStream, ev(0)).await.unwrap();
    let image = fs.power_cut(None);
    kill(store);
    let config = sim_config(&root.join("store"), &image);
    let store = open_sim(&config);
    assert_eq!(all_sim(&store).await.len(), 1);
}

/// Power cut at a seeded moment of a concurrent load that crosses
/// rotations and index flushes, with unsynced pages kept, torn or dropped
/// per the seed: the store always opens by itself, every append
/// acknowledged before the cut is at its position, positions and versions
/// are gapless, and verify is clean. `HINDSIGHT_POWER_CUT_SEEDS` sets the
/// number of seeds (default 24); a failure names its seed, and
/// `HINDSIGHT_POWER_CUT_SEED` replays one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_power_cuts_lose_nothing_acknowledged() {
    let seeds: Vec<u64> = match std::env::var("HINDSIGHT_POWER_CUT_SEED") {
        Ok(s) => vec![s.parse().expect("a seed")],
        Err(_) => {
            let n = std::env::var("HINDSIGHT_POWER_CUT_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
            (1..=n).collect()
        }
    };
    for seed in seeds {
        power_cut_once(seed).await;
    }
}

/// Acknowledged appends: first position, and each event's data.
type Acks = Vec<(u64, Vec<String>)>;

async fn power_cut_once(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fs = SimFs::new(root);
    let mut config = sim_config(root, &fs);
    config.segment_bytes_target = 8192;
    config.memtable_events_max = 48;
    config.preallocate_bytes = if seed.is_multiple_of(2) { 16 << 10 } else { 0 };
    let store = Arc::new(open_sim(&config));
    fs.faults().set_sync_delay(Duration::from_micros(300));
    let cut_after = 20 + seed * 7 % 60;
    let acks: Arc<Mutex<Acks>> = Arc::default();
    let (cut_tx, cut_rx) = tokio::sync::oneshot::channel::<SimFs>();
    let cut_tx = Arc::new(Mutex::new(Some(cut_tx)));
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let (store, acks, fs, cut_tx) = (store.clone(), acks.clone(), fs.clone(), cut_tx.clone());
        tasks.push(tokio::spawn(async move {
            for k in 0..200u64 {
                let n_events = 1 + (w + k + seed) % 4;
                let events: Vec<String> = (0..n_events)
                    .map(|i| {
                        json!({ "w": w, "k": k, "i": i, "pad": "z".repeat(((seed + k * 31 + i * 7) % 900) as usize) })
                            .to_string()
                    })
                    .collect();
                let batch = events
                    .iter()
                    .map(|d| NewEvent::new("E", serde_json::from_str::<serde_json::Value>(d).unwrap()))
                    .collect();
                let Ok(r) = store.append(&format!("w-{w}"), ExpectedVersion::Any, batch).await else { return };
                let mut a = acks.lock().unwrap();
                a.push((r.first_position, events));
                if a.len() as u64 == cut_after {
                    // Everything acknowledged so far was synced before this.
                    if let Some(tx) = cut_tx.lock().unwrap().take() {
                        let _ = tx.send(fs.power_cut(Some(seed)));
                    }
                    return;
                }
            }
        }));
    }
    let image = cut_rx.await.unwrap_or_else(|_| panic!("seed {seed}: never cut"));
    let acked: Vec<(u64, Vec<String>)> = acks.lock().unwrap().iter().take(cut_after as usize).cloned().collect();
    for t in tasks {
        let _ = t.await;
    }
    kill(Arc::try_unwrap(store).ok().expect("one handle"));

    let config = Config { fs: Arc::new(image.clone()), ..config };
    let store = EmbeddedStore::open(config.clone()).unwrap_or_else(|e| panic!("seed {seed}: open failed: {e}"));
    let events = all_sim(&store).await;
    for (first, datas) in &acked {
        for (i, data) in datas.iter().enumerate() {
            let got = events.get(*first as usize + i).map(|e| e.data.as_str());
            assert_eq!(got, Some(data.as_str()), "seed {seed}: acknowledged event at {} lost", first + i as u64);
        }
    }
    let mut versions: HashMap<String, u64> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.position, i as u64, "seed {seed}: positions gapless");
        let want = versions.get(&e.stream).map_or(0, |v| v + 1);
        assert_eq!(e.version, want, "seed {seed}: versions gapless in {}", e.stream);
        versions.insert(e.stream.clone(), e.version);
    }
    store.append("after-1", ExpectedVersion::NoStream, ev(0)).await.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    store.close().unwrap();
    drop(store);
    let report = hindsight_store_embedded::verify::verify(&config, |_, _| {}).expect("verify runs");
    assert!(report.is_clean(), "seed {seed}: verify found {:?}", report.problem);
}
