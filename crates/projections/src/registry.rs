//! The live projections of a server: their definitions (every version
//! kept, with its hash and time), one worker thread each, and what the
//! status API answers. Definitions and checkpoints live beside the store,
//! never in the event log: where is a [`Keeping`]'s business (files in
//! the data directory by default).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hindsight_store::{EventReader, EventStore};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::compare::{self, States};
use crate::keeping::{DirKeeping, Keeping};

use crate::js::Limits;
use crate::worker::{self, Command, Handle, Spec};
use crate::{FailurePolicy, Parked, Status};

/// One version of a definition, kept for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub version: u64,
    /// BLAKE3 of the source, hex.
    pub hash: String,
    pub created_at: String,
    pub source: String,
    /// The head of the log when it took over (the first version: none;
    /// it answers from the start): time travel folds a point with the
    /// version that was live then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<u64>,
}

/// How a projection handles failing events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tuning {
    /// Attempts after the first.
    pub retries: u32,
    pub retry_backoff_ms: u64,
    /// 0: no circuit breaker.
    pub breaker_failures: u32,
    pub breaker_window_secs: u64,
    pub breaker_cool_down_secs: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            retries: 2,
            retry_backoff_ms: 5,
            breaker_failures: 100,
            breaker_window_secs: 60,
            breaker_cool_down_secs: 30,
        }
    }
}

impl Tuning {
    pub fn breaker(&self) -> crate::breaker::BreakerConfig {
        crate::breaker::BreakerConfig {
            failures: self.breaker_failures,
            window: Duration::from_secs(self.breaker_window_secs),
            cool_down: Duration::from_secs(self.breaker_cool_down_secs),
        }
    }
}

/// A projection as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Definition {
    pub name: String,
    pub on_error: String,
    pub paused: bool,
    pub versions: Vec<Version>,
    /// The version that answers (0: the last). A later one is being
    /// rebuilt beside it and takes over once it has caught up.
    #[serde(default)]
    pub active: u64,
    #[serde(default)]
    pub tuning: Tuning,
}

impl Definition {
    /// The version that answers queries.
    pub fn current(&self) -> Option<&Version> {
        match self.active {
            0 => self.versions.last(),
            v => self.versions.iter().find(|x| x.version == v),
        }
    }

    /// The newest version, when it is still being rebuilt.
    pub fn rebuilding(&self) -> Option<&Version> {
        self.versions.last().filter(|last| self.current().is_some_and(|c| c.version < last.version))
    }
}

/// What `GET /v1/projections/{name}` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub name: String,
    pub status: &'static str,
    pub version: u64,
    pub hash: String,
    pub on_error: String,
    pub position: Option<u64>,
    pub lag_events: u64,
    pub lag_seconds: f64,
    pub events_per_sec: f64,
    pub errors: u64,
    pub parked: usize,
    pub partitions: usize,
    /// Why it is faulted (the failing position and error), when it is.
    pub fault: Option<serde_json::Value>,
    /// The circuit breaker when not closed: "open" or "half_open".
    pub circuit: Option<&'static str>,
    /// The new version being built beside this one (blue/green): its
    /// version, position, events done, rate and the time left.
    pub rebuild: Option<serde_json::Value>,
    /// Whether this server leads the projection: writes its checkpoints
    /// and publishes its output (always, unless servers share a database).
    pub leader: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no projection is named {0:?}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("the projection's worker is not running: {0}")]
    Gone(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RegistryError {
    let context = context.into();
    move |source| RegistryError::Io { context, source }
}

/// How the registry runs its projections.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub limits: Limits,
    /// Behind the log and without progress for this long: stalled.
    pub stall_after: Duration,
    /// Sandboxes (threads) a per-stream projection folds on.
    pub shards: usize,
    /// How partitions' history indexes keep keyframes (time travel).
    pub keyframes: hindsight_timetravel::Spacing,
}

impl Default for Settings {
    /// One sandbox per core but one (left to reading the log and routing
    /// the events), and a single one below four cores: on two cores the
    /// split measured no faster (219-261k events/s against 236k).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shards = if cores >= 4 { cores - 1 } else { 1 };
        let keyframes = Default::default();
        Settings { limits: Limits::default(), stall_after: Duration::from_secs(30), shards, keyframes }
    }
}

