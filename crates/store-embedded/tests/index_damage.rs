//! Damage to derived data is found, never served: `verify` reports a
//! checkpoint it cannot read or whose tail, chain hash, heads or sparse
//! index disagree with the log, and a changed index run entry makes a read
//! fail (block checksums, and every entry checked against the event it
//! leads to) instead of answering with the wrong event.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use hindsight_store::{EventReader, EventStore, ExpectedVersion, NewEvent, ReadStream};
use hindsight_store_embedded::fs::StdFs;
use hindsight_store_embedded::index::checkpoint::Checkpoint;
use hindsight_store_embedded::verify::verify;
use hindsight_store_embedded::Config;
use serde_json::json;

async fn store_with_runs(dir: &Path) {
    let store = open(dir);
    for n in 0..10 {
        store.append("s-1", ExpectedVersion::Any, vec![NewEvent::new("E", json!({ "n": n }))]).await.unwrap();
    }
    fill(&store, 6).await;
    store.close().unwrap();
}

fn problem(dir: &Path) -> String {
    let report = verify(&Config::new(dir), |_, _| {}).expect("verify runs");
    format!("{:?}", report.problem.expect("verify reports a problem"))
}

fn edit_checkpoint(dir: &Path, edit: impl FnOnce(&mut Checkpoint)) {
    let index = dir.join("index");
    let mut c = Checkpoint::load(&StdFs, &index).unwrap().unwrap();
    edit(&mut c);
    c.store(&StdFs, &index).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_a_checkpoint_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    store_with_runs(dir.path()).await;
    verify_clean(dir.path());
    let path = dir.path().join("index/checkpoint");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let p = problem(dir.path());
    assert!(p.contains("checkpoint unreadable"), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_checks_the_checkpoints_heads_sparse_index_tail_and_chain() {
    type Edit = fn(&mut Checkpoint);
    let edits: [(&str, Edit, &str); 5] = [
        ("a head's version", |c| c.heads[0].1.last_version += 1, "records stream"),
        ("a head missing", |c| drop(c.heads.pop()), "streams"),
        ("the sparse index", |c| c.sparse[0].timestamp_us += 1, "sparse position index"),
        ("the last timestamp", |c| c.last_timestamp_us += 1, "last timestamp"),
        ("the covered position", |c| c.next_position -= 1, "not where a commit of the log ends"),
    ];
    for (what, edit, expect) in edits {
        let dir = tempfile::tempdir().unwrap();
        store_with_runs(dir.path()).await;
        edit_checkpoint(dir.path(), edit);
        let p = problem(dir.path());
        assert!(p.contains(expect), "{what}: {p}");
    }
}

fn stream_run(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("streams-"))
        .expect("a stream run")
}

/// Points the entry of `s-1` version 1 at version 0's event; with
/// `fix_checksum` the block checksum is recomputed, as a careful editor
/// (or a bug writing the run) would leave it.
fn redirect_version_1(dir: &Path, fix_checksum: bool) {
    let path = stream_run(dir);
    let mut b = std::fs::read(&path).unwrap();
    let count = u64::from_le_bytes(b[8..16].try_into().unwrap()) as usize;
    assert!(count < 170, "one block");
    let key = hindsight_store_embedded::index::stream_key("s-1");
    let entry = |b: &[u8], i: usize| {
        let at = 32 + i * 24;
        (u128::from_be_bytes(b[at..at + 16].try_into().unwrap()), at)
    };
    let v0 = (0..count).find(|&i| entry(&b, i).0 == (u128::from(key) << 64)).expect("version 0");
    let (_, at0) = entry(&b, v0);
    let (_, at1) = entry(&b, v0 + 1);
    let value0 = b[at0 + 16..at0 + 24].to_vec();
    b[at1 + 16..at1 + 24].copy_from_slice(&value0);
    if fix_checksum {
        let crc = crc32c::crc32c(&b[32..32 + count * 24]);
        b[32 + count * 24..32 + count * 24 + 4].copy_from_slice(&crc.to_le_bytes());
    }
    std::fs::write(&path, b).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_index_entry_is_an_error_not_a_wrong_answer() {
    for fix_checksum in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        store_with_runs(dir.path()).await;
        redirect_version_1(dir.path(), fix_checksum);
        let store = open(dir.path());
        assert!(!store.stats().recovery.rebuilt_index, "the runs are in use");
        let read = store.read_stream(&ReadStream::forward("s-1").limit(100)).await;
        let err = read.expect_err("a read through the damaged entry fails");
        let msg = err.to_string();
        let expect = if fix_checksum { "leads to version 0" } else { "checksum mismatch" };
        assert!(msg.contains(expect), "checksum fixed: {fix_checksum}: {msg}");
        // Reads that do not go through the runs still work.
        assert_eq!(all(&store).await.len(), 10 + 12);
        store.close().unwrap();
        drop(store);
        let p = problem(dir.path());
        assert!(p.contains("index"), "verify finds it too: {p}");
    }
}
