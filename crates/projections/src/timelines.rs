//! One projection on two timelines, side by side: the live log and a fork
//! (or two forks), each folded with its own source. Both are read in step,
//! in the order of the live log (a fork's events are placed at the live
//! positions they came from; its appended events after its base), so the
//! first point at which a partition's two states differ is found in the
//! same pass that folds them.
//!
//! Partitions fold independently: a partition's state depends only on its
//! own events. When both sides run the same source, a partition can only
//! differ if the fork changed one of its events (skipped, edited or
//! appended it), so only those partitions are folded ([`affected`]); a
//! partition-per-stream projection then reads just those streams. This
//! holds for handlers that depend on events' content and order, not on
//! their positions, which a fork renumbers past a skip.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use hindsight_store::{EventReader, Filter, ReadAll, ReadStream, RecordedEvent};
use hindsight_timetravel::fork::{ForkReader, Overlay};
use hindsight_timetravel::service::HistoryError;
use hindsight_timetravel::writeset;
use serde_json::{json, Value};
use tokio::runtime::Handle;

use crate::js::Limits;
use crate::{Emitted, Fold};

/// One timeline and the source folded on it.
#[derive(Clone)]
pub struct Side {
    /// How answers name it: `live` or the fork's name.
    pub name: String,
    pub reader: Arc<dyn EventReader>,
    pub source: String,
    /// Events below this position of the timeline are folded.
    pub end: u64,
    /// A fork's changes, to place its events on the live log; None: live.
    pub overlay: Option<Arc<Overlay>>,
}

impl Side {
    /// The live timeline below `end`.
    pub fn live(reader: Arc<dyn EventReader>, source: String, end: u64) -> Self {
        Side { name: "live".into(), reader, source, end, overlay: None }
    }

    /// A fork's whole timeline.
    pub fn fork(name: &str, fork: &Arc<ForkReader>, source: String) -> Self {
        let reader: Arc<dyn EventReader> = fork.clone();
        let end = reader.next_position();
        Side { name: name.to_string(), reader, source, end, overlay: Some(fork.overlay()) }
    }

    /// The first live position at which this timeline may differ from
    /// the live log (None: it is the live log).
    fn first_change(&self) -> Option<u64> {
        let o = self.overlay.as_ref()?;
        let first_edit = o.edits().keys().min().copied();
        o.skips().first().copied().into_iter().chain(first_edit).chain([o.base_end]).min()
    }

    /// Where the event at `position` of this timeline sits on the live log.
    fn coordinate(&self, position: u64) -> u64 {
        match &self.overlay {
            None => position,
            Some(o) if position < o.base_visible() => o.live_position(position),
            Some(o) => o.base_end + (position - o.base_visible()),
        }
    }
}

/// Which partitions to fold and compare.
#[derive(Debug, Clone)]
pub enum Keys {
    All,
    Only(BTreeSet<String>),
}

impl Keys {
    fn contains(&self, key: &str) -> bool {
        match self {
            Keys::All => true,
            Keys::Only(keys) => keys.contains(key),
        }
    }
}

/// An event a handler failed on (it changes nothing, as when parked).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    pub position: u64,
    pub live_position: u64,
    pub stream: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub partition: String,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// One side's fold as it goes.
pub(crate) struct Folding {
    pub fold: Box<dyn Fold>,
    pub filter: Filter,
    pub failed: Vec<Failure>,
    pub journal: Vec<Emitted>,
    pub folded: u64,
}

/// Failures and output kept per side at most (the counts stay exact).
const KEPT_MAX: usize = 10_000;

impl Folding {
    pub fn new(source: &str, limits: Limits) -> Result<Self, HistoryError> {
        let fold = crate::builtin::fold_for(source, limits, 1)
            .map_err(|e| HistoryError::Invalid(format!("the source does not load: {e}")))?;
        let filter = fold.selects();
        Ok(Folding { fold, filter, failed: Vec::new(), journal: Vec::new(), folded: 0 })
    }

