//! One subject's history index: the events folded into it, the write
//! set of each (kept per pointer), keyframes, and the state now. Built by
//! folding the subject's events once, in order; every question about the
//! past is then a lookup (blame, watch) or a keyframe plus a short fold
//! (state, history, diff), which the caller does with the events it reads.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::keyframes::{Keyframe, Keyframes, Spacing};
use crate::pointer;
use crate::predicate::Predicate;
use crate::writeset::{self, LeafChange};

/// One event folded into the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EventRef {
    pub position: u64,
    /// Its version in its stream.
    pub version: u64,
    /// How many leaves it changed (0: it left the state as it was).
    pub changes: u32,
}

/// A leaf's value after one event; its value before is the previous
/// entry's (missing before the first).
#[derive(Debug, Clone)]
struct Entry {
    /// Index into `Subject::events`.
    event: u32,
    value: Option<Value>,
}

/// What one event did at or under a pointer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub event: EventRef,
    /// The leaves it changed there, in pointer order.
    pub writes: Vec<LeafChange>,
}

/// The event that set what a pointer holds, and the earlier ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blame {
    pub current: Change,
    /// Earlier changes, newest first, at most the limit asked for.
    pub history: Vec<Change>,
    /// More earlier changes than the limit.
    pub more: bool,
}

#[derive(Debug, Clone)]
pub struct Subject {
    events: Vec<EventRef>,
    pointers: BTreeMap<String, Vec<Entry>>,
    keyframes: Keyframes,
    state: Value,
}

impl Subject {
    pub fn new(init: Value, spacing: Spacing) -> Self {
        Subject {
            events: Vec::new(),
            pointers: BTreeMap::new(),
            keyframes: Keyframes::new(spacing, init.clone()),
            state: init,
        }
    }

    /// The state after every event folded so far.
    pub fn state(&self) -> &Value {
        &self.state
    }

    pub fn events(&self) -> &[EventRef] {
        &self.events
    }

    pub fn keyframes(&self) -> &Keyframes {
        &self.keyframes
    }

    /// Folds one more event: `apply` changes the state in place and
    /// returns the leaves it changed.
    pub fn fold(&mut self, position: u64, version: u64, apply: impl FnOnce(&mut Value) -> Vec<LeafChange>) {
        let changes = apply(&mut self.state);
        self.note(position, version, changes);
    }

    /// Folds one more event when `apply` says it is the subject's (Some,
    /// with what it changed); None leaves the subject as it was.
    pub fn fold_with(
        &mut self,
        position: u64,
        version: u64,
        apply: impl FnOnce(&mut Value) -> Option<Vec<LeafChange>>,
    ) -> bool {
        match apply(&mut self.state) {
            Some(changes) => {
                self.note(position, version, changes);
                true
            }
            None => false,
        }
    }

    /// Folds one more event given the state after it (a fold that cannot
    /// say what it changed: the write set is a diff).
    pub fn fold_to(&mut self, position: u64, version: u64, after: Value) {
        let changes = writeset::changes(Some(&self.state), Some(&after));
        self.state = after;
        self.note(position, version, changes);
    }

    fn note(&mut self, position: u64, version: u64, changes: Vec<LeafChange>) {
        debug_assert!(self.events.last().is_none_or(|e| e.position < position), "events fold in log order");
        let index = self.events.len() as u32;
        self.events.push(EventRef { position, version, changes: changes.len() as u32 });
        for c in changes {
            self.pointers.entry(c.pointer).or_default().push(Entry { event: index, value: c.new });
        }
        let state = &self.state;
        self.keyframes.offer(self.events.len() as u64, position, || state.clone());
    }

    /// The leaf the initial state holds at `p`, if any: a pointer's value
    /// before its first entry.
    fn init_leaf(&self, p: &str) -> Option<Value> {
        let init = &self.keyframes.at_or_before(0).state;
        init.pointer(p).filter(|v| !writeset::is_container(v)).cloned()
    }

