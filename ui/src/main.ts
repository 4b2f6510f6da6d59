// The debugger's page: find a stream or projection, scrub its timeline,
// blame, watch, diff, fork from the cursor, and watch projections'
// health. Every view lives in the URL's hash, so a link reopens it.

import { EventOut, get } from "./api";
import { $, say } from "./dom";
import { Subject, View, hashOf, on, parseHash } from "./subject";
import { Debugger } from "./views/debugger";
import { search, stopTail, tail } from "./views/find";
import { Forks } from "./views/forks";
import { HealthHost, Status, openCase, partitions, projections, renderHealth } from "./views/health";
import * as tools from "./views/tools";

const pages = ["debugger", "health", "case", "tail"] as const;
let known: Status[] = [];
let healthTimer: number | undefined;
let view: View = {};

const dbg = new Debugger(
  (shown) => {
    view = { subject: shown.subject, index: shown.index, compare: forks.fork };
    history.replaceState(null, "", hashOf(view));
  },
  (pointer) => void tools.blame(toolHost, pointer),
);

const toolHost: tools.ToolHost = {
  subject: () => dbg.subject,
  position: () => dbg.shown?.ref.position ?? null,
  jumpToPosition: (p) => void jumpLive(p),
};

/// Moves the cursor to a live position, leaving a fork's timeline first.
async function jumpLive(position: number) {
  const s = dbg.subject;
  if (s?.fork) await openSubject(on(s, undefined), undefined, `position:${position}`);
  else await dbg.jumpToPoint(`position:${position}`);
}

const forks = new Forks({
  subject: () => dbg.subject,
  event: (): EventOut | null => dbg.shown?.event ?? null,
  comparing: (fork) => {
    view.compare = fork;
    history.replaceState(null, "", hashOf(view));
  },
  jumpToPosition: (p) => void jumpLive(p),
  openFork: (fork) => dbg.subject && void openSubject(on(dbg.subject, fork)),
});

const healthHost: HealthHost = {
  openPartition: (projection, partition, position) =>
    void openSubject({ kind: "partition", projection, partition }, undefined, position === undefined ? undefined : `position:${position}`),
  openCase: (projection, position) => navigate({ page: "case", projection, position }),
  skipOnFork: async (projection, position) => {
    const k = await get<{ partition: string }>(`/v1/projections/${encodeURIComponent(projection)}/parked/${position}/case`);
    await openSubject({ kind: "partition", projection, partition: k.partition }, undefined, `position:${position}`);
    forks.close();
    await forks.skip();
  },
};

function showPage(page: (typeof pages)[number]) {
  for (const p of pages) $(p).hidden = p !== page;
  for (const b of document.querySelectorAll<HTMLElement>("nav [data-page]")) {
    b.setAttribute("aria-current", String(b.dataset.page === page));
  }
  if (page !== "tail") stopTail();
  window.clearInterval(healthTimer);
  healthTimer = undefined;
}

async function openSubject(subject: Subject, index?: number, point?: string) {
  showPage("debugger");
  $("tool").hidden = true;
  view = { subject, index };
  history.pushState(null, "", hashOf(view));
  await dbg.open(subject, index, point);
}

async function refreshHealth() {
  try {
    known = await projections();
    renderHealth(healthHost, known);
  } catch (e) {
    say(String(e), true);
  }
}

/// Shows a view (from a link, the back button or a click).
async function render(v: View) {
  view = v;
  if (v.page === "health") {
    showPage("health");
    await refreshHealth();
    healthTimer = window.setInterval(() => void refreshHealth(), 2000);
  } else if (v.page === "case" && v.projection !== undefined && v.position !== undefined) {
    showPage("case");
    await openCase(healthHost, v.projection, v.position);
  } else if (v.page === "tail") {
    showPage("tail");
  } else if (v.subject) {
    showPage("debugger");
    if (v.subject.kind === "stream") $<HTMLInputElement>("q").value = v.subject.stream;
    await dbg.open(v.subject, v.index, v.at);
    if (v.compare) {
      forks.fork = v.compare;
      await forks.compare();
    }
  } else {
    showPage("health");
    await refreshHealth();
  }
}

function navigate(v: View) {
  history.pushState(null, "", hashOf(v));
  void render(v);
}

$("find").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = $<HTMLInputElement>("q").value.trim();
  if (!known.length) known = await projections().catch(() => []);
  await search(findHost, q, known);
  // An exact stream name opens at once.
  const exact = document.querySelector<HTMLElement>(`#found-streams [data-stream="${CSS.escape(q)}"]`);
  if (exact) findHost.openStream(q);
});

const findHost = {
  openStream: (stream: string, version?: number) => void openSubject({ kind: "stream", stream }, version),
  openProjection: (projection: string) => {
    navigate({ page: "health" });
    void partitions(healthHost, projection);
  },
};

for (const b of document.querySelectorAll<HTMLElement>("nav [data-page]")) {
  b.addEventListener("click", () => navigate({ page: b.dataset.page as View["page"] }));
}
$("tail-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const v = (id: string) => $<HTMLInputElement>(id).value.trim() || undefined;
  void tail(findHost, { category: v("tail-category"), prefix: v("tail-prefix"), types: v("tail-types") });
});
$("do-watch").addEventListener("click", () => tools.watchForm(toolHost));
$("do-diff").addEventListener("click", () => tools.diffForm(toolHost));
$("do-skip").addEventListener("click", () => void forks.skip());
$("do-edit").addEventListener("click", () => forks.editForm());
$("do-add").addEventListener("click", () => forks.addForm());
$("do-impact").addEventListener("click", () => void forks.impact());
window.addEventListener("popstate", () => void render(parseHash(location.hash)));
window.addEventListener("hashchange", () => void render(parseHash(location.hash)));

void render(parseHash(location.hash));
// The sidebar starts with the most recently written streams and every projection.
void projections()
  .catch(() => [])
  .then((list) => {
    known = list;
    return search(findHost, "", known);
  });