    /// The event's partition, if the fold reads it.
    fn key(&mut self, e: &RecordedEvent) -> Option<String> {
        if !self.filter.matches(&e.stream, &e.event_type) {
            return None;
        }
        self.fold.partition(e).ok().flatten().map(|k| k.into_owned())
    }

    /// Folds `e` if its partition is among `keys`: the partition, if so.
    pub fn apply(&mut self, e: &RecordedEvent, live_position: u64, keys: &Keys) -> Option<String> {
        if !self.filter.matches(&e.stream, &e.event_type) {
            return None;
        }
        let key = match self.fold.partition(e) {
            Ok(Some(k)) if keys.contains(&k) => k.into_owned(),
            Ok(_) => return None,
            Err(err) => {
                self.fail(e, live_position, String::new(), err);
                return None;
            }
        };
        self.folded += 1;
        match self.fold.apply(&key, e) {
            Ok(()) => {
                let emitted = self.fold.take_emitted();
                let room = KEPT_MAX.saturating_sub(self.journal.len());
                self.journal.extend(emitted.into_iter().take(room));
            }
            Err(err) => self.fail(e, live_position, key.clone(), err),
        }
        Some(key)
    }

    fn fail(&mut self, e: &RecordedEvent, live_position: u64, partition: String, err: crate::HandlerError) {
        if self.failed.len() < KEPT_MAX {
            self.failed.push(Failure {
                position: e.position,
                live_position,
                stream: e.stream.clone(),
                event_type: e.event_type.clone(),
                partition,
                error: err.message,
                stack: err.stack,
            });
        }
    }
}

/// What a side reads: its fold's selection of `$all`, or one stream.
enum Read {
    All(Filter),
    Stream(String),
}

/// A timeline's events in order, a page at a time, below its end.
pub(crate) struct Cursor<'a> {
    side: &'a Side,
    rt: &'a Handle,
    read: Read,
    page: VecDeque<RecordedEvent>,
    /// Where the next page starts (a position, or a stream version);
    /// None when nothing is left.
    next: Option<u64>,
}

const PAGE: usize = 1_000;

impl<'a> Cursor<'a> {
    fn new(side: &'a Side, rt: &'a Handle, read: Read) -> Self {
        Cursor { side, rt, read, page: VecDeque::new(), next: Some(0) }
    }

    /// A cursor over everything `filter` selects on `side`.
    pub(crate) fn all(side: &'a Side, rt: &'a Handle, filter: Filter) -> Self {
        Cursor::new(side, rt, Read::All(filter))
    }

    /// A cursor over one stream of `side`.
    pub(crate) fn stream(side: &'a Side, rt: &'a Handle, stream: String) -> Self {
        Cursor::new(side, rt, Read::Stream(stream))
    }

    fn fill(&mut self) -> Result<(), HistoryError> {
        while self.page.is_empty() {
            let Some(from) = self.next else { return Ok(()) };
            let end = self.side.end;
            match &self.read {
                Read::All(filter) => {
                    if from >= end {
                        self.next = None;
                        return Ok(());
                    }
                    let read = ReadAll::forward(from).limit(PAGE).filter(filter.clone());
                    let slice = self.rt.block_on(self.side.reader.read_all(&read))?;
                    self.page.extend(slice.events.into_iter().filter(|e| e.position < end));
                    let done = slice.end_of_log || slice.next_position >= end || slice.next_position <= from;
                    self.next = (!done).then_some(slice.next_position);
                }
                Read::Stream(stream) => {
                    let read = ReadStream::forward(stream).from(from).limit(PAGE);
                    let events = self.rt.block_on(self.side.reader.read_stream(&read))?;
                    let full = events.len() == PAGE;
                    self.next = events.last().filter(|e| full && e.position < end).map(|e| e.version + 1);
                    self.page.extend(events.into_iter().filter(|e| e.position < end));
                }
            }
        }
        Ok(())
    }

