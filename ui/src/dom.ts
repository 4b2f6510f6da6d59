// A few DOM helpers: the page is built from plain elements.

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | EventListener | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (k === "class") el.className = String(v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? "undefined";
}

/// A JSON Patch one operation a line (still JSON).
export function patchText(ops: unknown[]): string {
  return ops.length ? `[\n  ${ops.map((o) => JSON.stringify(o)).join(",\n  ")}\n]` : "[]";
}

/// The status line: what is loading, or what went wrong.
export function say(text: string, error = false) {
  const s = $("status");
  s.textContent = text;
  s.className = error ? "error" : "";
}
