//! Hindsight's HTTP API. The only crate that speaks the wire: it has its
//! own request and response types (`wire.rs`), maps every store error to
//! one status and body in one place (`error.rs`), and talks to storage
//! only through the `EventStore` trait, so any backend slots in unchanged.

mod config;
mod connections;
mod error;
mod extract;
mod metrics;
mod openapi;
mod routes;
mod state;
mod wire;

use std::sync::Arc;

use axum::Router;
use hindsight_store::EventStore;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::ServerConfig;
pub use openapi::{openapi_json, ROUTES};
pub use state::AppState;

/// The whole API as a router, without a socket (tests call it directly).
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish, ends every subscription with a final event, and makes
/// the store durable.
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn EventStore>,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let limits =
        connections::ConnectionLimits { max_connections: config.max_connections, idle_timeout: config.idle_timeout };
    let projections = open_projections(&config, &store)?;
    let snapshots = match &config.snapshots_path {
        Some(path) => {
            Some(Arc::new(hindsight_timetravel::snapshots::Snapshots::open(path).map_err(std::io::Error::other)?))
        }
        None => None,
    };
    let forks = open_forks(&config, &store).await?;
    let state = AppState::with_projections(store.clone(), config, stop_rx.clone(), projections.clone())
        .with_time_travel(snapshots, forks);
    let app = app(state);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    connections::serve(listener, app, limits, stop_rx).await;
    if let Some(projections) = projections {
        projections.shutdown().await;
    }
    tokio::task::spawn_blocking(move || store.shutdown())
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
    tracing::info!("store closed; bye");
    Ok(())
}

/// The projections the config names: in a shared keeping (a database
/// several servers use), in the projections directory, or none.
fn open_projections(
    config: &ServerConfig,
    store: &Arc<dyn EventStore>,
) -> std::io::Result<Option<Arc<hindsight_projections::registry::Registry>>> {
    use hindsight_projections::keeping::{DirKeeping, Keeping};
    let settings = hindsight_projections::registry::Settings {
        stall_after: config.projection_stall_after,
        keyframes: hindsight_timetravel::Spacing { every: config.keyframe_every, ..Default::default() },
        ..Default::default()
    };
    let keeping: Arc<dyn Keeping> = match (&config.projections_keeping, &config.projections_dir) {
        (Some(shared), _) => shared.clone(),
        (None, Some(dir)) => Arc::new(DirKeeping::open(dir).map_err(std::io::Error::other)?),
        (None, None) => return Ok(None),
    };
    let rt = tokio::runtime::Handle::current();
    let registry = hindsight_projections::registry::Registry::open_in(keeping, store.clone(), rt, settings);
    Ok(Some(registry.map_err(std::io::Error::other)?))
}

/// The forks the config names: on a shared shelf (followed), in the
/// forks directory, or none.
async fn open_forks(
    config: &ServerConfig,
    store: &Arc<dyn EventStore>,
) -> std::io::Result<Option<Arc<hindsight_timetravel::forks::Forks>>> {
    use hindsight_timetravel::shelf::{DirShelf, Shelf};
    let shelf: Arc<dyn Shelf> = match (&config.forks_shelf, &config.forks_dir) {
        (Some(shared), _) => shared.clone(),
        (None, Some(dir)) => Arc::new(DirShelf::open(dir).map_err(std::io::Error::other)?),
        (None, None) => return Ok(None),
    };
    let forks = hindsight_timetravel::forks::Forks::open_on(shelf, store.clone(), hindsight_store::Limits::default())
        .await
        .map_err(std::io::Error::other)?;
    let forks = Arc::new(forks);
    forks.follow_others();
    Ok(Some(forks))
}
