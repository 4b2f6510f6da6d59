// The debugger's page: pick a stream, scrub its versions (←/→, PageUp/
// PageDown, Home/End, or the slider), and see the document at the cursor
// with the fields the current event changed highlighted, beside the event
// itself. The view lives in the URL's hash, so a link reopens it.

import { ApiError, EventOut, streamDiff, streamEvent, streamInfo, streamState } from "./api";
import { Cursor, hashOf, move, parseHash } from "./scrubber";
import { rows, touched } from "./tree";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let cursor: Cursor | null = null;
let stream = "";
let loading = 0;

function say(text: string, error = false) {
  const s = $("status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

function renderTree(state: unknown, changed: Set<string>) {
  const list = $("tree");
  list.replaceChildren(
    ...rows(state, changed).map((r) => {
      const li = document.createElement("li");
      li.style.paddingLeft = `${r.depth * 1.2}rem`;
      li.dataset.pointer = r.pointer;
      if (r.changed) li.classList.add(r.changed === "self" ? "changed" : "inside");
      const key = document.createElement("span");
      key.className = "key";
      key.textContent = r.key;
      const value = document.createElement("span");
      value.className = r.container ? "size" : "value";
      value.textContent = r.display;
      li.append(key, ": ", value);
      return li;
    }),
  );
}

function renderEvent(e: EventOut) {
  $("event-title").textContent = `${e.type}  ·  version ${e.version}  ·  position ${e.position}  ·  ${e.timestamp}`;
  $("event").textContent = JSON.stringify({ id: e.id, data: e.data, metadata: e.metadata, tags: e.tags }, null, 2);
}

async function show(version: number) {
  if (!cursor) return;
  cursor.at = version;
  const slider = $<HTMLInputElement>("slider");
  slider.value = String(version);
  $("at").textContent = `version ${version} · last ${cursor.last}`;
  history.replaceState(null, "", hashOf(stream, version));
  const mine = ++loading;
  try {
    const [state, event, diff] = await Promise.all([
      streamState(stream, version),
      streamEvent(stream, version),
      version > 0 ? streamDiff(stream, version - 1, version) : Promise.resolve(null),
    ]);
    if (mine !== loading) return;
    const changed = diff ? touched(diff.patch) : new Set(rows(state.state, new Set()).map((r) => r.pointer).filter((p) => p));
    renderTree(state.state, changed);
    if (event) renderEvent(event);
    const kf = state.keyframe_position === null ? "the start" : `the keyframe at position ${state.keyframe_position}`;
    $("folds").textContent = `${state.events_folded} events folded from ${kf}`;
    say("");
  } catch (e) {
    say(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e), true);
  }
}

async function open(name: string, version?: number) {
  stream = name;
  $<HTMLInputElement>("stream").value = name;
  try {
    const info = await streamInfo(name);
    cursor = { at: 0, last: info.last_version };
    const slider = $<HTMLInputElement>("slider");
    slider.max = String(info.last_version);
    $("timeline").hidden = false;
    await show(Math.min(version ?? info.last_version, info.last_version));
  } catch (e) {
    $("timeline").hidden = true;
    say(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e), true);
  }
}

$("find").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = $<HTMLInputElement>("stream").value.trim();
  if (name) void open(name);
});
$<HTMLInputElement>("slider").addEventListener("input", (ev) => void show(Number((ev.target as HTMLInputElement).value)));
document.addEventListener("keydown", (ev) => {
  if (!cursor || (ev.target as HTMLElement).tagName === "INPUT" && (ev.target as HTMLInputElement).type === "text") return;
  const next = move(cursor, ev.key);
  if (next !== null && next !== cursor.at) {
    ev.preventDefault();
    void show(next);
  }
});

const initial = parseHash(location.hash);
if (initial.stream) void open(initial.stream, initial.version);
