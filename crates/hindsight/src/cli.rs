//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hindsight_store::AsOf;

pub use crate::cli_whatif::*;

#[derive(Debug, Parser)]
#[command(name = "hindsight", version, about = "Hindsight: an event store with time-travel debugging")]
pub struct Cli {
    /// The data directory, created if missing [default: ./hindsight-data;
    /// `bench` uses a temporary directory unless this is given].
    #[arg(long, global = true, env = "HINDSIGHT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep the log in PostgreSQL (`postgres://user[:password]@host[:port]/db`)
    /// instead of the embedded store in the data directory [default:
    /// embedded]. Every command that opens a store takes it (`bench append`
    /// then measures Hindsight against a naive events table in the same run).
    #[arg(long, global = true, env = "HINDSIGHT_STORE")]
    pub store: Option<String>,
    /// Log format on stderr: text or json.
    #[arg(long, global = true, env = "HINDSIGHT_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The engine's settings, environment variables only (listed under
/// `serve --help`).
const ENGINE_SETTINGS: &str = "Engine settings (environment only):
  HINDSIGHT_SEGMENT_BYTES          segment size target [default: 268435456]
  HINDSIGHT_MEMTABLE_EVENTS        index entries kept in memory before a run is written [default: 262144]
  HINDSIGHT_PREALLOCATE_BYTES      zeros written ahead of the log's end; 0 turns it off [default: 4194304]
  HINDSIGHT_EVENT_SIZE_BYTES_MAX   data + metadata of one event [default: 1048576]
  HINDSIGHT_APPEND_EVENTS_MAX      events per append [default: 10000]
  HINDSIGHT_APPEND_SIZE_BYTES_MAX  bytes per append, tags included [default: 16777216]
  HINDSIGHT_LOG                    log filter, e.g. debug or hindsight=trace [default: info for serve]";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API on the embedded store. Settings come from flags,
    /// then HINDSIGHT_* environment variables, then the --config TOML file
    /// (keys: listen, data_dir, heartbeat_secs, body_bytes_max,
    /// subscription_lag_max, append_queue_depth, cors_origins,
    /// max_connections, idle_timeout_secs, listen_backlog), then the defaults.
    #[command(after_help = ENGINE_SETTINGS)]
    Serve(ServeArgs),
    /// Follow $all (or a filtered part of it) from a server, one line per event.
    Tail(TailArgs),
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
    /// Create or upgrade the PostgreSQL schema of `--store URL` (servers
    /// also do it when they start; this runs it on its own, e.g. before a
    /// rollout, with a user allowed to create tables).
    Migrate,
    /// Cut a damaged log back to its last intact commit, when the start
    /// refuses it: reports what would be dropped, and changes nothing
    /// without --apply.
    Repair(RepairArgs),
    /// Show what the store holds.
    Info(InfoArgs),
    /// Show one stream's last version and positions, as JSON.
    StreamInfo(StreamInfoArgs),
    /// Create, inspect and control projections on a running server.
    Projection(ProjectionArgs),
    /// A stream's document as of a point: its events' data applied in
    /// order as JSON Merge Patches.
    At(AtArgs),
    /// The events that changed a stream's document, each with the JSON
    /// Patch it caused.
    History(HistoryArgs),
    /// What changed in a stream's document between two points.
    Diff(DiffArgs),
    /// The event that set a field (a JSON Pointer such as /status), and
    /// the field's earlier values with the events that set them.
    Blame(BlameArgs),
    /// The nearest event at which a condition on a field became true,
    /// e.g. when /balance first went below 0.
    Watch(WatchArgs),
    /// What-if timelines on a running server: skip, edit and append
    /// events on an isolated fork of the log, run projections (or
    /// candidate code) on it, and compare it with live.
    Fork(ForkArgs),
    /// What would differ in every projection had some live events been
    /// skipped (or edited): per projection, the partitions and fields, and
    /// where each first diverged. Asks a running server.
    Impact(ImpactArgs),
    /// Hand an incident over as one file: export a range of a fork (its
    /// events, masked where asked, its definition and projection sources,
    /// hash-chained); import one into a new data directory or as a fork.
    Session(SessionArgs),
    /// Turn the value a projection partition's field held at a point into
    /// a given-when-then regression test (JavaScript for Node, or Rust),
    /// its events minimized by delta debugging. Asks a running server.
    Fixture(FixtureArgs),
    /// Measure throughput and latency; prints one JSON object.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// What a time-travel command looks at, and where.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["stream", "projection"])))]
pub struct TimeTarget {
    /// The stream whose document to look at (its events' data applied as
    /// JSON Merge Patches).
    #[arg(long)]
    pub stream: Option<String>,
    /// The projection whose partition to look at.
    #[arg(long, requires = "partition")]
    pub projection: Option<String>,
    /// The partition of --projection (a stream or a key; "" for a
    /// projection with one partition).
    #[arg(long)]
    pub partition: Option<String>,
    /// Fold with this version of the projection's source [default: the
    /// version that was live at the point].
    #[arg(long, requires = "projection")]
    pub version: Option<u64>,
    /// A running server [default: http://127.0.0.1:7113, and when nothing
    /// answers there, the data directory itself].
    #[arg(long, alias = "url", env = "HINDSIGHT_URL")]
    pub server: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AtArgs {
    #[command(flatten)]
    pub target: TimeTarget,
    /// The point: position:N, version:N or time:<RFC 3339> [default: now].
    #[arg(long)]
    pub as_of: Option<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub target: TimeTarget,
    /// Changes after this point [default: from the start].
    #[arg(long)]
    pub from: Option<String>,
    /// Changes up to and including this point [default: now].
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many changes.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub target: TimeTarget,
    /// The first point.
    #[arg(long)]
    pub from: String,
    /// The second point [default: now].
    #[arg(long)]
    pub to: Option<String>,
    /// Both documents and the fields that differ, instead of a JSON Patch.
    #[arg(long)]
    pub side_by_side: bool,
}

#[derive(Debug, Args)]
pub struct BlameArgs {
    #[command(flatten)]
    pub target: TimeTarget,
    /// The field, as an RFC 6901 JSON Pointer ("" is the whole document).
    pub pointer: String,
    /// The point [default: now].
    #[arg(long)]
    pub as_of: Option<String>,
    /// Earlier values listed at most.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub target: TimeTarget,
    /// The field, as an RFC 6901 JSON Pointer.
    pub pointer: String,
    /// eq, ne, lt, le, gt, ge, changed, exists or missing.
    pub op: String,
    /// The JSON value compared with (eq to ge), e.g. 0 or '"cancelled"'.
    pub value: Option<String>,
    /// Search forward from the point (after it) instead of backward.
    #[arg(long)]
    pub forward: bool,
    /// The point searched from [default: now].
    #[arg(long)]
    pub from: Option<String>,
}

#[derive(Debug, Args)]
pub struct ProjectionArgs {
    /// The server that runs the projections [default: http://127.0.0.1:7113,
    /// and when nothing answers there, the data directory itself].
    #[arg(long, alias = "url", env = "HINDSIGHT_URL", global = true)]
    pub server: Option<String>,
    /// Print the server's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ProjectionCommand,
}

#[derive(Debug, Subcommand)]
pub enum ProjectionCommand {
    /// Create a projection from a JavaScript file, or make it its new version.
    Create {
        name: String,
        #[arg(long)]
        file: PathBuf,
        /// park: set a failing event aside and go on; stop: fault at it.
        #[arg(long, default_value = "park")]
        on_error: String,
        /// Wait (with a progress bar) until this version answers and has
        /// caught up with the log.
        #[arg(long)]
        wait: bool,
    },
    /// Every projection's status.
    List,
    /// One projection's status.
    Status {
        name: String,
    },
    /// A partition's state (the single partition when none is given).
    State {
        name: String,
        #[arg(long, default_value = "")]
        partition: String,
    },
    /// Partition keys, in order.
    Partitions {
        name: String,
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    Pause {
        name: String,
    },
    Resume {
        name: String,
    },
    /// Rebuild from the start of the log.
    Reset {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Events set aside, with their errors.
    Parked {
        name: String,
    },
    /// Apply a parked event again (after fixing the source).
    Replay {
        name: String,
        position: u64,
    },
    /// Drop a parked event.
    Discard {
        name: String,
        position: u64,
    },
    /// Run a candidate source over history without touching the live
    /// states; print what it would change (JSON Patch per partition).
    DryRun {
        name: String,
        #[arg(long)]
        file: PathBuf,
        /// Only from this position: the current source and the candidate
        /// are both folded over the range and compared.
        #[arg(long)]
        from: Option<u64>,
        /// The range's last position [default: the live position].
        #[arg(long)]
        to: Option<u64>,
    },
    /// Run a candidate source over real history, without touching
    /// anything live, and write a machine-readable report against the live
    /// read model (partitions and fields changed, with counts and
    /// examples; events it failed on); --fail-on makes it a CI gate.
    Preview {
        name: String,
        #[arg(long)]
        file: PathBuf,
        /// Only from the event at this point (position:N, time:...,
        /// snapshot:ID, or a bare position): both sources are folded over
        /// the range and compared.
        #[arg(long)]
        from: Option<String>,
        /// The range's last event's point [default: the live position].
        #[arg(long)]
        to: Option<String>,
        /// Write the report here (it is printed too).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Exit 1 when the candidate changes anything (changed) or fails
        /// on any event (failed); repeat or separate with commas.
        #[arg(long, value_delimiter = ',')]
        fail_on: Vec<FailOn>,
    },
    /// Rebuild in a scratch area and compare with the live states (exit 1
    /// and the first differing partition when they differ).
    Verify {
        name: String,
    },
}

/// What makes `projection preview` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Changed,
    Failed,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7113; port 0 picks a free one].
    #[arg(long, env = "HINDSIGHT_LISTEN")]
    pub listen: Option<String>,
    /// A TOML file with any of the settings below.
    #[arg(long, env = "HINDSIGHT_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Seconds between heartbeats on idle subscriptions [default: 15].
    #[arg(long, env = "HINDSIGHT_HEARTBEAT_SECS")]
    pub heartbeat_secs: Option<f64>,
    /// Largest request body in bytes, refused with 413 before it is read [default: 25165824].
    #[arg(long, env = "HINDSIGHT_BODY_BYTES_MAX")]
    pub body_bytes_max: Option<usize>,
    /// Drop a subscriber this many events behind the head, with a final
    /// error event [default: never; it reads on at its own pace].
    #[arg(long, env = "HINDSIGHT_SUBSCRIPTION_LAG_MAX")]
    pub subscription_lag_max: Option<u64>,
    /// Drop a subscriber (with a final error event) once it is more than
    /// this many bytes of log behind [default: never].
    #[arg(long, env = "HINDSIGHT_SUBSCRIPTION_LAG_BYTES_MAX")]
    pub subscription_lag_bytes_max: Option<u64>,
    /// Appends waiting for the writer; beyond it appends get 503 with
    /// Retry-After [default: 4096].
    #[arg(long, env = "HINDSIGHT_APPEND_QUEUE_DEPTH")]
    pub append_queue_depth: Option<usize>,
    /// Let browser pages from this origin (e.g. http://localhost:5173) call
    /// the API (CORS); repeat for several, `*` for any. Off by default.
    #[arg(long = "cors-origin", env = "HINDSIGHT_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Connections open at once; over it a new one gets 503 (lowered to
    /// fit the file-descriptor limit, keeping descriptors for the store)
    /// [default: 10000].
    #[arg(long, env = "HINDSIGHT_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a connection may go without sending a whole request header
    /// (new, idle between requests, or slow) before it is closed [default: 30].
    #[arg(long, env = "HINDSIGHT_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<f64>,
    /// The listen backlog [default: 4096].
    #[arg(long, env = "HINDSIGHT_LISTEN_BACKLOG")]
    pub listen_backlog: Option<u32>,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// The server.
    #[arg(long, env = "HINDSIGHT_URL", default_value = "http://127.0.0.1:7113")]
    pub url: String,
    /// First position to show [default: the end: only new events].
    #[arg(long)]
    pub from: Option<u64>,
    /// Exactly this stream.
    #[arg(long)]
    pub stream: Option<String>,
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long)]
    pub prefix: Option<String>,
    /// Event types, comma-separated.
    #[arg(long)]
    pub types: Option<String>,
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
    /// Read through a running server's HTTP API (e.g. http://127.0.0.1:7113)
    /// instead of opening the data directory, which the server holds.
    #[arg(long)]
    pub server: Option<String>,
    /// First version to read (default: first, or last with --backward).
    #[arg(long)]
    pub from: Option<u64>,
    #[arg(long)]
    pub backward: bool,
    #[arg(long)]
    pub limit: Option<u64>,
    /// Read as of a point: position:N, time:<RFC 3339> or version:N.
    #[arg(long, value_name = "POINT")]
    pub as_of: Option<AsOf>,
}

