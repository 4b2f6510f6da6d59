//! Following other servers' commits: a connection that LISTENs on the
//! head channel (each append transaction NOTIFYs it on commit), and a poll
//! as the fallback for a lost notification or connection. Either way the
//! head read is `max(position) + 1` of what is committed, which (see
//! `writer`) is always a gapless prefix.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hindsight_store::StoreError;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::error::pg;
use crate::shared::Shared;
use crate::writer::HEAD_CHANNEL;

/// How often the streams are counted (for `/v1/info`).
const COUNT_EVERY: Duration = Duration::from_secs(5);

/// Growth of the events table (in events) that makes its statistics stale.
const ANALYZE_AFTER_MIN: u64 = 20_000;
const ANALYZE_AFTER_MAX: u64 = 1_000_000;

/// Reads the committed head and its newest timestamp.
pub async fn read(client: &Client) -> Result<(u64, u64), StoreError> {
    let row = client
        .query_one(
            "SELECT coalesce(max(position) + 1, 0), coalesce(max(timestamp_us), 0)
             FROM (SELECT position, timestamp_us FROM hs_events ORDER BY position DESC LIMIT 1) last",
            &[],
        )
        .await
        .map_err(pg)?;
    Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
}

/// Refreshes the events table's statistics once it has doubled since the
/// last time (or grown by a million events). Autovacuum does it too, but
/// up to a minute late: a table filled in seconds would meanwhile be
/// planned as if small, and a page of `$all` read by a bitmap scan and a
/// sort instead of the primary key's order (80x slower, measured).
fn refresh_statistics(shared: &Arc<Shared>, head: u64) {
    let last = shared.analyzed_at.load(Ordering::Relaxed);
    if head.saturating_sub(last) < last.clamp(ANALYZE_AFTER_MIN, ANALYZE_AFTER_MAX) {
        return;
    }
    shared.analyzed_at.store(head, Ordering::Relaxed);
    let shared = shared.clone();
    tokio::spawn(async move {
        let done = match shared.connect().await {
            Ok(client) => client.batch_execute("ANALYZE hs_events").await.map_err(pg),
            Err(e) => Err(e),
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "refreshing the events table's statistics");
        }
    });
}

pub async fn count_streams(client: &Client) -> Result<u64, StoreError> {
    let row = client.query_one("SELECT count(*) FROM hs_streams", &[]).await.map_err(pg)?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Runs until the store is dropped (only this task still holds `shared`).
pub async fn follow(shared: Arc<Shared>, poll: Duration) {
    loop {
        if Arc::strong_count(&shared) == 1 {
            return;
        }
        match listen(&shared, poll).await {
            Ok(()) => return,
            Err(e) => {
                shared.reached(Err(&e));
                tracing::warn!(error = %e, "following the head: reconnecting");
                tokio::time::sleep(poll).await;
            }
        }
    }
}

async fn listen(shared: &Arc<Shared>, poll: Duration) -> Result<(), StoreError> {
    let (client, mut connection) = shared.config.connect(NoTls).await.map_err(pg)?;
    let (wake, mut woken) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(_)) => {
                    let _ = wake.send(());
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    client.batch_execute(&format!("LISTEN {HEAD_CHANNEL}")).await.map_err(pg)?;
    let mut counted: Option<std::time::Instant> = None;
    loop {
        if Arc::strong_count(shared) == 1 {
            return Ok(());
        }
        let (head, timestamp_us) = read(&client).await?;
        shared.reached(Ok(()));
        shared.advance(head, timestamp_us, 0);
        refresh_statistics(shared, head);
        if counted.is_none_or(|c| c.elapsed() >= COUNT_EVERY) {
            shared.streams.store(count_streams(&client).await?, Ordering::Relaxed);
            counted = Some(std::time::Instant::now());
        }
        tokio::select! {
            _ = woken.recv() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}
