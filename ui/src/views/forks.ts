// What-if from the cursor: skip, edit or add an event on a fork (made on
// first use), then the fork beside live: both states with their
// differences highlighted, the patch, the first divergence (a link onto
// live's timeline), a candidate projection previewed on the fork, the
// impact of skipping an event per projection and field, and the fork
// exported as a session file.

import { EventOut, PatchOp, Schemas, StateAnswer, get, message, post, put } from "../api";
import { $, h, json, patchText } from "../dom";
import { Subject, on, route } from "../subject";
import { sideBySide } from "./tools";

export interface ForkHost {
  subject(): Subject | null;
  event(): EventOut | null;
  /// The fork compared beside live changed (undefined: none).
  comparing(fork: string | undefined): void;
  jumpToPosition(position: number): void;
  openFork(fork: string): void;
}

interface Divergence {
  position?: number;
  live_position?: number;
  live?: { position: number } | null;
}

function panel(title: string, ...body: (Node | string)[]) {
  const c = $("compare");
  c.hidden = false;
  c.replaceChildren(h("h2", { id: "compare-title" }, title), ...body);
  c.scrollIntoView({ block: "nearest" });
}

function error(e: unknown) {
  $("compare").append(h("p", { class: "error", role: "alert" }, message(e)));
}

export class Forks {
  fork: string | undefined;

  constructor(private readonly host: ForkHost) {}

  /// The fork to change: the one compared now, or a new one at the head.
  private async ensure(): Promise<string> {
    if (this.fork) return this.fork;
    const name = `ui-${Date.now().toString(36)}`;
    await post<unknown, Schemas["ForkCreate"]>("/v1/forks", { name });
    this.fork = name;
    this.host.comparing(name);
    return name;
  }

  async skip() {
    const e = this.host.event();
    if (!e) return;
    try {
      const fork = await this.ensure();
      await post<unknown, Schemas["ForkSkip"]>(`/v1/forks/${encodeURIComponent(fork)}/skip`, { positions: [e.position] });
      await this.compare();
    } catch (err) {
      error(err);
    }
  }

