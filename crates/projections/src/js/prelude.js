// The sandbox a projection's source runs in: no I/O, no clock, no
// randomness, no modules. Evaluated before the source, in a fresh context.
"use strict";
(() => {
  const g = globalThis;
  for (const name of ["performance", "WeakRef", "FinalizationRegistry", "Atomics", "SharedArrayBuffer",
                      "queueMicrotask", "setTimeout", "setInterval", "clearTimeout", "clearInterval",
                      "require", "process", "os", "std", "print", "console"]) {
    delete g[name];
  }
  // The clock is the event's: Date.now() and new Date() answer its timestamp.
  const RealDate = Date;
  let nowMs = 0;
  function SandboxDate(...args) {
    if (!new.target) return new RealDate(nowMs).toString();
    return args.length === 0 ? new RealDate(nowMs) : new RealDate(...args);
  }
  SandboxDate.prototype = RealDate.prototype;
  Object.defineProperty(RealDate.prototype, "constructor", { value: SandboxDate });
  SandboxDate.now = () => nowMs;
  SandboxDate.parse = RealDate.parse;
  SandboxDate.UTC = RealDate.UTC;
  g.Date = SandboxDate;
  // Randomness is seeded by the event's position (xorshift32): the same
  // event always draws the same numbers.
  let seed = 1;
  Math.random = () => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };

  const def = { source: { kind: "all" }, partitioning: "single", partitionBy: null, handlers: null };
  const builder = {
    foreachStream() { def.partitioning = "stream"; return builder; },
    partitionBy(f) {
      if (typeof f !== "function") throw new TypeError("partitionBy takes a function of the event");
      def.partitioning = "key"; def.partitionBy = f; return builder;
    },
    when(handlers) {
      if (handlers === null || typeof handlers !== "object") throw new TypeError("when takes an object of handlers");
      const own = Object.create(null);
      for (const k of Object.keys(handlers)) {
        if (typeof handlers[k] !== "function") throw new TypeError(`handler ${k} is not a function`);
        own[k] = handlers[k];
      }
      def.handlers = own; return builder;
    },
    outputState() { return builder; },
  };
  const from = (source) => { def.source = source; return builder; };
  g.fromAll = () => from({ kind: "all" });
  g.fromCategory = (c) => from({ kind: "category", name: String(c) });
  g.fromStream = (s) => from({ kind: "streams", names: [String(s)] });
  g.fromStreams = (...args) => from({ kind: "streams", names: (Array.isArray(args[0]) ? args[0] : args).map(String) });

  // Derived events a handler emits: captured with the fold, published by
  // the host only from the live version (never from a rebuild or a dry run).
  const outbox = [];
  g.emit = (stream, type, data, metadata) => {
    if (typeof stream !== "string" || typeof type !== "string") throw new TypeError("emit(stream, type, data, metadata?)");
    outbox.push({ stream, type, data: data === undefined ? null : data, metadata: metadata ?? {} });
  };
  const states = new Map();
  const init = () => (def.handlers.$init ? def.handlers.$init() : {});
  const hex = (n) => (n >>> 0).toString(16).padStart(8, "0");
  // An event as handlers see it. The id and the timestamp's text are
  // made only when read: most handlers never look at them.
  // An event as handlers see it, over its row
  // [stream, type, version, position, timestampUs, data, metadata|0, tags|0, id]:
  // the fields handlers read most are its own; id, timestamp, metadata and
  // tags are read from the row on demand (making them eagerly cost a fifth
  // of a fold). JSON.stringify(e) writes them all.
  const ROW = Symbol("row");
  class Event {
    constructor(r) {
      this.stream = r[0]; this.type = r[1]; this.version = r[2]; this.position = r[3]; this.data = r[5]; this[ROW] = r;
    }
    get id() {
      const id = this[ROW][8];
      if (typeof id === "string") return id;
      const h = id.map(hex).join("");
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    get timestamp() {
      const us = this[ROW][4], iso = new RealDate(Math.floor(us / 1000)).toISOString();
      return `${iso.slice(0, 23)}${String(us % 1000).padStart(3, "0")}Z`;
    }
    get metadata() {
      const r = this[ROW];
      if (r[6] === 0) r[6] = {};
      return r[6];
    }
    get tags() {
      const r = this[ROW];
      if (r[7] === 0) r[7] = [];
      return r[7];
    }
    toJSON() {
      const { id, stream, type, version, position, timestamp, data, metadata, tags } = this;
      return { id, stream, type, version, position, timestamp, data, metadata, tags };
    }
  }
  // The partition being folded and how to undo it, for rollback(): one
  // event folded alone keeps its state before; a batch keeps each
  // partition's state from before the batch (JSON, taken when the batch
  // first touches it) and folds the partition's earlier events of the
  // batch again. A snapshot per partition per page instead of per event:
  // taking one per event cost 40% of a fold.
  const cur = { key: null, had: false, before: "", batch: false, row: 0 };
  const firstSeen = new Map();
  let lastRows = null;
  const batchOut = [];
  let progress = 0;
  let only = null; // fromStreams with several names: the set, once known
  const keyOf = (ev) => {
    if (def.partitioning === "stream") return ev.stream;
    if (def.partitioning === "key") {
      const k = def.partitionBy(ev);
      return k === undefined || k === null ? null : String(k);
    }
    return "";
  };
  // Runs a handler on partition `key`'s state `s` and keeps its output.
  const run = (key, s, handler, ev) => {
    outbox.length = 0;
    const next = handler(s, ev);
    states.set(key, next === undefined ? s : next);
    for (let j = 0; j < outbox.length; j++) {
      const o = outbox[j];
      batchOut.push({ position: ev.position, index: j, stream: o.stream, type: o.type, data: o.data, metadata: o.metadata });
    }
    outbox.length = 0;
    cur.key = null;
  };
  const applyOne = (key, handler, ev) => {
    let s = states.get(key);
    const had = s !== undefined;
    if (!had) s = init();
    cur.key = key; cur.had = had; cur.before = had ? JSON.stringify(s) : ""; cur.batch = false;
    run(key, s, handler, ev);
  };
  const rowEvent = (r) => new Event(r);
  const argsEvent = (stream, type, version, position, timestampUs, data, metadata, tags, id) =>
    new Event([stream, type, version, position, timestampUs, data, metadata === undefined ? 0 : metadata,
               tags === undefined ? 0 : tags, id]);
  const applyBatched = (key, handler, ev, row) => {
    let s = states.get(key);
    const had = s !== undefined;
    if (!had) s = init();
    if (!firstSeen.has(key)) firstSeen.set(key, had ? JSON.stringify(s) : null);
    cur.key = key; cur.batch = true; cur.row = row;
    run(key, s, handler, ev);
  };
  // What a row folds into: its handler, its event and its partition (the
  // clock and randomness set to the event's); null when nothing.
  const target = (r) => {
    if (only !== null && !only.has(r[0])) return null;
    const handler = def.handlers[r[1]] ?? def.handlers.$any;
    if (handler === undefined) return null;
    enter(r[3], r[4]);
    const ev = rowEvent(r);
    const key = keyOf(ev);
    return key === null ? null : { handler, ev, key };
  };
  // Folds partition `key` again from its state before the batch through
  // the batch's rows before `upTo`.
  const refold = (key, upTo) => {
    const snap = firstSeen.get(key);
    if (snap === undefined || snap === null) states.delete(key); else states.set(key, JSON.parse(snap));
    for (let j = 0; j < upTo; j++) {
      const t = target(lastRows[j]);
      if (t === null || t.key !== key) continue;
      const { handler, ev } = t;
      let s = states.get(key);
      if (s === undefined) s = init();
      const next = handler(s, ev);
      states.set(key, next === undefined ? s : next);
    }
    outbox.length = 0;
  };
  const enter = (position, timestampUs) => { nowMs = Math.floor(timestampUs / 1000); seed = (position % 2147483646) + 1; };
  const host = {
    definition() {
      if (def.handlers === null) throw new Error("the source defines no handlers: end it with .when({...})");
      if (def.source.kind === "streams" && def.source.names.length > 1) only = new Set(def.source.names);
      return JSON.stringify({ source: def.source, partitioning: def.partitioning,
                              types: Object.keys(def.handlers).filter((k) => k !== "$init") });
    },
    partition(stream, type, version, position, timestampUs, data, metadata, tags, id) {
      enter(position, timestampUs);
      const key = def.partitionBy(argsEvent(stream, type, version, position, timestampUs, data, metadata, tags, id));
      return key === undefined || key === null ? null : String(key);
    },
    // Folds one event into partition `key` (the stream when undefined).
    // On an exception (or an interrupt) the host calls rollback().
    fold(key, stream, type, version, position, timestampUs, data, metadata, tags, id) {
      const handler = def.handlers[type] ?? def.handlers.$any;
      if (handler === undefined) return undefined;
      enter(position, timestampUs);
      batchOut.length = 0;
      applyOne(key === undefined ? stream : key, handler, argsEvent(stream, type, version, position, timestampUs, data, metadata, tags, id));
      return batchOut.length === 0 ? undefined : JSON.stringify(batchOut);
    },
    // Folds a page of events given as one JSON array of rows
    // [stream, type, version, position, timestampUs, data, metadata|0, tags|0, id]:
    // one call into the sandbox per page, not per event. Stops at the
    // first exception; progress() says where, takeOutput() what the
    // events before it emitted, rollback() undoes the failed one.
    foldBatch(json) {
      const rows = JSON.parse(json);
      lastRows = rows;
      firstSeen.clear();
      batchOut.length = 0;
      for (let i = 0; i < rows.length; i++) {
        progress = i;
        const t = target(rows[i]);
        if (t !== null) applyBatched(t.key, t.handler, t.ev, i);
      }
      progress = rows.length;
      return batchOut.length === 0 ? undefined : JSON.stringify(batchOut);
    },
    progress() { return progress; },
    takeOutput() { const out = JSON.stringify(batchOut); batchOut.length = 0; return out; },
    rollback() {
      if (cur.key === null) return;
      const key = cur.key;
      cur.key = null;
      if (cur.batch) refold(key, cur.row);
      else if (cur.had) states.set(key, JSON.parse(cur.before));
    },
    state(key, orInit) {
      const s = states.get(key);
      if (s !== undefined) return JSON.stringify(s);
      return orInit ? JSON.stringify(init()) : undefined;
    },
    keys(after, limit) {
      const all = [...states.keys()].sort();
      const from = after == null ? 0 : all.findIndex((k) => k > after);
      return JSON.stringify(from < 0 ? [] : all.slice(from, from + limit));
    },
    count() { return states.size; },
    save() { return JSON.stringify(Object.fromEntries(states)); },
    load(json) {
      states.clear();
      for (const [k, v] of Object.entries(JSON.parse(json))) states.set(k, v);
    },
  };
  Object.defineProperty(g, "__hindsight", { value: Object.freeze(host) });
})();
