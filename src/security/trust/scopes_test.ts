/**
 * Tests of the scope policy of a tool call: every refusal first, then what
 * each scope allows.
 *
 * @module
 */

import assert from "node:assert/strict";
import { decideScope, LOOM_SCOPES, requiredScope, scopeAllows } from "./scopes.ts";

const READ = new Set([LOOM_SCOPES.read]);
const WRITE = new Set([LOOM_SCOPES.write]);

Deno.test("scopeAllows() refuses a write tool to loom:read, and any tool to other scopes or none", () => {
  assert.equal(scopeAllows("write", READ), false);
  assert.equal(scopeAllows("write", new Set()), false);
  assert.equal(scopeAllows("read", new Set()), false);
  assert.equal(scopeAllows("read", new Set(["openid", "loom:admin", "LOOM:READ"])), false);
  assert.equal(scopeAllows("write", new Set(["loom:read loom:write"])), false);
});

Deno.test("scopeAllows() lets loom:read call read tools and loom:write call both (write implies read)", () => {
  assert.equal(scopeAllows("read", READ), true);
  assert.equal(scopeAllows("read", WRITE), true);
  assert.equal(scopeAllows("write", WRITE), true);
  assert.equal(scopeAllows("write", new Set([LOOM_SCOPES.read, LOOM_SCOPES.write])), true);
});

Deno.test("decideScope() names the missing scope and the tool; LOOM_SCOPES cannot be changed", () => {
  assert.deepEqual(decideScope("delete_item", "write", READ), {
    allow: false,
    reason: 'Insufficient scope: the write tool "delete_item" needs the loom:write scope',
    action: "insufficient_scope",
    scope: "loom:write",
  });
  const read = decideScope("lookup", "read", new Set(["openid"]));
  assert.ok(!read.allow && read.scope === "loom:read", JSON.stringify(read));
  assert.deepEqual(decideScope("lookup", "read", READ), { allow: true });
  assert.deepEqual(decideScope("delete_item", "write", WRITE), { allow: true });
  assert.equal(requiredScope("read"), "loom:read");
  assert.equal(requiredScope("write"), "loom:write");
  assert.ok(Object.isFrozen(LOOM_SCOPES));
});
