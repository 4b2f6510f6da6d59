//! `read` and `read-all`: events as NDJSON, paged through the store.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use hindsight_store::{Direction, EventStore, Filter};

use super::open_existing;
use crate::cli::{ReadAllArgs, ReadArgs, StreamInfoArgs};
use crate::output::event_line;

const PAGE_EVENTS: u64 = 10_000;

pub async fn stream(dir: &Path, args: ReadArgs) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.server {
        return stream_over_http(url, &args).await;
    }
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
    if let Some(url) = &args.server {
        return all_over_http(url, &args).await;
    }
    let store = open_existing(dir)?;
    let filter =
        Filter { stream: args.stream, category: args.category, stream_prefix: args.prefix, event_types: args.types };
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

/// `read --server`: the same lines, paged through the HTTP API.
async fn stream_over_http(url: &str, args: &ReadArgs) -> anyhow::Result<ExitCode> {
    let client = hindsight_client::Client::new(url);
    let mut left = args.limit.unwrap_or(u64::MAX);
    let mut from = args.from;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while left > 0 {
        let page = client.read_stream(&args.stream, from, args.backward, left.min(HTTP_PAGE_EVENTS) as usize).await?;
        for e in &page.events {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
        left = left.saturating_sub(page.events.len() as u64);
        match page.next {
            Some(next) if !page.events.is_empty() => from = Some(next),
            _ => break,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `read-all --server`: the same lines, paged through the HTTP API.
async fn all_over_http(url: &str, args: &ReadAllArgs) -> anyhow::Result<ExitCode> {
    let client = hindsight_client::Client::new(url);
    let filter = hindsight_client::Filter {
        stream: args.stream.clone(),
        category: args.category.clone(),
        prefix: args.prefix.clone(),
        types: args.types.clone(),
    };
    let mut left = args.limit.unwrap_or(u64::MAX);
    let mut from = args.from;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while left > 0 {
        let page = client.read_all(from, left.min(HTTP_PAGE_EVENTS) as usize, &filter).await?;
        for e in &page.events {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
        left = left.saturating_sub(page.events.len() as u64);
        from = page.next_position;
        if page.end_of_log {
            break;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The server's largest page.
const HTTP_PAGE_EVENTS: u64 = 10_000;

/// `stream-info`: one stream's last version and positions; exit 1 when
/// there is no such stream.
pub async fn stream_info(dir: &Path, args: StreamInfoArgs) -> anyhow::Result<ExitCode> {
    let info = match &args.server {
        Some(url) => hindsight_client::Client::new(url).stream_info(&args.stream).await?,
        None => {
            let store = open_existing(dir)?;
            let info = store.stream_info(&args.stream).await?;
            store.close()?;
            info.map(|i| {
                serde_json::json!({
                    "stream": i.stream,
                    "last_version": i.last_version,
                    "first_position": i.first_position,
                    "last_position": i.last_position,
                    "events": i.last_version + 1,
                })
            })
        }
    };
    match info {
        Some(v) => {
            println!("{v}");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("no stream {:?}", args.stream);
            Ok(ExitCode::FAILURE)
        }
    }
}