pub(crate) struct Live {
    pub(crate) definition: Definition,
    handle: Handle,
    /// The newer version rebuilding beside the live one, and its worker.
    next: Option<(u64, Handle)>,
    /// Whether this server leads it (see `follow`); a follower folds in
    /// memory from the leader's checkpoint, writes none, publishes nothing.
    pub(crate) leader: bool,
}

/// Every live projection of a server.
pub struct Registry {
    pub(crate) keeping: Arc<dyn Keeping>,
    /// The definition bodies this server saved last, by name: changes
    /// others made are told apart from its own (see `follow`).
    pub(crate) saved_here: Mutex<std::collections::HashMap<String, Vec<u8>>>,
    /// Where emitted events are published.
    store: Arc<dyn EventStore>,
    pub(crate) reader: Arc<dyn EventReader>,
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) settings: Settings,
    live: Mutex<BTreeMap<String, Live>>,
    /// Partitions' history indexes (time travel), built as asked.
    pub(crate) histories: Arc<hindsight_timetravel::service::Histories>,
    /// What each source's fold reads, by hash (see `history.rs`).
    pub(crate) probes: Arc<Mutex<std::collections::HashMap<String, crate::history::Probe>>>,
}

/// A name may be used in a URL and as a directory as it is.
pub fn check_name(name: &str) -> Result<(), RegistryError> {
    hindsight_store::check_resource_name("projection", name).map_err(RegistryError::Invalid)
}

fn policy(on_error: &str) -> FailurePolicy {
    if on_error == "stop" {
        FailurePolicy::Stop
    } else {
        FailurePolicy::Park
    }
}

impl Registry {
    /// Opens the definitions in `dir` and starts a worker for each; every
    /// one resumes from its checkpoint.
    pub fn open(
        dir: impl Into<PathBuf>,
        store: Arc<dyn EventStore>,
        rt: tokio::runtime::Handle,
        settings: Settings,
    ) -> Result<Arc<Self>, RegistryError> {
        Registry::open_in(Arc::new(DirKeeping::open(dir)?), store, rt, settings)
    }

    /// The same with definitions and checkpoints kept by `keeping`.
    pub fn open_in(
        keeping: Arc<dyn Keeping>,
        store: Arc<dyn EventStore>,
        rt: tokio::runtime::Handle,
        settings: Settings,
    ) -> Result<Arc<Self>, RegistryError> {
        let reader: Arc<dyn EventReader> = store.clone();
        let histories = Arc::new(hindsight_timetravel::service::Histories::new(settings.keyframes, HISTORIES_CACHED));
        let live = Mutex::new(BTreeMap::new());
        let probes = Arc::default();
        let saved_here = Mutex::default();
        let registry = Arc::new(Registry { keeping, saved_here, store, reader, rt, settings, live, histories, probes });
        for (place, body) in registry.keeping.definitions()? {
            let definition: Definition = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::Invalid(format!("{place} is damaged: {e}")))?;
            registry.start(definition)?;
        }
        if registry.keeping.shared() {
            registry.follow_others();
        }
        let weak = Arc::downgrade(&registry);
        registry.rt.spawn(async move {
            while let Some(registry) = weak.upgrade() {
                registry.switch_caught_up().await;
                drop(registry);
                tokio::time::sleep(SWITCH_CHECK_EVERY).await;
            }
        });
        Ok(registry)
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a version's worker: the live one (`live` None) or a rebuild
    /// beside the live one whose info `live` is.
    fn spawn(
        &self,
        definition: &Definition,
        version: &Version,
        live: Option<Arc<Mutex<worker::Info>>>,
        leader: bool,
    ) -> Result<Handle, RegistryError> {
        let slot = self.keeping.slot(&definition.name, version.version);
        let spec = Spec {
            name: definition.name.clone(),
            active: live.is_none(),
            live,
            store: leader.then(|| self.store.clone()),
            tuning: definition.tuning,
            shards: self.settings.shards,
            source: version.source.clone(),
            policy: policy(&definition.on_error),
            slot: if leader { slot } else { Box::new(crate::checkpoint::ReadOnly(slot)) },
            limits: self.settings.limits,
            paused: definition.paused,
        };
        worker::start(&definition.name, spec, self.reader.clone(), self.rt.clone())
            .map_err(io("starting a projection thread"))
    }

