//! `tail`: follow $all from a server, one line per event.

use std::io::Write;
use std::process::ExitCode;

use futures::StreamExt;
use hindsight_client::{Client, Filter};

use crate::cli::TailArgs;

pub async fn run(args: TailArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.url);
    let from = match args.from {
        Some(f) => f,
        None => client.info().await?["events"].as_u64().unwrap_or(0),
    };
    let filter = Filter {
        stream: args.stream,
        category: args.category,
        prefix: args.prefix,
        types: args.types.map(|t| t.split(',').map(String::from).collect()).unwrap_or_default(),
    };
    let mut events = Box::pin(client.subscribe(from, filter));
    while let Some(e) = events.next().await {
        let e = e?;
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{} {} {}@{} {} {}", e.position, e.timestamp, e.stream, e.version, e.event_type, e.data)
            .is_err()
        {
            break;
        }
        let _ = out.flush();
    }
    Ok(ExitCode::SUCCESS)
}
