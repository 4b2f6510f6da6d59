// Projection health: every projection's status, lag (events and
// seconds), rate, errors and parked events, refreshed live; a projection's
// partitions (opening one's timeline) and parked events; and a parked or
// faulted event as a debugging case: the state before, the event, the
// error and stack, a rerun, and the actions.

import { get, message, post } from "../api";
import { $, h, json } from "../dom";
import { renderTree } from "./statetree";

export interface Status {
  name: string;
  status: string;
  version: number;
  position: number | null;
  lag_events: number;
  lag_seconds: number;
  events_per_sec: number;
  errors: number;
  parked: number;
  partitions: number;
  fault: { position?: number; error?: string } | null;
}

export interface HealthHost {
  openPartition(projection: string, partition: string, position?: number): void;
  openCase(projection: string, position: number): void;
  skipOnFork(projection: string, position: number): void;
}

export async function projections(): Promise<Status[]> {
  return (await get<{ projections: Status[] }>("/v1/projections")).projections;
}

export function renderHealth(host: HealthHost, list: Status[]) {
  const row = (p: Status) => h("tr", { "data-projection": p.name },
    h("th", { scope: "row" }, p.name),
    h("td", { class: `status-${p.status}` }, p.status),
    h("td", {}, `v${p.version}`),
    h("td", {}, p.position === null ? "–" : String(p.position)),
    h("td", {}, `${p.lag_events} events · ${p.lag_seconds.toFixed(1)} s`),
    h("td", {}, `${Math.round(p.events_per_sec)}/s`),
    h("td", {}, String(p.errors)),
    h("td", {}, p.parked ? h("button", { class: "link", onclick: () => void parked(host, p.name) }, `${p.parked} parked`) : "0"),
    h("td", {}, h("button", { class: "link", onclick: () => void partitions(host, p.name) }, `${p.partitions} partitions`)),
    h("td", {}, p.fault?.position !== undefined
      ? h("button", { class: "link", onclick: () => host.openCase(p.name, p.fault!.position!) }, `fault at ${p.fault.position}`)
      : ""));
  const head = ["projection", "status", "version", "position", "lag", "rate", "errors", "parked", "partitions", "fault"];
  $("health-table").replaceChildren(
    h("thead", {}, h("tr", {}, ...head.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...list.map(row)),
  );
}

export async function partitions(host: HealthHost, projection: string, after?: string) {
  const detail = $("health-detail");
  try {
    const page = await get<{ partitions: string[]; next_after: string | null }>(
      `/v1/projections/${encodeURIComponent(projection)}/partitions?limit=100${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    const items = page.partitions.map((k) => h("li", {},
      h("button", { class: "link", "data-partition": k, onclick: () => host.openPartition(projection, k) }, k || "(single)")));
    const more = page.next_after
      ? h("button", { onclick: () => void partitions(host, projection, page.next_after!) }, "next 100")
      : "";
    detail.replaceChildren(h("h2", {}, `${projection}: partitions`), h("ul", { class: "plain", id: "partition-list" }, ...items), more);
  } catch (e) {
    detail.replaceChildren(h("p", { class: "error", role: "alert" }, message(e)));
  }
}

interface Parked {
  position: number;
  partition: string;
  stream: string;
  event_type: string;
  error: string;
}

export async function parked(host: HealthHost, projection: string) {
  const detail = $("health-detail");
  try {
    const r = await get<{ parked: Parked[] }>(`/v1/projections/${encodeURIComponent(projection)}/parked`);
    detail.replaceChildren(h("h2", {}, `${projection}: parked events`), h("ul", { class: "plain", id: "parked-list" },
      ...r.parked.map((p) => h("li", {},
        h("button", { class: "link", "data-position": p.position, onclick: () => host.openCase(projection, p.position) },
          `position ${p.position}`), ` ${p.event_type} on ${p.stream} (${p.partition}): ${p.error}`))));
  } catch (e) {
    detail.replaceChildren(h("p", { class: "error", role: "alert" }, message(e)));
  }
}

interface Case {
  projection: string;
  position: number;
  how: string;
  partition: string;
  state_before: unknown;
  event: { type: string; stream: string; version: number; data: unknown; metadata: unknown };
  error: string;
  stack: string;
  rerun: { failed: boolean; error?: string; duration_ms: number };
}

export async function openCase(host: HealthHost, projection: string, position: number) {
  const c = $("case");
  c.replaceChildren(h("p", {}, "loading the case…"));
  try {
    const k = await get<Case>(`/v1/projections/${encodeURIComponent(projection)}/parked/${position}/case`);
    const tree = h("ul", { class: "tree", id: "case-state" });
    renderTree(tree, k.state_before, { changed: new Set(), collapsed: new Set(), onToggle: () => {} });
    const base = `/v1/projections/${encodeURIComponent(projection)}/parked/${position}`;
    const act = (label: string, f: () => Promise<unknown>) => h("button", {
      onclick: async () => {
        try {
          await f();
          $("case-result").textContent = `${label}: done`;
        } catch (e) {
          $("case-result").textContent = message(e);
        }
      },
    }, label);
    c.replaceChildren(
      h("h2", { id: "case-title" }, `Case: ${projection} ${k.how} at position ${k.position}`),
      h("p", { class: "error", id: "case-error" }, k.error),
      h("pre", { class: "stack" }, k.stack),
      h("p", {}, `Run again now: ${k.rerun.failed ? `fails (${k.rerun.error ?? ""})` : "succeeds"} in ${k.rerun.duration_ms.toFixed(2)} ms.`),
      h("div", { class: "panes" },
        h("section", {}, h("h3", {}, `State before (partition ${k.partition || "(single)"})`), tree),
        h("section", {}, h("h3", {}, `${k.event.type} · ${k.event.stream} v${k.event.version}`),
          h("pre", { id: "case-event" }, json({ data: k.event.data, metadata: k.event.metadata })))),
      h("div", { class: "row" },
        h("button", { onclick: () => host.openPartition(projection, k.partition, k.position) }, "Open the partition's timeline at the state before it"),
        k.how === "parked" ? act("Replay", () => post(`${base}/replay`, {})) : "",
        k.how === "parked" ? act("Discard", () => post(`${base}/discard`, {})) : "",
        h("button", { onclick: () => host.skipOnFork(projection, k.position) }, "Skip it on a fork")),
      h("p", { id: "case-result", role: "status" }),
    );
  } catch (e) {
    c.replaceChildren(h("p", { class: "error", role: "alert" }, message(e)));
  }
}
