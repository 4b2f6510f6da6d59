import { strict as assert } from "node:assert";
import { test } from "node:test";
import { TimelineAnswer } from "./api";
import { PAGE, Pager } from "./pager";

/// A timeline of `count` events, event i at position 3i; counts fetches.
function fake(count: number) {
  const asked: [number, number][] = [];
  const fetch = async (from: number, limit: number): Promise<TimelineAnswer> => {
    asked.push([from, limit]);
    const events = [];
    for (let i = from; i < Math.min(count, from + limit); i++) events.push({ index: i, position: 3 * i, version: i, changes: 1 });
    return { count, from, events, at_index: null, ticks: [] };
  };
  return { asked, fetch };
}

test("a million-event timeline is scrubbed a page at a time, each page read once", async () => {
  const { asked, fetch } = fake(1_000_000);
  const pager = new Pager(fetch, 1_000_000);
  pager.keep(await fetch(999_800, PAGE));
  assert.equal((await pager.ref(999_999)).position, 2_999_997);
  assert.equal(asked.length, 1, "the opening page serves the last event");
  for (let i = 999_999; i > 999_500; i--) await pager.ref(i);
  assert.equal(asked.length, 3, "stepping back 500 events reads two more pages");
  await pager.ref(0);
  await pager.ref(500_000);
  await pager.ref(500_001);
  assert.equal(asked.length, 5);
  assert.deepEqual(asked.slice(1), [[999_600, PAGE], [999_400, PAGE], [0, PAGE], [500_000, PAGE]]);
  assert.equal(pager.fetched, 4);
});

test("an index outside the timeline is refused without a request", async () => {
  const { asked, fetch } = fake(10);
  const pager = new Pager(fetch, 10);
  await assert.rejects(pager.ref(10), RangeError);
  await assert.rejects(pager.ref(-1), RangeError);
  assert.equal(asked.length, 0);
  assert.equal((await pager.ref(9)).position, 27);
});

test("a page fetched off the page grid is not kept", async () => {
  const { asked, fetch } = fake(1000);
  const pager = new Pager(fetch, 1000);
  pager.keep(await fetch(10, 5));
  assert.equal(pager.cached(10), undefined);
  await pager.ref(10);
  assert.equal(asked.length, 2);
});
