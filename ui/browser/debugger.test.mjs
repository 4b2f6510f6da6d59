// The debugger on a small known history: find a stream, scrub and step
// (the state shown is the API's as-of state), blame a field and land on
// the right event, set a watch, skip an event on a fork and see the
// difference and the first divergence, the impact, a parked event's
// case, the live tail, and deep links.
import { strict as assert } from "node:assert";
import { after, before, test } from "node:test";
import { Server, browser, page, shot } from "./server.mjs";

let server, b;
const positions = {};

const BALANCES = `fromCategory('account').foreachStream().when({
  $init: () => ({ balance: 0, owner: null }),
  Opened: (s, e) => { s.owner = e.data.owner; s.balance = e.data.balance; },
  Deposited: (s, e) => { s.balance = e.data.balance; },
  Withdrawn: (s, e) => { s.balance = e.data.balance; },
  Frozen: (s, e) => { throw new Error('frozen accounts are not supported'); },
})`;

before(async () => {
  server = await Server.start();
  const r = await server.append("account-1", [
    { type: "Opened", data: { owner: "ann", balance: 0, status: "open", address: { city: "Oslo" } } },
    { type: "Deposited", data: { balance: 50 }, metadata: { correlation_id: "c-42" } },
    { type: "Withdrawn", data: { balance: -20 } },
    { type: "Moved", data: { address: { city: "Bergen" } } },
  ]);
  for (let v = 0; v < 4; v++) positions[v] = r.first_position + v;
  await server.append("account-2", [{ type: "Opened", data: { owner: "bob", balance: 5 } }, { type: "Frozen", data: {} }]);
  await server.api("PUT", "/v1/projections/balances", { source: BALANCES, on_error: "park" });
  for (let i = 0; i < 100; i++) {
    const p = await server.api("GET", "/v1/projections/balances");
    if (p.parked === 1 && p.lag_events === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  b = await browser();
});

after(async () => {
  await b?.close();
  await server?.stop();
});

const apiState = async (version) => (await server.api("GET", `/v1/streams/account-1/state?as_of=version:${version}`)).state;
const shown = async (p, pointer) => JSON.parse(await p.locator(`#tree li[data-pointer="${pointer}"] .value`).innerText());
const at = (p, index) => p.waitForFunction((i) => document.body.dataset.shown === String(i), index);

test("find a stream, scrub and step: the state shown is the API's as-of state", async () => {
  const p = await page(b, server);
  await p.goto(`${server.url}/ui/`);
  await p.fill("#q", "account");
  await p.click("#find button[type=submit]");
  await p.click('#found-streams [data-stream="account-1"]');
  await at(p, 3);
  assert.match(await p.locator("#at").innerText(), /^#3 of 4 · position \d+ · version 3$/);
  await shot(p, "01-found-and-opened");
  for (const [key, version] of [["ArrowLeft", 2], ["ArrowLeft", 1], ["Home", 0]]) {
    await p.keyboard.press(key);
    await at(p, version);
    assert.ok((await p.evaluate(() => location.hash)).endsWith(`version=${version}`));
    const want = await apiState(version);
    assert.equal(await shown(p, "/balance"), want.balance, `balance at version ${version}`);
    assert.equal(await shown(p, "/address/city"), want.address.city);
    await shot(p, `02-version-${version}`);
  }
  await p.keyboard.press("ArrowRight");
  await at(p, 1);
  assert.match(await p.locator("#event-ids").innerText(), /correlation_id c-42/);
  await p.keyboard.press("ArrowRight");
  await at(p, 2);
  // The event at version 2 changed /balance: highlighted there, not elsewhere.
  assert.equal(await p.locator('#tree li[data-pointer="/balance"]').getAttribute("class"), "changed");
  assert.equal((await p.locator('#tree li[data-pointer="/owner"]').getAttribute("class")) ?? "", "");
  assert.match(await p.locator("#event-title").innerText(), /^Withdrawn · account-1 v2/);
  await shot(p, "03-changed-field");
  // A container collapses and shows that a change is inside it.
  await p.keyboard.press("End");
  await at(p, 3);
  await p.click('#tree li[data-pointer="/address"] button.toggle');
  assert.equal(await p.locator('#tree li[data-pointer="/address/city"]').count(), 0);
  assert.equal(await p.locator('#tree li[data-pointer="/address"]').getAttribute("class"), "inside");
  assert.deepEqual(p.outside, []);
  await p.close();
});

test("blame a field, land on the event that set it, and walk its history", async () => {
  const p = await page(b, server);
  await p.goto(`${server.url}/ui/#stream=account-1&version=3`);
  await at(p, 3);
  await p.click('#tree li[data-pointer="/balance"] button.key');
  await p.waitForSelector("#blame-current");
  assert.match(await p.locator("#blame-current").innerText(), new RegExp(`Set to -20 by Withdrawn at position ${positions[2]}`));
  const earlier = await p.locator("#blame-history li").allInnerTexts();
  assert.deepEqual(earlier.map((t) => t.replace(/\s+/g, " ")), [`position ${positions[1]} Deposited → 50`, `position ${positions[0]} Opened → 0`]);
  await shot(p, "04-blame");
  await p.click(`#blame-current [data-position="${positions[2]}"]`);
  await at(p, 2);
  await p.click(`#blame-history [data-position="${positions[1]}"]`);
  await at(p, 1);
  assert.equal(await shown(p, "/balance"), 50);
  await shot(p, "05-blame-jumped");
  await p.close();
});

test("a watch finds when /balance went below zero and jumps there", async () => {
  const p = await page(b, server);
  await p.goto(`${server.url}/ui/#stream=account-1&version=3`);
  await at(p, 3);
  await p.click("#do-watch");
  await p.fill("#watch-pointer", "/balance");
  await p.selectOption("#watch-op", "lt");
  await p.fill("#watch-value", "0");
  await p.click("#watch-form button[type=submit]");
  await at(p, 2);
  assert.match(await p.locator("#watch-result").innerText(), new RegExp(`Withdrawn at position ${positions[2]} made it -20 \\(was 50\\)`));
  await shot(p, "06-watch");
  await p.close();
});

test("diff two points: the patch and both states side by side", async () => {
  const p = await page(b, server);
  await p.goto(`${server.url}/ui/#stream=account-1&version=1`);
  await at(p, 1);
  await p.click("#do-diff");
  await p.click("#diff-form button[type=submit]");
  await p.waitForSelector("#diff-patch");
  const patch = JSON.parse(await p.locator("#diff-patch").innerText());
  assert.deepEqual(patch.map((o) => o.path).sort(), ["/address/city", "/balance"]);
  assert.equal(await p.locator('.side-by-side [data-side="right"] li.changed[data-pointer="/balance"]').count(), 1);
  await shot(p, "07-diff");
  await p.close();
});

test("skip an event on a fork: the fork beside live, the first divergence, impact and a session", async () => {
  const p = await page(b, server);
  await p.goto(`${server.url}/ui/#stream=account-1&version=2`);
  await at(p, 2);
  await p.click("#do-impact");
  await p.waitForSelector("#impact tbody tr");
  assert.deepEqual((await p.locator("#impact tbody tr").first().locator("td").allInnerTexts()).slice(0, 4), ["balances", "account-1", "changed", "/balance"]);
  await shot(p, "08-impact");
  await p.click("#do-skip");
  await p.waitForSelector("#compare-patch");
  const patch = JSON.parse(await p.locator("#compare-patch").innerText());
  assert.deepEqual(patch, [{ op: "replace", path: "/balance", value: 50 }]);
  const left = p.locator('#compare [data-side="left"] li[data-pointer="/balance"]');
  const right = p.locator('#compare [data-side="right"] li[data-pointer="/balance"]');
  assert.equal(await left.locator(".value").innerText(), "-20");
  assert.equal(await right.locator(".value").innerText(), "50");
  assert.equal(await right.getAttribute("class"), "changed");
  const fork = new URLSearchParams((await p.evaluate(() => location.hash)).slice(1)).get("compare");
  assert.match(fork, /^ui-/);
  await shot(p, "09-fork-beside-live");
  await p.keyboard.press("End");
  await at(p, 3);
  await p.click("#first-divergence");
  await at(p, 2);
  assert.match(await p.locator("#event-title").innerText(), /^Withdrawn/);
  const session = await fetch(`${server.url}${await p.locator("#export-session").getAttribute("href")}`);
  assert.equal(session.status, 200);
  // The link reopens the fork beside live.
  await p.goto(`${server.url}/ui/#stream=account-1&version=0&compare=${fork}`);
  await p.reload();
  await p.waitForSelector("#compare-patch");
  assert.deepEqual(JSON.parse(await p.locator("#compare-patch").innerText()), patch);
  await p.close();
});

test("edit and add events on a fork; a candidate projection previewed on it", async () => {
  const p = await page(b, server);
  await p.goto(`${server.url}/ui/#projection=balances&partition=account-1`);
  await p.waitForFunction(() => document.getElementById("subject-title")?.textContent === "balances / account-1");
  await at(p, 3);
  await p.keyboard.press("ArrowLeft");
  await at(p, 2);
  assert.equal(await shown(p, "/balance"), -20);
  // Edit the withdrawal on a fork: the fork's balance is what the edit says.
  await p.click("#do-edit");
  await p.fill("#edit-data", JSON.stringify({ balance: 45 }));
  await p.click("#edit-form button[type=submit]");
  await p.waitForSelector("#compare-patch");
  assert.deepEqual(JSON.parse(await p.locator("#compare-patch").innerText()), [{ op: "replace", path: "/balance", value: 45 }]);
  // Add a deposit at the fork's end.
  await p.click("#do-add");
  assert.equal(await p.inputValue("#add-stream"), "account-1");
  await p.fill("#add-type", "Deposited");
  await p.fill("#add-data", JSON.stringify({ balance: 100 }));
  await p.click("#add-form button[type=submit]");
  await p.waitForFunction(() => document.getElementById("compare-patch")?.textContent.includes("100"));
  assert.equal(await p.locator('#compare [data-side="right"] li[data-pointer="/balance"] .value').innerText(), "100");
  // A candidate that ignores withdrawals, previewed on the fork.
  await p.fill("#candidate-source", BALANCES.replace("Withdrawn: (s, e) => { s.balance = e.data.balance; },", ""));
  await p.click("#candidate-form button[type=submit]");
  await p.waitForSelector("#candidate-answer li");
  assert.match(await p.locator("#candidate-answer").innerText(), /account-1: \/balance/);
  await shot(p, "09b-fork-edit-add-candidate");
  // Nothing of this reached live.
  assert.equal((await server.api("GET", "/v1/projections/balances/state?partition=account-1")).state.balance, -20);
  await p.close();
});

test("jump to a time and to a pinned snapshot", async () => {
  const stamps = [];
  for (let i = 0; i < 3; i++) {
    const r = await server.append("clock-1", [{ type: "Ticked", data: { tick: i } }]);
    stamps.push((await server.api("GET", `/v1/streams/clock-1?from=${i}&limit=1`)).events[0].timestamp);
    assert.equal(r.next_expected_version, i);
    await new Promise((r) => setTimeout(r, 5));
  }
  const snap = await server.api("POST", "/v1/snapshots", { name: "first tick", stream: "clock-1", as_of: "version:0" });
  const p = await page(b, server);
  await p.goto(`${server.url}/ui/#stream=clock-1`);
  await at(p, 2);
  await p.selectOption("#snapshots", snap.id);
  await at(p, 0);
  await p.fill("#jump-to", stamps[1]);
  await p.press("#jump-to", "Enter");
  await at(p, 1);
  assert.equal(await shown(p, "/tick"), 1);
  await p.fill("#jump-to", "#2");
  await p.press("#jump-to", "Enter");
  await at(p, 2);
  await p.fill("#jump-to", "yesterday");
  await p.press("#jump-to", "Enter");
  await p.waitForFunction(() => document.getElementById("status")?.className === "error");
  // A link written by hand with a time opens there, and then links by index.
  await p.goto(`${server.url}/ui/#stream=clock-1&at=time:${stamps[1]}`);
  await p.reload();
  await at(p, 1);
  assert.ok((await p.evaluate(() => location.hash)).endsWith("version=1"));
  await p.close();
});

test("a parked event opens as a debugging case", async () => {
  const p = await page(b, server);
  await p.goto(`${server.url}/ui/#page=health`);
  await p.waitForSelector('#health-table tr[data-projection="balances"]');
  const row = await p.locator('#health-table tr[data-projection="balances"] td').allInnerTexts();
  assert.equal(row[0], "running");
  assert.equal(row[6], "1 parked");
  await shot(p, "10-projections");
  await p.click('#health-table tr[data-projection="balances"] button:has-text("parked")');
  await p.click("#parked-list button");
  await p.waitForSelector("#case-title");
  assert.match(await p.locator("#case-error").innerText(), /frozen accounts are not supported/);
  assert.match(await p.locator("#case-state").innerText(), /owner: "bob"/);
  assert.match(await p.locator("#case-title").innerText(), /balances parked at position/);
  await shot(p, "11-case");
  const position = Number(/position (\d+)/.exec(await p.locator("#case-title").innerText())[1]);
  await p.click("text=Open the partition's timeline at the state before it");
  await p.waitForFunction(() => document.getElementById("subject-title")?.textContent === "balances / account-2");
  // A parked event is not in the partition's history: the cursor is on
  // the last event before it, the state the case shows.
  await at(p, 0);
  assert.match(await p.locator("#event-title").innerText(), new RegExp(`^Opened · account-2 v0 · position ${position - 1}`));
  assert.equal(await shown(p, "/owner"), "bob");
  // Back to the case, and skip the event on a fork from there.
  await p.goBack();
  await p.waitForSelector("#case-title");
  await p.click("text=Skip it on a fork");
  await p.waitForSelector("#compare-title");
  assert.match(await p.locator("#compare-title").innerText(), /^Fork ui-\S+ beside live$/);
  await shot(p, "11b-case-skipped-on-fork");
  await p.close();
});

test("the live tail shows new events as they are appended", async () => {
  const p = await page(b, server);
  await p.goto(`${server.url}/ui/#page=tail`);
  await p.fill("#tail-category", "account");
  await p.click("#tail-form button[type=submit]");
  await p.waitForFunction(() => document.getElementById("tail-state")?.textContent === "live");
  await server.append("account-3", [{ type: "Opened", data: { owner: "cy", balance: 1 } }]);
  await server.append("other-1", [{ type: "Noise", data: {} }]);
  await p.waitForSelector('#tail-events li:has-text("account-3 v0")');
  assert.equal(await p.locator('#tail-events li:has-text("other-1")').count(), 0);
  await shot(p, "12-live-tail");
  await p.close();
});

test("a deep link reopens the view; a missing stream says so", async () => {
  const p = await page(b, server);
  await p.goto(`${server.url}/ui/#stream=account-1&version=1`);
  await at(p, 1);
  assert.equal(await shown(p, "/balance"), 50);
  await p.goto(`${server.url}/ui/#stream=nope-1`);
  await p.reload();
  await p.waitForFunction(() => document.getElementById("status")?.textContent.startsWith("stream_not_found"));
  await shot(p, "13-missing-stream");
  assert.deepEqual(p.outside, []);
  await p.close();
});