#[derive(Debug, Args)]
pub struct ReadAllArgs {
    /// Read through a running server's HTTP API (e.g. http://127.0.0.1:7113)
    /// instead of opening the data directory, which the server holds.
    #[arg(long)]
    pub server: Option<String>,
    /// First position to read (default: 0, or the last with --backward).
    #[arg(long)]
    pub from: Option<u64>,
    /// Newest first.
    #[arg(long)]
    pub backward: bool,
    /// Only this stream.
    #[arg(long)]
    pub stream: Option<String>,
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
    /// Read as of a point: position:N, time:<RFC 3339>.
    #[arg(long, value_name = "POINT")]
    pub as_of: Option<AsOf>,
}

#[derive(Debug, Args)]
pub struct StreamInfoArgs {
    pub stream: String,
    /// Ask a running server (e.g. http://127.0.0.1:7113) instead of opening
    /// the data directory, which the server holds.
    #[arg(long)]
    pub server: Option<String>,
    /// The stream as it was at a point: position:N, time:<RFC 3339> or version:N.
    #[arg(long, value_name = "POINT")]
    pub as_of: Option<AsOf>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Ask a running server (e.g. http://127.0.0.1:7113) instead of opening
    /// the data directory, which the server holds.
    #[arg(long)]
    pub server: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Make the change (otherwise only report it).
    #[arg(long)]
    pub apply: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
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
    /// Appends over HTTP (against --url, or a server it starts itself),
    /// against a raw fdatasync probe in the same run.
    Http(BenchHttpArgs),
    /// SSE catch-up throughput and live delivery latency.
    Sse(BenchSseArgs),
    /// Reading all of $all back over HTTP, one client, page after page.
    HttpRead(BenchHttpReadArgs),
    /// Rebuilding a Rust projection (events per stream) from the log.
    Projection(BenchProjectionArgs),
    /// Time travel: state at random points, blame and watch, on a stream
    /// document and a projection partition with many events.
    History(BenchHistoryArgs),
    /// What-if: the impact of skipping one event on a store with three
    /// projections, and reads on a fork against live.
    Whatif(BenchWhatifArgs),
}

#[derive(Debug, Args)]
pub struct BenchWhatifArgs {
    /// Events in the store.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Account streams the events are spread over.
    #[arg(long, default_value_t = 10_000)]
    pub streams: u64,
    /// Accepted for symmetry: the output is JSON either way.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchHistoryArgs {
    /// Events in the store.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Events of the one stream (and partition) asked about, spread evenly.
    #[arg(long, default_value_t = 1_000_000)]
    pub subject_events: u64,
    /// Questions of each kind, at random points.
    #[arg(long, default_value_t = 1000)]
    pub queries: u64,
    /// Accepted for symmetry: the output is JSON either way.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchHttpArgs {
    /// A running server; without it the bench starts one on a temporary store.
    #[arg(long)]
    pub url: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Debug, Args)]
