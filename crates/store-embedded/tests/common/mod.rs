//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hindsight_store::{EventReader, EventStore, ExpectedVersion, NewEvent, ReadAll, RecordedEvent};
use hindsight_store_embedded::{Config, EmbeddedStore};
use serde_json::json;

pub fn config(dir: &Path) -> Config {
    let mut c = Config::new(dir);
    c.segment_bytes_target = 4096;
    c
}

pub fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open(config(dir)).expect("open")
}

/// Appends `commits` appends of 1..=3 events over a few streams.
pub async fn fill(store: &EmbeddedStore, commits: u64) {
    for i in 0..commits {
        let events =
            (0..1 + i % 3).map(|j| NewEvent::new("Filled", json!({ "i": i, "j": j, "pad": "p".repeat(20) }))).collect();
        store.append(&format!("fill-{}", i % 4), ExpectedVersion::Any, events).await.expect("append");
    }
}

pub async fn all(store: &EmbeddedStore) -> Vec<RecordedEvent> {
    store.read_all(&ReadAll::forward(0).limit(usize::MAX)).await.expect("read_all").events
}

pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn verify_clean(dir: &Path) -> hindsight_store_embedded::verify::VerifyReport {
    let report = hindsight_store_embedded::verify::verify(&Config::new(dir), |_, _| {}).expect("verify runs");
    assert!(report.is_clean(), "verify found {:?}", report.problem);
    report
}

/// A store on a simulated disk rooted at `root` (a real directory, which
/// holds only the lock file).
pub fn sim_config(root: &Path, fs: &hindsight_store_embedded::fs::SimFs) -> Config {
    let mut c = Config::new(root);
    c.fs = std::sync::Arc::new(fs.clone());
    c.segment_bytes_target = 1 << 20;
    c
}

pub fn sim_verify_clean(config: &Config) -> hindsight_store_embedded::verify::VerifyReport {
    let report = hindsight_store_embedded::verify::verify(config, |_, _| {}).expect("verify runs");
    assert!(report.is_clean(), "verify found {:?}", report.problem);
    report
}
