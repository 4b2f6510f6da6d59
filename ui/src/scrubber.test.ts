import { strict as assert } from "node:assert";
import { test } from "node:test";
import { move, parseJump, tickLabels } from "./scrubber";

test("keys step, jump and stay within the history", () => {
  const c = { at: 5, last: 150 };
  assert.equal(move(c, "ArrowLeft"), 4);
  assert.equal(move(c, "ArrowRight"), 6);
  assert.equal(move(c, "PageUp"), 0);
  assert.equal(move(c, "PageDown"), 105);
  assert.equal(move({ at: 100, last: 150 }, "PageDown"), 150);
  assert.equal(move(c, "Home"), 0);
  assert.equal(move(c, "End"), 150);
  assert.equal(move({ at: 0, last: 0 }, "ArrowLeft"), 0);
  assert.equal(move(c, "a"), null);
});

test("a jump box takes an index, a position, a point or a time", () => {
  assert.deepEqual(parseJump("#12"), { index: 12 });
  assert.deepEqual(parseJump(" 40 "), { point: "position:40" });
  assert.deepEqual(parseJump("version:3"), { point: "version:3" });
  assert.deepEqual(parseJump("snapshot:abc"), { point: "snapshot:abc" });
  assert.deepEqual(parseJump("2026-11-27T04:00:00Z"), { point: "time:2026-11-27T04:00:00Z" });
  assert.deepEqual(parseJump("time:2026-11-27T04:00:00Z"), { point: "time:2026-11-27T04:00:00Z" });
  assert.ok("error" in parseJump("yesterday"));
});

test("time axis labels: the date once, then times, the date again when the day changes", () => {
  const axis = tickLabels(["2026-11-26T23:59:00Z", "2026-11-27T00:10:30Z", "2026-11-27T05:00:00Z"]);
  assert.deepEqual(axis, { date: "2026-11-26 UTC", labels: ["23:59:00", "2026-11-27 00:10:30", "05:00:00"] });
  // Under a minute end to end: milliseconds show.
  const short = tickLabels(["2026-11-27T05:00:00.123456Z", "2026-11-27T05:00:00.523456Z"]);
  assert.deepEqual(short.labels, ["05:00:00.123", "05:00:00.523"]);
  assert.deepEqual(tickLabels([]), { date: "", labels: [] });
});
