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
  class Event {
    constructor(stream, type, version, position, timestampUs, data, metadata, tags, id) {
      this.stream = stream; this.type = type; this.version = version; this.position = position;
      this.data = data; this.metadata = metadata === undefined ? {} : metadata;
      this.tags = tags === undefined ? [] : tags; this._us = timestampUs; this._id = id;
    }
    get id() {
      const h = this._id.map(hex).join("");
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    get timestamp() {
      const us = this._us, iso = new RealDate(Math.floor(us / 1000)).toISOString();
      return `${iso.slice(0, 23)}${String(us % 1000).padStart(3, "0")}Z`;
    }
    toJSON() {
      const { id, stream, type, version, position, timestamp, data, metadata, tags } = this;
      return { id, stream, type, version, position, timestamp, data, metadata, tags };
    }
  }
  for (const k of ["_us", "_id"]) Object.defineProperty(Event.prototype, k, { writable: true, enumerable: false, value: 0 });
  const enter = (position, timestampUs) => { nowMs = Math.floor(timestampUs / 1000); seed = (position % 2147483646) + 1; };
  const host = {
    definition() {
      if (def.handlers === null) throw new Error("the source defines no handlers: end it with .when({...})");
      return JSON.stringify({ source: def.source, partitioning: def.partitioning,
                              types: Object.keys(def.handlers).filter((k) => k !== "$init") });
    },
    partition(stream, type, version, position, timestampUs, data, metadata, tags, id) {
      enter(position, timestampUs);
      const key = def.partitionBy(new Event(stream, type, version, position, timestampUs, data, metadata, tags, id));
      return key === undefined || key === null ? null : String(key);
    },
    // Folds one event into partition `key` (the stream when undefined);
    // a handler that throws leaves the state as it was.
    fold(key, stream, type, version, position, timestampUs, data, metadata, tags, id) {
      const handler = def.handlers[type] ?? def.handlers.$any;
      if (handler === undefined) return;
      enter(position, timestampUs);
      if (key === undefined) key = stream;
      let s = states.get(key);
      if (s === undefined) s = init();
      const before = JSON.stringify(s);
      outbox.length = 0;
      try {
        const next = handler(s, new Event(stream, type, version, position, timestampUs, data, metadata, tags, id));
        states.set(key, next === undefined ? s : next);
      } catch (e) {
        outbox.length = 0;
        if (states.has(key)) states.set(key, JSON.parse(before));
        throw e;
      }
      if (outbox.length === 0) return undefined;
      const out = JSON.stringify(outbox);
      outbox.length = 0;
      return out;
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