    /// The live coordinate of the next event, if any.
    fn peek(&mut self) -> Result<Option<u64>, HistoryError> {
        self.fill()?;
        Ok(self.page.front().map(|e| self.side.coordinate(e.position)))
    }

    pub(crate) fn next_event(&mut self) -> Result<Option<RecordedEvent>, HistoryError> {
        self.fill()?;
        Ok(self.page.pop_front())
    }
}

/// The two sides' folds, and where each partition first diverged.
struct Pass {
    a: Folding,
    b: Folding,
    keys: Keys,
    /// Track where partitions first differ (a state comparison per event).
    track: bool,
    diverged: BTreeMap<String, Value>,
    /// With the same source on both sides: below this live position both
    /// timelines hold the same events, so only `a` folds them and `b`
    /// takes `a`'s states on reaching it.
    shared_below: Option<u64>,
}

fn summary(e: &Option<RecordedEvent>) -> Value {
    match e {
        Some(e) => {
            json!({ "position": e.position, "stream": e.stream, "version": e.version, "type": e.event_type, "id": e.id })
        }
        None => Value::Null,
    }
}

impl Pass {
    /// Folds two cursors in step, event by event in live order.
    fn run(&mut self, (a, ca): (&Side, &mut Cursor), (b, cb): (&Side, &mut Cursor)) -> Result<(), HistoryError> {
        let mut shared = BTreeSet::new();
        let mut sharing = self.shared_below.is_some();
        loop {
            let (pa, pb) = (ca.peek()?, cb.peek()?);
            let Some(x) = pa.into_iter().chain(pb).min() else { break };
            if sharing && self.shared_below.is_some_and(|c| x >= c) {
                self.hand_over(&shared)?;
                sharing = false;
            }
            let ea = if pa == Some(x) { ca.next_event()? } else { None };
            let eb = if pb == Some(x) { cb.next_event()? } else { None };
            if sharing {
                // The same event on both sides: folded once.
                shared.extend(ea.as_ref().and_then(|e| self.a.apply(e, x, &self.keys)));
                continue;
            }
            let ka = ea.as_ref().and_then(|e| self.a.apply(e, x, &self.keys));
            let kb = eb.as_ref().and_then(|e| self.b.apply(e, x, &self.keys));
            if !self.track {
                continue;
            }
            for key in ka.iter().chain(kb.iter().filter(|k| ka.as_ref() != Some(*k))) {
                if !self.diverged.contains_key(key) && self.a.fold.state(key, false) != self.b.fold.state(key, false) {
                    let at = json!({ "live_position": x, &a.name: summary(&ea), &b.name: summary(&eb) });
                    self.diverged.insert(key.clone(), at);
                }
            }
        }
        if sharing {
            self.hand_over(&shared)?;
        }
        Ok(())
    }

    /// Gives `b` the states `a` folded for `keys` while both timelines
    /// were the same, and the failures on the way.
    fn hand_over(&mut self, keys: &BTreeSet<String>) -> Result<(), HistoryError> {
        if keys.is_empty() {
            return Ok(());
        }
        let failed = |e: crate::HandlerError| HistoryError::Failed(format!("handing states over: {}", e.message));
        let saved = self.b.fold.save().map_err(failed)?;
        let mut states: serde_json::Map<String, Value> =
            serde_json::from_str(saved.get()).map_err(|e| HistoryError::Failed(format!("handing states over: {e}")))?;
        for k in keys {
            if let Some(state) = self.a.fold.state(k, false) {
                states.insert(k.clone(), state);
            }
        }
        let raw = serde_json::value::to_raw_value(&states)
            .map_err(|e| HistoryError::Failed(format!("handing states over: {e}")))?;
        self.b.fold.load(&raw).map_err(failed)?;
        let below = self.shared_below.unwrap_or(u64::MAX);
        let copied: Vec<Failure> = (self.a.failed.iter())
            .filter(|f| f.live_position < below && keys.contains(&f.partition))
            .cloned()
            .collect();
        self.b.failed.extend(copied);
        Ok(())
    }
}

