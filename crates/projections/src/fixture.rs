//! Regression fixtures: the value a field of a projection partition held
//! at a point, turned into a given-when-then test (these events, folded by
//! this source, give this value), with the events cut down by delta
//! debugging (Zeller's ddmin) to a 1-minimal subset: one that still gives
//! the same value, and from which no single event can be dropped.
//!
//! The test comes as JavaScript (runs under Node: the projection's own
//! sandbox prelude and source in a `vm` context, no Hindsight needed) or
//! as Rust (a `#[test]` over [`check`], through this crate's fold).

use hindsight_store::RecordedEvent;
use hindsight_timetravel::service::HistoryError;
use serde_json::{json, Value};

use crate::js::Limits;
use crate::registry::Registry;
use crate::timelines::{Cursor, Side};
use crate::{Fold, HandlerError};

/// Events a fixture is minimized from at most (ddmin folds subsets of
/// them many times): ask as of an earlier point for a longer history.
pub const FIXTURE_EVENTS_MAX: usize = 20_000;

/// A value and the fewest events found that give it.
#[derive(Debug, Clone)]
pub struct Minimized {
    pub events: Vec<RecordedEvent>,
    pub events_total: usize,
    /// What the pointer holds after all the events (None: missing).
    pub value: Option<Value>,
    /// Subsets folded to find it.
    pub tests: u64,
}

/// Folds `events` of `partition` from the initial state: the value at
/// `pointer` after them. A failing event changes nothing (as parked).
pub fn value_after(fold: &mut dyn Fold, partition: &str, pointer: &str, events: &[&RecordedEvent]) -> Option<Value> {
    let empty = serde_json::value::to_raw_value(&json!({})).ok()?;
    fold.load(&empty).ok()?;
    for e in events {
        let _ = fold.apply(partition, e);
        fold.take_emitted();
    }
    fold.state(partition, true)?.pointer(pointer).cloned()
}

/// The 1-minimal subset of `events` (in order) whose fold gives the same
/// value at `pointer` as all of them.
pub fn minimize(
    source: &str,
    limits: Limits,
    partition: &str,
    pointer: &str,
    events: Vec<RecordedEvent>,
) -> Result<Minimized, HistoryError> {
    if events.len() > FIXTURE_EVENTS_MAX {
        return Err(HistoryError::Invalid(format!(
            "partition {partition:?} has {} events by then; a fixture is minimized from at most {FIXTURE_EVENTS_MAX}: ask as of an earlier point",
            events.len()
        )));
    }
    let mut fold = crate::builtin::fold_for(source, limits, 1)
        .map_err(|e| HistoryError::Invalid(format!("the source does not load: {e}")))?;
    let all: Vec<&RecordedEvent> = events.iter().collect();
    let value = value_after(&mut *fold, partition, pointer, &all);
    let mut tests = 1u64;
    let mut same = |subset: &[usize]| {
        tests += 1;
        let picked: Vec<&RecordedEvent> = subset.iter().map(|&i| &events[i]).collect();
        value_after(&mut *fold, partition, pointer, &picked) == value
    };
    let kept = ddmin((0..events.len()).collect(), &mut same);
    let minimal = kept.iter().map(|&i| events[i].clone()).collect();
    Ok(Minimized { events: minimal, events_total: events.len(), value, tests })
}

/// Zeller's ddmin over indexes: `test` says whether a subset still gives
/// the value; the result is 1-minimal.
fn ddmin(mut c: Vec<usize>, test: &mut impl FnMut(&[usize]) -> bool) -> Vec<usize> {
    if test(&[]) {
        return Vec::new();
    }
    let mut n = 2;
    while c.len() >= 2 {
        let size = c.len().div_ceil(n);
        let chunks: Vec<Vec<usize>> = c.chunks(size).map(<[usize]>::to_vec).collect();
        if let Some(chunk) = chunks.iter().find(|chunk| test(chunk)) {
            c = chunk.clone();
            n = 2;
            continue;
        }
        let complement = |i: usize| -> Vec<usize> {
            chunks.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, ch)| ch.iter().copied()).collect()
        };
        if let Some(rest) = (0..chunks.len()).map(complement).find(|rest| chunks.len() > 2 && test(rest)) {
            c = rest;
            n = (n - 1).max(2);
            continue;
        }
        if n >= c.len() {
            break;
        }
        n = (n * 2).min(c.len());
    }
    c
}

