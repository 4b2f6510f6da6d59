// The state as a tree of rows, each with its JSON Pointer, and which rows
// the current event changed: a changed pointer marks its own row, and its
// ancestors as holding a change (so a collapsed parent still shows it).
// Collapsed containers hide their descendants.

export interface Row {
  pointer: string;
  depth: number;
  key: string;
  /// A scalar's JSON, or "{n}" / "[n]" with its size for a container.
  display: string;
  container: boolean;
  changed: "self" | "inside" | null;
}

const escape = (token: string) => token.replace(/~/g, "~0").replace(/\//g, "~1");

/// The pointers a JSON Patch touches (a move touches where it came from too).
export function touched(patch: { path: string; op?: string; from?: string }[]): Set<string> {
  const out = new Set<string>();
  for (const op of patch) {
    out.add(op.path);
    if (op.from !== undefined) out.add(op.from);
  }
  return out;
}

function mark(pointer: string, changed: Set<string>): Row["changed"] {
  if (changed.has(pointer)) return "self";
  for (const c of changed) if (c.startsWith(pointer + "/") || (pointer === "" && c !== "")) return "inside";
  return null;
}

/// Depth-first rows of `value`, object keys in order; nothing below a
/// pointer in `collapsed`.
export function rows(
  value: unknown,
  changed: Set<string>,
  collapsed: Set<string> = new Set(),
  key = "(state)",
  pointer = "",
  depth = 0,
): Row[] {
  const container = value !== null && typeof value === "object";
  const size = container ? Object.keys(value as object).length : 0;
  const display = !container ? JSON.stringify(value) ?? "undefined" : Array.isArray(value) ? `[${size}]` : `{${size}}`;
  const out: Row[] = [{ pointer, depth, key, display, container, changed: mark(pointer, changed) }];
  if (container && !collapsed.has(pointer)) {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value as object);
    for (const [k, v] of entries) out.push(...rows(v, changed, collapsed, k, `${pointer}/${escape(k)}`, depth + 1));
  }
  return out;
}

/// Every leaf pointer of `value` (a first event changed all of them).
export function leaves(value: unknown, pointer = ""): string[] {
  if (value === null || typeof value !== "object") return [pointer];
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value as object);
  if (entries.length === 0) return [pointer];
  return entries.flatMap(([k, v]) => leaves(v, `${pointer}/${escape(k)}`));
}

/// The pointers at which two documents differ (leaves, and containers
/// present on one side only), for a side-by-side view.
export function differing(a: unknown, b: unknown, pointer = ""): string[] {
  const obj = (v: unknown) => v !== null && typeof v === "object";
  if (!obj(a) || !obj(b) || Array.isArray(a) !== Array.isArray(b)) {
    return JSON.stringify(a) === JSON.stringify(b) ? [] : [pointer];
  }
  const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
  const out: string[] = [];
  for (const k of keys) {
    out.push(...differing((a as any)[k], (b as any)[k], `${pointer}/${escape(k)}`));
  }
  return out;
}