/// How much of the comparison to list.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Find each partition's first divergence (costs a state comparison
    /// per folded event).
    pub first_divergence: bool,
    /// Changed partitions listed at most (all are counted).
    pub limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { first_divergence: true, limit: 100 }
    }
}

/// A state's digest: BLAKE3 of its JSON (object keys sorted).
pub fn digest(state: &Value) -> String {
    blake3::hash(&serde_json::to_vec(state).unwrap_or_default()).to_hex().to_string()
}

/// Folds `keys` on both sides and compares them, on a blocking thread.
pub async fn compare(a: Side, b: Side, keys: Keys, limits: Limits, options: Options) -> Result<Value, HistoryError> {
    let rt = Handle::current();
    tokio::task::spawn_blocking(move || compare_blocking(&rt, &a, &b, keys, limits, options))
        .await
        .map_err(|e| HistoryError::Failed(format!("the comparison thread failed: {e}")))?
}

fn compare_blocking(
    rt: &Handle,
    a: &Side,
    b: &Side,
    keys: Keys,
    limits: Limits,
    options: Options,
) -> Result<Value, HistoryError> {
    let (fa, fb) = (Folding::new(&a.source, limits)?, Folding::new(&b.source, limits)?);
    let per_stream = fa.fold.partitions_are_streams() && fb.fold.partitions_are_streams();
    let (filter_a, filter_b) = (fa.filter.clone(), fb.filter.clone());
    let shared_below = (a.source == b.source).then(|| a.first_change().into_iter().chain(b.first_change()).min());
    let shared_below = shared_below.map(|c| c.unwrap_or(u64::MAX));
    let track = options.first_divergence;
    let mut pass = Pass { a: fa, b: fb, keys, track, diverged: BTreeMap::new(), shared_below };
    match pass.keys.clone() {
        Keys::Only(streams) if per_stream => {
            for stream in streams {
                let mut ca = Cursor::new(a, rt, Read::Stream(stream.clone()));
                let mut cb = Cursor::new(b, rt, Read::Stream(stream));
                pass.run((a, &mut ca), (b, &mut cb))?;
            }
        }
        _ => {
            let (mut ca, mut cb) = (Cursor::all(a, rt, filter_a), Cursor::all(b, rt, filter_b));
            pass.run((a, &mut ca), (b, &mut cb))?;
        }
    }
    Ok(answer(&mut pass, a, b, options))
}

/// Every partition either side holds.
fn all_keys(fold: &dyn Fold, into: &mut BTreeSet<String>) {
    let mut after: Option<String> = None;
    loop {
        let page = fold.partitions(after.as_deref(), 10_000);
        let Some(last) = page.last().cloned() else { return };
        into.extend(page);
        after = Some(last);
    }
}

fn answer(pass: &mut Pass, a: &Side, b: &Side, options: Options) -> Value {
    let keys = match &pass.keys {
        Keys::Only(keys) => keys.clone(),
        Keys::All => {
            let mut keys = BTreeSet::new();
            all_keys(&*pass.a.fold, &mut keys);
            all_keys(&*pass.b.fold, &mut keys);
            keys
        }
    };
    let (mut listed, mut counts) = (Vec::new(), BTreeMap::from([("added", 0), ("removed", 0), ("changed", 0)]));
    let mut identical = 0u64;
    for key in &keys {
        let (sa, sb) = (pass.a.fold.state(key, false), pass.b.fold.state(key, false));
        if sa == sb {
            identical += 1;
            continue;
        }
        let kind = match (&sa, &sb) {
            (None, _) => "added",
            (_, None) => "removed",
            _ => "changed",
        };
        *counts.entry(kind).or_default() += 1;
        if listed.len() < options.limit {
            let fields: Vec<String> =
                writeset::changes(sa.as_ref(), sb.as_ref()).into_iter().map(|c| c.pointer).collect();
            let (null, digest_of) = (Value::Null, |s: &Option<Value>| s.as_ref().map(digest));
            listed.push(json!({
                "partition": key, "kind": kind, "fields": fields,
                "patch": json_patch::diff(sa.as_ref().unwrap_or(&null), sb.as_ref().unwrap_or(&null)),
                "digests": { &a.name: digest_of(&sa), &b.name: digest_of(&sb) },
                "first_divergence": pass.diverged.remove(key),
            }));
        }
    }
    json!({
        "from": a.name, "to": b.name,
        "partitions_compared": keys.len(), "identical": identical,
        "added": counts["added"], "removed": counts["removed"], "changed": counts["changed"],
        "partitions": listed,
        "events_refolded": pass.a.folded + pass.b.folded,
        "failed": { &a.name: pass.a.failed, &b.name: pass.b.failed },
    })
}

