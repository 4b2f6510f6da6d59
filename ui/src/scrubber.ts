// The cursor over a subject's events: which version a key moves to.

export interface Cursor {
  at: number;
  last: number;
}

/// The version a key takes the cursor to; null for keys it ignores.
export function move(c: Cursor, key: string): number | null {
  const clamp = (v: number) => Math.max(0, Math.min(c.last, v));
  switch (key) {
    case "ArrowLeft":
      return clamp(c.at - 1);
    case "ArrowRight":
      return clamp(c.at + 1);
    case "PageUp":
      return clamp(c.at - 100);
    case "PageDown":
      return clamp(c.at + 100);
    case "Home":
      return 0;
    case "End":
      return c.last;
    default:
      return null;
  }
}

/// The view a URL's hash names (`#stream=order-1&version=3`).
export function parseHash(hash: string): { stream?: string; version?: number } {
  const q = new URLSearchParams(hash.replace(/^#/, ""));
  const v = q.get("version");
  return { stream: q.get("stream") ?? undefined, version: v !== null && /^\d+$/.test(v) ? Number(v) : undefined };
}

export function hashOf(stream: string, version: number): string {
  return `#${new URLSearchParams({ stream, version: String(version) })}`;
}
