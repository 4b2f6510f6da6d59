//! Projections written in JavaScript, in the shape KurrentDB users know
//! (`fromCategory('order').foreachStream().when({...})`), run in a QuickJS
//! sandbox of their own: no I/O, no modules, the event's timestamp for a
//! clock and randomness seeded by the event's position, so the same
//! events always give the same states. Every call into the sandbox has a
//! time budget and the sandbox a memory and a stack budget; running over
//! one is an error for that event (retried, parked or stopped at by the
//! runner), never a hung or crashed server.
//!
//! The states live inside the sandbox and become JSON only for a
//! checkpoint or a query: converting one on every event would cost more
//! than the handler.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hindsight_store::{Filter, RecordedEvent};
use rquickjs::function::Args;
use rquickjs::{Context, Ctx, Function, Object, Persistent, Runtime, Value};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::fold::Fold;
use crate::HandlerError;

pub mod baseline;
pub mod parallel;

pub(crate) const PRELUDE: &str = include_str!("prelude.js");

/// The budget of a call that works on every state at once.
const HOST_CALL_TIME: Duration = Duration::from_secs(600);

/// Events per call into the sandbox.
pub(crate) const BATCH_EVENTS: usize = 1000;

/// Allocation between runs of the cycle collector.
const GC_THRESHOLD_BYTES: usize = 64 << 20;

/// What a sandbox may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest one call into the sandbox (a handler, the partition
    /// function, or evaluating the source) may run.
    pub call_time: Duration,
    /// The sandbox's heap, states included.
    pub memory_bytes: usize,
    /// The JavaScript stack (deep recursion ends here).
    pub stack_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { call_time: Duration::from_millis(250), memory_bytes: 512 << 20, stack_bytes: 256 << 10 }
    }
}

/// What a definition reads and how it partitions, as its source declares.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Definition {
    pub source: Source,
    pub partitioning: String,
    /// The event types it has handlers for (`$any` among them when it
    /// takes every type).
    pub types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    All,
    Category { name: String },
    Streams { names: Vec<String> },
}

/// A source that does not define a projection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DefinitionError {
    pub message: String,
}

/// Runs until the deadline stored in it (microseconds after `base`).
#[derive(Clone)]
struct Budget {
    base: Instant,
    deadline_us: Arc<AtomicU64>,
    call_time: Duration,
}

impl Budget {
    fn start(&self) {
        self.start_for(self.call_time);
    }

    fn start_for(&self, time: Duration) {
        let deadline = self.base.elapsed() + time;
        self.deadline_us.store(deadline.as_micros() as u64, Ordering::Relaxed);
    }

    fn exceeded(&self) -> bool {
        self.base.elapsed().as_micros() as u64 > self.deadline_us.load(Ordering::Relaxed)
    }
}

/// A JavaScript projection and its states, as a [`Fold`].
pub struct JsFold {
    // Dropped before the runtime they belong to.
    fold_fn: Persistent<Function<'static>>,
    partition_fn: Persistent<Function<'static>>,
    host: Persistent<Object<'static>>,
    context: Context,
    _runtime: Runtime,
    budget: Budget,
    definition: Definition,
    filter: Filter,
    /// Only these streams (fromStream / fromStreams with several).
    streams: Option<Vec<String>>,
    /// What the last successful fold emitted.
    emitted: Vec<crate::fold::Emitted>,
}

