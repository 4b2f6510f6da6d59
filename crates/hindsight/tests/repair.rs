//! A damaged commit that was acknowledged is never served: the start
//! refuses with a way out, `hindsight repair` reports what a cut would
//! drop without changing anything, and `repair --apply` cuts the log back
//! to its last intact commit so the store opens, verifies clean and takes
//! appends again. The same way out serves a log restored from an older
//! backup beside a newer index checkpoint.

mod common;

use std::path::Path;

use common::run;
use serde_json::Value;

fn info(dir: &Path) -> Value {
    let out = run(dir, &["info", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn import(dir: &Path, lines: &[String]) {
    let out = common::import(dir, lines);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_damaged_acknowledged_commit_is_refused_then_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let small: Vec<String> = (0..20).map(|i| format!(r#"{{"stream":"a-1","type":"T","data":{i}}}"#)).collect();
    import(d, &small);
    let start = info(d)["log_bytes"].as_u64().unwrap();
    let big = format!(r#"{{"stream":"a-1","type":"Big","data":"{}"}}"#, "b".repeat(35_000));
    import(d, &[big]);
    assert_eq!(info(d)["events"], 21);
    // The first page of the acknowledged commit is lost; its later pages are intact.
    let seg = d.join("log").join("00000001.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    let page_end = (start / 4096 + 1) * 4096;
    bytes[start as usize..page_end as usize].fill(0);
    std::fs::write(&seg, &bytes).unwrap();

    let out = run(d, &["info", "--json"]);
    assert!(!out.status.success(), "the start refuses acknowledged data it cannot read");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hindsight repair"), "{err}");

    let out = run(d, &["repair", "--json"]);
    assert!(!out.status.success(), "a dry run with damage exits non-zero");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["applied"], false);
    assert_eq!(v["cut"]["offset"].as_u64(), Some(start));
    assert_eq!(v["cut"]["next_position"], 20);
    assert_eq!((v["cut"]["dropped_commits"].as_u64(), v["cut"]["dropped_events"].as_u64()), (Some(1), Some(1)));
    assert_eq!(v["checkpoint_removed"], true);
    assert_eq!(std::fs::read(&seg).unwrap(), bytes, "a dry run changes nothing");

    let out = run(d, &["repair", "--apply"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cut"));
    assert_eq!(info(d)["events"], 20);
    let verify = run(d, &["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert!(run(d, &["append", "a-1", "--type", "T", "--json", "20"]).status.success());
    assert_eq!(info(d)["events"], 21);
    let out = run(d, &["repair"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to repair"));
}

#[test]
fn a_log_restored_from_an_older_backup_beside_a_newer_index_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lines = |from: usize, n: usize| -> Vec<String> {
        (from..from + n).map(|i| format!(r#"{{"stream":"a-1","type":"T","data":{i}}}"#)).collect()
    };
    import(d, &lines(0, 20));
    let backup = tempfile::tempdir().unwrap();
    let seg = d.join("log").join("00000001.seg");
    std::fs::copy(&seg, backup.path().join("seg")).unwrap();
    import(d, &lines(20, 5));
    assert_eq!(info(d)["events"], 25);
    std::fs::copy(backup.path().join("seg"), &seg).unwrap();

    let out = run(d, &["info"]);
    assert!(!out.status.success(), "a checkpoint ahead of the log stops the start");
    assert!(String::from_utf8_lossy(&out.stderr).contains("hindsight repair"));
    let out = run(d, &["repair", "--json"]);
    assert!(!out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["cut"].is_null(), v["checkpoint_removed"].as_bool()), (true, Some(true)), "{v}");
    assert!(run(d, &["repair", "--apply"]).status.success());
    let v = info(d);
    assert_eq!(
        (v["events"].as_u64(), v["recovery"]["replayed_events"].as_u64()),
        (Some(20), Some(20)),
        "indexes rebuilt"
    );
    assert!(run(d, &["verify"]).status.success());
}