/// The partitions a fork's changes touch, on either side: those of the
/// live events it skips or edits (as live has them, and as the fork
/// edits them) and of the events appended to it.
pub async fn affected(
    live: Arc<dyn EventReader>,
    fork: Arc<ForkReader>,
    sources: (String, String),
    limits: Limits,
) -> Result<BTreeSet<String>, HistoryError> {
    let rt = Handle::current();
    tokio::task::spawn_blocking(move || {
        let (mut fa, mut fb) = (Folding::new(&sources.0, limits)?, Folding::new(&sources.1, limits)?);
        let o = fork.overlay();
        let mut keys = BTreeSet::new();
        let changed: BTreeSet<u64> = o.skips().iter().chain(o.edits().keys()).copied().collect();
        for p in changed {
            let slice = rt.block_on(live.read_all(&ReadAll::forward(p).limit(1)))?;
            keys.extend(slice.events.iter().filter(|e| e.position == p).filter_map(|e| fa.key(e)));
        }
        for q in o.edits().keys().map(|&p| o.fork_position(p)) {
            let slice = rt.block_on(fork.read_all(&ReadAll::forward(q).limit(1)))?;
            keys.extend(slice.events.iter().filter(|e| e.position == q).filter_map(|e| fb.key(e)));
        }
        let reader: Arc<dyn EventReader> = fork.clone();
        let appended =
            Side { name: String::new(), end: fork.next_position(), source: String::new(), reader, overlay: None };
        let mut cursor = Cursor { next: Some(o.base_visible()), ..Cursor::all(&appended, &rt, Filter::default()) };
        while let Some(e) = cursor.next_event()? {
            keys.extend(fb.key(&e));
        }
        Ok(keys)
    })
    .await
    .map_err(|e| HistoryError::Failed(format!("the comparison thread failed: {e}")))?
}

/// A source folded over one whole timeline: every partition's state, the
/// events it failed on and the output it emitted (kept, never published).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Folded {
    /// Events below this position of the timeline are folded.
    pub end: u64,
    pub events_folded: u64,
    pub states: BTreeMap<String, Value>,
    pub failed: Vec<Failure>,
    pub journal: Vec<Emitted>,
}

/// Folds `side`'s source over its whole timeline, on a blocking thread.
pub async fn fold(side: Side, limits: Limits) -> Result<Folded, HistoryError> {
    let rt = Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut f = Folding::new(&side.source, limits)?;
        let mut cursor = Cursor::all(&side, &rt, f.filter.clone());
        while let Some(e) = cursor.next_event()? {
            f.apply(&e, side.coordinate(e.position), &Keys::All);
        }
        let mut keys = BTreeSet::new();
        all_keys(&*f.fold, &mut keys);
        let states = keys.into_iter().filter_map(|k| Some((k.clone(), f.fold.state(&k, false)?))).collect();
        Ok(Folded { end: side.end, events_folded: f.folded, states, failed: f.failed, journal: f.journal })
    })
    .await
    .map_err(|e| HistoryError::Failed(format!("the fold thread failed: {e}")))?
}
