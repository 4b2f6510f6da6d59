// The timeline of one subject and the state at its cursor: a scrubber
// over the subject's events (paged, with a labelled time axis), the state
// as a tree with the fields the cursor's event changed highlighted, the
// event itself, and "which keyframe, how many folds" in small print.

import { EventOut, Schemas, StateAnswer, TimelineAnswer, TimelineRef, get, message } from "../api";
import { $, h, json, say } from "../dom";
import { PAGE, Pager } from "../pager";
import { Cursor, move, parseJump, tickLabels } from "../scrubber";
import { Subject, eventAt, route, title } from "../subject";
import { leaves, touched } from "../tree";
import { renderTree } from "./statetree";

export interface Shown {
  subject: Subject;
  index: number;
  ref: TimelineRef;
  state: StateAnswer;
  event: EventOut | undefined;
}

export class Debugger {
  subject: Subject | null = null;
  pager: Pager | null = null;
  cursor: Cursor | null = null;
  shown: Shown | null = null;
  private collapsed = new Set<string>();
  private changed = new Set<string>();
  private token = 0;
  private busy = false;
  private next: number | null = null;

  constructor(
    private readonly onShown: (s: Shown) => void,
    private readonly onBlame: (pointer: string) => void,
  ) {
    $<HTMLInputElement>("slider").addEventListener("input", (ev) => {
      void this.show(Number((ev.target as HTMLInputElement).value));
    });
    $("jump").addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.jump($<HTMLInputElement>("jump-to").value);
    });
    $<HTMLSelectElement>("snapshots").addEventListener("change", (ev) => {
      const v = (ev.target as HTMLSelectElement).value;
      if (v) void this.jump(`snapshot:${v}`);
    });
    document.addEventListener("keydown", (ev) => this.key(ev));
  }

  private key(ev: KeyboardEvent) {
    const t = ev.target as HTMLElement;
    if (!this.cursor || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName) && !(t as HTMLInputElement).matches("#slider")) return;
    if ($("debugger").hidden) return;
    const next = move(this.cursor, ev.key);
    if (next !== null) {
      ev.preventDefault();
      if (next !== this.cursor.at) void this.show(next);
    }
  }

  /// Opens a subject at an index (default: its last event) or a point.
  async open(subject: Subject, index?: number, point?: string) {
    this.subject = subject;
    // What is loading for the subject before is of no use now.
    this.token += 1;
    this.next = null;
    this.collapsed.clear();
    $("subject-title").textContent = title(subject);
    say("opening…");
    try {
      const page = index === undefined ? undefined : Math.floor(index / PAGE) * PAGE;
      const first = await get<TimelineAnswer>(
        route(subject, "timeline", { from: page ?? 0, limit: page === undefined ? 0 : PAGE, ticks: 6, at: point }),
      );
      const pager = new Pager((from, limit) => get<TimelineAnswer>(route(subject, "timeline", { from, limit })), first.count);
      pager.keep(first);
      this.pager = pager;
      this.cursor = { at: 0, last: first.count - 1 };
      const slider = $<HTMLInputElement>("slider");
      slider.max = String(first.count - 1);
      this.axis(first);
      $("debugger").hidden = false;
      void this.snapshots(subject);
      const at = point !== undefined ? first.at_index ?? 0 : Math.min(index ?? first.count - 1, first.count - 1);
      await this.show(at);
    } catch (e) {
      say(message(e), true);
    }
  }

  private axis(t: TimelineAnswer) {
    // A run of ticks at the same time is labelled once.
    const ticks = t.ticks.filter((k, i) => i === 0 || k.timestamp !== t.ticks[i - 1].timestamp);
    const { date, labels } = tickLabels(ticks.map((k) => k.timestamp));
    const last = Math.max(1, t.count - 1);
    $("axis-date").textContent = date;
    $("axis").replaceChildren(
      ...ticks.map((k, i) => {
        const tick = h("span", { class: "tick", title: `#${k.index} · position ${k.position} · ${k.timestamp}` }, labels[i]);
        const at = k.index / last;
        tick.style.left = `${at * 100}%`;
        // Labels hang right of their tick, left of it near the end.
        if (at > 0.99) tick.classList.add("end");
        return tick;
      }),
    );
  }

  private async snapshots(s: Subject) {
    const select = $<HTMLSelectElement>("snapshots");
    select.replaceChildren(h("option", { value: "" }, "pinned snapshots…"));
    try {
      const list = await get<{ snapshots: { id: string; name?: string; stream?: string; projection?: string; partition?: string; position: number }[] }>("/v1/snapshots");
      for (const p of list.snapshots) {
        const mine = s.kind === "stream" ? p.stream === s.stream : p.projection === s.projection && (p.partition ?? "") === s.partition;
        if (mine) select.append(h("option", { value: p.id }, `${p.name ?? p.id} (position ${p.position})`));
      }
    } catch {
      // Snapshots are an extra; the timeline works without them.
    }
  }

  /// Moves the cursor to a typed point (see `parseJump`).
  async jump(text: string) {
    const j = parseJump(text);
    if ("error" in j) return say(j.error, true);
    if ("index" in j) return this.show(Math.min(j.index, this.cursor?.last ?? 0));
    return this.jumpToPoint(j.point);
  }

  /// Moves the cursor to the last event at or before a point.
  async jumpToPoint(point: string) {
    if (!this.subject) return;
    try {
      const t = await get<TimelineAnswer>(route(this.subject, "timeline", { limit: 0, at: point }));
      if (t.at_index === null) return say(`nothing happened to ${title(this.subject)} at or before ${point}`, true);
      await this.show(t.at_index);
    } catch (e) {
      say(message(e), true);
    }
  }

  /// Shows the subject at its `index`-th event.
  async show(index: number) {
    const { subject, pager, cursor } = this;
    if (!subject || !pager || !cursor) return;
    cursor.at = index;
    $<HTMLInputElement>("slider").value = String(index);
    $("at").textContent = `#${index} of ${cursor.last + 1}`;
    // A key held down or a slider dragged asks faster than answers come:
    // one request set at a time, then the newest index asked meanwhile.
    if (this.busy) {
      this.next = index;
      return;
    }
    this.busy = true;
    try {
      await this.load(subject, pager, cursor, index);
    } finally {
      this.busy = false;
    }
    const next = this.next;
    this.next = null;
    const showing = this.shown?.subject === this.subject && this.shown?.index === next;
    if (next !== null && !showing) await this.show(next);
  }

  private async load(subject: Subject, pager: Pager, cursor: Cursor, index: number) {
    const started = performance.now();
    const mine = ++this.token;
    try {
      const ref = await pager.ref(index);
      const before = index > 0 && ref.changes > 0 ? await pager.ref(index - 1) : null;
      const [state, events, diff] = await Promise.all([
        get<StateAnswer>(route(subject, "state", { as_of: `position:${ref.position}` })),
        get<Schemas["ReadAllResponse"]>(eventAt(subject, ref.position)),
        before
          ? get<{ patch: { path: string }[] }>(route(subject, "diff", { from: `position:${before.position}`, to: `position:${ref.position}` }))
          : Promise.resolve(null),
      ]);
      if (mine !== this.token) return;
      this.changed = diff ? touched(diff.patch) : ref.changes > 0 ? new Set(leaves(state.state)) : new Set();
      const event = events.events[0];
      this.shown = { subject, index, ref, state, event };
      this.render();
      $("at").textContent = `#${index} of ${cursor.last + 1} · position ${ref.position}${subject.kind === "stream" ? ` · version ${ref.version}` : ""}`;
      say("");
      document.body.dataset.shown = `${index}`;
      document.body.dataset.showMs = String(Math.round(performance.now() - started));
      this.onShown(this.shown);
    } catch (e) {
      if (mine === this.token) say(message(e), true);
    }
  }

  render() {
    const s = this.shown;
    if (!s) return;
    renderTree($("tree"), s.state.state, {
      changed: this.changed,
      collapsed: this.collapsed,
      onToggle: () => this.render(),
      onBlame: this.onBlame,
    });
    const kf = s.state.keyframe_position === null ? "the start" : `the keyframe at position ${s.state.keyframe_position}`;
    $("folds").textContent = `${s.state.events_folded} events folded from ${kf}`;
    const e = s.event;
    $("event-title").textContent = e ? `${e.type} · ${e.stream} v${e.version} · position ${e.position}` : "Event";
    $("event-time").textContent = e ? e.timestamp : "";
    const meta = (e?.metadata ?? {}) as Record<string, unknown>;
    const ids = ["correlation_id", "causation_id", "trace_id", "traceparent"].filter((k) => meta[k] !== undefined);
    $("event-ids").replaceChildren(...ids.map((k) => h("span", { class: "pill" }, `${k} ${String(meta[k])}`)));
    $("event").textContent = e ? json({ id: e.id, data: e.data, metadata: e.metadata, tags: e.tags }) : "";
  }
}
