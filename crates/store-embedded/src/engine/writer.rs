//! Group commit, stage one: one thread takes every append that queued,
//! checks it against the stream heads, encodes the whole group as one
//! commit and writes it to the log, then hands it to the syncer
//! (`sync.rs`) and goes straight on to the next group. Nothing is
//! acknowledged or made visible here: that happens after the fdatasync.
//! No timer anywhere: each fdatasync covers whatever was written while the
//! previous one ran.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use hindsight_store::{
    category_of, check_expectations, check_retry, AppendResult, RecordedEvent, StoreError, ValidatedPart,
};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::read::event_by_id;
use super::state::{SegmentFile, Shared, State};
use super::sync::Written;
use crate::config::COMMIT_BYTES_MAX;
use crate::index::checkpoint::Head;
use crate::index::{stream_key, term_key, TermKind};
use crate::segment::header::{SegmentHeader, HEADER_BYTES};
use crate::segment::record::{encode_commit, encode_event, ChainHasher, CommitRecord, EventView, COMMIT_FRAME_BYTES};
use crate::segment::Loc;

pub type Outcome = Result<Vec<AppendResult>, StoreError>;
pub type Reply = oneshot::Sender<Outcome>;

/// One append waiting for the writer.
pub struct Request {
    pub parts: Vec<ValidatedPart>,
    pub bytes: usize,
    pub reply: Reply,
}

/// An event of a commit, for the index.
pub struct Placed {
    pub id: Uuid,
    pub stream_key: u64,
    pub version: u64,
    pub position: u64,
    /// The posting lists it joins (category, type).
    pub terms: [u64; 2],
    pub loc: Loc,
}

/// Term keys of recent categories and types, so the writer hashes a name
/// once, not once per event. Cleared when it grows past a bound.
#[derive(Default)]
struct TermKeys {
    categories: HashMap<String, u64>,
    types: HashMap<String, u64>,
}

const TERM_KEYS_MAX: usize = 100_000;

impl TermKeys {
    fn get(&mut self, kind: TermKind, name: &str) -> u64 {
        let map = match kind {
            TermKind::Category => &mut self.categories,
            TermKind::EventType => &mut self.types,
        };
        if let Some(&key) = map.get(name) {
            return key;
        }
        if map.len() >= TERM_KEYS_MAX {
            map.clear();
        }
        let key = term_key(kind, name);
        map.insert(name.to_string(), key);
        key
    }
}

/// What the writer knows that the published state does not yet: the
/// heads and client ids of commits written but not yet synced, each
/// tagged with the commit's sequence number so it can be dropped once the
/// syncer has published that commit.
#[derive(Default)]
struct Unsynced {
    heads: HashMap<String, (Head, u64)>,
    ids: HashMap<Uuid, (RecordedEvent, u64)>,
}

pub struct Writer {
    pub shared: Arc<Shared>,
    pub rx: mpsc::Receiver<Request>,
    pub to_syncer: SyncSender<Written>,
    pub segment: Arc<SegmentFile>,
    pub offset: u64,
    pub chain: [u8; 32],
    pub next_position: u64,
    pub last_timestamp_us: u64,
    pub buf: Vec<u8>,
    unsynced: Unsynced,
    seq: u64,
    ids: IdGen,
    terms: TermKeys,
    /// The current segment holds zeros up to here (preallocation).
    zeroed_end: u64,
}

/// The store's own event ids: UUID v7 from the commit's timestamp, strictly
/// increasing within a process (a random start in each millisecond, then a
/// counter), so the memtable can keep them in an appended, sorted list.
/// One clock read per commit instead of one per event.
#[derive(Default)]
struct IdGen {
    ms: u64,
    counter: u128,
}

impl IdGen {
    const COUNTER_BITS: u32 = 74;

    fn next(&mut self, ms: u64) -> Uuid {
        if ms > self.ms || self.counter >= (1u128 << Self::COUNTER_BITS) - 1 {
            self.ms = ms.max(self.ms + u64::from(self.counter >= (1u128 << Self::COUNTER_BITS) - 1));
            // A random start with the top bits clear leaves room to count.
            self.counter = u128::from(Uuid::new_v4().as_u128() as u64 >> 1);
        } else {
            self.counter += 1;
        }
        let rand_a = (self.counter >> 62) & 0xfff;
        let rand_b = self.counter & ((1u128 << 62) - 1);
        let bits = (u128::from(self.ms & 0xffff_ffff_ffff) << 80)
            | (0x7u128 << 76)
            | (rand_a << 64)
            | (0b10u128 << 62)
            | rand_b;
        Uuid::from_u128(bits)
    }
}

