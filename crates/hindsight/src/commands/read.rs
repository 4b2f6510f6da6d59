//! `read`, `read-all` and `stream-info`: events as NDJSON (the server's
//! own event JSON, from `hindsight-wire`), paged through the store or a
//! running server, as of now or as of a point.

use std::io::Write;
use std::process::ExitCode;

use hindsight_store::{Direction, Filter, ReadAll, ReadStream};
use hindsight_wire::{event_json, ReadAllQuery, ReadStreamQuery, StreamInfoResponse};

use super::target::Target;
use crate::cli::{ReadAllArgs, ReadArgs, StreamInfoArgs};

const PAGE_EVENTS: u64 = 10_000;
/// The server's largest page.
const HTTP_PAGE_EVENTS: u64 = 10_000;

fn direction(backward: bool) -> Direction {
    if backward {
        Direction::Backward
    } else {
        Direction::Forward
    }
}

pub async fn stream(at: Target<'_>, args: ReadArgs) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.server {
        return stream_over_http(url, &args).await;
    }
    let store = at.open(true).await?;
    let mut read = ReadStream {
        stream: args.stream.clone(),
        from: args.from,
        direction: direction(args.backward),
        limit: 0,
        as_of: args.as_of,
    };
    let mut left = args.limit.unwrap_or(u64::MAX);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while left > 0 {
        read.limit = left.min(PAGE_EVENTS) as usize;
        let page = store.read_stream(&read).await?;
        let Some(last) = page.last() else { break };
        read.from = match read.direction {
            Direction::Forward => Some(last.version + 1),
            Direction::Backward if last.version == 0 => None,
            Direction::Backward => Some(last.version - 1),
        };
        for e in &page {
            writeln!(out, "{}", event_json(e))?;
        }
        left -= page.len() as u64;
        if read.from.is_none() {
            break;
        }
    }
    out.flush()?;
    drop(out);
    store.shutdown()?;
    Ok(ExitCode::SUCCESS)
}

pub async fn all(at: Target<'_>, args: ReadAllArgs) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.server {
        return all_over_http(url, &args).await;
    }
    let store = at.open(true).await?;
    let mut read = ReadAll {
        from: args.from,
        direction: direction(args.backward),
        limit: 0,
        filter: Filter {
            stream: args.stream,
            category: args.category,
            stream_prefix: args.prefix,
            event_types: args.types,
        },
        as_of: args.as_of,
    };
    let mut left = args.limit.unwrap_or(u64::MAX);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while left > 0 {
        read.limit = left.min(PAGE_EVENTS) as usize;
        let slice = store.read_all(&read).await?;
        for e in &slice.events {
            writeln!(out, "{}", event_json(e))?;
        }
        left -= slice.events.len() as u64;
        read.from = Some(slice.next_position);
        if slice.end_of_log {
            break;
        }
    }
    out.flush()?;
    drop(out);
    store.shutdown()?;
    Ok(ExitCode::SUCCESS)
}

/// `read --server`: the same lines, paged through the HTTP API.
async fn stream_over_http(url: &str, args: &ReadArgs) -> anyhow::Result<ExitCode> {
    let client = hindsight_client::Client::new(url);
    let mut query = ReadStreamQuery {
        from: args.from,
        direction: args.backward.then(|| "backwards".to_string()),
        limit: None,
        as_of: args.as_of.map(|a| a.to_string()),
    };
    let mut left = args.limit.unwrap_or(u64::MAX);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while left > 0 {
        query.limit = Some(left.min(HTTP_PAGE_EVENTS) as usize);
        let page = client.read_stream(&args.stream, &query).await?;
        for e in &page.events {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
        left = left.saturating_sub(page.events.len() as u64);
        match page.next {
            Some(next) if !page.events.is_empty() => query.from = Some(next),
            _ => break,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `read-all --server`: the same lines, paged through the HTTP API.
async fn all_over_http(url: &str, args: &ReadAllArgs) -> anyhow::Result<ExitCode> {
    let client = hindsight_client::Client::new(url);
    let mut query = ReadAllQuery {
        from: args.from,
        direction: args.backward.then(|| "backwards".to_string()),
        limit: None,
        stream: args.stream.clone(),
        category: args.category.clone(),
        prefix: args.prefix.clone(),
        types: (!args.types.is_empty()).then(|| args.types.join(",")),
        as_of: args.as_of.map(|a| a.to_string()),
    };
    let mut left = args.limit.unwrap_or(u64::MAX);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while left > 0 {
        query.limit = Some(left.min(HTTP_PAGE_EVENTS) as usize);
        let page = client.read_all(&query).await?;
        for e in &page.events {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
        left = left.saturating_sub(page.events.len() as u64);
        query.from = Some(page.next_position);
        if page.end_of_log {
            break;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `stream-info`: one stream's last version and positions (as of a
/// point); exit 1 when there is no such stream.
pub async fn stream_info(at: Target<'_>, args: StreamInfoArgs) -> anyhow::Result<ExitCode> {
    let info = match &args.server {
        Some(url) => {
            let as_of = args.as_of.map(|a| a.to_string());
            hindsight_client::Client::new(url).stream_info(&args.stream, as_of.as_deref()).await?
        }
        None => {
            let store = at.open(true).await?;
            let info = store.stream_info(&args.stream, args.as_of).await?;
            store.shutdown()?;
            info.map(StreamInfoResponse::from)
        }
    };
    match info {
        Some(v) => {
            println!("{}", serde_json::to_string(&v)?);
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("no stream {:?}", args.stream);
            Ok(ExitCode::FAILURE)
        }
    }
}