    /// Starts the live version's worker, and the newer one's when it is
    /// still rebuilding.
    pub(crate) fn start(&self, definition: Definition) -> Result<(), RegistryError> {
        let current =
            definition.current().ok_or_else(|| RegistryError::Invalid("a definition without a version".into()))?;
        let leader = self.keeping.lead(&definition.name);
        let handle = self.spawn(&definition, current, None, leader)?;
        let next = match definition.rebuilding() {
            Some(v) => Some((v.version, self.spawn(&definition, v, Some(handle.info.clone()), leader)?)),
            None => None,
        };
        self.lock().insert(definition.name.clone(), Live { definition, handle, next, leader });
        Ok(())
    }

    /// Creates a projection or makes `source` its new version (the same
    /// source and policy again changes nothing). A new version is built
    /// beside the live one from the start of the log while the live one
    /// keeps answering, and takes over once it has caught up (blue/green).
    /// A source that does not define a projection is refused with what is
    /// wrong with it.
    pub async fn put(
        &self,
        name: &str,
        source: &str,
        on_error: &str,
        tuning: Tuning,
    ) -> Result<Summary, RegistryError> {
        check_name(name)?;
        if !matches!(on_error, "park" | "stop") {
            return Err(RegistryError::Invalid(format!("on_error {on_error:?}: use \"park\" or \"stop\"")));
        }
        crate::builtin::fold_for(source, self.settings.limits, 1)
            .map_err(|e| RegistryError::Invalid(format!("the source: {e}")))?;
        let hash = blake3::hash(source.as_bytes()).to_hex().to_string();
        let existing = self.lock().get(name).map(|l| l.definition.clone());
        let Some(mut definition) = existing else {
            let definition = Definition {
                name: name.to_string(),
                on_error: on_error.to_string(),
                paused: false,
                versions: vec![self.version(1, hash, source)],
                active: 1,
                tuning,
            };
            self.save(&definition)?;
            self.start(definition)?;
            return self.summary(name);
        };
        let same_source = definition.versions.last().is_some_and(|v| v.hash == hash);
        if same_source && definition.on_error == on_error && definition.tuning == tuning {
            return self.summary(name);
        }
        definition.on_error = on_error.to_string();
        definition.tuning = tuning;
        if definition.active == 0 {
            definition.active = definition.current().map_or(1, |v| v.version);
        }
        if !same_source {
            let version = definition.versions.last().map_or(1, |v| v.version + 1);
            definition.versions.push(self.version(version, hash, source));
        }
        self.install(name, definition, same_source).await
    }

    /// Puts an updated definition in place without stopping the live
    /// worker: a policy change reaches the workers as an order; a new
    /// source starts its rebuild beside the live version.
    async fn install(&self, name: &str, definition: Definition, same_source: bool) -> Result<Summary, RegistryError> {
        self.save(&definition)?;
        let policy_now = policy(&definition.on_error);
        let old_next = {
            let mut live = self.lock();
            let l = live.get_mut(name).ok_or_else(|| RegistryError::NotFound(name.to_string()))?;
            l.definition = definition.clone();
            let _ = l.handle.commands.send(Command::Configure(policy_now, definition.tuning));
            if same_source {
                if let Some((_, next)) = &l.next {
                    let _ = next.commands.send(Command::Configure(policy_now, definition.tuning));
                }
                None
            } else {
                l.next.take()
            }
        };
        if same_source {
            return self.summary(name);
        }
        // A newer source replaces a rebuild still under way.
        if let Some((version, handle)) = old_next {
            stop_worker(handle).await;
            let _ = self.keeping.remove_slot(name, version);
        }
        if let Some(newest) = definition.versions.last() {
            let live = self.lock().get(name).map(|l| l.handle.info.clone());
            let live = live.ok_or_else(|| RegistryError::NotFound(name.to_string()))?;
            let leader = self.lock().get(name).is_some_and(|l| l.leader);
            let handle = self.spawn(&definition, newest, Some(live), leader)?;
            if let Some(l) = self.lock().get_mut(name) {
                l.next = Some((newest.version, handle));
            }
        }
        self.summary(name)
    }

