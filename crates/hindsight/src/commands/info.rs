//! `info`: what the store holds and what opening it had to do.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;

use super::open_existing;

/// What a running server says of its store (`GET /v1/info`), as JSON.
pub async fn over_http(url: &str) -> anyhow::Result<ExitCode> {
    let info = hindsight_client::Client::new(url).info().await?;
    println!("{info}");
    Ok(ExitCode::SUCCESS)
}

/// What a PostgreSQL store holds, as its status reports it.
pub async fn postgres(url: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    use hindsight_store::EventStore;
    let store = super::target::connect(url, Default::default()).await?;
    let s = store.status();
    store.shutdown()?;
    let (events, streams) = (s.events, s.streams);
    if as_json {
        println!(
            "{}",
            json!({ "store": "postgres", "events": events, "streams": streams, "last_position": events.checked_sub(1) })
        );
    } else {
        println!("store:            postgres ({})", super::target::redact(url));
        println!("events:           {events}");
        println!("streams:          {streams}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(dir: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let store = open_existing(dir)?;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let s = store.stats();
    store.close()?;
    if as_json {
        println!(
            "{}",
            json!({
                "store": "embedded",
                "data_dir": dir.display().to_string(),
                "events": s.events,
                "streams": s.streams,
                "last_position": s.events.checked_sub(1),
                "segments": s.segments,
                "log_bytes": s.log_bytes,
                "index_runs": s.index_runs,
                "index_checkpoint_position": s.checkpoint_position,
                "open_ms": open_ms,
                "recovery": {
                    "rebuilt_index": s.recovery.rebuilt_index,
                    "replayed_events": s.recovery.replayed_events,
                    "truncated_bytes": s.recovery.truncated_bytes,
                    "removed_orphan_segments": s.recovery.removed_orphan_segments,
                },
            })
        );
    } else {
        println!("store:            embedded ({})", dir.display());
        println!("events:           {}", s.events);
        println!("streams:          {}", s.streams);
        println!("last position:    {}", s.events.checked_sub(1).map_or_else(|| "-".into(), |p| p.to_string()));
        println!("segments:         {} ({} bytes)", s.segments, s.log_bytes);
        println!("index:            {} runs, checkpoint at position {}", s.index_runs, s.checkpoint_position);
        println!(
            "opened in:        {open_ms:.1} ms (replayed {} events{}{}{})",
            s.recovery.replayed_events,
            if s.recovery.rebuilt_index { ", rebuilt the index" } else { "" },
            if s.recovery.truncated_bytes > 0 {
                format!(", dropped a {}-byte unfinished commit", s.recovery.truncated_bytes)
            } else {
                String::new()
            },
            if s.recovery.removed_orphan_segments > 0 {
                ", deleted a segment a failed rotation left behind"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
