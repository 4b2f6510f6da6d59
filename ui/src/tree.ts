// The state as a tree of rows, each with its JSON Pointer, and which rows
// the current event changed: a changed pointer marks its own row, and its
// ancestors as holding a change (so a collapsed parent still shows it).

export interface Row {
  pointer: string;
  depth: number;
  key: string;
  /// A scalar's JSON, or "{…}" / "[…]" with its size for a container.
  display: string;
  container: boolean;
  changed: "self" | "inside" | null;
}

const escape = (token: string) => token.replace(/~/g, "~0").replace(/\//g, "~1");

/// The pointers a JSON Patch touches.
export function touched(patch: { path: string; op?: string }[]): Set<string> {
  return new Set(patch.map((op) => op.path));
}

function mark(pointer: string, changed: Set<string>): Row["changed"] {
  if (changed.has(pointer)) return "self";
  for (const c of changed) if (c.startsWith(pointer + "/") || (pointer === "" && c !== "")) return "inside";
  return null;
}

/// Depth-first rows of `value`, object keys in order.
export function rows(value: unknown, changed: Set<string>, key = "(state)", pointer = "", depth = 0): Row[] {
  const container = value !== null && typeof value === "object";
  const size = container ? Object.keys(value as object).length : 0;
  const display = !container ? JSON.stringify(value) ?? "undefined" : Array.isArray(value) ? `[${size}]` : `{${size}}`;
  const out: Row[] = [{ pointer, depth, key, display, container, changed: mark(pointer, changed) }];
  if (container) {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value as object);
    for (const [k, v] of entries) out.push(...rows(v, changed, k, `${pointer}/${escape(k)}`, depth + 1));
  }
  return out;
}
