import { strict as assert } from "node:assert";
import { test } from "node:test";
import { hashOf, move, parseHash } from "./scrubber";

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

test("the view round-trips through the URL hash", () => {
  assert.deepEqual(parseHash(hashOf("order 1/x", 42)), { stream: "order 1/x", version: 42 });
  assert.deepEqual(parseHash("#stream=s&version=x"), { stream: "s", version: undefined });
  assert.deepEqual(parseHash(""), { stream: undefined, version: undefined });
});