    fn version(&self, version: u64, hash: String, source: &str) -> Version {
        let created_at = hindsight_store::timestamp::rfc3339(self.reader.clock_us());
        Version { version, hash, created_at, source: source.to_string(), activated_at: None }
    }

    /// Switches every rebuilt version that has caught up with the log in
    /// for the one it replaces: from then on it answers, and the old one
    /// is stopped and its states removed. A rebuild that holds all the
    /// output it may for a live version that cannot move (faulted, or its
    /// worker failed) takes over where it is, ahead of that version.
    async fn switch_caught_up(&self) {
        let head = self.reader.next_position();
        let ready: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, l)| {
                l.next.as_ref().is_some_and(|(_, h)| {
                    let i = worker::lock(&h.info);
                    let caught_up = i.position.map_or(0, |p| p + 1) >= head;
                    let blocked = i.held_output >= crate::outbox::HELD_MAX && {
                        let old = worker::lock(&l.handle.info);
                        old.error.is_some() || old.status != Status::Running
                    };
                    i.error.is_none() && i.status == Status::Running && (caught_up || blocked)
                })
            })
            .map(|(k, _)| k.clone())
            .collect();
        for name in ready {
            let switched = {
                let mut live = self.lock();
                let Some(l) = live.get_mut(&name) else { continue };
                let Some((version, handle)) = l.next.take() else { continue };
                let old_version = l.definition.current().map(|v| v.version);
                let old = std::mem::replace(&mut l.handle, handle);
                l.definition.active = version;
                if let Some(v) = l.definition.versions.iter_mut().find(|v| v.version == version) {
                    v.activated_at = Some(head);
                }
                (l.definition.clone(), old, old_version)
            };
            let (definition, old, old_version) = switched;
            // The old version publishes nothing more once stopped; the new
            // one then publishes what it emitted for input events after the
            // old one's last. Only then is the switch recorded: a crash
            // before it restarts the old version, whose output repeats
            // with the same ids (a retry to the store).
            let old_info = old.info.clone();
            stop_worker(old).await;
            let after = worker::lock(&old_info).position;
            if let Err(e) = self.ask(&name, |reply| Command::Activate { after, reply }).await {
                tracing::error!(error = %e, projection = %name, "activating the rebuilt version");
            }
            if let Err(e) = self.save(&definition) {
                tracing::error!(error = %e, projection = %name, "saving the switch to the rebuilt version");
                continue;
            }
            tracing::info!(projection = %name, version = definition.active, "switched to the rebuilt version");
            if let Some(v) = old_version {
                let _ = self.keeping.remove_slot(&name, v);
            }
        }
    }

    fn save(&self, definition: &Definition) -> Result<(), RegistryError> {
        let body = serde_json::to_vec_pretty(definition).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        self.saved_here.lock().unwrap_or_else(|p| p.into_inner()).insert(definition.name.clone(), body.clone());
        self.keeping.save_definition(&definition.name, &body)
    }

    /// Stops a projection's workers (each checkpoints first) and forgets
    /// them.
    pub(crate) async fn stop(&self, name: &str) {
        let live = self.lock().remove(name);
        if let Some(live) = live {
            stop_worker(live.handle).await;
            if let Some((_, next)) = live.next {
                stop_worker(next).await;
            }
        }
    }

    /// Stops every worker, each after a last checkpoint.
    pub async fn shutdown(&self) {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        for name in names {
            self.stop(&name).await;
        }
    }

    pub async fn delete(&self, name: &str) -> Result<(), RegistryError> {
        if !self.lock().contains_key(name) {
            return Err(RegistryError::NotFound(name.to_string()));
        }
        self.stop(name).await;
        self.forget_history(name);
        self.keeping.remove(name)
    }

    /// Rebuilds from the start of the log: the checkpoint is dropped.
    pub async fn reset(&self, name: &str) -> Result<Summary, RegistryError> {
        let definition = self.definition(name)?;
        self.stop(name).await;
        let version = definition.current().map_or(1, |v| v.version);
        self.keeping.remove_slot(name, version)?;
        self.start(definition)?;
        self.summary(name)
    }

    /// Pauses or resumes; remembered across restarts.
    pub fn set_paused(&self, name: &str, paused: bool) -> Result<Summary, RegistryError> {
        {
            let mut live = self.lock();
            let l = live.get_mut(name).ok_or_else(|| RegistryError::NotFound(name.to_string()))?;
            l.definition.paused = paused;
            let _ = l.handle.commands.send(if paused { Command::Pause } else { Command::Resume });
            if let Some((_, next)) = &l.next {
                let _ = next.commands.send(if paused { Command::Pause } else { Command::Resume });
            }
            let definition = l.definition.clone();
            drop(live);
            self.save(&definition)?;
        }
        let info = self.handle_info(name)?;
        worker::lock(&info).paused = paused;
        self.summary(name)
    }

    pub fn definition(&self, name: &str) -> Result<Definition, RegistryError> {
        self.lock().get(name).map(|l| l.definition.clone()).ok_or_else(|| RegistryError::NotFound(name.to_string()))
    }

    fn handle_info(&self, name: &str) -> Result<Arc<Mutex<worker::Info>>, RegistryError> {
        self.lock().get(name).map(|l| l.handle.info.clone()).ok_or_else(|| RegistryError::NotFound(name.to_string()))
    }

    /// What a projection's worker last published.
    pub fn info(&self, name: &str) -> Result<worker::Info, RegistryError> {
        let handle = self.handle_info(name)?;
        let info = worker::lock(&handle).clone();
        Ok(info)
    }

    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Sends a query to a projection's worker and waits for its answer.
    pub async fn ask<T>(
        &self,
        name: &str,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, RegistryError> {
        let (tx, rx) = oneshot::channel();
        let sent = self.lock().get(name).map(|l| l.handle.commands.send(make(tx)).is_ok());
        match sent {
            None => Err(RegistryError::NotFound(name.to_string())),
            Some(false) => Err(RegistryError::Gone(self.worker_error(name))),
            Some(true) => rx.await.map_err(|_| RegistryError::Gone(self.worker_error(name))),
        }
    }

    fn worker_error(&self, name: &str) -> String {
        self.handle_info(name)
            .ok()
            .and_then(|i| worker::lock(&i).error.clone())
            .unwrap_or_else(|| "it stopped".to_string())
    }

    /// The status of one projection, its lag measured against the log now.
    pub fn summary(&self, name: &str) -> Result<Summary, RegistryError> {
        let definition = self.definition(name)?;
        let handle = self.handle_info(name)?;
        let info = worker::lock(&handle).clone();
        let head = self.reader.next_position();
        let done = info.position.map_or(0, |p| p + 1);
        let lag_events = head.saturating_sub(done);
        let stalled = lag_events > 0 && !info.paused && info.last_progress.elapsed() >= self.settings.stall_after;
        let (status, fault) = match (&info.error, &info.status) {
            (Some(e), _) => ("faulted", Some(serde_json::json!({ "error": e }))),
            (None, Status::Faulted { position, error }) => {
                ("faulted", Some(serde_json::json!({ "position": position, "error": error })))
            }
            _ if info.paused => ("paused", None),
            _ if info.circuit == Some("open") => ("circuit_open", None),
            _ if stalled => ("stalled", None),
            _ => ("running", None),
        };
        let rebuild = self.rebuild_progress(name, head);
        let status = if status == "running" && rebuild.is_some() { "rebuilding" } else { status };
        let leader = self.lock().get(name).is_some_and(|l| l.leader);
        let current = definition.current().cloned();
        Ok(Summary {
            name: name.to_string(),
            status,
            version: current.as_ref().map_or(0, |v| v.version),
            hash: current.map(|v| v.hash).unwrap_or_default(),
            on_error: definition.on_error,
            position: info.position,
            lag_events,
            lag_seconds: if lag_events == 0 { 0.0 } else { info.caught_up_at.elapsed().as_secs_f64() },
            events_per_sec: (info.events_per_sec * 10.0).round() / 10.0,
            errors: info.parked as u64 + u64::from(fault.is_some()),
            parked: info.parked,
            partitions: info.partitions,
            fault,
            circuit: info.circuit,
            rebuild,
            leader,
        })
    }

    /// How far the version rebuilding beside the live one has come.
    fn rebuild_progress(&self, name: &str, head: u64) -> Option<serde_json::Value> {
        let (version, info) = {
            let live = self.lock();
            let (version, handle) = live.get(name)?.next.as_ref()?;
            let info = worker::lock(&handle.info).clone();
            (*version, info)
        };
        let done = info.position.map_or(0, |p| p + 1);
        let left = head.saturating_sub(done);
        let eta = (info.events_per_sec > 0.0).then(|| (left as f64 / info.events_per_sec * 10.0).round() / 10.0);
        let fault = match &info.status {
            Status::Faulted { position, error } => Some(serde_json::json!({ "position": position, "error": error })),
            Status::Running => info.error.map(|e| serde_json::json!({ "error": e })),
        };
        Some(serde_json::json!({
            "version": version, "position": info.position, "events_done": done, "events_left": left,
            "events_per_sec": (info.events_per_sec * 10.0).round() / 10.0, "eta_seconds": eta, "fault": fault,
            "held_output": info.held_output,
        }))
    }

    /// `{"partition", "state", "position"}`: a partition's state and the
    /// position it reflects (the answer of the API and the CLI).
    pub async fn state_answer(&self, name: &str, partition: &str) -> Result<serde_json::Value, RegistryError> {
        let key = partition.to_string();
        let (state, position) = self.ask(name, |reply| Command::State { partition: key, reply }).await?;
        Ok(serde_json::json!({ "partition": partition, "state": state, "position": position }))
    }

    /// `{"partitions": [...], "next_after"}`: partition keys in order.
    pub async fn partitions_answer(
        &self,
        name: &str,
        after: Option<String>,
        limit: usize,
    ) -> Result<serde_json::Value, RegistryError> {
        let keys = self.ask(name, |reply| Command::Partitions { after, limit, reply }).await?;
        let next_after = (keys.len() == limit).then(|| keys.last().cloned()).flatten();
        Ok(serde_json::json!({ "partitions": keys, "next_after": next_after }))
    }

    /// `{"parked": [...]}`.
    pub async fn parked_answer(&self, name: &str) -> Result<serde_json::Value, RegistryError> {
        let parked = self.ask(name, |reply| Command::Parked { reply }).await?;
        Ok(serde_json::json!({ "parked": parked }))
    }

    /// Replays (`replay`) or drops (`discard`) a parked event: its answer,
    /// or None when no event is parked there.
    pub async fn parked_action(
        &self,
        name: &str,
        position: u64,
        action: &str,
    ) -> Result<Option<serde_json::Value>, RegistryError> {
        match action {
            "replay" => match self.ask(name, |reply| Command::Replay { position, reply }).await? {
                Ok(replayed) => Ok(Some(serde_json::json!({ "position": position, "replayed": replayed }))),
                Err(e) if e.starts_with("no event is parked") => Ok(None),
                Err(e) => Err(RegistryError::Gone(format!("replaying: {e}"))),
            },
            "discard" => Ok(self
                .ask(name, |reply| Command::Discard { position, reply })
                .await?
                .then(|| serde_json::json!({ "position": position, "discarded": true }))),
            other => Err(RegistryError::Invalid(format!("no action {other:?}: use replay or discard"))),
        }
    }

    pub fn summaries(&self) -> Vec<Summary> {
        self.names().iter().filter_map(|n| self.summary(n).ok()).collect()
    }
}