impl JsFold {
    /// Evaluates `source` in a fresh sandbox; an error says what is wrong
    /// with it (a syntax error, an exception, no `.when`, over budget).
    pub fn new(source: &str, limits: Limits) -> Result<Self, DefinitionError> {
        let fail = |message: String| DefinitionError { message };
        let runtime = Runtime::new().map_err(|e| fail(format!("starting the sandbox: {e}")))?;
        runtime.set_memory_limit(limits.memory_bytes);
        runtime.set_max_stack_size(limits.stack_bytes);
        // Objects are freed by reference counting; the cycle collector only
        // finds cycles, and each run walks every live object (the states
        // included): running it every 256 KiB of allocation cost a third
        // of a fold.
        runtime.set_gc_threshold(GC_THRESHOLD_BYTES);
        let budget =
            Budget { base: Instant::now(), deadline_us: Arc::new(AtomicU64::new(0)), call_time: limits.call_time };
        let watch = budget.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || watch.exceeded())));
        let context = Context::full(&runtime).map_err(|e| fail(format!("starting the sandbox: {e}")))?;
        budget.start();
        let (definition, host, fold_fn, partition_fn) = context.with(|ctx| {
            ctx.eval::<(), _>(PRELUDE).map_err(|e| fail(describe(&ctx, e).message))?;
            ctx.eval::<(), _>(source).map_err(|e| fail(describe(&ctx, e).message))?;
            let host: Object = ctx.globals().get("__hindsight").map_err(|e| fail(describe(&ctx, e).message))?;
            let def: Function = host.get("definition").map_err(|e| fail(e.to_string()))?;
            let json: String = def.call((host.clone(),)).map_err(|e| fail(describe(&ctx, e).message))?;
            let definition: Definition = serde_json::from_str(&json).map_err(|e| fail(e.to_string()))?;
            let fold_fn: Function = host.get("fold").map_err(|e| fail(e.to_string()))?;
            let partition_fn: Function = host.get("partition").map_err(|e| fail(e.to_string()))?;
            Ok::<_, DefinitionError>((
                definition,
                Persistent::save(&ctx, host),
                Persistent::save(&ctx, fold_fn),
                Persistent::save(&ctx, partition_fn),
            ))
        })?;
        let (filter, streams) = selection(&definition);
        Ok(JsFold {
            fold_fn,
            partition_fn,
            host,
            context,
            _runtime: runtime,
            budget,
            definition,
            filter,
            streams,
            emitted: Vec::new(),
        })
    }

    pub fn definition(&self) -> &Definition {
        &self.definition
    }

    /// One call into the sandbox for a run of events (see `foldBatch`).
    fn apply_chunk(&mut self, events: &[RecordedEvent]) -> Result<(), (usize, HandlerError)> {
        self.fold_rows(&batch_rows(events), events.len())
    }

    /// Folds `len` events given as [`batch_rows`] in one call.
    pub fn fold_rows(&mut self, rows: &str, len: usize) -> Result<(), (usize, HandlerError)> {
        match self.call_host::<Option<String>>("foldBatch", |a| a.push_arg(rows), self.budget.call_time) {
            Ok(out) => self.keep_emitted(out).map_err(|e| (len.saturating_sub(1), e)),
            Err(e) => {
                let at = self.call_host::<f64>("progress", |_| Ok(()), HOST_CALL_TIME).map_or(0, |p| p as usize);
                let out = self.call_host::<Option<String>>("takeOutput", |_| Ok(()), HOST_CALL_TIME).ok().flatten();
                self.rollback();
                let _ = self.keep_emitted(out);
                Err((at.min(len.saturating_sub(1)), e))
            }
        }
    }

    /// Undoes what a failed (or interrupted) handler did to its partition.
    fn rollback(&mut self) {
        if let Err(e) = self.call_host::<()>("rollback", |_| Ok(()), HOST_CALL_TIME) {
            tracing::error!(error = %e.message, "rolling back a failed handler");
        }
    }

    fn keep_emitted(&mut self, out: Option<String>) -> Result<(), HandlerError> {
        self.emitted = match out {
            Some(json) => serde_json::from_str(&json).map_err(|e| HandlerError::new(format!("emitted: {e}")))?,
            None => Vec::new(),
        };
        Ok(())
    }

    /// Calls `name` on the host object with `args` under the budget.
    fn call_host<R>(
        &self,
        name: &str,
        push: impl FnOnce(&mut Args) -> rquickjs::Result<()>,
        time: Duration,
    ) -> Result<R, HandlerError>
    where
        R: for<'js> rquickjs::FromJs<'js>,
    {
        self.budget.start_for(time);
        self.context.with(|ctx| {
            let host = self.host.clone().restore(&ctx).map_err(|e| describe(&ctx, e))?;
            let f: Function = host.get(name).map_err(|e| describe(&ctx, e))?;
            let mut args = Args::new(ctx.clone(), 2);
            args.this(host).map_err(|e| describe(&ctx, e))?;
            push(&mut args).map_err(|e| describe(&ctx, e))?;
            f.call_arg(args).map_err(|e| describe(&ctx, e))
        })
    }

    /// Calls a saved host function with the event's fields, after a
    /// partition key slot when `key` is Some.
    fn call_with_event<R>(
        &self,
        f: &Persistent<Function<'static>>,
        key: Option<Option<&str>>,
        e: &RecordedEvent,
    ) -> Result<R, HandlerError>
    where
        R: for<'js> rquickjs::FromJs<'js>,
    {
        self.budget.start();
        self.context.with(|ctx| {
            let f = f.clone().restore(&ctx).map_err(|x| describe(&ctx, x))?;
            let mut args = Args::new(ctx.clone(), 10);
            push_event(&ctx, &mut args, key, e).map_err(|x| describe(&ctx, x))?;
            f.call_arg(args).map_err(|x| describe(&ctx, x))
        })
    }
}

