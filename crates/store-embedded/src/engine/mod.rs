//! The embedded engine: [`EmbeddedStore`] ties the writer thread (group
//! commit), the flusher thread (index runs and checkpoints) and the read
//! paths together behind the [`EventStore`] trait.

mod cut_back;
mod flush;
mod open;
mod read;
mod state;
mod sync;
mod writer;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use hindsight_store::{
    end_position, validate_append, AllSlice, AppendPart, AppendResult, AsOf, EventReader, EventStore, ReadAll,
    ReadStream, RecordedEvent, StoreError, StoreStatus, StreamInfo,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::Config;
use crate::lock::DirLock;
use crate::segment::record::event_frame_bytes;
use crate::OpenError;
pub use state::{Recovery, Shared};
use writer::{Request, Writer};

/// Numbers `hindsight info` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    pub events: u64,
    pub streams: u64,
    pub segments: u64,
    pub log_bytes: u64,
    pub index_runs: u64,
    /// Events covered by the index runs (the rest are replayed on start).
    pub checkpoint_position: u64,
    pub memtable_events: u64,
    /// Since open: fdatasyncs of the log, their total time, commits and
    /// events made durable, log bytes written, appends answered.
    pub fsyncs: u64,
    pub fsync_micros: u64,
    pub commits: u64,
    pub events_written: u64,
    pub bytes_written: u64,
    pub appends_answered: u64,
    /// Bytes of index runs written since open (flushes and merges).
    pub index_bytes_written: u64,
    /// What the last open had to do.
    pub recovery: Recovery,
}

