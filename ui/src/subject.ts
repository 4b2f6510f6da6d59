// What the debugger looks at: a stream or a projection partition, live or
// on a fork; the API paths that answer about it; and the view's URL hash,
// so every view has a link that reopens it.

import { TimeQueries, enc, qs } from "./api";

export type Subject =
  | { kind: "stream"; stream: string; fork?: string }
  | { kind: "partition"; projection: string; partition: string; fork?: string };

/// `live` / `fork` prefix of a subject's routes.
function root(s: Subject): string {
  const base = s.fork ? `/v1/forks/${enc(s.fork)}` : "/v1";
  return s.kind === "stream" ? `${base}/streams/${enc(s.stream)}` : `${base}/projections/${enc(s.projection)}`;
}

/// The path of one of the subject's time-travel routes (`state`,
/// `timeline`, `blame`, ...) with its query; the partition is added.
export function route<K extends keyof TimeQueries>(s: Subject, what: K, params: TimeQueries[K] = {} as TimeQueries[K]): string {
  const all: Record<string, string | number | null | undefined> = s.kind === "partition" ? { partition: s.partition, ...params } : { ...params };
  return `${root(s)}/${what}${qs(all)}`;
}

/// The path reading the event at a position of the subject's log.
export function eventAt(s: Subject, position: number): string {
  const base = s.fork ? `/v1/forks/${enc(s.fork)}/all` : "/v1/all";
  return `${base}${qs({ from: position, limit: 1 })}`;
}

/// The same subject on the live log, or on a fork.
export function on(s: Subject, fork: string | undefined): Subject {
  return { ...s, fork };
}

export function title(s: Subject): string {
  const name = s.kind === "stream" ? s.stream : `${s.projection} / ${s.partition || "(single)"}`;
  return s.fork ? `${name} on fork ${s.fork}` : name;
}

/// A view as the URL hash holds it.
export interface View {
  subject?: Subject;
  /// The cursor: an index into the subject's events (a stream's version).
  index?: number;
  /// A point to open at instead of an index (`at=time:...` or
  /// `at=position:N`, for links written by hand); the page then links
  /// by index.
  at?: string;
  /// The fork compared with live beside the subject.
  compare?: string;
  /// `health`, or `case` (with projection and position).
  page?: "health" | "case" | "tail";
  projection?: string;
  position?: number;
}

const num = (v: string | null) => (v !== null && /^\d+$/.test(v) ? Number(v) : undefined);

export function parseHash(hash: string): View {
  const q = new URLSearchParams(hash.replace(/^#/, ""));
  const fork = q.get("fork") ?? undefined;
  const view: View = { index: num(q.get("version")) ?? num(q.get("index")), compare: q.get("compare") ?? undefined };
  if (q.get("at")) view.at = q.get("at") ?? undefined;
  const stream = q.get("stream");
  const projection = q.get("projection");
  if (stream) view.subject = { kind: "stream", stream, fork };
  else if (projection && q.has("partition")) {
    view.subject = { kind: "partition", projection, partition: q.get("partition") ?? "", fork };
  }
  const page = q.get("page");
  if (page === "health" || page === "case" || page === "tail") {
    view.page = page;
    view.projection = projection ?? undefined;
    view.position = num(q.get("position"));
  }
  return view;
}

export function hashOf(view: View): string {
  const q = new URLSearchParams();
  const s = view.subject;
  if (view.page) q.set("page", view.page);
  if (view.page === "case") {
    q.set("projection", view.projection ?? "");
    q.set("position", String(view.position ?? 0));
  }
  if (s && !view.page) {
    if (s.kind === "stream") q.set("stream", s.stream);
    else {
      q.set("projection", s.projection);
      q.set("partition", s.partition);
    }
    if (s.fork) q.set("fork", s.fork);
    if (view.index !== undefined) q.set(s.kind === "stream" ? "version" : "index", String(view.index));
    if (view.compare) q.set("compare", view.compare);
  }
  return `#${q}`;
}
