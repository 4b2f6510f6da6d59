//! `repair`: cut a damaged log back to its last intact commit (dry run
//! unless --apply); exit 0 when nothing is left to repair.

use std::path::Path;
use std::process::ExitCode;

use hindsight_store_embedded::repair::repair;
use hindsight_store_embedded::Config;
use serde_json::json;

pub fn run(dir: &Path, apply: bool, as_json: bool) -> anyhow::Result<ExitCode> {
    let report = repair(&Config::new(dir), apply)?;
    if as_json {
        let cut = report.cut.as_ref().map(|c| {
            json!({
                "segment": c.segment,
                "offset": c.offset,
                "next_position": c.next_position,
                "dropped_bytes": c.dropped_bytes,
                "dropped_commits": c.dropped_commits,
                "dropped_events": c.dropped_events,
                "reason": c.reason,
            })
        });
        println!(
            "{}",
            json!({
                "cut": cut,
                "refused": report.refused,
                "checkpoint_removed": report.checkpoint_removed,
                "applied": report.applied,
            })
        );
    } else if let Some(why) = &report.refused {
        println!("cannot repair: {why}");
    } else if let Some(c) = &report.cut {
        let verb = if report.applied { "cut" } else { "would cut" };
        println!(
            "{verb} {} at byte {} ({}): drops {} bytes holding {} intact commits ({} events); the log then ends before position {}{}",
            c.segment,
            c.offset,
            c.reason,
            c.dropped_bytes,
            c.dropped_commits,
            c.dropped_events,
            c.next_position,
            if report.checkpoint_removed { "; the index checkpoint goes too and the next start rebuilds it" } else { "" }
        );
    } else if report.checkpoint_removed {
        let verb = if report.applied { "removed" } else { "would remove" };
        println!(
            "the log is intact, but the index checkpoint describes a log other than this one (a restored backup of log/ beside a newer index/?): {verb} it; the next start rebuilds the indexes"
        );
    } else {
        println!("nothing to repair: every commit of the log is intact and the index checkpoint fits it");
    }
    let changes = report.cut.is_some() || report.checkpoint_removed;
    if !as_json && changes && !report.applied && report.refused.is_none() {
        println!("run again with --apply to make the change");
    }
    let done = report.refused.is_none() && (!changes || report.applied);
    Ok(if done { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