impl Registry {
    /// The live states of a projection and the position they reflect,
    /// then `source` folded over the same history in a scratch area, on a
    /// thread of its own (the sandbox never runs on the async workers).
    async fn against_live(
        &self,
        name: &str,
        source: &str,
    ) -> Result<(States, States, Option<u64>, Vec<Parked>), RegistryError> {
        let (json, position) = self
            .ask(name, |reply| Command::Snapshot { reply })
            .await?
            .map_err(|e| RegistryError::Gone(format!("reading its states: {e}")))?;
        let live: States = serde_json::from_str(&json).map_err(|e| RegistryError::Gone(e.to_string()))?;
        let (candidate, failed) = self.scratch_fold(source, (0, position)).await?;
        Ok((live, candidate, position, failed))
    }

    /// Folds `source` over a range of `$all`, keeping no checkpoint, on a
    /// thread of its own (the sandbox never runs on the async workers).
    async fn scratch_fold(
        &self,
        source: &str,
        range: (u64, Option<u64>),
    ) -> Result<(States, Vec<Parked>), RegistryError> {
        let (tx, rx) = oneshot::channel();
        let (source, reader, rt, limits) =
            (source.to_string(), self.reader.clone(), self.rt.clone(), self.settings.limits);
        std::thread::Builder::new()
            .name("projection-scratch".into())
            .stack_size(8 << 20)
            .spawn(move || {
                let _ = tx.send(rt.block_on(compare::fold_history(&source, limits, &*reader, range)));
            })
            .map_err(io("starting a scratch fold"))?;
        rx.await
            .map_err(|_| RegistryError::Gone("the scratch fold stopped".into()))?
            .map_err(|e| RegistryError::Invalid(format!("the scratch fold: {e}")))
    }