fn is_enospc(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(28)
}

impl Writer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shared: Arc<Shared>,
        rx: mpsc::Receiver<Request>,
        to_syncer: SyncSender<Written>,
        segment: Arc<SegmentFile>,
        offset: u64,
        chain: [u8; 32],
        next_position: u64,
        last_timestamp_us: u64,
    ) -> Self {
        Writer {
            shared,
            rx,
            to_syncer,
            segment,
            offset,
            chain,
            next_position,
            last_timestamp_us,
            buf: Vec::with_capacity(1 << 20),
            unsynced: Unsynced::default(),
            seq: 0,
            ids: IdGen::default(),
            terms: TermKeys::default(),
            zeroed_end: 0,
        }
    }

    /// Zeros the next stretch of the segment ahead of the write offset,
    /// while the syncer is busy with the commit just written. Only the
    /// fdatasync right after an extension pays for the size change.
    /// Failure (a full disk, say) only means the log grows by appending.
    fn preallocate(&mut self) {
        let chunk = self.shared.config.preallocate_bytes.min(self.shared.config.segment_bytes_target);
        if chunk == 0 || self.zeroed_end >= self.offset + chunk / 2 {
            return;
        }
        let start = self.zeroed_end.max(self.offset);
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        let mut at = start;
        while at < start + chunk {
            let n = ZEROS.len().min((start + chunk - at) as usize);
            if let Err(e) = self.segment.file.write_all_at(&ZEROS[..n], at) {
                tracing::debug!(error = %e, "could not preallocate the log; appending instead");
                break;
            }
            at += n as u64;
        }
        self.zeroed_end = at;
    }

    pub fn run(mut self) {
        self.zeroed_end = self.segment.file.size().unwrap_or(0);
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

    fn forget_synced(&mut self) {
        let synced = self.shared.synced_seq.load(Ordering::Acquire);
        if !self.unsynced.heads.is_empty() {
            self.unsynced.heads.retain(|_, (_, seq)| *seq > synced);
        }
        if !self.unsynced.ids.is_empty() {
            self.unsynced.ids.retain(|_, (_, seq)| *seq > synced);
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        if let Some(reason) = self.shared.poisoned() {
            for r in batch {
                let _ = r.reply.send(Err(StoreError::Poisoned { reason: reason.clone() }));
            }
            return;
        }
        self.forget_synced();
        // A segment never holds a byte past the offsets a location can
        // hold: start the next one first, or refuse rather than wrap.
        let batch_bytes = batch.iter().map(|r| r.bytes as u64).sum::<u64>() + COMMIT_FRAME_BYTES as u64;
        let offset_max = self.shared.config.segment_offset_max;
        if self.offset + batch_bytes > offset_max && !self.rotate() {
            let error = format!(
                "segment {} cannot take {batch_bytes} more bytes (it ends at byte {}, offsets stop at {offset_max}) and a new segment could not be started; the log says why",
                self.segment.number, self.offset
            );
            for r in batch {
                let _ = r.reply.send(Err(StoreError::Backend(error.clone())));
            }
            return;
        }
        self.seq += 1;
        let timestamp_us = self.shared.config.clock.now_us().max(self.last_timestamp_us);
        let commit_start = self.offset;
        let first_position = self.next_position;
        self.buf.clear();
        let mut heads: HashMap<String, Head> = HashMap::new();
        let mut placed: Vec<Placed> = Vec::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let shared = self.shared.clone();
            let st = shared.read();
            for req in batch {
                let outcome = self.assemble(&st, &req.parts, timestamp_us, &mut heads, &mut placed);
                outcomes.push((req.reply, outcome));
            }
        }
        let mut written = Written {
            seq: self.seq,
            segment: self.segment.clone(),
            commit_start,
            end: commit_start,
            first_position,
            next_position: first_position,
            chain: self.chain,
            timestamp_us,
            heads: HashMap::new(),
            placed: Vec::new(),
            outcomes,
        };
        if !placed.is_empty() {
            let n_events = placed.len() as u32;
            let durable_end = self.shared.durable_offset_in(self.segment.number);
            let mut hasher = ChainHasher::new(&self.chain);
            // The buffer holds exactly the commit's event frames, in order.
            hasher.event_frame(&self.buf);
            let chain = hasher.finish(first_position, n_events, durable_end);
            encode_commit(&mut self.buf, &CommitRecord { first_position, n_events, durable_end, chain });
            let write_result = if commit_start + self.buf.len() as u64 > offset_max {
                // The batch estimate is exact, so this is a bug; never wrap.
                Err(WriteError::Io(format!("commit would end past offset {offset_max}")))
            } else {
                self.write(commit_start)
            };
            if let Err(error) = write_result {
                for (reply, outcome) in written.outcomes {
                    let _ = reply.send(outcome.and_then(|_| Err(error.clone_error())));
                }
                return;
            }
            let end = commit_start + self.buf.len() as u64;
            self.next_position += u64::from(n_events);
            self.offset = end;
            self.chain = chain;
            self.last_timestamp_us = timestamp_us;
            for (name, head) in &heads {
                self.unsynced.heads.insert(name.clone(), (*head, self.seq));
            }
            written.end = end;
            written.next_position = self.next_position;
            written.chain = chain;
            written.heads = heads;
            written.placed = placed;
        }
        let n_handled = written.outcomes.len() as u64;
        // One writer at a time (the last fdatasync answered one append and
        // nothing else is unsynced): sync here, saving a thread hand-over
        // on every append. Otherwise hand over and keep writing.
        let alone = n_handled <= 1
            && self.shared.unsynced_commits.load(Ordering::Acquire) == 0
            && self.shared.last_group_appends.load(Ordering::Acquire) <= 1;
        if alone {
            super::sync::sync_group(&self.shared, vec![written]);
        } else {
            self.shared.unsynced_commits.fetch_add(1, Ordering::AcqRel);
            if self.to_syncer.send(written).is_err() {
                self.shared.poison("the syncer thread stopped".into());
            }
        }
        let handled = {
            let mut h = self.shared.handled.lock().unwrap_or_else(|p| p.into_inner());
            *h += n_handled;
            *h
        };
        if handled >= self.shared.cohort_target.load(Ordering::Acquire) {
            self.shared.handled_cv.notify_one();
        }
        if self.offset >= self.shared.config.segment_bytes_target {
            self.rotate();
        }
        self.preallocate();
    }

    fn head_of(&self, st: &State, heads: &HashMap<String, Head>, stream: &str) -> Option<Head> {
        heads
            .get(stream)
            .copied()
            .or_else(|| self.unsynced.heads.get(stream).map(|(h, _)| *h))
            .or_else(|| st.heads.get(stream).copied())
    }

    /// Checks one append against the heads (as unsynced commits and this
    /// batch have moved them) and, when it holds, encodes its events into
    /// the commit buffer.
    fn assemble(
        &mut self,
        st: &State,
        parts: &[ValidatedPart],
        timestamp_us: u64,
        heads: &mut HashMap<String, Head>,
        placed: &mut Vec<Placed>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        let mut lookup_error = None;
        let retry = check_retry(parts, |id| {
            if let Some((e, _)) = self.unsynced.ids.get(id) {
                return Some(e.clone());
            }
            match event_by_id(st, id) {
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
        check_expectations(parts, |stream| self.head_of(st, heads, stream).map(|h| h.last_version))?;
        let mut results = Vec::with_capacity(parts.len());
        let base = self.offset;
        for part in parts {
            let head = self.head_of(st, heads, &part.stream);
            let key = head.map_or_else(|| stream_key(&part.stream), |h| h.key);
            let mut version = head.map_or(0, |h| h.last_version + 1);
            let first_position = self.next_position + placed.len() as u64;
            let category = self.terms.get(TermKind::Category, category_of(&part.stream));
            for e in &part.events {
                let terms = [category, self.terms.get(TermKind::EventType, &e.event_type)];
                let position = self.next_position + placed.len() as u64;
                let id = e.id.unwrap_or_else(|| self.ids.next(timestamp_us / 1000));
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
                let loc = Loc::checked(self.segment.number, base + frame_start as u64).ok_or_else(|| {
                    StoreError::Backend("an event would lie past the offsets a segment can hold".into())
                })?;
                placed.push(Placed { id, stream_key: key, version, position, terms, loc });
                if e.id.is_some() {
                    // What a retry is compared with until the commit is
                    // published (client ids only; the store's own are new).
                    let stub = RecordedEvent {
                        id,
                        stream: part.stream.clone(),
                        event_type: e.event_type.clone(),
                        version,
                        position,
                        timestamp_us,
                        data: e.data.clone(),
                        metadata: e.metadata.clone(),
                        tags: e.tags.clone(),
                    };
                    self.unsynced.ids.insert(id, (stub, self.seq));
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

    /// Writes the commit buffer at `offset`. A failed write is cut back
    /// off the file, so the log stays a sequence of whole commits.
    fn write(&mut self, offset: u64) -> Result<(), WriteError> {
        let file = &self.segment.file;
        // After a failed fdatasync the log is cut back under this lock; a
        // write must not land after the cut.
        let _writing = self.shared.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reason) = self.shared.poisoned() {
            self.unsynced.ids.retain(|_, (_, s)| *s != self.seq);
            return Err(WriteError::Poisoned(reason));
        }
        if let Err(e) = file.write_all_at(&self.buf, offset) {
            // Ids this batch placed are not stored after all.
            let seq = self.seq;
            self.unsynced.ids.retain(|_, (_, s)| *s != seq);
            self.zeroed_end = self.zeroed_end.min(offset);
            if let Err(e2) = file.set_len(offset) {
                let reason = format!("a failed write could not be cut back off the log: {e2} (after: {e})");
                self.shared.poison(reason.clone());
                return Err(WriteError::Poisoned(reason));
            }
            tracing::warn!(error = %e, "append failed while writing the log; nothing of it was kept");
            if is_enospc(&e) {
                self.shared.full_need_bytes.store(self.buf.len() as u64, Ordering::Release);
                return Err(WriteError::Full);
            }
            return Err(WriteError::Io(e.to_string()));
        }
        self.shared.full_need_bytes.store(0, Ordering::Release);
        Ok(())
    }

    /// Seals the current segment and starts the next. The sealed segment
    /// is first cut to its last commit (dropping preallocated zeros) and
    /// synced, so a sealed segment never ends in anything but a commit and
    /// nothing in it is unsynced once the next one exists. On failure the
    /// current segment keeps growing and rotation is tried again after the
    /// next commit. Returns whether a new segment was started.
    fn rotate(&mut self) -> bool {
        let old = self.segment.clone();
        if let Err(e) = old.file.set_len(self.offset) {
            tracing::warn!(error = %e, "could not seal a segment; the current one keeps growing");
            return false;
        }
        self.zeroed_end = self.offset;
        // Through the sync lock: the syncer may be syncing this file too.
        if self.shared.sync_segment(&old, self.offset).is_err() {
            return false;
        }
        let number = old.number + 1;
        let header = SegmentHeader { segment: number, first_position: self.next_position, prev_chain: self.chain };
        match super::open::create_segment(&self.shared.config, &self.shared.dirs, header) {
            Ok(seg) => {
                let seg = Arc::new(seg);
                self.shared.note_durable(Loc { segment: number, offset: HEADER_BYTES as u32 });
                self.shared.write().segments.insert(number, seg.clone());
                self.segment = seg;
                self.offset = HEADER_BYTES as u64;
                self.zeroed_end = 0;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not start a new segment; the current one keeps growing");
                false
            }
        }
    }
}

enum WriteError {
    Full,
    Io(String),
    Poisoned(String),
}

impl WriteError {
    fn clone_error(&self) -> StoreError {
        match self {
            WriteError::Full => StoreError::StorageFull,
            WriteError::Io(msg) => StoreError::Backend(format!("writing the log failed: {msg}")),
            WriteError::Poisoned(reason) => StoreError::Poisoned { reason: reason.clone() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IdGen;

    #[test]
    fn generated_ids_are_v7_and_strictly_increasing() {
        let mut g = IdGen::default();
        let mut last = None;
        for ms in [5u64, 5, 5, 6, 6, 4, 4, 7] {
            for _ in 0..1000 {
                let id = g.next(ms);
                assert_eq!(id.get_version_num(), 7);
                assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
                if let Some(prev) = last {
                    assert!(id > prev, "{id} after {prev}");
                }
                last = Some(id);
            }
        }
    }
}