/// The default backend: a segment log in `DATA_DIR/log/` and derived
/// indexes in `DATA_DIR/index/`.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    syncer: Mutex<Option<JoinHandle<()>>>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    compactor: Mutex<Option<JoinHandle<()>>>,
    _lock: DirLock,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `config.data_dir`,
    /// recovering from any crash.
    pub fn open(config: Config) -> Result<Self, OpenError> {
        config.fs.create_dir_durable(&config.data_dir).map_err(|source| OpenError::Io {
            context: format!("creating {}", config.data_dir.display()),
            cause: source,
        })?;
        let lock = DirLock::acquire(&config.data_dir)?;
        let queue_depth = config.append_queue_depth.max(1);
        let shared = open::recover(config)?;
        let (tx, rx) = mpsc::channel(queue_depth);
        let (segment, offset, chain, next_position, last_timestamp_us) = {
            let st = shared.read();
            let seg =
                st.segments.values().next_back().cloned().ok_or_else(|| OpenError::Config("no segments".into()))?;
            let offset = seg.end();
            (seg, offset, st.chain, st.next_position, st.last_timestamp_us)
        };
        let (to_syncer, syncer_rx) = std::sync::mpsc::sync_channel(sync::UNSYNCED_COMMITS_MAX);
        let writer =
            Writer::new(shared.clone(), rx, to_syncer, segment, offset, chain, next_position, last_timestamp_us);
        let spawn_err = |source| OpenError::Io { context: "starting a thread".into(), cause: source };
        let writer = std::thread::Builder::new()
            .name("hindsight-writer".into())
            .spawn(move || writer.run())
            .map_err(spawn_err)?;
        let sync_shared = shared.clone();
        let syncer = std::thread::Builder::new()
            .name("hindsight-syncer".into())
            .spawn(move || sync::run_syncer(sync_shared, syncer_rx))
            .map_err(spawn_err)?;
        let flush_shared = shared.clone();
        let flusher = std::thread::Builder::new()
            .name("hindsight-flusher".into())
            .spawn(move || flush::run_flusher(flush_shared))
            .map_err(spawn_err)?;
        let compact_shared = shared.clone();
        let compactor = std::thread::Builder::new()
            .name("hindsight-compactor".into())
            .spawn(move || flush::run_compactor(compact_shared))
            .map_err(spawn_err)?;
        Ok(EmbeddedStore {
            shared,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            syncer: Mutex::new(Some(syncer)),
            flusher: Mutex::new(Some(flusher)),
            compactor: Mutex::new(Some(compactor)),
            _lock: lock,
        })
    }

    /// Stops accepting appends, finishes those queued, writes the indexes
    /// out and checkpoints them, so the next start replays nothing.
    pub fn close(&self) -> Result<(), StoreError> {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(w) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = w.join();
        }
        // The writer is gone, so the syncer's queue closes once drained.
        if let Some(s) = self.syncer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = s.join();
        }
        {
            let mut ctl = self.shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
            ctl.stop = true;
            self.shared.flush_cv.notify_all();
        }
        if let Some(f) = self.flusher.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = f.join();
        }
        if let Some(c) = self.compactor.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = c.join();
        }
        if self.shared.poisoned().is_some() {
            return Ok(());
        }
        // Everything acknowledged is in the log already: a checkpoint that
        // cannot be written only means the next start replays more.
        let checkpointed = flush::flush_frozen(&self.shared).and_then(|()| {
            self.shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner()).retry_at = None;
            flush::freeze(&self.shared);
            flush::flush_frozen(&self.shared)
        });
        if let Err(e) = checkpointed {
            tracing::warn!(error = %e, "could not write the index checkpoint on close; the next start replays the log past the last one");
        }
        Ok(())
    }

    /// Stops the threads like [`EmbeddedStore::close`] but skips the final
    /// index checkpoint, leaving the directory as a kill -9 after the last
    /// acknowledgement would: the next open must replay the log tail.
    #[doc(hidden)]
    pub fn close_without_checkpoint(&self) {
        self.shared.poison("closed without a checkpoint (test hook)".into());
        let _ = self.close();
    }

    pub fn stats(&self) -> StoreStats {
        let c = &self.shared.counters;
        let st = self.shared.read();
        StoreStats {
            events: st.next_position,
            streams: st.heads.len() as u64,
            segments: st.segments.len() as u64,
            log_bytes: st.segments.values().map(|s| s.end()).sum(),
            index_runs: (st.id_runs.len() + st.stream_runs.len() + st.posting_runs.len()) as u64,
            checkpoint_position: st.next_position
                - st.active.len() as u64
                - st.frozen.as_ref().map_or(0, |f| f.memtable.len() as u64),
            memtable_events: st.active.len() as u64,
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            fsync_micros: c.fsync_micros.load(Ordering::Relaxed),
            commits: c.commits.load(Ordering::Relaxed),
            events_written: c.events.load(Ordering::Relaxed),
            bytes_written: c.bytes.load(Ordering::Relaxed),
            appends_answered: c.appends.load(Ordering::Relaxed),
            index_bytes_written: c.index_bytes.load(Ordering::Relaxed),
            recovery: self.shared.recovery.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    fn sender(&self) -> Result<mpsc::Sender<Request>, StoreError> {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or(StoreError::Closed)
    }

    /// The exclusive end position a read as of `as_of` sees (the head
    /// when None).
    async fn end(&self, as_of: Option<AsOf>, stream: Option<&str>) -> Result<u64, StoreError> {
        match as_of {
            Some(a) => end_position(self, a, stream).await,
            None => Ok(self.shared.read().next_position),
        }
    }

    /// Queues an append and returns once it is queued, in call order, with
    /// a future for its outcome. Bulk importers use it to pipeline appends
    /// through group commit while keeping them in input order.
    pub async fn enqueue_multi(
        &self,
        parts: Vec<AppendPart>,
    ) -> Result<impl std::future::Future<Output = Result<Vec<AppendResult>, StoreError>>, StoreError> {
        let (req, rx) = self.request(parts)?;
        self.sender()?.send(req).await.map_err(|_| StoreError::Closed)?;
        Ok(async move { rx.await.unwrap_or(Err(StoreError::Closed)) })
    }

    #[allow(clippy::type_complexity)]
    fn request(
        &self,
        parts: Vec<AppendPart>,
    ) -> Result<(Request, oneshot::Receiver<Result<Vec<AppendResult>, StoreError>>), StoreError> {
        if let Some(reason) = self.shared.poisoned() {
            return Err(StoreError::Poisoned { reason });
        }
        let parts = validate_append(parts, &self.shared.config.limits)?;
        // The exact bytes its frames take, so a group commit's size (and the
        // check that it fits its segment) counts what is really written.
        let bytes = parts
            .iter()
            .flat_map(|p| {
                p.events.iter().map(|e| event_frame_bytes(&p.stream, &e.event_type, &e.tags, &e.metadata, &e.data))
            })
            .sum();
        let (reply, rx) = oneshot::channel();
        Ok((Request { parts, bytes, reply }, rx))
    }
}

/// Runs a read that does file I/O on tokio's blocking pool, so it never
/// holds up an async worker (a server's other requests, its health checks).
async fn off_the_runtime<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(read).await.map_err(|e| StoreError::Backend(format!("a read task failed: {e}")))?
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(error = %e, "closing the store");
        }
    }
}

