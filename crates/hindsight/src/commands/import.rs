//! `import`: NDJSON appends from stdin, pipelined through group commit.
//! Lines are queued in input order; each line's answer is printed (and
//! flushed) in input order, and only once that append is durable. Exits 1
//! when any line was not stored.

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::process::ExitCode;

use hindsight_store::{AppendPart, AppendResult, EventStore, StoreError};
use indicatif::ProgressBar;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use super::input;
use super::target::Target;
use crate::output::{error_json, plain_error, result_json};

/// Lines queued but not yet answered; bounds the importer's memory.
const IN_FLIGHT_LINES_MAX: usize = 8192;

type Outcome = Pin<Box<dyn Future<Output = Result<Vec<AppendResult>, StoreError>> + Send>>;

enum Pending {
    Refused(Value),
    Queued { streams: Vec<String>, across_streams: bool, outcome: Outcome },
}

/// The store lines go to; both queue an append in call order and hand
/// back its outcome to wait for.
enum Sink {
    Embedded(hindsight_store_embedded::EmbeddedStore),
    Postgres(hindsight_store_postgres::PostgresStore),
}

impl Sink {
    async fn open(at: Target<'_>) -> anyhow::Result<Sink> {
        Ok(match at.postgres {
            Some(url) => Sink::Postgres(super::target::connect(url, Default::default()).await?),
            None => Sink::Embedded(super::open_store(at.dir)?),
        })
    }

    async fn enqueue(&self, parts: Vec<AppendPart>) -> Result<Outcome, StoreError> {
        Ok(match self {
            Sink::Embedded(s) => Box::pin(s.enqueue_multi(parts).await?),
            Sink::Postgres(s) => Box::pin(s.enqueue_multi(parts).await?),
        })
    }

    fn shutdown(&self) -> Result<(), StoreError> {
        match self {
            Sink::Embedded(s) => s.close(),
            Sink::Postgres(s) => s.shutdown(),
        }
    }
}

pub async fn run(at: Target<'_>) -> anyhow::Result<ExitCode> {
    let store = Sink::open(at).await?;
    let (tx, mut rx) = mpsc::channel::<(u64, Pending)>(IN_FLIGHT_LINES_MAX);
    let progress = ProgressBar::new_spinner();
    let printer_progress = progress.clone();
    let printer = tokio::spawn(async move {
        let mut failed = 0u64;
        while let Some((line, pending)) = rx.recv().await {
            let out = match pending {
                Pending::Refused(error) => {
                    failed += 1;
                    json!({ "line": line, "error": error })
                }
                Pending::Queued { streams, across_streams, outcome } => match outcome.await {
                    Ok(results) if across_streams => json!({
                        "line": line,
                        "results": streams.iter().zip(&results).map(|(s, r)| result_json(s, r)).collect::<Vec<_>>(),
                    }),
                    Ok(results) => {
                        let mut v = results.first().map_or(json!({}), |r| result_json(&streams[0], r));
                        v["line"] = json!(line);
                        v
                    }
                    Err(e) => {
                        failed += 1;
                        json!({ "line": line, "error": error_json(&e) })
                    }
                },
            };
            let mut stdout = std::io::stdout().lock();
            let written = writeln!(stdout, "{out}").and_then(|()| stdout.flush());
            if written.is_err() {
                // Whoever reads our answers is gone; stop answering.
                break;
            }
            printer_progress.inc(1);
        }
        failed
    });
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut n = 0u64;
    while let Some(text) = lines.next_line().await? {
        n += 1;
        if text.trim().is_empty() {
            let _ = tx.send((n, Pending::Refused(plain_error("empty_line", "the line is empty")))).await;
            continue;
        }
        let pending = match input::line(&text) {
            Err(msg) => Pending::Refused(plain_error("malformed_line", msg)),
            Ok(line) => {
                let streams = line.parts.iter().map(|p| p.stream.clone()).collect();
                match store.enqueue(line.parts).await {
                    Ok(outcome) => Pending::Queued { streams, across_streams: line.across_streams, outcome },
                    Err(e) => Pending::Refused(error_json(&e)),
                }
            }
        };
        if tx.send((n, pending)).await.is_err() {
            break;
        }
    }
    drop(tx);
    let failed = printer.await?;
    progress.finish_and_clear();
    store.shutdown()?;
    tracing::info!(lines = n, failed, "import finished");
    if failed > 0 {
        // Every line was answered on stdout; the exit code tells a script
        // that not all of them were stored.
        eprintln!("{failed} of {n} lines were not stored (their answers say why)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
