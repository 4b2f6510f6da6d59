//! Server settings and their defaults, as named constants.

use std::net::SocketAddr;
use std::time::Duration;

/// Default address: loopback only, so a fresh install is not exposed.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:7113";
/// Largest request body; checked against Content-Length before reading.
pub const BODY_BYTES_MAX: usize = 24 << 20;
/// Heartbeat comment on idle subscriptions.
pub const HEARTBEAT_DEFAULT: Duration = Duration::from_secs(15);
/// Events per page of a stream or `$all` read when the client sets no limit.
pub const READ_PAGE_DEFAULT: usize = 100;
/// Most events per page of a read.
pub const READ_PAGE_MAX: usize = 10_000;
/// Connections open at once; over it a new connection gets 503. The
/// `serve` command lowers it to fit the file-descriptor limit, keeping
/// descriptors in reserve for the store.
pub const MAX_CONNECTIONS_DEFAULT: usize = 10_000;
/// A connection that sends no whole request header for this long (fresh,
/// idle between requests, or trickling its header) is closed.
pub const IDLE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// The listen backlog: room for a reconnect storm without SYN retries.
pub const LISTEN_BACKLOG_DEFAULT: u32 = 4096;

/// Server settings (the CLI fills them from flags, env and a TOML file).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub heartbeat: Duration,
    pub body_bytes_max: usize,
    /// A subscriber this many events behind the head is sent a final
    /// `error` event and dropped; None: it is never dropped (it reads on
    /// from the log at its own pace, costing the server one page).
    pub subscription_lag_max: Option<u64>,
    /// The same, in bytes of log (when the store can tell).
    pub subscription_lag_bytes_max: Option<u64>,
    /// Origins whose browser pages may call the API (CORS); empty: none,
    /// `*`: any.
    pub cors_origins: Vec<String>,
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub listen_backlog: u32,
    /// Where projections keep their definitions and states; None: the
    /// server runs no projections.
    pub projections_dir: Option<std::path::PathBuf>,
    /// Keeps projections somewhere shared instead (a PostgreSQL database
    /// several servers use): takes precedence over `projections_dir`.
    pub projections_keeping: Option<std::sync::Arc<dyn hindsight_projections::keeping::Keeping>>,
    /// How history indexes keep keyframes: every this many events of a
    /// stream or partition (older ones thinned).
    pub keyframe_every: u64,
    /// Where forks are kept; None: the server keeps none.
    pub forks_dir: Option<std::path::PathBuf>,
    /// Keeps forks somewhere shared instead (a PostgreSQL database several
    /// servers use): takes precedence over `forks_dir`.
    pub forks_shelf: Option<std::sync::Arc<dyn hindsight_timetravel::shelf::Shelf>>,
    /// The file named points (snapshots) are kept in; None: none are kept.
    pub snapshots_path: Option<std::path::PathBuf>,
    /// A projection behind the log without progress for this long is
    /// reported stalled.
    pub projection_stall_after: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: LISTEN_DEFAULT.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 7113))),
            heartbeat: HEARTBEAT_DEFAULT,
            body_bytes_max: BODY_BYTES_MAX,
            subscription_lag_max: None,
            subscription_lag_bytes_max: None,
            cors_origins: Vec::new(),
            max_connections: MAX_CONNECTIONS_DEFAULT,
            idle_timeout: IDLE_TIMEOUT_DEFAULT,
            listen_backlog: LISTEN_BACKLOG_DEFAULT,
            projections_dir: None,
            projections_keeping: None,
            snapshots_path: None,
            forks_dir: None,
            forks_shelf: None,
            keyframe_every: hindsight_timetravel::Spacing::default().every,
            projection_stall_after: Duration::from_secs(30),
        }
    }
}
