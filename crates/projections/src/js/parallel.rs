//! A per-stream JavaScript projection folded on several cores: the events
//! are read once, each stream's go to one of N sandboxes (by a hash of the
//! stream), each sandbox on a thread of its own. Partitions never span two
//! sandboxes, so the states are exactly those of one sandbox folding
//! everything in order.
//!
//! A batch is split by shard; when a shard fails at an event, the batch
//! answers the earliest failure, and the shards that went past it remember
//! how far they went (`applied_through`) and skip those events when the
//! runner hands the rest of the batch back: nothing is folded twice.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::mpsc;

use hindsight_store::{Filter, RecordedEvent};
use serde_json::value::RawValue;

use super::{batch_rows, JsFold, Limits, BATCH_EVENTS};
use crate::fold::{Emitted, Fold};
use crate::HandlerError;

type Reply<T> = mpsc::Sender<T>;

/// Work for one shard's thread.
enum Order {
    Rows { shard: usize, rows: String, len: usize, reply: Reply<RowsDone> },
    Apply { key: String, event: Box<RecordedEvent>, reply: Reply<(Result<(), HandlerError>, Vec<Emitted>)> },
    State { key: String, or_init: bool, reply: Reply<Option<serde_json::Value>> },
    Partitions { after: Option<String>, limit: usize, reply: Reply<Vec<String>> },
    Count { reply: Reply<usize> },
    Save { reply: Reply<Result<Box<RawValue>, HandlerError>> },
    Load { states: Box<RawValue>, reply: Reply<Result<(), HandlerError>> },
}

/// A shard's answer to a run of rows.
struct RowsDone {
    shard: usize,
    result: Result<(), (usize, HandlerError)>,
    emitted: Vec<Emitted>,
}

struct Shard {
    orders: mpsc::Sender<Order>,
    /// The last position this shard folded (events up to it are skipped
    /// when a batch comes back after a failure elsewhere).
    applied_through: Option<u64>,
}

/// A per-stream JavaScript fold across `shards` sandboxes.
pub struct ParallelJsFold {
    shards: Vec<Shard>,
    filter: Filter,
    emitted: Vec<Emitted>,
}

fn gone() -> HandlerError {
    HandlerError::new("a projection shard stopped")
}

fn shard_of(key: &str, n: usize) -> usize {
    let h = blake3::hash(key.as_bytes());
    (u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or_default()) % n as u64) as usize
}

impl ParallelJsFold {
    /// `shards` sandboxes for `source`, which must partition per stream
    /// (`.foreachStream()`); otherwise None (the caller folds in one).
    pub fn new(source: &str, limits: Limits, shards: usize) -> Result<Option<Self>, super::DefinitionError> {
        let probe = JsFold::new(source, limits)?;
        let several_streams = matches!(&probe.definition().source, super::Source::Streams { names } if names.len() > 1);
        if probe.definition().partitioning != "stream" || several_streams || shards < 2 {
            return Ok(None);
        }
        let filter = probe.selects();
        drop(probe);
        let mut list = Vec::with_capacity(shards);
        for i in 0..shards {
            let (tx, rx) = mpsc::channel();
            let (ready_tx, ready_rx) = mpsc::channel();
            let source = source.to_string();
            std::thread::Builder::new()
                .name(format!("projection-shard-{i}"))
                .stack_size(8 << 20)
                .spawn(move || match JsFold::new(&source, limits) {
                    Ok(fold) => {
                        let _ = ready_tx.send(Ok(()));
                        serve(fold, rx);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                })
                .map_err(|e| super::DefinitionError { message: format!("starting a shard: {e}") })?;
            ready_rx.recv().map_err(|_| super::DefinitionError { message: "a shard did not start".into() })??;
            list.push(Shard { orders: tx, applied_through: None });
        }
        Ok(Some(ParallelJsFold { shards: list, filter, emitted: Vec::new() }))
    }

    fn send_rows(
        &self,
        s: usize,
        chunk: &[usize],
        events: &[RecordedEvent],
        tx: &Reply<RowsDone>,
    ) -> Result<(), HandlerError> {
        let rows = batch_rows(chunk.iter().map(|&i| &events[i]));
        let order = Order::Rows { shard: s, rows, len: chunk.len(), reply: tx.clone() };
        self.shards[s].orders.send(order).map_err(|_| gone())
    }

    fn ask<T>(&self, shard: usize, make: impl FnOnce(Reply<T>) -> Order) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        self.shards[shard].orders.send(make(tx)).ok()?;
        rx.recv().ok()
    }
}

/// A shard's thread: its sandbox, folding what it is sent.
fn serve(mut fold: JsFold, orders: mpsc::Receiver<Order>) {
    while let Ok(order) = orders.recv() {
        match order {
            Order::Rows { shard, rows, len, reply } => {
                let result = fold.fold_rows(&rows, len);
                let _ = reply.send(RowsDone { shard, result, emitted: fold.take_emitted() });
            }
            Order::Apply { key, event, reply } => {
                let r = fold.apply(&key, &event);
                let _ = reply.send((r, fold.take_emitted()));
            }
            Order::State { key, or_init, reply } => {
                let _ = reply.send(fold.state(&key, or_init));
            }
            Order::Partitions { after, limit, reply } => {
                let _ = reply.send(fold.partitions(after.as_deref(), limit));
            }
            Order::Count { reply } => {
                let _ = reply.send(fold.partition_count());
            }
            Order::Save { reply } => {
                let _ = reply.send(fold.save());
            }
            Order::Load { states, reply } => {
                let _ = reply.send(fold.load(&states));
            }
        }
    }
}