pub struct BenchSseArgs {
    /// Events to catch up on.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Live appends per second while latency is measured.
    #[arg(long, default_value_t = 10_000)]
    pub live_rate: u64,
    #[arg(long, default_value_t = 5.0)]
    pub live_seconds: f64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchProjectionArgs {
    /// Events in the log it folds.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Streams the events are spread over.
    #[arg(long, default_value_t = 1000)]
    pub streams: u64,
    /// Also measure the live lag: events appended at this rate (per
    /// second) for `--lag-seconds`, from each append's acknowledgement to
    /// the JavaScript projection's checkpoint covering it; 0: skip.
    #[arg(long, default_value_t = 10_000)]
    pub lag_rate: u64,
    #[arg(long, default_value_t = 10)]
    pub lag_seconds: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchHttpReadArgs {
    /// Events to read back.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Events per page (the server's largest is 10,000).
    #[arg(long, default_value_t = 10_000)]
    pub page: u64,
    #[arg(long)]
    pub json: bool,
}

/// The load both append benches generate.
#[derive(Debug, Args)]
pub struct LoadArgs {
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
    /// Seconds for the raw fdatasync probe not interleaved with the bench.
    #[arg(long, default_value_t = 3.0)]
    pub probe_seconds: f64,
    /// Accepted for clarity; output is always JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchAppendArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// With --store: events `$all` holds for the read figure (filled first).
    #[arg(long, default_value_t = 200_000)]
    pub read_events: u64,
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
    /// One event in this many goes to a rare category (`rare`), which a
    /// filtered read then reads back through the posting lists.
    #[arg(long, default_value_t = 1000)]
    pub rare_every: u64,
    /// Accepted for clarity; output is always JSON.
    #[arg(long)]
    pub json: bool,
}
