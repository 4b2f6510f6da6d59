//! A rebuild's emitted output: held (not published) while another version
//! is live, let go once the live version has passed its input events,
//! kept across a restart of the rebuild, and published exactly once when
//! the rebuild takes over.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hindsight_projections::registry::Tuning;
use hindsight_projections::worker::{self, Command, Handle, Info, Spec};
use hindsight_projections::FailurePolicy;
use hindsight_store::{EventReader, EventStore, ExpectedVersion, MemoryStore, NewEvent, ReadAll};
use serde_json::json;

const EMITTING: &str = r#"
fromCategory('order')
  .foreachStream()
  .when({
    $init: () => ({ n: 0 }),
    Placed: (s, e) => { s.n += 1; emit('echo-' + e.stream, 'Echoed', { position: e.position }); },
  })
"#;

fn spec(dir: &std::path::Path, store: &Arc<MemoryStore>, live: &Arc<Mutex<Info>>) -> Spec {
    Spec {
        name: "echo".into(),
        active: false,
        store: Some(store.clone()),
        tuning: Tuning::default(),
        shards: 1,
        source: EMITTING.into(),
        policy: FailurePolicy::Park,
        slot: Box::new(hindsight_projections::checkpoint::DirSlot(dir.to_path_buf())),
        limits: Default::default(),
        paused: false,
        live: Some(live.clone()),
    }
}

fn start(dir: &std::path::Path, store: &Arc<MemoryStore>, live: &Arc<Mutex<Info>>) -> Handle {
    let reader: Arc<dyn EventReader> = store.clone();
    worker::start("echo", spec(dir, store, live), reader, tokio::runtime::Handle::current()).unwrap()
}

/// Waits until the worker has checkpointed through `position`.
async fn checkpointed(h: &Handle, position: u64) -> Info {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = worker::lock(&h.info).clone();
        if info.checkpointed == Some(position) {
            return info;
        }
        assert!(Instant::now() < deadline, "never checkpointed through {position}: {info:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn stop(mut h: Handle) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    h.commands.send(Command::Stop { reply: tx }).unwrap();
    rx.await.unwrap();
    let t = h.thread.take().unwrap();
    tokio::task::spawn_blocking(move || t.join().unwrap()).await.unwrap();
}

async fn echoed(store: &MemoryStore) -> Vec<u64> {
    let all = store.read_all(&ReadAll::forward(0).limit(usize::MAX)).await.unwrap().events;
    let mut got: Vec<u64> = all
        .iter()
        .filter(|e| e.event_type == "Echoed")
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.data).unwrap()["position"].as_u64().unwrap())
        .collect();
    got.sort_unstable();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_holds_its_output_across_a_restart_and_publishes_it_once_on_taking_over() {
    let store = Arc::new(MemoryStore::new(Default::default()));
    for i in 0..20 {
        let e = NewEvent::new("Placed", json!({ "i": i }));
        store.append(&format!("order-{}", i % 3), ExpectedVersion::Any, vec![e]).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    // The live version has published its output through position 9.
    let live = Arc::new(Mutex::new(Info::new(false)));
    live.lock().unwrap().position = Some(9);
    let rebuild = start(dir.path(), &store, &live);
    let info = checkpointed(&rebuild, 19).await;
    assert_eq!(info.held_output, 10, "output for positions 0..=9 is let go, 10..=19 held");
    stop(rebuild).await;
    assert_eq!(echoed(&store).await, Vec::<u64>::new(), "a rebuild publishes nothing");

    // Restarted, it holds the same output without folding anything again.
    live.lock().unwrap().position = Some(12);
    let rebuild = start(dir.path(), &store, &live);
    assert_eq!(worker::lock(&rebuild.info).events_done, 0, "nothing is folded again");
    let (tx, rx) = tokio::sync::oneshot::channel();
    rebuild.commands.send(Command::Activate { after: Some(12), reply: tx }).unwrap();
    rx.await.unwrap();
    assert_eq!(echoed(&store).await, (13..20).collect::<Vec<u64>>(), "published once, after the live version's last");
    stop(rebuild).await;
}
