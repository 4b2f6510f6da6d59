//! `verify`: every checksum, the hash chain and the indexes; exit 0 only when intact.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use hindsight_store_embedded::verify::verify;
use hindsight_store_embedded::Config;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

pub fn run(dir: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("verifying {bar:40} {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = verify(&Config::new(dir), |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    let problem = report
        .problem
        .as_ref()
        .map(|p| json!({ "segment": p.segment, "offset": p.offset, "position": p.position, "detail": p.detail }));
    if as_json {
        println!(
            "{}",
            json!({
                "ok": report.is_clean(),
                "segments": report.segments,
                "commits": report.commits,
                "events": report.events,
                "streams": report.streams,
                "log_bytes": report.log_bytes,
                "index_checked_positions": report.index_checked,
                "live": report.live,
                "problem": problem,
            })
        );
    } else if let Some(p) = &report.problem {
        let at = p.position.map_or_else(String::new, |pos| format!(", position {pos}"));
        println!("CORRUPT: {} at byte {}{at}: {}", p.segment, p.offset, p.detail);
    } else {
        println!(
            "ok: {} events in {} commits, {} streams, {} segments, {} bytes; index checked up to position {}{}",
            report.events,
            report.commits,
            report.streams,
            report.segments,
            report.log_bytes,
            report.index_checked,
            if report.live { " (the store is open in another process: checked as far as it was written)" } else { "" }
        );
    }
    Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `verify --store postgres://...`: the hash chain and the tables walked
/// row by row; exit 0 only when intact.
pub async fn postgres(url: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("verifying {bar:40} {pos}/{len} events {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = hindsight_store_postgres::verify::verify(url, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await
    .with_context(|| format!("verifying {}", super::target::redact(url)))?;
    bar.finish_and_clear();
    let problem = report.problem.as_ref().map(|p| json!({ "position": p.position, "detail": p.detail }));
    if as_json {
        println!(
            "{}",
            json!({ "ok": report.is_clean(), "store": "postgres", "events": report.events, "streams": report.streams, "problem": problem })
        );
    } else if let Some(p) = &report.problem {
        let at = p.position.map_or_else(String::new, |pos| format!(" at position {pos}"));
        println!("CORRUPT{at}: {}", p.detail);
    } else {
        println!("ok: {} events in {} streams; hash chain intact", report.events, report.streams);
    }
    Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `migrate --store postgres://...`.
pub async fn migrate(url: &str) -> anyhow::Result<ExitCode> {
    let (before, now) = hindsight_store_postgres::schema::migrate_url(url)
        .await
        .with_context(|| format!("migrating {}", super::target::redact(url)))?;
    println!("{}", json!({ "store": "postgres", "schema_was": before, "schema": now }));
    Ok(ExitCode::SUCCESS)
}
