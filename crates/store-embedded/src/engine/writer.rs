//! Group commit: one thread takes every append that arrived while the
//! previous commit was being written, checks it against the stream heads,
//! writes them all as one commit, fdatasyncs once, then acknowledges them
//! all. No timer: the batch is whatever queued during the last fsync.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hindsight_store::{check_retry, AppendResult, RecordedEvent, StoreError, ValidatedPart, VersionConflict};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::flush::freeze;
use super::read::{lookup_id, read_event_at};
use super::state::{SegmentFile, Shared, State};
use crate::config::{COMMIT_BYTES_MAX, SPARSE_STRIDE};
use crate::index::checkpoint::{Head, Sparse};
use crate::index::{id_key, stream_key};
use crate::segment::header::{SegmentHeader, HEADER_BYTES};
use crate::segment::record::{encode_commit, encode_event, ChainHasher, CommitRecord, EventView};
use crate::segment::Loc;

pub type Reply = oneshot::Sender<Result<Vec<AppendResult>, StoreError>>;

/// One append waiting for the writer.
pub struct Request {
    pub parts: Vec<ValidatedPart>,
    pub bytes: usize,
    pub reply: Reply,
}

/// An event of the commit being assembled, for the index.
struct Placed {
    id: Uuid,
    stream_key: u64,
    version: u64,
    loc: Loc,
}

pub struct Writer {
    pub shared: Arc<Shared>,
    pub rx: mpsc::Receiver<Request>,
    pub segment: Arc<SegmentFile>,
    pub offset: u64,
    pub chain: [u8; 32],
    pub next_position: u64,
    pub last_timestamp_us: u64,
    pub buf: Vec<u8>,
}

fn is_enospc(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(28)
}