    /// What `source` would change if it replaced the projection's: folded
    /// over the history the live states reflect, without touching them.
    /// With a range (`from`, and `to` or the live position), the current
    /// source and the candidate are both folded over just that range,
    /// from nothing, and compared.
    pub async fn dry_run(
        &self,
        name: &str,
        source: &str,
        from: Option<u64>,
        to: Option<u64>,
    ) -> Result<compare::Diff, RegistryError> {
        crate::builtin::fold_for(source, self.settings.limits, 1)
            .map_err(|e| RegistryError::Invalid(format!("the source: {e}")))?;
        if from.is_none() && to.is_none() {
            let (live, candidate, position, failed) = self.against_live(name, source).await?;
            return Ok(compare::diff(&live, &candidate, position, failed));
        }
        let to = match to {
            Some(to) => Some(to),
            None => self.info(name)?.position,
        };
        let current = self.definition(name)?.current().map(|v| v.source.clone()).unwrap_or_default();
        let range = (from.unwrap_or(0), to);
        let (base, _) = self.scratch_fold(&current, range).await?;
        let (candidate, failed) = self.scratch_fold(source, range).await?;
        Ok(compare::diff(&base, &candidate, to, failed))
    }

    /// Rebuilds the projection's current source in a scratch area and
    /// compares it with the live states: a difference means the source is
    /// not deterministic (or the live states were damaged).
    pub async fn verify(&self, name: &str) -> Result<serde_json::Value, RegistryError> {
        let source = self.definition(name)?.current().map(|v| v.source.clone()).unwrap_or_default();
        let (live, rebuilt, position, _) = self.against_live(name, &source).await?;
        Ok(match compare::first_difference(&live, &rebuilt) {
            None => serde_json::json!({ "ok": true, "position": position, "partitions": live.len() }),
            Some((partition, live, rebuilt)) => serde_json::json!({
                "ok": false, "position": position,
                "first_difference": { "partition": partition, "live": live, "rebuilt": rebuilt },
            }),
        })
    }
}

/// Stops a worker after its last checkpoint and waits for its thread.
async fn stop_worker(mut handle: Handle) {
    let (tx, rx) = oneshot::channel();
    if handle.commands.send(Command::Stop { reply: tx }).is_ok() {
        let _ = rx.await;
    }
    if let Some(t) = handle.thread.take() {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
}

/// Partitions whose history index is kept in memory at most.
const HISTORIES_CACHED: usize = 1_000;

/// How often the registry looks for rebuilt versions that caught up.
const SWITCH_CHECK_EVERY: Duration = Duration::from_millis(10);