#[async_trait]
impl EventReader for EmbeddedStore {
    async fn read_stream(&self, read: &ReadStream) -> Result<Vec<RecordedEvent>, StoreError> {
        let end = self.end(read.as_of, Some(&read.stream)).await?;
        let (shared, read) = (self.shared.clone(), read.clone());
        off_the_runtime(move || read::read_stream(&shared, &read, end)).await
    }

    async fn read_all(&self, read: &ReadAll) -> Result<AllSlice, StoreError> {
        let end = self.end(read.as_of, None).await?;
        let (shared, read) = (self.shared.clone(), read.clone());
        off_the_runtime(move || read::read_all(&shared, &read, end)).await
    }

    async fn stream_info(&self, stream: &str, as_of: Option<AsOf>) -> Result<Option<StreamInfo>, StoreError> {
        if as_of.is_none() {
            // The head, from memory.
            return Ok(self.shared.read().heads.get(stream).map(|h| StreamInfo {
                stream: stream.to_string(),
                last_version: h.last_version,
                first_position: h.first_position,
                last_position: h.last_position,
            }));
        }
        // In the past: a search of the index.
        let end = self.end(as_of, Some(stream)).await?;
        let (shared, stream) = (self.shared.clone(), stream.to_string());
        off_the_runtime(move || read::stream_info(&shared, &stream, end)).await
    }

    async fn position_at(&self, timestamp_us: u64) -> Result<Option<u64>, StoreError> {
        let shared = self.shared.clone();
        off_the_runtime(move || read::position_at(&shared, timestamp_us)).await
    }

    fn clock_us(&self) -> u64 {
        self.shared.config.clock.now_us().max(self.shared.read().last_timestamp_us)
    }

    fn next_position(&self) -> u64 {
        *self.shared.watch.borrow()
    }

    fn watch_next_position(&self) -> watch::Receiver<u64> {
        self.shared.watch.subscribe()
    }

    /// From the id index; an event not yet published is not shown.
    async fn event_by_id(&self, id: uuid::Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        let shared = self.shared.clone();
        let published = self.next_position();
        let found = off_the_runtime(move || read::event_by_id(&shared.read(), &id)).await?;
        Ok(found.filter(|e| e.position < published))
    }

    /// From the sparse index (so it overcounts by up to a stride of
    /// positions) to the published end.
    fn log_bytes_between(&self, from: u64, to: u64) -> Option<u64> {
        read::log_bytes_between(&self.shared, from, to)
    }
}

#[async_trait]
impl EventStore for EmbeddedStore {
    async fn append_multi(&self, parts: Vec<AppendPart>) -> Result<Vec<AppendResult>, StoreError> {
        let (req, rx) = self.request(parts)?;
        let tx = self.sender()?;
        tx.send(req).await.map_err(|_| StoreError::Closed)?;
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    async fn try_append_multi(&self, parts: Vec<AppendPart>) -> Result<Vec<AppendResult>, StoreError> {
        let (req, rx) = self.request(parts)?;
        self.sender()?.try_send(req).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
        })?;
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    fn status(&self) -> StoreStatus {
        let s = self.stats();
        let c = &self.shared.counters;
        StoreStatus {
            kind: "embedded",
            events: s.events,
            streams: s.streams,
            refusing_writes: self.shared.poisoned(),
            degraded: self.shared.degraded(),
            counters: vec![
                ("hindsight_fsyncs_total", "fdatasyncs of the log", s.fsyncs),
                ("hindsight_commits_total", "commits made durable", s.commits),
                ("hindsight_events_appended_total", "events made durable", s.events_written),
                ("hindsight_bytes_appended_total", "log bytes made durable", s.bytes_written),
                (
                    "hindsight_appends_answered_total",
                    "appends answered (stored, retried or refused)",
                    s.appends_answered,
                ),
                (
                    "hindsight_index_bytes_written_total",
                    "bytes of index runs written (flushes and merges)",
                    s.index_bytes_written,
                ),
                (
                    "hindsight_index_write_errors_total",
                    "failed index flushes and merges (retried; appends go on)",
                    c.index_errors.load(Ordering::Relaxed),
                ),
            ],
            histograms: vec![
                c.fsync_events.export("hindsight_fsync_batch_events", "events made durable per fdatasync", 1.0),
                c.fsync_latency.export("hindsight_fsync_duration_seconds", "fdatasync latency", 1e-6),
            ],
        }
    }

    fn shutdown(&self) -> Result<(), StoreError> {
        self.close()
    }
}
