//! `repair` on a log of several segments: damage in the last segment is
//! cut back to the last intact commit before it (the chain hash and
//! positions carried across the sealed segments), after which the store
//! opens and verifies clean; damage in a sealed segment is refused.

mod common;

use common::*;
use hindsight_store::EventReader;
use hindsight_store_embedded::repair::repair;
use hindsight_store_embedded::Config;

async fn store_of_segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let store = open(dir);
    fill(&store, 80).await;
    store.close().unwrap();
    drop(store);
    let segs = segments(dir);
    assert!(segs.len() >= 3, "{} segments", segs.len());
    segs
}

fn flip(path: &std::path::Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x20;
    std::fs::write(path, b).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_in_the_last_segment_is_cut_back_across_sealed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let segs = store_of_segments(dir.path()).await;
    let last = segs.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len() as usize;
    flip(last, 64 + (len - 64) / 2);
    let dry = repair(&Config::new(dir.path()), false).unwrap();
    let cut = dry.cut.clone().expect("a cut in the last segment");
    assert!(cut.segment.ends_with(last.file_name().unwrap().to_str().unwrap()));
    assert!(cut.next_position > 0 && cut.dropped_bytes > 0 && !dry.applied);
    let done = repair(&Config::new(dir.path()), true).unwrap();
    assert!(done.applied);
    let store = open(dir.path());
    assert_eq!(store.next_position(), cut.next_position, "the log ends where the report said");
    store.close().unwrap();
    drop(store);
    verify_clean(dir.path());
    assert!(repair(&Config::new(dir.path()), false).unwrap().cut.is_none(), "nothing left to repair");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_in_a_sealed_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let segs = store_of_segments(dir.path()).await;
    flip(&segs[0], 200);
    let report = repair(&Config::new(dir.path()), true).unwrap();
    assert!(report.cut.is_none() && !report.applied);
    assert!(report.refused.unwrap().contains("sealed and damaged"));
}
