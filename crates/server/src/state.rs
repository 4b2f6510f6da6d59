//! The state every handler shares.

use std::sync::Arc;

use hindsight_store::EventStore;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

use crate::config::ServerConfig;

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn EventStore>,
    pub config: Arc<ServerConfig>,
    /// Becomes true when the server is shutting down.
    pub stopping: watch::Receiver<bool>,
    pub metrics: PrometheusHandle,
}

impl AppState {
    pub fn new(store: Arc<dyn EventStore>, config: ServerConfig, stopping: watch::Receiver<bool>) -> Self {
        AppState { store, config: Arc::new(config), stopping, metrics: crate::metrics::handle() }
    }
}
