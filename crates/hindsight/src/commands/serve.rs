//! `serve`: the HTTP API on the embedded store. Settings: flags, then
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
    append_queue_depth: Option<usize>,
    cors_origins: Option<Vec<String>>,
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

pub async fn run(given_dir: Option<&Path>, args: ServeArgs) -> anyhow::Result<ExitCode> {
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
    server.cors_origins =
        if args.cors_origins.is_empty() { file.cors_origins.unwrap_or_default() } else { args.cors_origins };
    let mut config = Config::from_env(&data_dir).map_err(anyhow::Error::msg)?;
    if let Some(depth) = args.append_queue_depth.or(file.append_queue_depth) {
        anyhow::ensure!(depth > 0, "the append queue depth must be at least 1");
        config.append_queue_depth = depth;
    }
    let store = EmbeddedStore::open(config).with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(server.listen)
        .await
        .with_context(|| format!("listening on {}", server.listen))?;
    let addr = listener.local_addr()?;
    println!("{}", json!({ "listening": addr.to_string(), "data_dir": data_dir.display().to_string() }));
    tracing::info!(%addr, data_dir = %data_dir.display(), "serving");
    hindsight_server::serve(listener, Arc::new(store), server, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
