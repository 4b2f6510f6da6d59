//! Bit flips: changing any single byte anywhere in `log/` (segment
//! headers, frame lengths and kinds, payloads, checksums, chain hashes)
//! makes `verify` fail and name the segment and an offset at or before the
//! changed byte. A clean store verifies clean. Damage before the tail also
//! stops the store from opening, with the same kind of report.

mod common;

use common::*;
use hindsight_store_embedded::verify::verify;
use hindsight_store_embedded::{Config, EmbeddedStore, OpenError};

async fn damaged_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    fill(&store, 120).await;
    store.close().unwrap();
    dir
}

fn flip(path: &std::path::Path, offset: usize, mask: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= mask;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flipped_byte_is_found_and_located() {
    let dir = damaged_store().await;
    let report = verify_clean(dir.path());
    assert!(report.segments >= 3, "the test needs several segments, got {}", report.segments);
    let segs = segments(dir.path());
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut checked = 0;
    for seg in &segs {
        let len = std::fs::metadata(seg).unwrap().len() as usize;
        // Every byte of the first 400 (header and the first frames), then a
        // random sample of the rest, and the last 80 (the final commit record).
        let mut offsets: Vec<usize> = (0..len.min(400)).collect();
        offsets.extend((0..60).map(|_| next() as usize % len));
        offsets.extend(len.saturating_sub(80)..len);
        for offset in offsets {
            let mask = (next() % 255 + 1) as u8;
            flip(seg, offset, mask);
            let report = verify(&Config::new(dir.path()), |_, _| {}).unwrap();
            let problem =
                report.problem.unwrap_or_else(|| panic!("flip at {} byte {offset} went unnoticed", seg.display()));
            assert_eq!(problem.segment, seg.display().to_string(), "flip at byte {offset}: wrong segment named");
            assert!(problem.offset <= offset as u64, "flip at {offset} located at {} (after it)", problem.offset);
            flip(seg, offset, mask);
            checked += 1;
        }
    }
    assert!(checked > 1000);
    verify_clean(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_in_the_replayed_log_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    fill(&store, 40).await;
    // No checkpoint: the whole log is replayed on open.
    store.close_without_checkpoint();
    drop(store);
    let _ = std::fs::remove_dir_all(dir.path().join("index"));
    let seg = segments(dir.path()).pop().unwrap();
    // A byte inside the first commit of the last segment (not its end).
    flip(&seg, 64 + 20, 0x10);
    match EmbeddedStore::open(config(dir.path())) {
        Err(OpenError::Corrupt { segment, offset, .. }) => {
            assert_eq!(segment, seg.display().to_string());
            assert!(offset <= 84);
        }
        Err(e) => panic!("expected a corruption report, got {e}"),
        Ok(_) => panic!("a damaged log opened"),
    }
    flip(&seg, 64 + 20, 0x10);
    let store = open(dir.path());
    assert!(!all(&store).await.is_empty());
}
