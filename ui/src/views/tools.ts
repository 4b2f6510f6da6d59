// The panel under the state: blame (which event set a field, and the
// field's earlier values), watch (when did a condition first hold) and
// diff (RFC 6902 changes between two points, and both states side by
// side). Every event listed is a link that moves the cursor there.

import { BlameAnswer, PatchOp, WatchAnswer, get, message } from "../api";
import { $, h, json, patchText } from "../dom";
import { Subject, route } from "../subject";
import { differing } from "../tree";
import { renderTree } from "./statetree";

export interface ToolHost {
  subject(): Subject | null;
  position(): number | null;
  jumpToPosition(position: number): void;
}

function show(title: string, ...body: (Node | string)[]) {
  const tool = $("tool");
  tool.hidden = false;
  tool.replaceChildren(h("h2", { id: "tool-title" }, title), ...body);
  tool.scrollIntoView({ block: "nearest" });
}

function fail(e: unknown) {
  $("tool").append(h("p", { class: "error", role: "alert" }, message(e)));
}

const at = (host: ToolHost) => {
  const p = host.position();
  return p === null ? undefined : `position:${p}`;
};

function jumpButton(host: ToolHost, position: number, text: string) {
  return h("button", { class: "link", "data-position": position, onclick: () => host.jumpToPosition(position) }, text);
}

export async function blame(host: ToolHost, pointer: string) {
  const s = host.subject();
  if (!s) return;
  const started = performance.now();
  show(`Blame ${pointer}`, h("p", {}, "asking…"));
  try {
    const b = await get<BlameAnswer>(route(s, "blame", { pointer, as_of: at(host), limit: 50 }));
    const current = h("p", { id: "blame-current" },
      "Set to ", h("code", {}, json(b.value)), " by ",
      jumpButton(host, b.event.position, `${b.event.type} at position ${b.event.position}`),
      ` (${b.event.stream} v${b.event.version}, ${b.event.timestamp})`);
    const earlier = h("ol", { id: "blame-history", class: "events" },
      ...b.history.map((c) => h("li", {},
        jumpButton(host, c.event.position, `position ${c.event.position}`), " ", c.event.type, " → ",
        h("code", {}, c.value === undefined ? "(removed)" : json(c.value)))));
    show(`Blame ${pointer}`, current,
      b.history.length ? h("h3", {}, `Earlier values${b.more ? " (newest 50)" : ""}`) : "", b.history.length ? earlier : "");
    document.body.dataset.blameMs = String(Math.round(performance.now() - started));
  } catch (e) {
    fail(e);
  }
}

const OPS = ["lt", "le", "gt", "ge", "eq", "ne", "changed", "exists", "missing"];

export function watchForm(host: ToolHost, pointer = "") {
  const form = h("form", { id: "watch-form", class: "row" },
    h("label", { for: "watch-pointer" }, "When did"),
    h("input", { id: "watch-pointer", type: "text", value: pointer, placeholder: "/balance", required: true }),
    h("select", { id: "watch-op", "aria-label": "condition" }, ...OPS.map((o) => h("option", { value: o }, o))),
    h("input", { id: "watch-value", type: "text", placeholder: "0", "aria-label": "value (JSON)" }),
    h("select", { id: "watch-direction", "aria-label": "direction" },
      h("option", { value: "backward" }, "last time, at or before the cursor"),
      h("option", { value: "forward" }, "next time, after the cursor")),
    h("button", { type: "submit" }, "Find"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void watch(host, form);
  });
  show("Watch", form, h("div", { id: "watch-answer" }));
}

async function watch(host: ToolHost, form: HTMLElement) {
  const s = host.subject();
  if (!s) return;
  const v = (id: string) => (form.querySelector(`#${id}`) as HTMLInputElement).value;
  const answer = $("watch-answer");
  try {
    const w = await get<WatchAnswer>(route(s, "watch", {
      pointer: v("watch-pointer"), op: v("watch-op"), value: v("watch-value") || undefined,
      direction: v("watch-direction"), from: at(host),
    }));
    if (!w.found || !w.event) {
      answer.replaceChildren(h("p", { id: "watch-result" }, "Never, in that direction."));
      return;
    }
    answer.replaceChildren(h("p", { id: "watch-result" },
      jumpButton(host, w.event.position, `${w.event.type} at position ${w.event.position}`),
      " made it ", h("code", {}, json(w.value)), " (was ", h("code", {}, json(w.previous)), ")"));
    host.jumpToPosition(w.event.position);
  } catch (e) {
    answer.replaceChildren(h("p", { class: "error", role: "alert" }, message(e)));
  }
}

export function diffForm(host: ToolHost, from = "") {
  const form = h("form", { id: "diff-form", class: "row" },
    h("label", { for: "diff-from" }, "From"),
    h("input", { id: "diff-from", type: "text", value: from || at(host) || "", placeholder: "position:N" }),
    h("label", { for: "diff-to" }, "to"),
    h("input", { id: "diff-to", type: "text", value: "now", placeholder: "now, position:N or time:…" }),
    h("button", { type: "submit" }, "Compare"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = (id: string) => (form.querySelector(`#${id}`) as HTMLInputElement).value.trim();
    void diff(host, v("diff-from"), v("diff-to"));
  });
  show("Diff", form, h("div", { id: "diff-answer" }));
}

interface SideBySide {
  from: { position: number | null; state: unknown };
  to: { position: number | null; state: unknown };
}

async function diff(host: ToolHost, from: string, to: string) {
  const s = host.subject();
  if (!s) return;
  const toPoint = to === "now" || to === "" ? undefined : to;
  const answer = $("diff-answer");
  try {
    const [patch, sides] = await Promise.all([
      get<{ patch: PatchOp[] }>(route(s, "diff", { from, to: toPoint })),
      get<SideBySide>(route(s, "diff", { from, to: toPoint, format: "side-by-side" })),
    ]);
    answer.replaceChildren(
      h("h3", {}, `${patch.patch.length} change${patch.patch.length === 1 ? "" : "s"} (RFC 6902)`),
      h("pre", { id: "diff-patch" }, patchText(patch.patch)),
      sideBySide(`at position ${sides.from.position}`, sides.from.state, `at position ${sides.to.position}`, sides.to.state),
    );
  } catch (e) {
    answer.replaceChildren(h("p", { class: "error", role: "alert" }, message(e)));
  }
}

/// Two states side by side, the pointers where they differ highlighted.
export function sideBySide(leftTitle: string, left: unknown, rightTitle: string, right: unknown): HTMLElement {
  const changed = new Set(differing(left, right));
  const a = h("ul", { class: "tree", "data-side": "left" });
  const b = h("ul", { class: "tree", "data-side": "right" });
  renderTree(a, left, { changed, collapsed: new Set(), onToggle: () => {} });
  renderTree(b, right, { changed, collapsed: new Set(), onToggle: () => {} });
  return h("div", { class: "panes side-by-side" },
    h("section", {}, h("h3", {}, leftTitle), a), h("section", {}, h("h3", {}, rightTitle), b));
}
