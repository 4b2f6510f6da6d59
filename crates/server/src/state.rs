//! The state every handler shares.

use std::sync::Arc;

use hindsight_store::EventStore;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

use crate::config::ServerConfig;

/// What every handler gets: one `Arc`, so the clone axum makes for each
/// request (and each middleware layer) is one atomic increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Arc<dyn EventStore>,
    pub config: ServerConfig,
    /// Becomes true when the server is shutting down.
    pub stopping: watch::Receiver<bool>,
    pub metrics: PrometheusHandle,
    /// The live projections; None when the server runs none.
    pub projections: Option<Arc<hindsight_projections::registry::Registry>>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Arc<dyn EventStore>, config: ServerConfig, stopping: watch::Receiver<bool>) -> Self {
        AppState(Arc::new(Shared { store, config, stopping, metrics: crate::metrics::handle(), projections: None }))
    }

    pub fn with_projections(
        store: Arc<dyn EventStore>,
        config: ServerConfig,
        stopping: watch::Receiver<bool>,
        projections: Option<Arc<hindsight_projections::registry::Registry>>,
    ) -> Self {
        AppState(Arc::new(Shared { store, config, stopping, metrics: crate::metrics::handle(), projections }))
    }
}
