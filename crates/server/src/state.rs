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

/// Streams whose history index is kept in memory at most (the least
/// recently asked is dropped first; it is rebuilt when asked again).
const HISTORIES_CACHED: usize = 1_000;

pub struct Shared {
    pub store: Arc<dyn EventStore>,
    pub config: ServerConfig,
    /// Becomes true when the server is shutting down.
    pub stopping: watch::Receiver<bool>,
    pub metrics: PrometheusHandle,
    /// The live projections; None when the server runs none.
    pub projections: Option<Arc<hindsight_projections::registry::Registry>>,
    /// Streams' history indexes (documents, blame, watch), built as asked.
    pub histories: hindsight_timetravel::streams::Streams,
    /// Named points (`snapshot:ID`); None: the server keeps none.
    pub snapshots: Option<Arc<hindsight_timetravel::snapshots::Snapshots>>,
    /// Forks (isolated timelines); None: the server keeps none.
    pub forks: Option<Arc<hindsight_timetravel::forks::Forks>>,
    /// Projections folded over forks, kept while each fork is unchanged.
    pub fork_runs: Arc<hindsight_projections::whatif::ForkRuns>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Arc<dyn EventStore>, config: ServerConfig, stopping: watch::Receiver<bool>) -> Self {
        Self::with_projections(store, config, stopping, None)
    }

    pub fn with_projections(
        store: Arc<dyn EventStore>,
        config: ServerConfig,
        stopping: watch::Receiver<bool>,
        projections: Option<Arc<hindsight_projections::registry::Registry>>,
    ) -> Self {
        let spacing = hindsight_timetravel::Spacing { every: config.keyframe_every, ..Default::default() };
        let histories = hindsight_timetravel::streams::Streams::new(spacing, HISTORIES_CACHED);
        let metrics = crate::metrics::handle();
        let (snapshots, forks, fork_runs) = (None, None, Default::default());
        let shared = Shared { store, config, stopping, metrics, projections, histories, snapshots, forks, fork_runs };
        AppState(Arc::new(shared))
    }

    /// With the named points kept in `snapshots` and the forks in `forks`.
    pub fn with_time_travel(
        self,
        snapshots: Option<Arc<hindsight_timetravel::snapshots::Snapshots>>,
        forks: Option<Arc<hindsight_timetravel::forks::Forks>>,
    ) -> Self {
        match Arc::try_unwrap(self.0) {
            Ok(mut shared) => {
                shared.snapshots = snapshots;
                shared.forks = forks;
                AppState(Arc::new(shared))
            }
            Err(shared) => AppState(shared),
        }
    }

    /// A point with `snapshot:ID` replaced by the position it pinned.
    pub fn resolve_point(&self, point: &str) -> Result<String, crate::error::ApiError> {
        match &self.snapshots {
            Some(snapshots) => Ok(snapshots.resolve(point)?),
            None if point.starts_with("snapshot:") => Err(crate::error::ApiError::new(
                axum::http::StatusCode::NOT_IMPLEMENTED,
                "snapshots_disabled",
                "this server keeps no snapshots",
            )),
            None => Ok(point.to_string()),
        }
    }
}
