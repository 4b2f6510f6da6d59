//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "hindsight", version, about = "Hindsight: an event store with time-travel debugging")]
pub struct Cli {
    /// The data directory, created if missing [default: ./hindsight-data;
    /// `bench` uses a temporary directory unless this is given].
    #[arg(long, global = true, env = "HINDSIGHT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Append one event to a stream; prints the result as JSON.
    Append(AppendArgs),
    /// Append NDJSON lines from stdin, one append per line, pipelined
    /// through group commit; prints one JSON line per input line once it is
    /// durable (or refused).
    Import,
    /// Print a stream's events as NDJSON.
    Read(ReadArgs),
    /// Print events of $all as NDJSON.
    ReadAll(ReadAllArgs),
    /// Check every checksum, the whole hash chain and the indexes; exits 0
    /// only when everything is intact.
    Verify(JsonFlag),
    /// Show what the store holds.
    Info(JsonFlag),
    /// Measure throughput and latency; prints one JSON object.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
pub struct AppendArgs {
    pub stream: String,
    /// The event type.
    #[arg(long = "type")]
    pub event_type: String,
    /// The event data as JSON, or @FILE to read it from a file.
    #[arg(long = "json")]
    pub data: String,
    /// Metadata as a JSON object.
    #[arg(long)]
    pub metadata: Option<String>,
    /// any, no_stream, exists, or a version number.
    #[arg(long, default_value = "any")]
    pub expected_version: String,
    /// The event id (makes the append idempotent).
    #[arg(long)]
    pub id: Option<String>,
    /// Tags, comma-separated (e.g. order:123,vip).
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    pub stream: String,
    /// First version to read (default: first, or last with --backward).
    #[arg(long)]
    pub from: Option<u64>,
    #[arg(long)]
    pub backward: bool,
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ReadAllArgs {
    /// First position to read.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    #[arg(long)]
    pub limit: Option<u64>,
    /// Only streams of this category (the stream name before its first '-').
    #[arg(long)]
    pub category: Option<String>,
    /// Only streams whose name starts with this.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Only these event types, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Concurrent appenders in process, against a raw fdatasync probe.
    Append(BenchAppendArgs),
    /// Read all of $all in process.
    ReadAll(BenchReadAllArgs),
}

#[derive(Debug, Args)]
pub struct BenchAppendArgs {
    #[arg(long, default_value_t = 1)]
    pub writers: usize,
    /// Events per append.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Bytes of data per event.
    #[arg(long, default_value_t = 100)]
    pub event_size: usize,
    /// Seconds for each raw fdatasync probe.
    #[arg(long, default_value_t = 3.0)]
    pub probe_seconds: f64,
    /// Accepted for clarity; output is always JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchReadAllArgs {
    /// Events the store should hold; it is filled up to this first.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 100)]
    pub event_size: usize,
    /// Streams the filler spreads events over.
    #[arg(long, default_value_t = 1000)]
    pub streams: u64,
    /// Accepted for clarity; output is always JSON.
    #[arg(long)]
    pub json: bool,
}
