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
  b = await browser();
});

after(async () => {
  await b?.close();
  await server?.stop();
});

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/// Opens big-1 in a fresh page; the time to its first render, and what
/// the page fetched.
async function open() {
  const p = await page(b, server);
  const fetched = { requests: 0, bytes: 0, pending: [] };
  p.on("response", (r) => {
    if (!r.url().includes("/v1/")) return;
    fetched.requests += 1;
    fetched.pending.push(r.body().then((b) => (fetched.bytes += b.length), () => {}));
  });
  const started = Date.now();
  await p.goto(`${server.url}/ui/#stream=big-1`);
  await p.waitForFunction((last) => document.body.dataset.shown === String(last), EVENTS - 1, { timeout: 120_000 });
  return { p, fetched, ms: Date.now() - started };
}

test(`a ${EVENTS}-event subject opens and scrubs without loading its history`, async () => {
  const cold = await open();
  await cold.p.close();
  const { p, fetched, ms } = await open();
  await shot(p, "20-million-events");
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
  // Far jumps: the start, the middle (typed), the end.
  await p.keyboard.press("Home");
  await p.waitForFunction(() => document.body.dataset.shown === "0");
  await p.fill("#jump-to", `#${EVENTS / 2}`);
  await p.press("#jump-to", "Enter");
  await p.waitForFunction((want) => document.body.dataset.shown === String(want), EVENTS / 2);
  const n = await p.locator('#tree li[data-pointer="/n"] .value').innerText();
  assert.equal(Number(n), EVENTS / 2, "the state at the middle is the middle event's");
  await shot(p, "21-million-events-middle");

  const t = Date.now();
  await p.click('#tree li[data-pointer="/owner"] button.key');
  await p.waitForSelector("#blame-current");
  const blameMs = Date.now() - t;
  assert.match(await p.locator("#blame-current").innerText(), /by Counted at position 0/);

  await Promise.all(fetched.pending);
  // Nothing read the history: a few pages of the timeline (200 refs
  // each), and one state, event and diff per step.
  assert.ok(fetched.requests < 150, `${fetched.requests} requests`);
  assert.ok(fetched.bytes < 1_000_000, `${fetched.bytes} bytes read`);
  assert.ok(opened.requests <= 6, `opening made ${opened.requests} requests`);
  const figures = {
    events: EVENTS,
    first_render_cold_ms: cold.ms,
    first_render_ms: ms,
    open_requests: opened.requests,
    open_bytes: opened.bytes,
    step_ms_median: median(steps),
    step_ms_max: Math.max(...steps),
    blame_ms: blameMs,
    total_requests: fetched.requests,
    total_bytes: fetched.bytes,
  };
  writeFileSync("target/figures.json", JSON.stringify(figures, null, 2) + "\n");
  console.log(`# figures ${JSON.stringify(figures)}`);
  assert.deepEqual(p.outside, []);
  await p.close();
});
