// Finding what to look at: streams by name prefix (or `category:`),
// projections by name, and a live tail of `$all` over SSE with filters.

import { EventOut, Schemas, get, message, qs } from "../api";
import { $, h } from "../dom";
import { Status } from "./health";

export interface FindHost {
  openStream(stream: string, version?: number): void;
  openProjection(projection: string): void;
}

interface Found {
  streams: { stream: string; last_position: number; last_type: string }[];
  complete: boolean;
}

export async function search(host: FindHost, text: string, projections: Status[]) {
  const q = text.trim();
  const category = q.startsWith("category:") ? q.slice(9) : undefined;
  const list = $("found-streams");
  try {
    const found = await get<Found>(`/v1/streams${qs({ prefix: category === undefined ? q : undefined, category, limit: 25 })}`);
    list.replaceChildren(...found.streams.map((s) => h("li", {},
      h("button", { class: "link", "data-stream": s.stream, onclick: () => host.openStream(s.stream) }, s.stream),
      h("small", {}, ` ${s.last_type} @${s.last_position}`))));
    if (!found.streams.length) list.replaceChildren(h("li", {}, h("small", {}, "no stream matches")));
    if (!found.complete) list.append(h("li", {}, h("small", {}, "newest matches shown")));
  } catch (e) {
    list.replaceChildren(h("li", { class: "error" }, message(e)));
  }
  const names = projections.filter((p) => p.name.includes(q) || q === "" || category !== undefined);
  $("found-projections").replaceChildren(...names.map((p) => h("li", {},
    h("button", { class: "link", "data-projection": p.name, onclick: () => host.openProjection(p.name) }, p.name),
    h("small", { class: `status-${p.status}` }, ` ${p.status}${p.parked ? ` · ${p.parked} parked` : ""}`))));
}

let source: EventSource | null = null;

/// Tails `$all` from a little before the head, through the filters.
export async function tail(host: FindHost, filters: { category?: string; prefix?: string; types?: string }) {
  stopTail();
  const list = $("tail-events");
  list.replaceChildren();
  try {
    const info = await get<Schemas["InfoResponse"]>("/v1/info");
    const from = Math.max(0, info.events - 20);
    source = new EventSource(`/v1/subscribe${qs({ from, ...filters })}`);
    source.onmessage = (m) => {
      const e = JSON.parse(m.data) as EventOut;
      list.prepend(h("li", {},
        h("button", { class: "link", onclick: () => host.openStream(e.stream, e.version) }, `${e.stream} v${e.version}`),
        ` ${e.type} @${e.position} `, h("small", {}, e.timestamp)));
      while (list.children.length > 200) list.lastElementChild?.remove();
    };
    source.onerror = () => {
      $("tail-state").textContent = source?.readyState === EventSource.CONNECTING ? "reconnecting…" : "closed";
    };
    source.onopen = () => {
      $("tail-state").textContent = "live";
    };
  } catch (e) {
    $("tail-state").textContent = message(e);
  }
}

export function stopTail() {
  source?.close();
  source = null;
}
