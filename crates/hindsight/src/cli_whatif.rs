//! Command-line arguments of the what-if commands: forks, impact and
//! sessions, all asked of a running server (sessions import into a data
//! directory too).

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Where a command that needs a running server finds it.
#[derive(Debug, Args)]
pub struct ServerFlags {
    /// The server [default: http://127.0.0.1:7113].
    #[arg(long, alias = "url", env = "HINDSIGHT_URL", global = true, default_value = "http://127.0.0.1:7113")]
    pub server: String,
    /// Print the server's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ForkArgs {
    #[command(flatten)]
    pub on: ServerFlags,
    #[command(subcommand)]
    pub command: ForkCommand,
}

#[derive(Debug, Subcommand)]
pub enum ForkCommand {
    /// Make a fork of the live log as of a point.
    Create {
        name: String,
        /// position:N, time:<RFC 3339>, snapshot:ID [default: now].
        #[arg(long)]
        base: Option<String>,
    },
    /// Hide live events on the fork, by position or id.
    Skip {
        name: String,
        #[arg(long = "position")]
        positions: Vec<u64>,
        #[arg(long = "id")]
        ids: Vec<uuid::Uuid>,
    },
    /// Replace a live event's data (and metadata) on the fork only.
    Edit {
        name: String,
        #[arg(long)]
        position: u64,
        /// The new data, as JSON.
        #[arg(long)]
        data: String,
        /// The new metadata, a JSON object.
        #[arg(long)]
        metadata: Option<String>,
    },
    /// Append a hypothetical event to a stream of the fork.
    Append {
        name: String,
        stream: String,
        #[arg(long = "type")]
        event_type: String,
        /// The event's data, as JSON.
        #[arg(long)]
        data: String,
    },
    /// Run a projection on the fork: the live one's code, or a candidate
    /// from --file.
    Project {
        name: String,
        projection: String,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Compare the fork with live (or --against another fork): a stream's
    /// document or a projection's partitions.
    Diff {
        name: String,
        #[arg(long, conflicts_with = "projection")]
        stream: Option<String>,
        #[arg(long)]
        projection: Option<String>,
        #[arg(long, requires = "projection")]
        partition: Option<String>,
        #[arg(long)]
        against: Option<String>,
    },
    /// Every fork.
    List,
    /// One fork: base, skips, edits, appended events, projections.
    Show {
        name: String,
    },
    Delete {
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct ImpactArgs {
    #[command(flatten)]
    pub on: ServerFlags,
    /// A live position to imagine skipped.
    #[arg(long = "skip")]
    pub skip: Vec<u64>,
    /// A live event id to imagine skipped.
    #[arg(long = "id")]
    pub ids: Vec<uuid::Uuid>,
    /// Only this projection [default: every one].
    #[arg(long = "projection")]
    pub projections: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SessionArgs {
    #[command(flatten)]
    pub on: ServerFlags,
    #[command(subcommand)]
    pub command: SessionCommand,
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Write a fork's range as a session file (from a running server).
    Export {
        #[arg(long)]
        fork: String,
        /// Only the events this projection reads, and its source.
        #[arg(long)]
        projection: Option<String>,
        /// The first point exported (position:N, time:...) [default: the start].
        #[arg(long)]
        from: Option<String>,
        /// The last point exported [default: the fork's head].
        #[arg(long)]
        to: Option<String>,
        /// A JSON Pointer under /data/ or /metadata/ whose values are
        /// replaced by salted hashes (repeat for more).
        #[arg(long = "mask")]
        masks: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a session file's hash chain and load it: as a new fork on a
    /// running server with --fork, else into the data directory (which
    /// must hold no events), with its projections.
    Import {
        file: PathBuf,
        /// Import as this fork on the server.
        #[arg(long)]
        fork: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct FixtureArgs {
    #[command(flatten)]
    pub on: ServerFlags,
    #[arg(long)]
    pub projection: String,
    /// The partition ("" for a projection with one).
    #[arg(long, default_value = "")]
    pub partition: String,
    /// The field, a JSON Pointer such as /status.
    #[arg(long)]
    pub pointer: String,
    /// The point whose value the test pins [default: now].
    #[arg(long)]
    pub as_of: Option<String>,
    #[arg(long, value_parser = ["js", "rust"], default_value = "js")]
    pub lang: String,
    /// The test file to write.
    #[arg(long)]
    pub out: PathBuf,
}
