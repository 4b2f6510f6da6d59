// The cursor over a subject's events: which index a key moves to, where
// a typed point goes, and the time axis's labels.

export interface Cursor {
  at: number;
  last: number;
}

/// The index a key takes the cursor to; null for keys it ignores.
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

/// What a "jump to" box holds: `#12` (an index), a bare number (a
/// position), `position:N`, `version:N`, `snapshot:ID`, or a time
/// (`time:...` or any RFC 3339 text).
export type Jump = { index: number } | { point: string } | { error: string };

export function parseJump(text: string): Jump {
  const t = text.trim();
  if (/^#\d+$/.test(t)) return { index: Number(t.slice(1)) };
  if (/^\d+$/.test(t)) return { point: `position:${t}` };
  if (/^(position|version):\d+$/.test(t) || /^snapshot:.+/.test(t) || /^time:.+/.test(t)) return { point: t };
  if (/^\d{4}-\d{2}-\d{2}T/.test(t)) return { point: `time:${t}` };
  return { error: "jump to #index, a position, position:N, version:N, time:<RFC 3339> or snapshot:ID" };
}

/// A time axis's labels: the first tick's date (UTC) once, as a caption,
/// then each tick's time, with its date again only where the day changes.
/// Under a minute end to end, milliseconds show.
export function tickLabels(timestamps: string[]): { date: string; labels: string[] } {
  const spanMs = timestamps.length > 1 ? Date.parse(timestamps[timestamps.length - 1]) - Date.parse(timestamps[0]) : 0;
  let day = timestamps[0]?.split("T")[0] ?? "";
  const labels = timestamps.map((t) => {
    const [d, rest = ""] = t.split("T");
    const time = spanMs < 60_000 ? rest.replace("Z", "").slice(0, 12) : rest.slice(0, 8);
    const label = d !== day ? `${d} ${time}` : time;
    day = d;
    return label;
  });
  return { date: timestamps.length ? `${timestamps[0].split("T")[0]} UTC` : "", labels };
}
