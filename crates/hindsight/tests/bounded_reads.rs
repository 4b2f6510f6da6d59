//! Bounded work per request: on a 1M-event store, a `$all` read whose
//! filter matches nothing answers page after page (each looks at a
//! bounded number of events and says where to go on) until the end of the
//! log, and `/health` stays responsive meanwhile (reads run off the async
//! workers). A filter the posting lists serve (a type) answers at once.

mod common;

use std::time::{Duration, Instant};

use common::{run, Server};
use serde_json::Value;

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_matching_nothing_pages_to_the_end_in_bounded_steps() {
    let dir = tempfile::tempdir().unwrap();
    let fill = run(dir.path(), &["bench", "read-all", "--events", "1000000", "--json"]);
    assert!(fill.status.success(), "{}", String::from_utf8_lossy(&fill.stderr));
    let server = Server::start(dir.path(), &[]);
    let url = server.url.clone();
    let health = tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        for _ in 0..40 {
            let started = Instant::now();
            let r = reqwest::get(format!("{url}/health")).await.unwrap();
            assert_eq!(r.status(), 200);
            worst = worst.max(started.elapsed());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        worst
    });
    let client = reqwest::Client::new();
    let (mut from, mut pages, mut slowest) = (0u64, 0u32, Duration::ZERO);
    loop {
        let started = Instant::now();
        let v = get_json(&client, &format!("{}/v1/all?prefix=nosuch&limit=100&from={from}", server.url)).await;
        slowest = slowest.max(started.elapsed());
        pages += 1;
        assert_eq!(v["events"].as_array().unwrap().len(), 0);
        let next = v["next_position"].as_u64().unwrap();
        if v["end_of_log"] == true {
            assert_eq!(next, 1_000_000);
            break;
        }
        assert!(next > from, "each page moves on");
        from = next;
        assert!(pages < 1000, "paging ends");
    }
    let worst_health = health.await.unwrap();
    println!(
        "{}",
        serde_json::json!({ "pages": pages, "slowest_page_ms": slowest.as_millis() as u64, "worst_health_ms": worst_health.as_millis() as u64 })
    );
    assert!(pages >= 20, "{pages} pages: each read looked at a bounded stretch of the log");
    let v = get_json(&client, &format!("{}/v1/all?types=NoSuchType&limit=100", server.url)).await;
    assert_eq!((v["events"].as_array().unwrap().len(), v["end_of_log"].as_bool()), (0, Some(true)), "{v}");
}