    /// About how many bytes the index takes in memory: events, entries
    /// (with the values they hold) and keyframes (their states as JSON).
    pub fn approx_bytes(&self) -> usize {
        let value = |v: &Option<Value>| v.as_ref().map_or(0, |v| serde_json::to_string(v).map_or(0, |s| s.len()));
        let entries: usize = self
            .pointers
            .iter()
            .map(|(p, list)| {
                p.len() + 48 + list.iter().map(|e| std::mem::size_of::<Entry>() + value(&e.value)).sum::<usize>()
            })
            .sum();
        let frames: usize =
            self.keyframes.iter().map(|f| 48 + serde_json::to_string(&*f.state).map_or(0, |s| s.len())).sum();
        self.events.len() * std::mem::size_of::<EventRef>() + entries + frames
    }

    /// How many of its events lie below the exclusive end position `end`.
    pub fn count_before(&self, end: u64) -> usize {
        self.events.partition_point(|e| e.position < end)
    }

    /// Where the state after `count` events comes from: the newest
    /// keyframe at or before it and the events to fold onto it.
    pub fn plan(&self, count: usize) -> (&Keyframe, &[EventRef]) {
        let count = count.min(self.events.len());
        let frame = self.keyframes.at_or_before(count as u64);
        (frame, &self.events[frame.count as usize..count])
    }

    /// The pointers at or under `at` that ever held a leaf, with their
    /// entries.
    fn under<'a>(&'a self, at: &'a str) -> impl Iterator<Item = (&'a String, &'a Vec<Entry>)> + 'a {
        self.pointers
            .range::<str, _>((std::ops::Bound::Included(at), std::ops::Bound::Unbounded))
            .take_while(move |(p, _)| p.starts_with(at))
            .filter(move |(p, _)| pointer::is_at_or_under(p, at))
    }

    /// The changes at or under `at`, one per event, merged from each
    /// pointer's entries: newest first among the first `count` events
    /// (`backward`), or oldest first from event `count` on. Lazy, so the
    /// newest few cost a few heap steps, not a scan of the history.
    fn changes_under<'a>(&'a self, at: &'a str, count: usize, backward: bool) -> Changes<'a> {
        let lists: Vec<(&'a String, &'a [Entry], usize)> = self
            .under(at)
            .map(|(p, entries)| {
                let split = entries.partition_point(|e| (e.event as usize) < count);
                (p, entries.as_slice(), split)
            })
            .collect();
        let mut heap = std::collections::BinaryHeap::new();
        for (list, (_, entries, split)) in lists.iter().enumerate() {
            let next = if backward { split.checked_sub(1) } else { (*split < entries.len()).then_some(*split) };
            if let Some(i) = next {
                heap.push(Head { event: entries[i].event, backward, list, at: i });
            }
        }
        let firsts = lists.iter().map(|(p, _, _)| self.init_leaf(p)).collect();
        Changes { subject: self, lists, heap, firsts }
    }

    /// The event among the first `count` that last changed anything at or
    /// under `at`, what it changed there, and up to `limit` earlier such
    /// events; None when nothing there was ever set.
    pub fn blame(&self, at: &str, count: usize, limit: usize) -> Option<Blame> {
        let mut changes = self.changes_under(at, count, true);
        let current = changes.next()?;
        let history: Vec<Change> = changes.by_ref().take(limit).collect();
        Some(Blame { current, history, more: changes.next().is_some() })
    }

