// The public HTTP API, as the debugger uses it: same-origin GETs answering
// JSON, errors thrown with the API's code and message.

export interface EventOut {
  id: string;
  stream: string;
  type: string;
  version: number;
  position: number;
  timestamp: string;
  data: unknown;
  metadata: unknown;
  tags: string[];
}

export interface StreamInfo {
  stream: string;
  last_version: number;
  first_position: number;
  last_position: number;
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
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export async function get<T>(path: string): Promise<T> {
  const r = await fetch(path, { headers: { accept: "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, body.error ?? "error", body.message ?? r.statusText);
  return body as T;
}

const enc = encodeURIComponent;

export const streamInfo = (s: string) => get<StreamInfo>(`/v1/streams/${enc(s)}/info`);
export const streamState = (s: string, version: number) =>
  get<StateAnswer>(`/v1/streams/${enc(s)}/state?as_of=version:${version}`);
export const streamEvent = async (s: string, version: number) =>
  (await get<{ events: EventOut[] }>(`/v1/streams/${enc(s)}?from=${version}&limit=1`)).events[0];
export const streamDiff = (s: string, from: number, to: number) =>
  get<{ patch: PatchOp[] }>(`/v1/streams/${enc(s)}/diff?from=version:${from}&to=version:${to}`);