impl Fold for ParallelJsFold {
    fn selects(&self) -> Filter {
        self.filter.clone()
    }

    fn partition<'e>(&mut self, event: &'e RecordedEvent) -> Result<Option<Cow<'e, str>>, HandlerError> {
        Ok(Some(event.stream.as_str().into()))
    }

    fn apply(&mut self, partition: &str, event: &RecordedEvent) -> Result<(), HandlerError> {
        let s = shard_of(partition, self.shards.len());
        let (key, event) = (partition.to_string(), Box::new(event.clone()));
        let position = event.position;
        let (r, mut out) = self.ask(s, |reply| Order::Apply { key, event, reply }).ok_or_else(gone)?;
        self.emitted.append(&mut out);
        if r.is_ok() {
            self.shards[s].applied_through = Some(position);
        }
        r
    }

    /// Every shard folds its part of the batch at once, a run of rows at
    /// a time (the next only once the last one folded: a shard that fails
    /// folds nothing after it).
    fn apply_batch(&mut self, events: &[RecordedEvent]) -> Result<(), (usize, HandlerError)> {
        let n = self.shards.len();
        let mut parts: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, e) in events.iter().enumerate() {
            let s = shard_of(&e.stream, n);
            if self.shards[s].applied_through.is_none_or(|p| e.position > p) {
                parts[s].push(i);
            }
        }
        let mut queues: Vec<std::slice::Chunks<'_, usize>> = parts.iter().map(|p| p.chunks(BATCH_EVENTS)).collect();
        let mut sent: Vec<&[usize]> = vec![&[]; n];
        let (tx, rx) = mpsc::channel();
        let mut busy = 0;
        for s in 0..n {
            if let Some(chunk) = queues[s].next() {
                self.send_rows(s, chunk, events, &tx).map_err(|e| (chunk[0], e))?;
                sent[s] = chunk;
                busy += 1;
            }
        }
        let mut first_failure: Option<(usize, HandlerError)> = None;
        while busy > 0 {
            let done = rx.recv().map_err(|_| (0, gone()))?;
            busy -= 1;
            let (s, chunk) = (done.shard, sent[done.shard]);
            self.emitted.extend(done.emitted);
            match done.result {
                Ok(()) => {
                    self.shards[s].applied_through = chunk.last().map(|&i| events[i].position);
                    if let Some(next) = queues[s].next() {
                        self.send_rows(s, next, events, &tx).map_err(|e| (next[0], e))?;
                        sent[s] = next;
                        busy += 1;
                    }
                }
                Err((at, e)) => {
                    if at > 0 {
                        self.shards[s].applied_through = Some(events[chunk[at - 1]].position);
                    }
                    if first_failure.as_ref().is_none_or(|(g, _)| chunk[at] < *g) {
                        first_failure = Some((chunk[at], e));
                    }
                }
            }
        }
        self.emitted.sort_by_key(|e| (e.position, e.index));
        first_failure.map_or(Ok(()), Err)
    }

    fn state(&mut self, partition: &str, or_init: bool) -> Option<serde_json::Value> {
        let key = partition.to_string();
        self.ask(shard_of(partition, self.shards.len()), |reply| Order::State { key, or_init, reply }).flatten()
    }

    fn partitions(&self, after: Option<&str>, limit: usize) -> Vec<String> {
        let mut all: Vec<String> = (0..self.shards.len())
            .filter_map(|s| self.ask(s, |reply| Order::Partitions { after: after.map(str::to_string), limit, reply }))
            .flatten()
            .collect();
        all.sort();
        all.truncate(limit);
        all
    }

    fn partition_count(&self) -> usize {
        (0..self.shards.len()).filter_map(|s| self.ask(s, |reply| Order::Count { reply })).sum()
    }

    /// The shards' JSON objects joined into one.
    fn save(&mut self) -> Result<Box<RawValue>, HandlerError> {
        let mut out = String::from("{");
        for s in 0..self.shards.len() {
            let part = self.ask(s, |reply| Order::Save { reply }).ok_or_else(gone)??;
            let whole = part.get().trim();
            let inner = whole.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or("").trim();
            if !inner.is_empty() {
                if out.len() > 1 {
                    out.push(',');
                }
                out.push_str(inner);
            }
        }
        out.push('}');
        RawValue::from_string(out).map_err(|e| HandlerError::new(format!("encoding states: {e}")))
    }

    /// Each partition to the shard its stream hashes to (the number of
    /// shards may differ from the run that saved them).
    fn load(&mut self, states: &RawValue) -> Result<(), HandlerError> {
        let all: BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(states.get()).map_err(|e| HandlerError::new(format!("loading states: {e}")))?;
        let n = self.shards.len();
        let mut parts: Vec<BTreeMap<String, Box<RawValue>>> = vec![BTreeMap::new(); n];
        for (k, v) in all {
            parts[shard_of(&k, n)].insert(k, v);
        }
        for (s, part) in parts.into_iter().enumerate() {
            let json = serde_json::value::to_raw_value(&part).map_err(|e| HandlerError::new(e.to_string()))?;
            self.ask(s, |reply| Order::Load { states: json, reply }).ok_or_else(gone)??;
            self.shards[s].applied_through = None;
        }
        Ok(())
    }

    fn take_emitted(&mut self) -> Vec<Emitted> {
        std::mem::take(&mut self.emitted)
    }
}