    /// The nearest event at which `predicate` on the value at `at` became
    /// true: backward, among the first `count` events (the newest such);
    /// forward, after them (the oldest). `changed` matches any event that
    /// changed a leaf at or under `at`. A non-empty object or array at
    /// `at` exists, and is neither equal nor ordered to any value.
    pub fn watch(&self, at: &str, predicate: &Predicate, count: usize, backward: bool) -> Option<Change> {
        if predicate.is_change() {
            return self.changes_under(at, count, backward).next();
        }
        let mut lists = self.under(at);
        if let (Some((p, entries)), None) = (lists.next(), lists.next()) {
            if p == at {
                return self.watch_leaf(p, entries, predicate, count, backward);
            }
        }
        // Under a container: sweep its leaves from the start.
        let init = &self.keyframes.at_or_before(0).state;
        let mut leaves: BTreeMap<String, Value> =
            writeset::leaves(init).into_iter().filter(|(p, _)| pointer::is_at_or_under(p, at)).collect();
        let mut held = holds_at(predicate, &leaves, at);
        let mut found = None;
        for change in self.changes_under(at, 0, false) {
            let index = self.count_before(change.event.position);
            if backward && index >= count {
                break;
            }
            for w in &change.writes {
                match &w.new {
                    Some(v) => leaves.insert(w.pointer.clone(), v.clone()),
                    None => leaves.remove(&w.pointer),
                };
            }
            let holds = holds_at(predicate, &leaves, at);
            let became = holds && !held;
            held = holds;
            if became && backward {
                found = Some(change);
            } else if became && index >= count {
                return Some(change);
            }
        }
        found
    }

    /// Watch on a pointer that only ever held leaves: a walk over its
    /// own entries from the point, stopping at the first match.
    fn watch_leaf(
        &self,
        p: &str,
        entries: &[Entry],
        predicate: &Predicate,
        count: usize,
        backward: bool,
    ) -> Option<Change> {
        let split = entries.partition_point(|e| (e.event as usize) < count);
        let first = self.init_leaf(p);
        let value = |i: usize| entries[i].value.as_ref();
        let before = |i: usize| i.checked_sub(1).map_or(first.as_ref(), value);
        let became = |i: usize| predicate.holds(value(i)) && !predicate.holds(before(i));
        let i =
            if backward { (0..split).rev().find(|&i| became(i)) } else { (split..entries.len()).find(|&i| became(i)) }?;
        let write = LeafChange { pointer: p.to_string(), old: before(i).cloned(), new: value(i).cloned() };
        Some(Change { event: self.events[entries[i].event as usize], writes: vec![write] })
    }
}

/// Whether `predicate` holds for what `leaves` (those at or under `at`)
/// make the value at `at`.
fn holds_at(predicate: &Predicate, leaves: &BTreeMap<String, Value>, at: &str) -> bool {
    match leaves.get(at) {
        Some(v) => predicate.holds(Some(v)),
        None if leaves.is_empty() => predicate.holds(None),
        None => predicate.holds_for_container(),
    }
}

/// The next entry of one pointer's list in a merge.
#[derive(PartialEq, Eq)]
struct Head {
    event: u32,
    backward: bool,
    list: usize,
    at: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // A max-heap: backward wants the newest event first, forward the
        // oldest; within an event, pointers in order.
        let by_event = if self.backward { self.event.cmp(&other.event) } else { other.event.cmp(&self.event) };
        by_event.then(other.list.cmp(&self.list))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The changes under a pointer, one per event, in time order or reverse.
struct Changes<'a> {
    subject: &'a Subject,
    lists: Vec<(&'a String, &'a [Entry], usize)>,
    heap: std::collections::BinaryHeap<Head>,
    /// Each list's value before its first entry (the initial state's).
    firsts: Vec<Option<Value>>,
}

impl Iterator for Changes<'_> {
    type Item = Change;

    fn next(&mut self) -> Option<Change> {
        let event = self.heap.peek()?.event;
        let mut writes = Vec::new();
        while let Some(head) = self.heap.peek_mut().filter(|h| h.event == event) {
            let (pointer, entries, _) = self.lists[head.list];
            let i = head.at;
            let old = match i.checked_sub(1) {
                Some(j) => entries[j].value.clone(),
                None => self.firsts[head.list].clone(),
            };
            writes.push(LeafChange { pointer: pointer.clone(), old, new: entries[i].value.clone() });
            let next = if head.backward { i.checked_sub(1) } else { (i + 1 < entries.len()).then_some(i + 1) };
            match next {
                Some(n) => {
                    let mut head = head;
                    head.at = n;
                    head.event = entries[n].event;
                }
                None => {
                    std::collections::binary_heap::PeekMut::pop(head);
                }
            }
        }
        Some(Change { event: self.subject.events[event as usize], writes })
    }
}
