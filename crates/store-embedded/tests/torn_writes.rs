//! Torn writes: power lost while a commit was being written can leave any
//! prefix of its bytes, or zeros, or junk, after the last complete commit.
//! For every prefix of a real commit and for zeros and junk of many
//! lengths, opening the store succeeds, drops only the unfinished commit,
//! keeps everything before it, accepts new appends, and `verify` is clean
//! afterwards. Both with and without an index checkpoint at the tail.

mod common;

use std::path::Path;

use common::*;
use hindsight_store::{EventReader, EventStore, ExpectedVersion, NewEvent};
use hindsight_store_embedded::EmbeddedStore;
use serde_json::json;

struct Base {
    dir: tempfile::TempDir,
    segment: std::path::PathBuf,
    len_before: u64,
    commit: Vec<u8>,
    events_before: Vec<String>,
}

/// A store with some commits, and the bytes of one more real commit (a
/// batch of three events) cut off its end.
async fn base(checkpointed: bool) -> Base {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.segment_bytes_target = 1 << 20;
    // These tests cut bytes off the file's end, so no zeros may follow it.
    c.preallocate_bytes = 0;
    let store = EmbeddedStore::open(c.clone()).unwrap();
    fill(&store, 12).await;
    let events_before: Vec<String> = all(&store).await.iter().map(|e| format!("{e:?}")).collect();
    let segment = segments(dir.path()).pop().unwrap();
    let len_before = std::fs::metadata(&segment).unwrap().len();
    let batch = (0..3).map(|i| NewEvent::new("Torn", json!({ "i": i, "text": "the commit that tears" }))).collect();
    store.append("torn-1", ExpectedVersion::Any, batch).await.unwrap();
    let bytes = std::fs::read(&segment).unwrap();
    let commit = bytes[len_before as usize..].to_vec();
    if checkpointed {
        store.close().unwrap();
    } else {
        store.close_without_checkpoint();
    }
    drop(store);
    // The checkpoint (if any) now covers the torn commit; replace it with one
    // that does not, by reopening the store cut back to before the commit.
    let f = std::fs::OpenOptions::new().write(true).open(&segment).unwrap();
    f.set_len(len_before).unwrap();
    drop(f);
    let _ = std::fs::remove_dir_all(dir.path().join("index"));
    let store = EmbeddedStore::open(c).unwrap();
    if checkpointed {
        store.close().unwrap();
    } else {
        store.close_without_checkpoint();
    }
    Base { dir, segment, len_before, commit, events_before }
}

fn with_tail(base: &Base, tail: &[u8]) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(base.dir.path(), copy.path());
    let seg = copy.path().join("log").join(base.segment.file_name().unwrap());
    let mut bytes = std::fs::read(&seg).unwrap();
    assert_eq!(bytes.len() as u64, base.len_before);
    bytes.extend_from_slice(tail);
    std::fs::write(&seg, bytes).unwrap();
    copy
}

async fn check_recovers(base: &Base, tail: &[u8], what: &str) {
    let copy = with_tail(base, tail);
    check_dir(copy.path(), base, what).await;
}

async fn check_dir(dir: &Path, base: &Base, what: &str) {
    let store = EmbeddedStore::open(config(dir)).unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
    let got: Vec<String> = all(&store).await.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(got, base.events_before, "{what}: everything before the torn commit is kept, nothing else");
    let r = store.append("after-1", ExpectedVersion::NoStream, vec![NewEvent::new("After", json!(1))]).await;
    assert_eq!(r.unwrap().first_position, base.events_before.len() as u64, "{what}: appends go on");
    store.close().unwrap();
    drop(store);
    verify_clean(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_prefix_of_a_commit_is_dropped_cleanly() {
    for checkpointed in [false, true] {
        let base = base(checkpointed).await;
        for cut in 0..base.commit.len() {
            check_recovers(&base, &base.commit[..cut], &format!("prefix {cut} (checkpointed: {checkpointed})")).await;
        }
        // The whole commit is a complete commit: it is kept.
        let copy = with_tail(&base, &base.commit);
        let store = open(copy.path());
        assert_eq!(store.next_position(), base.events_before.len() as u64 + 3);
        store.close().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zeros_and_junk_of_any_length_are_dropped_cleanly() {
    let base = base(false).await;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut junk = |n: usize| {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect::<Vec<u8>>()
    };
    for n in [1usize, 2, 4, 5, 8, 9, 13, 64, 100, 511, 4096, 65_537, 1 << 20] {
        check_recovers(&base, &vec![0u8; n], &format!("{n} zeros")).await;
        check_recovers(&base, &junk(n), &format!("{n} junk bytes")).await;
    }
    // A prefix of the commit followed by zeros (the file grew, the data never landed).
    for cut in [1, 9, base.commit.len() / 2, base.commit.len() - 1] {
        let mut tail = base.commit[..cut].to_vec();
        tail.extend(vec![0u8; 4096]);
        check_recovers(&base, &tail, &format!("prefix {cut} then zeros")).await;
    }
}

/// With preallocation the log ends in zeros; a commit torn while being
/// written over them leaves a prefix followed by zeros. Zeros alone are
/// not a torn write (nothing is dropped); a prefix is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_commits_over_preallocated_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.segment_bytes_target = 1 << 20;
    c.preallocate_bytes = 64 << 10;
    let store = EmbeddedStore::open(c.clone()).unwrap();
    fill(&store, 12).await;
    let before: Vec<String> = all(&store).await.iter().map(|e| format!("{e:?}")).collect();
    let logical_end = store.stats().log_bytes;
    let batch = (0..3).map(|i| NewEvent::new("Torn", json!({ "i": i }))).collect();
    store.append("torn-1", ExpectedVersion::Any, batch).await.unwrap();
    let commit_end = store.stats().log_bytes;
    store.close_without_checkpoint();
    drop(store);
    let seg = segments(dir.path()).pop().unwrap();
    let bytes = std::fs::read(&seg).unwrap();
    assert!(
        bytes.len() as u64 > commit_end && bytes[commit_end as usize..].iter().all(|b| *b == 0),
        "zeros follow the log"
    );
    let commit = bytes[logical_end as usize..commit_end as usize].to_vec();
    // Zeros alone: a clean end.
    let store = EmbeddedStore::open(c.clone()).unwrap();
    assert_eq!(store.stats().recovery.truncated_bytes, 0);
    assert_eq!(store.next_position(), before.len() as u64 + 3);
    store.close_without_checkpoint();
    drop(store);
    verify_clean(dir.path());
    for cut in [1, 9, commit.len() / 2, commit.len() - 1] {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        let seg = copy.path().join("log").join(seg.file_name().unwrap());
        let mut b = std::fs::read(&seg).unwrap();
        b[logical_end as usize..commit_end as usize].fill(0);
        b[logical_end as usize..logical_end as usize + cut].copy_from_slice(&commit[..cut]);
        std::fs::write(&seg, b).unwrap();
        let mut cc = c.clone();
        cc.data_dir = copy.path().to_path_buf();
        let store = EmbeddedStore::open(cc).unwrap();
        assert!(store.stats().recovery.truncated_bytes > 0, "prefix {cut} dropped");
        let got: Vec<String> = all(&store).await.iter().map(|e| format!("{e:?}")).collect();
        assert_eq!(got, before, "prefix {cut}: everything before it kept");
        store.append("after-1", ExpectedVersion::Any, vec![NewEvent::new("After", json!(1))]).await.unwrap();
        store.close().unwrap();
        drop(store);
        verify_clean(copy.path());
    }
}