  editForm() {
    const e = this.host.event();
    if (!e) return;
    const data = h("textarea", { id: "edit-data", rows: 8, "aria-label": "the event's data on the fork" });
    data.value = json(e.data);
    const form = h("form", { id: "edit-form" }, h("p", {}, `${e.type} at position ${e.position}, on a fork:`), data,
      h("button", { type: "submit" }, "Edit on the fork"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const fork = await this.ensure();
        await post<unknown, Schemas["ForkEdit"]>(`/v1/forks/${encodeURIComponent(fork)}/edit`, { position: e.position, data: JSON.parse(data.value) });
        await this.compare();
      } catch (err) {
        error(err);
      }
    });
    panel("Edit an event", form);
  }

  addForm() {
    const e = this.host.event();
    const s = this.host.subject();
    const stream = s?.kind === "stream" ? s.stream : e?.stream ?? "";
    const name = h("input", { id: "add-stream", type: "text", value: stream, "aria-label": "stream" });
    const type = h("input", { id: "add-type", type: "text", placeholder: "Deposited", "aria-label": "event type", required: true });
    const data = h("textarea", { id: "add-data", rows: 6, "aria-label": "data (JSON)" });
    data.value = "{}";
    const form = h("form", { id: "add-form" }, h("div", { class: "row" }, name, type), data,
      h("button", { type: "submit" }, "Append on the fork"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const fork = await this.ensure();
        const events = [{ type: type.value, data: JSON.parse(data.value) }];
        await post<unknown, Schemas["AppendRequest"]>(`/v1/forks/${encodeURIComponent(fork)}/streams/${encodeURIComponent(name.value)}`, { events });
        await this.compare();
      } catch (err) {
        error(err);
      }
    });
    panel("Add an event at the fork's end", form);
  }

  /// The fork beside live, for the subject.
  async compare() {
    const s = this.host.subject();
    const fork = this.fork;
    if (!s || !fork) return;
    const live = on(s, undefined);
    const f = encodeURIComponent(fork);
    try {
      const diffPath = s.kind === "stream"
        ? `/v1/forks/${f}/diff?stream=${encodeURIComponent(s.stream)}`
        : `/v1/forks/${f}/diff?projection=${encodeURIComponent(s.projection)}&partition=${encodeURIComponent(s.partition)}`;
      const [diff, a, b] = await Promise.all([
        get<{ patch?: PatchOp[]; first_divergence?: Divergence; partitions?: { patch: PatchOp[]; first_divergence: Divergence }[] }>(diffPath),
        get<StateAnswer>(route(live, "state")).catch(() => null),
        get<StateAnswer>(route(on(s, fork), "state")).catch(() => null),
      ]);
      const part = diff.partitions?.[0];
      const patch = diff.patch ?? part?.patch ?? [];
      const div = diff.first_divergence ?? part?.first_divergence;
      const at = div?.live?.position ?? div?.live_position;
      panel(`Fork ${fork} beside live`,
        h("div", { class: "row" },
          at !== undefined
            ? h("button", { id: "first-divergence", onclick: () => this.host.jumpToPosition(at) }, `Jump to first divergence (position ${at})`)
            : h("span", { id: "first-divergence" }, patch.length ? "" : "No difference."),
          h("button", { onclick: () => this.host.openFork(fork) }, "Open the fork's timeline"),
          h("a", { href: `/v1/forks/${f}/session`, download: `${fork}.session.json`, id: "export-session" }, "Export session"),
          h("button", { onclick: () => this.close() }, "Close")),
        h("pre", { id: "compare-patch" }, patchText(patch)),
        sideBySide("live", a?.state ?? null, `fork ${fork}`, b?.state ?? null),
        s.kind === "partition" ? this.candidateForm(s.projection) : "");
    } catch (e) {
      error(e);
    }
  }

  private candidateForm(projection: string): HTMLElement {
    const source = h("textarea", { id: "candidate-source", rows: 8, "aria-label": "candidate projection source" });
    const out = h("div", { id: "candidate-answer" });
    const form = h("form", { id: "candidate-form" }, h("h3", {}, `Preview a candidate ${projection} on the fork`), source,
      h("button", { type: "submit" }, "Preview"), out);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const fork = encodeURIComponent(this.fork ?? "");
      try {
        await put<unknown, Schemas["ForkProjectionPut"]>(`/v1/forks/${fork}/projections/${encodeURIComponent(projection)}`, { source: source.value });
        const d = await get<{ changed: number; partitions: { partition: string; fields: string[] }[] }>(
          `/v1/forks/${fork}/diff?projection=${encodeURIComponent(projection)}`);
        out.replaceChildren(h("p", {}, `${d.changed} partition(s) differ from live:`),
          h("ul", {}, ...d.partitions.map((p) => h("li", {}, `${p.partition}: ${p.fields.join(", ")}`))));
      } catch (e) {
        out.replaceChildren(h("p", { class: "error", role: "alert" }, message(e)));
      }
    });
    return form;
  }

  close() {
    this.fork = undefined;
    this.host.comparing(undefined);
    $("compare").hidden = true;
  }

  /// What skipping the cursor's event would change, per projection.
  async impact() {
    const e = this.host.event();
    if (!e) return;
    panel(`Impact of skipping position ${e.position}`, h("p", {}, "refolding the partitions it touches…"));
    try {
      const r = await post<{ events_refolded: number; elapsed_ms: number; projections: { projection: string; partitions: { partition: string; kind: string; fields: string[]; first_divergence: Divergence }[] }[] }>(
        "/v1/impact", { skip: [e.position] } satisfies Schemas["ImpactRequest"]);
      const rows = r.projections.flatMap((p) => p.partitions.map((q) => h("tr", {},
        h("td", {}, p.projection), h("td", {}, q.partition), h("td", {}, q.kind), h("td", {}, q.fields.join(", ")),
        h("td", {}, q.first_divergence?.live_position !== undefined ? String(q.first_divergence.live_position) : ""))));
      panel(`Impact of skipping position ${e.position}`,
        h("p", {}, `${r.events_refolded} events refolded in ${Math.round(r.elapsed_ms)} ms.`),
        rows.length
          ? h("table", { id: "impact" }, h("thead", {}, h("tr", {}, ...["projection", "partition", "what", "fields", "diverges at"].map((t) => h("th", {}, t)))), h("tbody", {}, ...rows))
          : h("p", { id: "impact" }, "No projection would differ."),
        h("button", { onclick: () => this.skip() }, "Skip it on a fork"));
    } catch (err) {
      error(err);
    }
  }
}
