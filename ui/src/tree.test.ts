import { strict as assert } from "node:assert";
import { test } from "node:test";
import { differing, leaves, rows, touched } from "./tree";

test("rows carry pointers and mark changed fields and their ancestors", () => {
  const state = { owner: "ann", balance: -20, address: { "c/ty": "Oslo", zip: "0150" }, tags: ["a", "b"] };
  const changed = touched([{ op: "replace", path: "/balance" }, { op: "add", path: "/address/c~1ty" }]);
  const r = rows(state, changed);
  const by = (p: string) => r.find((x) => x.pointer === p)!;
  assert.equal(by("").changed, "inside");
  assert.equal(by("/balance").changed, "self");
  assert.equal(by("/balance").display, "-20");
  assert.equal(by("/address").changed, "inside");
  assert.equal(by("/address/c~1ty").changed, "self");
  assert.equal(by("/address/zip").changed, null);
  assert.equal(by("/owner").changed, null);
  assert.equal(by("/tags").display, "[2]");
  assert.equal(by("/tags/1").depth, 2);
  assert.deepEqual(r.map((x) => x.pointer), ["", "/owner", "/balance", "/address", "/address/c~1ty", "/address/zip", "/tags", "/tags/0", "/tags/1"]);
});

test("a prefix that is not a parent is not marked", () => {
  const r = rows({ a: 1, ab: 2 }, touched([{ path: "/ab" }]));
  assert.equal(r.find((x) => x.pointer === "/a")!.changed, null);
});

test("a collapsed container hides its rows but still shows a change inside", () => {
  const state = { address: { city: "Oslo", zip: "0150" }, owner: "ann" };
  const r = rows(state, touched([{ op: "replace", path: "/address/city" }]), new Set(["/address"]));
  assert.deepEqual(r.map((x) => x.pointer), ["", "/address", "/owner"]);
  assert.equal(r[1].changed, "inside");
});

test("a move touches where it came from too; leaves list every leaf", () => {
  assert.deepEqual([...touched([{ op: "move", from: "/a", path: "/b" }])].sort(), ["/a", "/b"]);
  assert.deepEqual(leaves({ a: 1, b: { c: [2, 3], d: {} } }), ["/a", "/b/c/0", "/b/c/1", "/b/d"]);
  assert.deepEqual(leaves(7), [""]);
});

test("differing names the pointers where two states differ", () => {
  const a = { balance: 10, owner: "ann", address: { city: "Oslo" }, gone: 1 };
  const b = { balance: 30, owner: "ann", address: { city: "Bergen" }, added: [1] };
  assert.deepEqual(differing(a, b).sort(), ["/added", "/address/city", "/balance", "/gone"]);
  assert.deepEqual(differing({ x: [1, 2] }, { x: [1, 2] }), []);
  assert.deepEqual(differing(null, { a: 1 }), [""]);
});