impl Registry {
    /// The events of partition `partition` of projection `name` (its live
    /// source) before `end`, minimized for the value at `pointer`.
    pub async fn fixture(
        &self,
        name: &str,
        partition: &str,
        pointer: &str,
        end: u64,
    ) -> Result<Minimized, HistoryError> {
        let source = self.live_source(name)?;
        let (rt, limits, reader) = (self.rt.clone(), self.settings.limits, self.reader.clone());
        let partition = partition.to_string();
        let pointer = pointer.to_string();
        tokio::task::spawn_blocking(move || {
            let mut fold = crate::builtin::fold_for(&source, limits, 1)
                .map_err(|e| HistoryError::Invalid(format!("the source does not load: {e}")))?;
            let side = Side::live(reader, source.clone(), end);
            let filter = fold.selects();
            let mut cursor = match fold.partitions_are_streams() {
                true => Cursor::stream(&side, &rt, partition.clone()),
                false => Cursor::all(&side, &rt, filter.clone()),
            };
            let mut events = Vec::new();
            while let Some(e) = cursor.next_event()? {
                let mine = filter.matches(&e.stream, &e.event_type)
                    && fold.partition(&e).ok().flatten().is_some_and(|k| k == partition.as_str());
                if mine {
                    events.push(e);
                }
                if events.len() > FIXTURE_EVENTS_MAX {
                    break;
                }
            }
            minimize(&source, limits, &partition, &pointer, events)
        })
        .await
        .map_err(|e| HistoryError::Failed(format!("the fixture thread failed: {e}")))?
    }
}

/// What a fixture is about.
pub struct Subject<'a> {
    pub projection: &'a str,
    pub source: &'a str,
    pub partition: &'a str,
    pub pointer: &'a str,
    /// The point it is as of, as given.
    pub as_of: &'a str,
}

fn rows(events: &[RecordedEvent]) -> Value {
    let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap_or(Value::Null);
    (events.iter())
        .map(|e| {
            json!({
                "stream": e.stream, "type": e.event_type, "version": e.version, "position": e.position,
                "timestampUs": e.timestamp_us, "data": parse(&e.data), "metadata": parse(&e.metadata),
                "tags": e.tags, "id": e.id.to_string(),
            })
        })
        .collect()
}

fn header(s: &Subject, m: &Minimized, comment: &str) -> String {
    format!(
        "{comment} Generated by `hindsight fixture`: projection {:?}, partition {:?}, {} as of {}.\n\
         {comment} Given these {} events (minimized by delta debugging from {}), when the projection\n\
         {comment} folds them, then {} is {}.\n",
        s.projection,
        s.partition,
        s.pointer,
        s.as_of,
        m.events.len(),
        m.events_total,
        s.pointer,
        m.value.as_ref().map_or("missing".to_string(), Value::to_string),
    )
}

/// A Node test: `node FILE` exits 0 when the value is still produced.
pub fn javascript(s: &Subject, m: &Minimized) -> String {
    fn lit<T: serde::Serialize + ?Sized>(v: &T) -> String {
        serde_json::to_string(v).unwrap_or_default()
    }
    let events = serde_json::to_string_pretty(&rows(&m.events)).unwrap_or_default();
    let lines = [
        "\"use strict\";".to_string(),
        "const assert = require(\"node:assert\");".into(),
        "const vm = require(\"node:vm\");".into(),
        String::new(),
        format!("const PRELUDE = {};", lit(crate::js::PRELUDE)),
        format!("const SOURCE = {};", lit(s.source)),
        format!("const PARTITION = {};", lit(s.partition)),
        format!("const POINTER = {};", lit(s.pointer)),
        format!("const EXPECTED = {};", lit(&m.value)),
        format!("const EVENTS = {events};"),
        String::new(),
        "const sandbox = vm.createContext({});".into(),
        "vm.runInContext(PRELUDE, sandbox);".into(),
        "vm.runInContext(SOURCE, sandbox);".into(),
        "const host = sandbox.__hindsight;".into(),
        "const def = JSON.parse(host.definition());".into(),
        "for (const e of EVENTS) {".into(),
        "  const args = [e.stream, e.type, e.version, e.position, e.timestampUs, e.data, e.metadata, e.tags, e.id];".into(),
        "  const key = def.partitioning === \"key\" ? host.partition(...args) : def.partitioning === \"stream\" ? e.stream : \"\";".into(),
        "  if (key !== PARTITION) continue;".into(),
        "  try { host.fold(key, ...args); } catch (err) { host.rollback(); }".into(),
        "}".into(),
        "const state = JSON.parse(host.state(PARTITION, true));".into(),
        "const at = POINTER.split(\"/\").slice(1).map((t) => t.replace(/~1/g, \"/\").replace(/~0/g, \"~\"))".into(),
        "  .reduce((v, t) => (v === undefined || v === null ? undefined : v[t]), state);".into(),
        "assert.deepStrictEqual(at === undefined ? null : at, EXPECTED);".into(),
        "console.log(`ok: ${POINTER} is ${JSON.stringify(EXPECTED)}`);".into(),
    ];
    format!("{}{}\n", header(s, m, "//"), lines.join("\n"))
}

