import { strict as assert } from "node:assert";
import { test } from "node:test";
import { View, eventAt, hashOf, parseHash, route } from "./subject";

test("every view round-trips through the URL hash", () => {
  const views: View[] = [
    { subject: { kind: "stream", stream: "order 1/x", fork: undefined }, index: 42, compare: undefined },
    { subject: { kind: "partition", projection: "orders", partition: "", fork: "f&1" }, index: 0, compare: "f&1" },
    { page: "health", compare: undefined, index: undefined, projection: undefined, position: undefined },
    { page: "case", projection: "orders", position: 17, compare: undefined, index: undefined },
  ];
  for (const v of views) assert.deepEqual(parseHash(hashOf(v)), v);
});

test("a hand-written link may name a point instead of an index", () => {
  const v = parseHash("#stream=account-1&at=time:2026-11-27T04:00:00Z");
  assert.equal(v.at, "time:2026-11-27T04:00:00Z");
  assert.equal(v.index, undefined);
  assert.equal(parseHash("#stream=s&at=").at, undefined);
});

test("links from the first version of the page still open", () => {
  assert.deepEqual(parseHash("#stream=s&version=3").subject, { kind: "stream", stream: "s", fork: undefined });
  assert.equal(parseHash("#stream=s&version=x").index, undefined);
  assert.equal(parseHash("").subject, undefined);
});

test("routes name the subject, on live or on a fork", () => {
  const p = { kind: "partition" as const, projection: "orders", partition: "order-1" };
  assert.equal(route(p, "state", { as_of: "position:3" }), "/v1/projections/orders/state?partition=order-1&as_of=position%3A3");
  assert.equal(route({ ...p, fork: "f" }, "blame", { pointer: "/a" }), "/v1/forks/f/projections/orders/blame?partition=order-1&pointer=%2Fa");
  assert.equal(route({ kind: "stream", stream: "a/b" }, "timeline"), "/v1/streams/a%2Fb/timeline");
  assert.equal(eventAt({ kind: "stream", stream: "s", fork: "f" }, 9), "/v1/forks/f/all?from=9&limit=1");
});
