//! Projections and forks kept in PostgreSQL, shared by every server on
//! the database. Forks: one row per fork in `hs_forks`. Projections:
//! definitions in `hs_projections`, each version's checkpoint (states,
//! position, parked events and status, as one value) in one row of
//! `hs_checkpoints`, replaced by one statement, so states and position
//! always go together. Leadership is a session advisory lock per
//! projection held on this keeping's own connection: PostgreSQL releases
//! it the moment that connection ends (the server died, or lost the
//! database), and a checkpoint is written only while the lock is held
//! (checked in the same statement), so a server that lost its lead
//! cannot overwrite the new leader's.
//!
//! The registry calls the keeping from worker threads and briefly from
//! async code, so the calls are synchronous: each runs on this keeping's
//! own thread, which owns the connection and a small runtime to drive it.

use std::collections::HashSet;
use std::sync::mpsc;

use hindsight_projections::checkpoint::{CheckpointError, Saved, Slot};
use hindsight_projections::keeping::Keeping;
use hindsight_projections::registry::RegistryError;
use hindsight_store::StoreError;
use hindsight_timetravel::service::HistoryError;
use hindsight_timetravel::shelf::Shelf;
use tokio_postgres::{Client, NoTls};

use crate::error::pg;

type Job = Box<dyn FnOnce(&mut Conn) + Send>;

/// The connection (made again when lost) and the leaderships it holds.
struct Conn {
    rt: tokio::runtime::Runtime,
    config: tokio_postgres::Config,
    client: Option<Client>,
    held: HashSet<String>,
}

impl Conn {
    /// The connection, made again when lost (which loses every lead).
    fn client(&mut self) -> Result<&Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.held.clear();
            let config = self.config.clone();
            let client = self.rt.block_on(async move {
                let (client, connection) = config.connect(NoTls).await.map_err(pg)?;
                tokio::spawn(connection);
                Ok::<_, StoreError>(client)
            })?;
            self.client = Some(client);
        }
        self.client.as_ref().ok_or(StoreError::Closed)
    }

    fn run<T>(&mut self, work: impl AsyncFnOnce(&Client) -> Result<T, tokio_postgres::Error>) -> Result<T, StoreError> {
        self.client()?;
        let (rt, client) = (&self.rt, self.client.as_ref().ok_or(StoreError::Closed)?);
        rt.block_on(work(client)).map_err(pg)
    }
}

/// Definitions, checkpoints and leadership in PostgreSQL.
#[derive(Clone)]
pub struct PgKeeping {
    jobs: mpsc::Sender<Job>,
}

/// The advisory lock key of a projection's leadership.
fn lock_key(name: &str) -> i64 {
    let hash = blake3::hash(format!("hindsight projection {name}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    i64::from_le_bytes(first)
}

fn registry_error(e: StoreError) -> RegistryError {
    RegistryError::Invalid(format!("the shared projections: {e}"))
}

fn checkpoint_error(e: StoreError) -> CheckpointError {
    CheckpointError::Io { context: "the checkpoint in PostgreSQL".into(), source: std::io::Error::other(e) }
}

/// A checkpoint is replaced only while this session holds the lead.
const STORE_CHECKPOINT: &str = "INSERT INTO hs_checkpoints (name, version, position, checkpoint)
     SELECT $1, $2, $3, $4
     WHERE EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                   AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $5)
     ON CONFLICT (name, version) DO UPDATE
     SET position = excluded.position, checkpoint = excluded.checkpoint, written_at = now()";

impl PgKeeping {
    /// Starts the keeping's thread; connects on first use. The schema
    /// comes from the store's migrations (open the store first).
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Backend(format!("the PostgreSQL URL is invalid: {e}")))?;
        // The registry waits on these calls: an unreachable database must
        // fail them in seconds, not after the system's TCP timeout.
        let options = crate::Options::default();
        config.connect_timeout(options.connect_timeout);
        config.options(format!("-c statement_timeout={}", options.statement_timeout.as_millis()));
        config.application_name("hindsight-projections");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("a runtime for the projections' connection: {e}")))?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let mut conn = Conn { rt, config, client: None, held: HashSet::new() };
        std::thread::Builder::new()
            .name("projections-postgres".into())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Backend(format!("starting the projections' connection thread: {e}")))?;
        Ok(PgKeeping { jobs })
    }

    /// One statement on a name (`$1`) and, when given, a body (`$2`).
    fn execute(&self, sql: &'static str, name: &str, body: Option<&[u8]>) -> Result<(), StoreError> {
        let (name, body) = (name.to_string(), body.map(<[u8]>::to_vec));
        self.call(move |c| {
            c.run(async |client| match &body {
                Some(body) => client.execute(sql, &[&name, body]).await,
                None => client.execute(sql, &[&name]).await,
            })
            .map(drop)
        })
    }

    /// Runs `job` on the keeping's thread and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::channel();
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(job(conn));
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        answer.recv().map_err(|_| StoreError::Closed)?
    }
}