/// An event's fields as the host's `fold` and `partition` take them; the
/// data parsed straight from its text, metadata and tags only when not
/// empty, the id as four 32-bit numbers (made text only if read).
fn push_event<'js>(
    ctx: &Ctx<'js>,
    args: &mut Args<'js>,
    key: Option<Option<&str>>,
    e: &RecordedEvent,
) -> rquickjs::Result<()> {
    if let Some(key) = key {
        args.push_arg(key)?; // None: undefined, the stream
    }
    args.push_arg(e.stream.as_str())?;
    args.push_arg(e.event_type.as_str())?;
    args.push_arg(e.version as f64)?;
    args.push_arg(e.position as f64)?;
    args.push_arg(e.timestamp_us as f64)?;
    args.push_arg(ctx.json_parse(e.data.as_str())?)?;
    let metadata = (e.metadata != "{}").then(|| ctx.json_parse(e.metadata.as_str())).transpose()?;
    args.push_arg(metadata)?;
    let tags: Option<Vec<&str>> = (!e.tags.is_empty()).then(|| e.tags.iter().map(String::as_str).collect());
    args.push_arg(tags)?;
    let id = e.id.as_u128();
    let id: Vec<f64> = [id >> 96, id >> 64, id >> 32, id].iter().map(|&p| f64::from(p as u32)).collect();
    args.push_arg(id)
}

/// A page of events as the JSON rows `foldBatch` takes:
/// `[stream, type, version, position, timestampUs, data, metadata|0, tags|0, id]`
/// (the data and metadata are JSON text already: copied, not re-encoded).
pub fn batch_rows<'e>(events: impl IntoIterator<Item = &'e RecordedEvent>) -> String {
    let mut out = String::with_capacity(16 << 10);
    out.push('[');
    for (i, e) in events.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        hindsight_wire::json_str(&mut out, &e.stream);
        out.push(',');
        hindsight_wire::json_str(&mut out, &e.event_type);
        let _ = write!(out, ",{},{},{},", e.version, e.position, e.timestamp_us);
        out.push_str(&e.data);
        out.push(',');
        out.push_str(if e.metadata == "{}" { "0" } else { &e.metadata });
        out.push(',');
        if e.tags.is_empty() {
            out.push('0');
        } else {
            out.push_str(&serde_json::to_string(&e.tags).unwrap_or_else(|_| "0".into()));
        }
        let _ = write!(out, ",\"{}\"]", e.id);
    }
    out.push(']');
    out
}

/// The store filter a definition reads through (its handlers' types when
/// it has no `$any`, so the type index does the selecting), and the
/// streams it keeps when it names more than one.
fn selection(def: &Definition) -> (Filter, Option<Vec<String>>) {
    let mut types = Filter::default();
    if !def.types.iter().any(|t| t == "$any") {
        types.event_types = def.types.clone();
    }
    // A category or a stream already narrows the read through its own
    // index; adding the types there made a read of a category that holds
    // them all 3.5x slower (the postings of each type merged), so the
    // sandbox skips types it has no handler for instead.
    match &def.source {
        Source::All => (types, None),
        Source::Category { name } => (Filter { category: Some(name.clone()), ..Filter::default() }, None),
        Source::Streams { names } if names.len() == 1 => {
            (Filter { stream: Some(names[0].clone()), ..Filter::default() }, None)
        }
        Source::Streams { names } => (types, Some(names.clone())),
    }
}

