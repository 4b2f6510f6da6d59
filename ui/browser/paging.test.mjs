// A subject with a million events (HINDSIGHT_UI_EVENTS, default
// 1,000,000) opens and scrubs a page at a time: the test counts the
// requests the page makes and the bytes it reads, and measures the first
// render (cold: the server builds the subject's history index on the
// first question; warm: it holds it), a step, and a blame click. The
// figures go to ui/target/figures.json and the test's output.
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { Server, browser, page, shot } from "./server.mjs";

const EVENTS = Number(process.env.HINDSIGHT_UI_EVENTS ?? 1_000_000);
const BATCH = 1000;
let server, b;

function history() {
  const lines = [];
  for (let k = 0; k < EVENTS / BATCH; k++) {
    const events = [];
    for (let i = k * BATCH; i < (k + 1) * BATCH; i++) {
      events.push({ type: i % 10 ? "Ticked" : "Counted", data: { n: i, bucket: i % 7, ...(i === 0 ? { owner: "ann" } : {}) } });
    }
    lines.push(JSON.stringify({ stream: "big-1", events }));
  }
  return lines.join("\n") + "\n";
}

before(async () => {
  server = await Server.start(history());
  // A projection partition of the same million events, folded in Rust.
  await server.api("PUT", "/v1/projections/counts", { source: "builtin:stream_counts" });
  for (;;) {
    const p = await server.api("GET", "/v1/projections/counts");
    if (p.position === EVENTS - 1 && p.lag_events === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  b = await browser();
});

after(async () => {
  await b?.close();
  await server?.stop();
});

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/// Opens a subject (a URL hash) in a fresh page; the time to its first
/// render, and what the page fetched.
async function open(hash) {
  const p = await page(b, server);
  const fetched = { requests: 0, bytes: 0, pending: [] };
  p.on("response", (r) => {
    // The sidebar's lists (recent streams, projections) are not the subject's.
    if (!r.url().includes("/v1/") || /\/v1\/(projections|streams)(\?|$)/.test(r.url())) return;
    fetched.requests += 1;
    fetched.pending.push(r.body().then((b) => (fetched.bytes += b.length), () => {}));
  });
  const started = Date.now();
  await p.goto(`${server.url}/ui/${hash}`);
  await p.waitForFunction((last) => document.body.dataset.shown === String(last), EVENTS - 1, { timeout: 120_000 });
  return { p, fetched, ms: Date.now() - started };
}

/// Opens, steps, jumps and blames on a subject of EVENTS events whose
/// state at index i holds `field` = value(i); its figures.
async function scrub(name, hash, field, value, blamed) {
  const cold = await open(hash);
  await cold.p.close();
  const { p, fetched, ms } = await open(hash);
  await shot(p, `20-million-events-${name}`);
  assert.match(await p.locator("#at").innerText(), new RegExp(`^#${EVENTS - 1} of ${EVENTS} `));
  await Promise.all(fetched.pending);
  const opened = { requests: fetched.requests, bytes: fetched.bytes };

  const steps = [];
  for (let i = 1; i <= 30; i++) {
    const t = Date.now();
    await p.keyboard.press("ArrowLeft");
    await p.waitForFunction((want) => document.body.dataset.shown === String(want), EVENTS - 1 - i);
    steps.push(Date.now() - t);
  }
  // A key held down: a hundred presses without waiting. The page loads
  // one index at a time and then the newest asked, so it ends on the
  // right state with far fewer than a hundred loads.
  const before = fetched.requests;
  for (let i = 0; i < 100; i++) await p.keyboard.press("ArrowLeft");
  const landed = EVENTS - 131;
  await p.waitForFunction((want) => document.body.dataset.shown === String(want), landed);
  const held = await p.locator(`#tree li[data-pointer="${field}"] .value`).innerText();
  assert.equal(Number(held), value(landed), "the state after a burst of keys is the last index's");
  const burst = fetched.requests - before;
  assert.ok(burst < 150, `a burst of 100 steps made ${burst} requests`);

  // Far jumps: the start, the middle (typed), the end.
  await p.keyboard.press("Home");
  await p.waitForFunction(() => document.body.dataset.shown === "0");
  await p.fill("#jump-to", `#${EVENTS / 2}`);
  await p.press("#jump-to", "Enter");
  await p.waitForFunction((want) => document.body.dataset.shown === String(want), EVENTS / 2);
  const middle = await p.locator(`#tree li[data-pointer="${field}"] .value`).innerText();
  assert.equal(Number(middle), value(EVENTS / 2), "the state at the middle is the middle event's");
  await shot(p, `21-million-events-${name}-middle`);

  const t = Date.now();
  await p.click(`#tree li[data-pointer="${blamed.pointer}"] button.key`);
  await p.waitForSelector("#blame-current");
  const blameMs = Date.now() - t;
  assert.match(await p.locator("#blame-current").innerText(), blamed.by);

  await Promise.all(fetched.pending);
  // Nothing read the history: a few pages of the timeline (200 refs
  // each), and one state, event and diff per step (120-153 seen; reading
  // the history would take 5,000 pages).
  assert.ok(fetched.requests < 300, `${fetched.requests} requests`);
  assert.ok(fetched.bytes < 1_000_000, `${fetched.bytes} bytes read`);
  assert.ok(opened.requests <= 6, `opening made ${opened.requests} requests`);
  const f = {
    subject: name,
    events: EVENTS,
    first_render_cold_ms: cold.ms,
    first_render_ms: ms,
    open_requests: opened.requests,
    open_bytes: opened.bytes,
    step_ms_median: median(steps),
    step_ms_max: Math.max(...steps),
    burst_100_steps_requests: burst,
    blame_ms: blameMs,
    total_requests: fetched.requests,
    total_bytes: fetched.bytes,
  };
  assert.deepEqual(p.outside, []);
  await p.close();
  return f;
}

const figures = [];

test(`a stream of ${EVENTS} events opens and scrubs without loading its history`, async () => {
  const blamed = { pointer: "/owner", by: /by Counted at position 0/ };
  figures.push(await scrub("stream", "#stream=big-1", "/n", (i) => i, blamed));
});

test(`a projection partition of ${EVENTS} events opens and scrubs without loading its history`, async () => {
  // stream_counts' state is [events, bytes]: /0 is the count after the event.
  const blamed = { pointer: "/0", by: new RegExp(`by (Ticked|Counted) at position ${EVENTS / 2}`) };
  figures.push(await scrub("partition", "#projection=counts&partition=big-1", "/0", (i) => i + 1, blamed));
  writeFileSync("target/figures.json", JSON.stringify(figures, null, 2) + "\n");
});
