// The public HTTP API as the debugger uses it: JSON in and out, errors
// thrown with the API's code and message. Every request goes through
// `call`, which counts requests and bytes (the paging test reads them).
// Request bodies, query parameters and the answers the OpenAPI document
// describes by schema are typed from it (`openapi.d.ts`, generated from
// `ui/openapi.json` by openapi-typescript); the time-travel answers it
// describes in prose are typed here.

import type { components, paths } from "./openapi";

export type Schemas = components["schemas"];
export type EventOut = Schemas["EventOut"];

/// A GET route's query parameters, as the OpenAPI document gives them.
export type QueryOf<P extends keyof paths> = paths[P] extends { get: { parameters: { query?: infer Q } } } ? NonNullable<Q> : never;

/// The query parameters of each time-travel route (the stream's; the
/// projection and fork routes take the same).
export interface TimeQueries {
  state: QueryOf<"/v1/streams/{stream}/state">;
  timeline: QueryOf<"/v1/streams/{stream}/timeline">;
  history: QueryOf<"/v1/streams/{stream}/history">;
  diff: QueryOf<"/v1/streams/{stream}/diff">;
  blame: QueryOf<"/v1/streams/{stream}/blame">;
  watch: QueryOf<"/v1/streams/{stream}/watch">;
}

export interface StateAnswer {
  state: unknown;
  position: number | null;
  version: number | null;
  keyframe_position: number | null;
  events_folded: number;
}

export interface PatchOp {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

export interface TimelineRef {
  index: number;
  position: number;
  version: number;
  changes: number;
}

export interface Tick {
  index: number;
  position: number;
  timestamp: string;
}

export interface TimelineAnswer {
  count: number;
  from: number;
  events: TimelineRef[];
  at_index: number | null;
  ticks: Tick[];
}

export interface EventSummary {
  id: string;
  stream: string;
  type: string;
  version: number;
  position: number;
  timestamp: string;
}

export interface BlameAnswer {
  pointer: string;
  exists: boolean;
  value: unknown;
  event: EventSummary;
  history: { value: unknown; event: EventSummary }[];
  more: boolean;
}

export interface WatchAnswer {
  found: boolean;
  event: EventSummary | null;
  value: unknown;
  previous: unknown;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/// Requests made and response bytes read since the page loaded.
export const traffic = { requests: 0, bytes: 0 };

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { accept: "application/json", "content-type": "application/json" };
  }
  const r = await fetch(path, init);
  const text = await r.text();
  traffic.requests += 1;
  traffic.bytes += text.length;
  let parsed: any = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = {};
  }
  if (!r.ok) throw new ApiError(r.status, parsed.error ?? "error", parsed.message ?? r.statusText);
  return parsed as T;
}

export const get = <T>(path: string) => call<T>("GET", path);
export const post = <T, B = unknown>(path: string, body: B) => call<T>("POST", path, body);
export const put = <T, B = unknown>(path: string, body: B) => call<T>("PUT", path, body);

export const enc = encodeURIComponent;

/// A query string from the defined values.
export function qs(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export function message(e: unknown): string {
  return e instanceof ApiError ? `${e.code}: ${e.message}` : String(e);
}