/// A Rust `#[test]` over [`check`] (needs `hindsight-projections`).
pub fn rust(s: &Subject, m: &Minimized) -> String {
    let events = serde_json::to_string_pretty(&rows(&m.events)).unwrap_or_default();
    let words = format!("{} {} {}", s.projection, s.partition, s.pointer).to_ascii_lowercase();
    let name =
        words.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join("_");
    let name = if name.starts_with(|c: char| c.is_ascii_digit()) { format!("value_{name}") } else { name };
    let expected = serde_json::to_string(&m.value).unwrap_or_default();
    let lines = [
        String::new(),
        format!("const SOURCE: &str = r####\"{}\"####;", s.source),
        String::new(),
        format!("const EVENTS: &str = r####\"{events}\"####;"),
        String::new(),
        "#[test]".into(),
        format!("fn {name}() {{"),
        format!("    let expected: serde_json::Value = serde_json::from_str({expected:?}).unwrap();"),
        format!(
            "    let got = hindsight_projections::fixture::check(SOURCE, {:?}, {:?}, EVENTS).unwrap();",
            s.partition, s.pointer
        ),
        "    assert_eq!(got, expected);".into(),
        "}".into(),
    ];
    format!("{}{}\n", header(s, m, "//!"), lines.join("\n"))
}

/// What a Rust fixture runs: folds the `events` (JSON rows as fixtures
/// write them) of `partition` with `source` and answers the value at
/// `pointer` (null when missing).
pub fn check(source: &str, partition: &str, pointer: &str, events: &str) -> Result<Value, HandlerError> {
    let rows: Vec<Value> = serde_json::from_str(events).map_err(|e| HandlerError::new(e.to_string()))?;
    let text = |v: &Value| v.to_string();
    let events: Vec<RecordedEvent> = (rows.iter())
        .map(|r| RecordedEvent {
            id: r["id"].as_str().and_then(|i| i.parse().ok()).unwrap_or_default(),
            stream: r["stream"].as_str().unwrap_or_default().to_string(),
            event_type: r["type"].as_str().unwrap_or_default().to_string(),
            version: r["version"].as_u64().unwrap_or(0),
            position: r["position"].as_u64().unwrap_or(0),
            timestamp_us: r["timestampUs"].as_u64().unwrap_or(0),
            data: text(&r["data"]),
            metadata: text(&r["metadata"]),
            tags: serde_json::from_value(r["tags"].clone()).unwrap_or_default(),
        })
        .collect();
    let mut fold = crate::builtin::fold_for(source, Limits::default(), 1).map_err(HandlerError::new)?;
    let mine: Vec<&RecordedEvent> =
        events.iter().filter(|e| fold.partition(e).ok().flatten().is_some_and(|k| k == partition)).collect();
    Ok(value_after(&mut *fold, partition, pointer, &mine).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddmin_finds_the_events_that_matter() {
        // The value is "all of 3, 17 and 42 present".
        let needed = [3, 17, 42];
        let mut test = |s: &[usize]| needed.iter().all(|n| s.contains(n));
        assert_eq!(ddmin((0..100).collect(), &mut test), vec![3, 17, 42]);
        let mut nothing = |_: &[usize]| true;
        assert_eq!(ddmin((0..10).collect(), &mut nothing), Vec::<usize>::new());
        let mut all = |s: &[usize]| s.len() == 5;
        assert_eq!(ddmin((0..5).collect(), &mut all).len(), 5);
    }
}