/// An error from the sandbox as a handler error: the thrown value's
/// message and stack, or what stopped it.
fn describe(ctx: &Ctx<'_>, error: rquickjs::Error) -> HandlerError {
    if !matches!(error, rquickjs::Error::Exception) {
        return HandlerError::new(error.to_string());
    }
    let thrown: Value = ctx.catch();
    if let Some(obj) = thrown.as_object() {
        let message: Option<String> = obj.get("message").ok();
        let name: Option<String> = obj.get("name").ok();
        let stack: Option<String> = obj.get("stack").ok();
        let message = match (name, message) {
            (Some(n), Some(m)) if !n.is_empty() => format!("{n}: {m}"),
            (_, Some(m)) => m,
            _ => "an exception".to_string(),
        };
        let message =
            if message.contains("interrupted") { format!("{message} (over the time budget)") } else { message };
        return HandlerError { message, stack: stack.filter(|s| !s.is_empty()) };
    }
    let text = ctx.json_stringify(thrown).ok().flatten().and_then(|s| s.to_string().ok());
    HandlerError::new(format!("threw {}", text.unwrap_or_else(|| "a value".to_string())))
}

impl Fold for JsFold {
    fn selects(&self) -> Filter {
        self.filter.clone()
    }

    fn partitions_are_streams(&self) -> bool {
        self.definition.partitioning == "stream" && self.streams.is_none()
    }

    fn partition<'e>(&mut self, event: &'e RecordedEvent) -> Result<Option<Cow<'e, str>>, HandlerError> {
        if self.streams.as_ref().is_some_and(|s| !s.contains(&event.stream)) {
            return Ok(None);
        }
        match self.definition.partitioning.as_str() {
            "stream" => Ok(Some(event.stream.as_str().into())),
            "key" => {
                let key: Option<String> = self.call_with_event(&self.partition_fn, None, event)?;
                Ok(key.map(Cow::Owned))
            }
            _ => Ok(Some("".into())),
        }
    }

    fn apply(&mut self, partition: &str, event: &RecordedEvent) -> Result<(), HandlerError> {
        // Per stream the key is the stream: not sent twice.
        let key = (partition != event.stream).then_some(partition);
        match self.call_with_event::<Option<String>>(&self.fold_fn, Some(key), event) {
            Ok(out) => self.keep_emitted(out),
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    /// In batches of [`BATCH_EVENTS`]: bigger ones cost more in the
    /// sandbox than they save in calls.
    fn apply_batch(&mut self, events: &[RecordedEvent]) -> Result<(), (usize, HandlerError)> {
        let mut emitted = Vec::new();
        for (n, chunk) in events.chunks(BATCH_EVENTS).enumerate() {
            let outcome = self.apply_chunk(chunk);
            emitted.append(&mut self.emitted);
            if let Err((at, e)) = outcome {
                self.emitted = emitted;
                return Err((n * BATCH_EVENTS + at, e));
            }
        }
        self.emitted = emitted;
        Ok(())
    }

    fn take_emitted(&mut self) -> Vec<crate::fold::Emitted> {
        std::mem::take(&mut self.emitted)
    }

    fn state(&mut self, partition: &str, or_init: bool) -> Option<serde_json::Value> {
        let json: Option<String> = self
            .call_host(
                "state",
                |a| {
                    a.push_arg(partition)?;
                    a.push_arg(or_init)
                },
                HOST_CALL_TIME,
            )
            .ok()?;
        json.and_then(|j| serde_json::from_str(&j).ok())
    }

    fn partitions(&self, after: Option<&str>, limit: usize) -> Vec<String> {
        let json: Result<String, _> = self.call_host(
            "keys",
            |a| {
                a.push_arg(after)?;
                a.push_arg(limit.min(1 << 30) as f64)
            },
            HOST_CALL_TIME,
        );
        json.ok().and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default()
    }

    fn partition_count(&self) -> usize {
        self.call_host::<f64>("count", |_| Ok(()), HOST_CALL_TIME).map_or(0, |n| n as usize)
    }

    fn save(&mut self) -> Result<Box<RawValue>, HandlerError> {
        let json: String = self.call_host("save", |_| Ok(()), HOST_CALL_TIME)?;
        RawValue::from_string(json).map_err(|e| HandlerError::new(format!("encoding states: {e}")))
    }

    fn load(&mut self, states: &RawValue) -> Result<(), HandlerError> {
        self.call_host("load", |a| a.push_arg(states.get()), HOST_CALL_TIME)
    }
}
