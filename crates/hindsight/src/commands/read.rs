//! `read` and `read-all`: events as NDJSON, paged through the store.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use hindsight_store::{Direction, EventStore, Filter};

use super::open_existing;
use crate::cli::{ReadAllArgs, ReadArgs};
use crate::output::event_line;

const PAGE_EVENTS: u64 = 10_000;

pub async fn stream(dir: &Path, args: ReadArgs) -> anyhow::Result<ExitCode> {
    let store = open_existing(dir)?;
    let direction = if args.backward { Direction::Backward } else { Direction::Forward };
    let mut left = args.limit.unwrap_or(u64::MAX);
    let mut from = args.from;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while left > 0 {
        let page = store.read_stream(&args.stream, from, direction, left.min(PAGE_EVENTS) as usize).await?;
        let Some(last) = page.last() else { break };
        from = match direction {
            Direction::Forward => Some(last.version + 1),
            Direction::Backward if last.version == 0 => None,
            Direction::Backward => Some(last.version - 1),
        };
        for e in &page {
            writeln!(out, "{}", event_line(e))?;
        }
        left -= page.len() as u64;
        if from.is_none() {
            break;
        }
    }
    out.flush()?;
    drop(out);
    store.close()?;
    Ok(ExitCode::SUCCESS)
}

pub async fn all(dir: &Path, args: ReadAllArgs) -> anyhow::Result<ExitCode> {
    let store = open_existing(dir)?;
    let filter = Filter { stream: None, category: args.category, stream_prefix: args.prefix, event_types: args.types };
    let mut left = args.limit.unwrap_or(u64::MAX);
    let mut from = args.from;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while left > 0 {
        let slice = store.read_all(from, left.min(PAGE_EVENTS) as usize, &filter).await?;
        for e in &slice.events {
            writeln!(out, "{}", event_line(e))?;
        }
        left -= slice.events.len() as u64;
        from = slice.next_position;
        if slice.end_of_log {
            break;
        }
    }
    out.flush()?;
    drop(out);
    store.close()?;
    Ok(ExitCode::SUCCESS)
}
