// Browser tests of the debugger: a real `hindsight serve` on a seeded
// history, Debian's chromium driven by playwright-core. Screenshots of
// each step go to ui/target/screenshots/ (test artifacts).
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";

const BIN = process.env.HINDSIGHT_BIN ?? "../target/debug/hindsight";
const CHROMIUM = process.env.HINDSIGHT_CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = "target/screenshots";

let server, url, browser, dir;

async function startServer() {
  dir = mkdtempSync(join(tmpdir(), "hindsight-ui-"));
  const env = { ...process.env, HINDSIGHT_LOG: "warn" };
  server = spawn(BIN, ["--data-dir", dir, "serve", "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"], env });
  const line = await new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    server.on("exit", (code) => reject(new Error(`hindsight serve exited with ${code}`)));
  });
  return `http://${JSON.parse(line).listening}`;
}

async function append(stream, events) {
  const r = await fetch(`${url}/v1/streams/${stream}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ events }),
  });
  assert.equal(r.status, 200, await r.text());
}

const apiState = async (stream, version) =>
  (await (await fetch(`${url}/v1/streams/${stream}/state?as_of=version:${version}`)).json()).state;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  url = await startServer();
  await append("account-1", [
    { type: "Opened", data: { owner: "ann", balance: 0, status: "open", address: { city: "Oslo" } } },
    { type: "Deposited", data: { balance: 50 } },
    { type: "Withdrawn", data: { balance: -20 } },
    { type: "Moved", data: { address: { city: "Bergen" } } },
  ]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.on("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/// The value the tree shows at `pointer`, parsed.
const shown = async (page, pointer) => JSON.parse(await page.locator(`li[data-pointer="${pointer}"] .value`).innerText());

test("find a stream, scrub and step: the state shown is the API's as-of state", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${url}/ui/`);
  await page.fill("#stream", "account-1");
  await page.click("button[type=submit]");
  await page.waitForFunction(() => document.getElementById("at")?.textContent === "version 3 · last 3");
  await page.screenshot({ path: `${SHOTS}/1-opened.png` });
  for (const [key, version] of [["ArrowLeft", 2], ["ArrowLeft", 1], ["Home", 0]]) {
    await page.keyboard.press(key);
    await page.waitForFunction((v) => document.getElementById("at")?.textContent === `version ${v} · last 3`, version);
    await page.waitForFunction((v) => location.hash.endsWith(`version=${v}`), version);
    const want = await apiState("account-1", version);
    await page.waitForFunction((b) => document.querySelector('li[data-pointer="/balance"] .value')?.textContent === JSON.stringify(b), want.balance);
    assert.equal(await shown(page, "/balance"), want.balance, `balance at version ${version}`);
    assert.equal(await shown(page, "/address/city"), want.address.city);
    await page.screenshot({ path: `${SHOTS}/2-version-${version}.png` });
  }
  // The event at version 2 changed /balance: highlighted there, not elsewhere.
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowRight");
  await page.waitForFunction(() => document.getElementById("event-title")?.textContent.startsWith("Withdrawn"));
  assert.equal(await page.locator('li[data-pointer="/balance"]').getAttribute("class"), "changed");
  assert.equal((await page.locator('li[data-pointer="/owner"]').getAttribute("class")) ?? "", "");
  assert.match(await page.locator("#event-title").innerText(), /^Withdrawn · version 2/);
  await page.screenshot({ path: `${SHOTS}/3-changed-field.png` });
  await page.close();
});

test("a deep link reopens the view; a missing stream says so", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${url}/ui/#stream=account-1&version=1`);
  await page.waitForFunction(() => document.querySelector('li[data-pointer="/balance"] .value')?.textContent === "50");
  await page.goto(`${url}/ui/#stream=nope-1`);
  await page.reload();
  await page.waitForFunction(() => document.getElementById("status")?.textContent.startsWith("stream_not_found"));
  await page.screenshot({ path: `${SHOTS}/4-missing-stream.png` });
  await page.close();
});