impl Keeping for PgKeeping {
    fn definitions(&self) -> Result<Vec<(String, Vec<u8>)>, RegistryError> {
        self.call(|c| {
            let rows = c.run(async |client| client.query("SELECT name, definition FROM hs_projections", &[]).await)?;
            Ok(rows.iter().map(|r| (format!("hs_projections {:?}", r.get::<_, String>(0)), r.get(1))).collect())
        })
        .map_err(registry_error)
    }

    fn save_definition(&self, name: &str, body: &[u8]) -> Result<(), RegistryError> {
        self.execute(
            "INSERT INTO hs_projections (name, definition) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = now()",
            name,
            Some(body),
        )
        .map_err(registry_error)
    }

    /// The definition and every checkpoint, in one statement (atomic).
    fn remove(&self, name: &str) -> Result<(), RegistryError> {
        self.execute(
            "WITH checkpoints AS (DELETE FROM hs_checkpoints WHERE name = $1)
             DELETE FROM hs_projections WHERE name = $1",
            name,
            None,
        )
        .map_err(registry_error)
    }

    fn slot(&self, name: &str, version: u64) -> Box<dyn Slot> {
        Box::new(PgSlot { keeping: self.clone(), name: name.to_string(), version: version as i64 })
    }

    fn remove_slot(&self, name: &str, version: u64) -> Result<(), RegistryError> {
        let (name, version) = (name.to_string(), version as i64);
        self.call(move |c| {
            c.run(async |client| {
                client.execute("DELETE FROM hs_checkpoints WHERE name = $1 AND version = $2", &[&name, &version]).await
            })
            .map(drop)
        })
        .map_err(registry_error)
    }

    fn shared(&self) -> bool {
        true
    }

    fn lead(&self, name: &str) -> bool {
        let name = name.to_string();
        let led = self.call(move |c| {
            if c.held.contains(&name) && c.client.as_ref().is_some_and(|cl| !cl.is_closed()) {
                return Ok(true);
            }
            let key = lock_key(&name);
            let got = c.run(async |client| client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]).await)?;
            let got: bool = got.get(0);
            if got {
                c.held.insert(name);
            }
            Ok(got)
        });
        led.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "taking a projection's lead");
            false
        })
    }

    fn leads(&self, name: &str) -> bool {
        let name = name.to_string();
        self.call(move |c| Ok(c.held.contains(&name) && c.client.as_ref().is_some_and(|cl| !cl.is_closed())))
            .unwrap_or(false)
    }
}

impl Shelf for PgKeeping {
    fn list(&self) -> Result<Vec<(String, Vec<u8>)>, HistoryError> {
        self.call(|c| {
            let rows = c.run(async |client| client.query("SELECT name, fork FROM hs_forks", &[]).await)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
        .map_err(history_error)
    }

    fn contains(&self, name: &str) -> Result<bool, HistoryError> {
        let name = name.to_string();
        self.call(move |c| {
            let row =
                c.run(async |client| client.query_opt("SELECT 1 FROM hs_forks WHERE name = $1", &[&name]).await)?;
            Ok(row.is_some())
        })
        .map_err(history_error)
    }

    fn put(&self, name: &str, body: &[u8]) -> Result<(), HistoryError> {
        self.execute(
            "INSERT INTO hs_forks (name, fork) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET fork = excluded.fork, updated_at = now()",
            name,
            Some(body),
        )
        .map_err(history_error)
    }

    fn remove(&self, name: &str) -> Result<(), HistoryError> {
        self.execute("DELETE FROM hs_forks WHERE name = $1", name, None).map_err(history_error)
    }

    fn shared(&self) -> bool {
        true
    }
}

fn history_error(e: StoreError) -> HistoryError {
    HistoryError::Failed(format!("the shared forks: {e}"))
}

/// One version's checkpoint row.
struct PgSlot {
    keeping: PgKeeping,
    name: String,
    version: i64,
}

impl Slot for PgSlot {
    fn load(&self) -> Result<Option<Saved>, CheckpointError> {
        let (name, version) = (self.name.clone(), self.version);
        let body = self
            .keeping
            .call(move |c| {
                let row = c.run(async |client| {
                    client
                        .query_opt(
                            "SELECT checkpoint FROM hs_checkpoints WHERE name = $1 AND version = $2",
                            &[&name, &version],
                        )
                        .await
                })?;
                Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
            })
            .map_err(checkpoint_error)?;
        let Some(body) = body else { return Ok(None) };
        serde_json::from_slice(&body).map(Some).map_err(|e| CheckpointError::Damaged {
            path: format!("hs_checkpoints ({:?}, {})", self.name, self.version),
            detail: e.to_string(),
        })
    }

    /// Written only while this server leads the projection; a follower's
    /// (or a deposed leader's) write changes nothing.
    fn store(&self, saved: &Saved) -> Result<(), CheckpointError> {
        let body = serde_json::to_vec(saved).map_err(|e| checkpoint_error(StoreError::Backend(e.to_string())))?;
        let (name, version, position) = (self.name.clone(), self.version, saved.position.map(|p| p as i64));
        let key = lock_key(&self.name);
        self.keeping
            .call(move |c| {
                c.run(async |client| client.execute(STORE_CHECKPOINT, &[&name, &version, &position, &body, &key]).await)
                    .map(drop)
            })
            .map_err(checkpoint_error)
    }
}
