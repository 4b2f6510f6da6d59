//! A full disk, for real (a small tmpfs): appends answer 507
//! `storage_full` and write nothing, `/ready` answers 503 while the disk is
//! full and 200 again by itself once space is freed, appends go on,
//! SIGTERM exits 0 and `verify` passes. Mounting needs root; elsewhere the
//! test prints why it did not run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run, Server};
use serde_json::Value;

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path, size: &str) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then(|| Mount(at.to_path_buf()))
}

/// Writes `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![7u8; 1 << 20];
    while f.write_all(&chunk).is_ok() {}
    let small = [7u8; 4096];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
}

async fn append(url: &str, kib: usize) -> (u16, Value) {
    let body = format!(r#"{{"events":[{{"type":"Big","data":"{}"}}]}}"#, "f".repeat(kib << 10));
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/streams/full-1"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn get(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_507_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_mount) = mount_tmpfs(dir.path(), "24m") else {
        println!("skipped: mounting a tmpfs needs root (this test fills a real file system)");
        return;
    };
    let store = dir.path().join("store");
    let server = Server::start(&store, &[]);
    let u = server.url.clone();
    assert_eq!(append(&u, 1).await.0, 200);
    // Fill the rest of the file system.
    let filler = dir.path().join("filler");
    fill(&filler);
    // The log's preallocated tail takes a few appends; then the disk is full.
    let mut refusal = None;
    for _ in 0..64 {
        match append(&u, 512).await {
            (200, _) => continue,
            other => {
                refusal = Some(other);
                break;
            }
        }
    }
    let (status, body) = refusal.expect("the disk filled up");
    assert_eq!((status, body["error"].as_str()), (507, Some("storage_full")), "{body}");
    let (_, info) = get(&format!("{u}/v1/info")).await;
    let stored = info["events"].as_u64().unwrap();
    let (status, body) = get(&format!("{u}/ready")).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("degraded")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("disk is full"));
    assert_eq!(get(&format!("{u}/health")).await.0, 200, "a full disk is not fatal");
    assert_eq!(append(&u, 512).await.0, 507, "still full");
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(get(&format!("{u}/ready")).await.0, 200, "ready again by itself once space is freed");
    assert_eq!(append(&u, 512).await.0, 200, "appends go on");
    let (_, info) = get(&format!("{u}/v1/info")).await;
    assert_eq!(info["events"].as_u64(), Some(stored + 1), "nothing refused was written");
    // Full again at shutdown: the checkpoint cannot be written, yet nothing
    // acknowledged is at risk, so SIGTERM still exits 0.
    fill(&filler);
    assert!(server.terminate(), "SIGTERM on a full disk exits 0");
    std::fs::remove_file(&filler).unwrap();
    let verify = run(&store, &["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}
