//! `serve`: the HTTP API on the embedded store, or on PostgreSQL. Settings: flags, then
//! HINDSIGHT_* environment variables (clap reads both), then the TOML
//! file, then the defaults.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hindsight_server::ServerConfig;
use hindsight_store_embedded::{Config, EmbeddedStore};
use serde::Deserialize;
use serde_json::json;

use super::target::Target;
use super::DEFAULT_DATA_DIR;
use crate::cli::ServeArgs;

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    heartbeat_secs: Option<f64>,
    body_bytes_max: Option<usize>,
    subscription_lag_max: Option<u64>,
    subscription_lag_bytes_max: Option<u64>,
    append_queue_depth: Option<usize>,
    cors_origins: Option<Vec<String>>,
    max_connections: Option<usize>,
    idle_timeout_secs: Option<f64>,
    listen_backlog: Option<u32>,
}

/// File descriptors kept for the store (segments, index runs, checkpoint
/// writes) when the connection cap is fitted to the limit.
const FDS_FOR_THE_STORE: u64 = 256;

/// Raises the soft limit on open files to the hard limit (a common soft
/// limit of 1,024 is far below what a server holding connections needs)
/// and returns the soft limit now in force.
fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    // An unlimited hard limit cannot be set as the soft one for files.
    let want = limit.maximum.unwrap_or(1 << 20);
    if limit.current.is_some_and(|cur| cur < want) {
        if let Err(e) = setrlimit(Resource::Nofile, Rlimit { current: Some(want), maximum: limit.maximum }) {
            tracing::warn!(error = %e, "could not raise the open-file limit");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(want)
}

/// The connection cap that fits the open-file limit with the store's
/// reserve (half the limit when the limit is small).
fn fit_connections(wanted: usize, fd_limit: u64) -> usize {
    let reserve = FDS_FOR_THE_STORE.min(fd_limit / 2);
    let room = fd_limit.saturating_sub(reserve).max(1);
    wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
}

fn listen(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

pub async fn run(given_dir: Option<&Path>, store: Option<&str>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let file: FileConfig = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
        }
        None => FileConfig::default(),
    };
    let data_dir =
        given_dir.map(Path::to_path_buf).or(file.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let mut server = ServerConfig::default();
    if let Some(listen) = args.listen.or(file.listen) {
        server.listen =
            listen.parse().with_context(|| format!("--listen {listen:?} is not an address like 127.0.0.1:7113"))?;
    }
    if let Some(secs) = args.heartbeat_secs.or(file.heartbeat_secs) {
        anyhow::ensure!(secs > 0.0 && secs.is_finite(), "the heartbeat must be a positive number of seconds");
        server.heartbeat = Duration::from_secs_f64(secs);
    }
    if let Some(n) = args.body_bytes_max.or(file.body_bytes_max) {
        server.body_bytes_max = n;
    }
    server.subscription_lag_max = args.subscription_lag_max.or(file.subscription_lag_max);
    server.subscription_lag_bytes_max = args.subscription_lag_bytes_max.or(file.subscription_lag_bytes_max);
    server.cors_origins =
        if args.cors_origins.is_empty() { file.cors_origins.unwrap_or_default() } else { args.cors_origins };
    if let Some(secs) = args.idle_timeout_secs.or(file.idle_timeout_secs) {
        anyhow::ensure!(secs > 0.0 && secs.is_finite(), "the idle timeout must be a positive number of seconds");
        server.idle_timeout = Duration::from_secs_f64(secs);
    }
    if let Some(n) = args.listen_backlog.or(file.listen_backlog) {
        anyhow::ensure!(n > 0, "the listen backlog must be at least 1");
        server.listen_backlog = n;
    }
    let fd_limit = raise_fd_limit();
    let wanted = args.max_connections.or(file.max_connections).unwrap_or(server.max_connections);
    anyhow::ensure!(wanted > 0, "the connection cap must be at least 1");
    server.max_connections = fit_connections(wanted, fd_limit);
    if server.max_connections < wanted {
        tracing::warn!(
            wanted,
            fitted = server.max_connections,
            fd_limit,
            "the connection cap was lowered to leave file descriptors for the store"
        );
    }
    let mut config = Config::from_env(&data_dir).map_err(anyhow::Error::msg)?;
    if let Some(depth) = args.append_queue_depth.or(file.append_queue_depth) {
        anyhow::ensure!(depth > 0, "the append queue depth must be at least 1");
        config.append_queue_depth = depth;
    }
    let target = Target::new(&data_dir, store)?;
    let (store, kind) = open_store(target, config).await?;
    projection_settings(&mut server, target)?;
    let listener =
        listen(server.listen, server.listen_backlog).with_context(|| format!("listening on {}", server.listen))?;
    let addr = listener.local_addr()?;
    println!(
        "{}",
        json!({
            "listening": addr.to_string(),
            "data_dir": data_dir.display().to_string(),
            "store": kind,
            "max_connections": server.max_connections,
        })
    );
    tracing::info!(%addr, data_dir = %data_dir.display(), "serving");
    hindsight_server::serve(listener, store, server, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// The store `--store` names: a PostgreSQL URL, or the embedded store in
/// the data directory when none is given.
async fn open_store(
    target: Target<'_>,
    config: Config,
) -> anyhow::Result<(Arc<dyn hindsight_store::EventStore>, &'static str)> {
    match target.postgres {
        Some(url) => {
            let options = hindsight_store_postgres::Options {
                queue_depth: config.append_queue_depth,
                limits: config.limits,
                ..Default::default()
            };
            let store = super::target::connect(url, options).await?;
            let dir = &config.data_dir;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            Ok((Arc::new(store), "postgres"))
        }
        None => {
            let dir = target.dir;
            let store =
                EmbeddedStore::open(config).with_context(|| format!("opening the store in {}", dir.display()))?;
            Ok((Arc::new(store), "embedded"))
        }
    }
}

/// Projections live beside the store; HINDSIGHT_PROJECTION_STALL_SECS sets
/// how long one may be behind without progress before it is reported
/// stalled (default 30 s), HINDSIGHT_KEYFRAME_EVERY how many events of a
/// stream or partition lie between time travel's keyframes (default 1000:
/// fewer answer faster and take more memory).
fn projection_settings(server: &mut ServerConfig, target: Target<'_>) -> anyhow::Result<()> {
    let data_dir = target.dir;
    server.projections_dir = Some(data_dir.join("projections"));
    if let Some(url) = target.postgres {
        // Servers on one database share its projections (one leads each)
        // and its forks.
        let keeping = Arc::new(
            hindsight_store_postgres::keeping::PgKeeping::new(url)
                .with_context(|| format!("the projections in {}", super::target::redact(url)))?,
        );
        server.projections_keeping = Some(keeping.clone());
        server.forks_shelf = Some(keeping);
    }
    server.snapshots_path = Some(data_dir.join("snapshots.json"));
    server.forks_dir = Some(data_dir.join("forks"));
    if let Ok(secs) = std::env::var("HINDSIGHT_PROJECTION_STALL_SECS") {
        let secs: f64 = secs.parse().context("HINDSIGHT_PROJECTION_STALL_SECS must be a number of seconds")?;
        server.projection_stall_after = Duration::from_secs_f64(secs.max(0.0));
    }
    if let Ok(every) = std::env::var("HINDSIGHT_KEYFRAME_EVERY") {
        let every: u64 = every.parse().context("HINDSIGHT_KEYFRAME_EVERY must be a whole number of events")?;
        anyhow::ensure!(every >= 1, "HINDSIGHT_KEYFRAME_EVERY must be at least 1");
        server.keyframe_every = every;
    }
    Ok(())
}