impl Writer {
    pub fn run(mut self) {
        while let Some(first) = self.rx.blocking_recv() {
            let mut bytes = first.bytes;
            let mut batch = vec![first];
            while bytes < COMMIT_BYTES_MAX {
                match self.rx.try_recv() {
                    Ok(r) => {
                        bytes += r.bytes;
                        batch.push(r);
                    }
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        if let Some(reason) = self.shared.poisoned() {
            for r in batch {
                let _ = r.reply.send(Err(StoreError::Poisoned { reason: reason.clone() }));
            }
            return;
        }
        let timestamp_us = self.shared.config.clock.now_us().max(self.last_timestamp_us);
        let commit_start = self.offset;
        let first_position = self.next_position;
        self.buf.clear();
        let mut hasher = ChainHasher::new(&self.chain);
        let mut heads: HashMap<String, Head> = HashMap::new();
        let mut batch_ids: HashMap<Uuid, RecordedEvent> = HashMap::new();
        let mut placed: Vec<Placed> = Vec::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let shared = self.shared.clone();
            let st = shared.read();
            for req in batch {
                let outcome =
                    self.assemble(&st, &req.parts, timestamp_us, &mut hasher, &mut heads, &mut batch_ids, &mut placed);
                outcomes.push((req.reply, outcome));
            }
        }
        if placed.is_empty() {
            for (reply, outcome) in outcomes {
                let _ = reply.send(outcome);
            }
            return;
        }
        let n_events = placed.len() as u32;
        let chain = hasher.finish(first_position, n_events);
        encode_commit(&mut self.buf, &CommitRecord { first_position, n_events, chain });
        if let Err(failure) = self.write_durably(commit_start) {
            for (reply, outcome) in outcomes {
                let _ = reply.send(outcome.and_then(|_| Err(failure.to_error())));
            }
            return;
        }
        let end = commit_start + self.buf.len() as u64;
        self.next_position += u64::from(n_events);
        self.offset = end;
        self.chain = chain;
        self.last_timestamp_us = timestamp_us;
        let memtable_full = {
            let mut st = self.shared.write();
            st.heads.extend(heads);
            for p in &placed {
                st.active.insert(id_key(&p.id), p.stream_key, p.version, p.loc.pack());
            }
            let stride_passed = st.sparse.last().is_none_or(|s| first_position >= s.position + SPARSE_STRIDE);
            if stride_passed || commit_start == HEADER_BYTES as u64 {
                let loc = Loc { segment: self.segment.number, offset: commit_start as u32 };
                st.sparse.push(Sparse { position: first_position, loc, timestamp_us });
            }
            st.next_position = self.next_position;
            st.tail = Loc { segment: self.segment.number, offset: end as u32 };
            st.chain = chain;
            st.last_timestamp_us = timestamp_us;
            self.segment.end.store(end, Ordering::Release);
            st.active.len() >= self.shared.config.memtable_events_max
        };
        self.shared.watch.send_replace(self.next_position);
        for (reply, outcome) in outcomes {
            let _ = reply.send(outcome);
        }
        if self.offset >= self.shared.config.segment_bytes_target {
            self.rotate();
        }
        if memtable_full {
            if let Err(reason) = freeze(&self.shared) {
                self.shared.poison(reason);
            }
        }
    }

    /// Checks one append against the heads (as this batch has moved them)
    /// and, when it holds, encodes its events into the commit buffer.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        &mut self,
        st: &State,
        parts: &[ValidatedPart],
        timestamp_us: u64,
        hasher: &mut ChainHasher,
        heads: &mut HashMap<String, Head>,
        batch_ids: &mut HashMap<Uuid, RecordedEvent>,
        placed: &mut Vec<Placed>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        let mut lookup_error = None;
        let retry = check_retry(parts, |id| {
            if let Some(e) = batch_ids.get(id) {
                return Some(e.clone());
            }
            match lookup_id(st, id).and_then(|loc| loc.map(|l| read_event_at(&st.segments, l)).transpose()) {
                Ok(found) => found,
                Err(e) => {
                    lookup_error.get_or_insert(e);
                    None
                }
            }
        });
        if let Some(e) = lookup_error {
            return Err(e);
        }
        if let Some(results) = retry? {
            return Ok(results);
        }
        let head_of =
            |heads: &HashMap<String, Head>, stream: &str| heads.get(stream).or_else(|| st.heads.get(stream)).copied();
        let conflicts: Vec<VersionConflict> = parts
            .iter()
            .enumerate()
            .filter_map(|(part, p)| {
                let actual = head_of(heads, &p.stream).map(|h| h.last_version);
                (!p.expected.admits(actual)).then(|| VersionConflict {
                    part,
                    stream: p.stream.clone(),
                    expected: p.expected,
                    actual,
                })
            })
            .collect();
        if !conflicts.is_empty() {
            return Err(StoreError::WrongExpectedVersion(conflicts));
        }
        let mut results = Vec::with_capacity(parts.len());
        let base = self.offset;
        for part in parts {
            let head = head_of(heads, &part.stream);
            let key = head.map_or_else(|| stream_key(&part.stream), |h| h.key);
            let mut version = head.map_or(0, |h| h.last_version + 1);
            let first_position = self.next_position + placed.len() as u64;
            for e in &part.events {
                let position = self.next_position + placed.len() as u64;
                let id = e.id.unwrap_or_else(Uuid::now_v7);
                let frame_start = self.buf.len();
                let view = EventView {
                    position,
                    version,
                    timestamp_us,
                    id,
                    stream: &part.stream,
                    event_type: &e.event_type,
                    tags: e.tags.iter().map(String::as_str).collect(),
                    metadata: &e.metadata,
                    data: &e.data,
                };
                encode_event(&mut self.buf, &view);
                hasher.event_frame(&self.buf[frame_start..]);
                let loc = Loc { segment: self.segment.number, offset: (base + frame_start as u64) as u32 };
                placed.push(Placed { id, stream_key: key, version, loc });
                if e.id.is_some() {
                    batch_ids.insert(
                        id,
                        RecordedEvent {
                            id,
                            stream: part.stream.clone(),
                            event_type: String::new(),
                            version,
                            position,
                            timestamp_us,
                            data: String::new(),
                            metadata: String::new(),
                            tags: Vec::new(),
                        },
                    );
                }
                version += 1;
            }
            let last_position = self.next_position + placed.len() as u64 - 1;
            let first = head.map_or(first_position, |h| h.first_position);
            heads.insert(
                part.stream.clone(),
                Head { key, last_version: version - 1, first_position: first, last_position },
            );
            results.push(AppendResult { first_position, last_position, next_expected_version: version - 1 });
        }
        Ok(results)
    }

    /// Writes the commit buffer at `offset` and fdatasyncs. A failed write
    /// is cut back off the file; a failed fsync poisons the store, because
    /// after it the kernel may have dropped the pages and a retry could
    /// report success for data that is not on disk.
    fn write_durably(&mut self, offset: u64) -> Result<(), WriteFailure> {
        let file = &self.segment.file;
        if let Err(e) = file.write_all_at(&self.buf, offset) {
            if let Err(e2) = file.set_len(offset) {
                self.shared.poison(format!("a failed write could not be cut back off the log: {e2} (after: {e})"));
                return Err(WriteFailure::Poisoned(self.shared.poisoned().unwrap_or_default()));
            }
            tracing::warn!(error = %e, "append failed while writing the log; nothing of it was kept");
            return Err(if is_enospc(&e) { WriteFailure::Full } else { WriteFailure::Io(e.to_string()) });
        }
        if let Err(e) = file.sync_data() {
            self.shared.poison(format!("fdatasync of {} failed: {e}", self.segment.path.display()));
            return Err(WriteFailure::Poisoned(self.shared.poisoned().unwrap_or_default()));
        }
        Ok(())
    }

    /// Seals the current segment and starts the next. On failure the
    /// current segment simply keeps growing and rotation is tried again
    /// after the next commit.
    fn rotate(&mut self) {
        let number = self.segment.number + 1;
        let header = SegmentHeader { segment: number, first_position: self.next_position, prev_chain: self.chain };
        match super::open::create_segment(&self.shared.config, &self.shared.dirs, header) {
            Ok(seg) => {
                let seg = Arc::new(seg);
                {
                    let mut st = self.shared.write();
                    st.segments.insert(number, seg.clone());
                    st.tail = Loc { segment: number, offset: HEADER_BYTES as u32 };
                }
                self.segment = seg;
                self.offset = HEADER_BYTES as u64;
            }
            Err(e) => tracing::warn!(error = %e, "could not start a new segment; the current one keeps growing"),
        }
    }
}

enum WriteFailure {
    Full,
    Io(String),
    Poisoned(String),
}

impl WriteFailure {
    fn to_error(&self) -> StoreError {
        match self {
            WriteFailure::Full => StoreError::StorageFull,
            WriteFailure::Io(msg) => StoreError::Backend(format!("writing the log failed: {msg}")),
            WriteFailure::Poisoned(reason) => StoreError::Poisoned { reason: reason.clone() },
        }
    }
}
