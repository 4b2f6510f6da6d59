//! One module per subcommand.

mod append;
mod bench;
mod bench_history;
mod bench_postgres;
mod bench_projection;
mod bench_whatif;
mod fork;
mod import;
mod info;
mod input;
mod preview;
mod projection;
mod projection_local;
mod read;
mod repair;
mod serve;
mod session;
mod tail;
mod target;
mod time;
mod verify;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use hindsight_store_embedded::{Config, EmbeddedStore};

use crate::cli::{BenchCommand, Cli, Command};
use target::Target;

/// Where the store lives when neither --data-dir nor HINDSIGHT_DATA_DIR says.
pub const DEFAULT_DATA_DIR: &str = "./hindsight-data";

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let given = cli.data_dir.as_deref();
    let default_dir = Path::new(DEFAULT_DATA_DIR);
    let dir = given.unwrap_or(default_dir);
    let url = cli.store.as_deref();
    let at = Target::new(dir, url)?;
    match cli.command {
        Command::Serve(args) => serve::run(given, url, args).await,
        Command::Tail(args) => tail::run(args).await,
        Command::Append(args) => append::run(at, args).await,
        Command::Import => import::run(at).await,
        Command::Read(args) => read::stream(at, args).await,
        Command::ReadAll(args) => read::all(at, args).await,
        Command::Verify(args) => match at.postgres {
            Some(url) => verify::postgres(url, args.json).await,
            None => {
                require_store(dir)?;
                verify::run(dir, args.json)
            }
        },
        Command::Migrate => match at.postgres {
            Some(url) => verify::migrate(url).await,
            None => anyhow::bail!(
                "migrate works on PostgreSQL: give --store postgres://... (the embedded store needs none)"
            ),
        },
        Command::Repair(args) => {
            require_store(dir)?;
            repair::run(dir, args.apply, args.json)
        }
        Command::StreamInfo(args) => read::stream_info(at, args).await,
        Command::Info(args) => match (args.server, at.postgres) {
            (Some(url), _) => info::over_http(&url).await,
            (None, Some(url)) => info::postgres(url, args.json).await,
            (None, None) => info::run(dir, args.json),
        },
        Command::Projection(args) => projection::run(at, args).await,
        Command::Fork(args) => fork::run(args).await,
        Command::Impact(args) => fork::impact(args).await,
        Command::Session(args) => session::run(at, args).await,
        Command::Fixture(args) => session::fixture(args).await,
        Command::At(a) => time::run(at, &a.target, time::Question::At { as_of: a.as_of }).await,
        Command::History(a) => {
            let q = time::Question::History { from: a.from, until: a.until, limit: a.limit };
            time::run(at, &a.target, q).await
        }
        Command::Diff(a) => {
            let q = time::Question::Diff { from: a.from, to: a.to, side_by_side: a.side_by_side };
            time::run(at, &a.target, q).await
        }
        Command::Blame(a) => {
            let q = time::Question::Blame { pointer: a.pointer, as_of: a.as_of, limit: a.limit };
            time::run(at, &a.target, q).await
        }
        Command::Watch(a) => {
            let q = time::Question::Watch {
                pointer: a.pointer,
                op: a.op,
                value: a.value,
                forward: a.forward,
                from: a.from,
            };
            time::run(at, &a.target, q).await
        }
        Command::Bench(command) => bench(given, at, command).await,
    }
}

/// `bench ...`: each in a temporary store unless --data-dir (or, for
/// `append`, --store) names one.
async fn bench(given: Option<&Path>, at: Target<'_>, command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Append(args) => match at.postgres {
            Some(url) => bench_postgres::append(url, args).await,
            None => bench::append(given, args).await,
        },
        BenchCommand::ReadAll(args) => bench::read_all(given, args).await,
        BenchCommand::Http(args) => bench::http(given, args).await,
        BenchCommand::Sse(args) => bench::sse(given, args).await,
        BenchCommand::HttpRead(args) => bench::http_read(given, args).await,
        BenchCommand::Projection(args) => bench_projection::projection(given, args).await,
        BenchCommand::History(args) => bench_history::history(given, args).await,
        BenchCommand::Whatif(args) => bench_whatif::whatif(given, args).await,
    }
}

/// Refuses a directory that holds no store, for the commands that only
/// read: a mistyped `--data-dir` must not create an empty store and
/// answer with nothing.
pub fn require_store(dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        dir.join("log").is_dir(),
        "no store at {}: it has no log/ directory (append, import and serve create one)",
        dir.display()
    );
    Ok(())
}

/// Opens an existing store for a command that only reads.
pub fn open_existing(dir: &Path) -> anyhow::Result<EmbeddedStore> {
    require_store(dir)?;
    open_store(dir)
}

pub fn open_store(dir: &Path) -> anyhow::Result<EmbeddedStore> {
    let mut config = Config::from_env(dir).map_err(anyhow::Error::msg)?;
    // A progress bar while the log is replayed (an index rebuild, or a long
    // tail after a crash); indicatif draws nothing when stderr is not a terminal.
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("replaying the log {bar:40} {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let replay_bar = bar.clone();
    config.replay_progress = Some(std::sync::Arc::new(move |done, total| {
        if total > 64 << 20 {
            replay_bar.set_length(total);
            replay_bar.set_position(done);
        }
    }));
    let store = EmbeddedStore::open(config).with_context(|| format!("opening the store in {}", dir.display()));
    bar.finish_and_clear();
    store
}
