import assert from "node:assert/strict";
import type { EscalationRuleSpec } from "../../config/mod.ts";
import {
  compileEscalation,
  decideEscalation,
  type EscalationCall,
  TIER_4_RULE,
} from "./decide_escalation.ts";

function rule(fields: Partial<EscalationRuleSpec> & { name: string }): EscalationRuleSpec {
  return {
    reason: `reason of ${fields.name}`,
    tool: null,
    access: null,
    paramGt: {},
    paramEq: {},
    paramContains: {},
    ...fields,
  };
}

function call(fields: Partial<EscalationCall> = {}): EscalationCall {
  return { tier: 2, tool: "create_item", access: "write", args: {}, ...fields };
}

function held(rules: EscalationRuleSpec[], c: EscalationCall): string | null {
  const decision = decideEscalation(compileEscalation(rules), c);
  return decision.hold ? decision.rule : null;
}

// --- Negative tests first: what must be held -----------------------------------------

Deno.test("decideEscalation() holds every write call at tier 4, and no read", () => {
  const policy = compileEscalation([]);
  assert.deepEqual(decideEscalation(policy, call({ tier: 4 })), {
    hold: true,
    rule: TIER_4_RULE,
    reason: "Write calls of a tier 4 (privileged) agent need human approval",
    by: "trust_tier",
  });
  assert.deepEqual(decideEscalation(policy, call({ tier: 4, access: "read" })), { hold: false });
  for (const tier of [1, 2, 3] as const) {
    assert.deepEqual(decideEscalation(policy, call({ tier })), { hold: false });
  }
});

Deno.test("decideEscalation() names a matching config rule before the tier 4 hold", () => {
  const decision = decideEscalation(
    compileEscalation([rule({ name: "all-writes", access: "write" })]),
    call({ tier: 4 }),
  );
  assert.deepEqual(decision, {
    hold: true,
    rule: "all-writes",
    reason: "reason of all-writes",
    by: "escalation_rule",
  });
});

Deno.test("decideEscalation() lets the first matching rule win", () => {
  const rules = [
    rule({ name: "first", paramGt: { amount: 100 } }),
    rule({ name: "second", paramGt: { amount: 10 } }),
    rule({ name: "third" }),
  ];
  assert.equal(held(rules, call({ args: { amount: 500 } })), "first");
  assert.equal(held(rules, call({ args: { amount: 50 } })), "second");
  assert.equal(held(rules, call({ args: { amount: 5 } })), "third");
});

// --- Each field --------------------------------------------------------------------

Deno.test("decideEscalation() matches tool by glob: * any run, ? one character, whole name", () => {
  const cases: [string, string, boolean][] = [
    ["create_*", "create_item", true],
    ["create_*", "create_", true],
    ["create_*", "recreate_item", false],
    ["*_item", "delete_item", true],
    ["?reate_item", "create_item", true],
    ["?reate_item", "ccreate_item", false],
    ["create_item", "create_items", false],
    ["create_item", "create_item", true],
    ["*", "anything", true],
  ];
  for (const [glob, tool, expected] of cases) {
    assert.equal(held([rule({ name: "r", tool: glob })], call({ tool })) === "r", expected, glob);
  }
  assert.equal(held([rule({ name: "r", tool: null })], call({ tool: "x" })), "r");
});

Deno.test("decideEscalation() matches access: read, write, or both when null", () => {
  assert.equal(held([rule({ name: "r", access: "read" })], call({ access: "write" })), null);
  assert.equal(held([rule({ name: "r", access: "read" })], call({ access: "read" })), "r");
  assert.equal(held([rule({ name: "r", access: "write" })], call({ access: "write" })), "r");
  assert.equal(held([rule({ name: "r" })], call({ access: "read" })), "r");
});

Deno.test("decideEscalation() param_gt holds only a number strictly greater", () => {
  const rules = [rule({ name: "r", paramGt: { amount: 500 } })];
  assert.equal(held(rules, call({ args: { amount: 501 } })), "r");
  assert.equal(held(rules, call({ args: { amount: 500.5 } })), "r");
  assert.equal(held(rules, call({ args: { amount: 500 } })), null);
  assert.equal(held(rules, call({ args: { amount: -1 } })), null);
  assert.equal(held(rules, call({ args: { amount: "900" } })), null, "a string is not a number");
  assert.equal(held(rules, call({ args: {} })), null, "a missing argument never holds");
});

Deno.test("decideEscalation() param_eq compares strings exactly, numbers and booleans in JSON form", () => {
  const rules = [rule({ name: "r", paramEq: { env: "prod", force: "true", n: "3" } })];
  const args = { env: "prod", force: true, n: 3 };
  assert.equal(held(rules, call({ args })), "r");
  assert.equal(held(rules, call({ args: { ...args, env: "Prod" } })), null, "exact case");
  assert.equal(held(rules, call({ args: { ...args, env: "prod " } })), null);
  assert.equal(held(rules, call({ args: { ...args, force: "true" } })), "r");
  assert.equal(held(rules, call({ args: { ...args, force: false } })), null);
  assert.equal(held(rules, call({ args: { ...args, n: 3.5 } })), null);
  assert.equal(held(rules, call({ args: { ...args, env: ["prod"] } })), null, "arrays never equal");
  const { env: _, ...withoutEnv } = args;
  assert.equal(held(rules, call({ args: withoutEnv })), null);
});

Deno.test("decideEscalation() param_contains looks at the argument's text, ignoring case", () => {
  const rules = [rule({ name: "r", paramContains: { query: "Drop Table" } })];
  assert.equal(held(rules, call({ args: { query: "x; DROP TABLE users" } })), "r");
  assert.equal(held(rules, call({ args: { query: "drop table" } })), "r");
  assert.equal(held(rules, call({ args: { query: "drop tables" } })), "r");
  assert.equal(held(rules, call({ args: { query: "drop  table" } })), null);
  assert.equal(held(rules, call({ args: { query: ["a", "drop table b"] } })), "r", "JSON text");
  assert.equal(held(rules, call({ args: { query: { q: "DROP TABLE" } } })), "r");
  assert.equal(held(rules, call({ args: {} })), null);
});

Deno.test("decideEscalation() requires every condition of a rule", () => {
  const rules = [rule({
    name: "r",
    tool: "create_*",
    access: "write",
    paramGt: { amount: 10 },
    paramEq: { currency: "EUR" },
    paramContains: { note: "urgent" },
  })];
  const args = { amount: 11, currency: "EUR", note: "URGENT please" };
  assert.equal(held(rules, call({ args })), "r");
  assert.equal(held(rules, call({ args: { ...args, amount: 10 } })), null);
  assert.equal(held(rules, call({ args: { ...args, currency: "USD" } })), null);
  assert.equal(held(rules, call({ args: { ...args, note: "later" } })), null);
  assert.equal(held(rules, call({ args, tool: "update_item" })), null);
  assert.equal(held(rules, call({ args, access: "read" })), null);
});

Deno.test("decideEscalation() ignores arguments inherited from Object.prototype", () => {
  const rules = [rule({ name: "r", paramContains: { toString: "function" } })];
  assert.equal(held(rules, call({ args: {} })), null);
});

Deno.test("EscalationPolicy.forTool() keeps exactly the rules that can match the tool", () => {
  const policy = compileEscalation([
    rule({ name: "a", tool: "create_*" }),
    rule({ name: "b", access: "read" }),
    rule({ name: "c", tool: "delete_*" }),
    rule({ name: "d", paramGt: { amount: 1 } }),
  ]);
  assert.deepEqual(policy.forTool("create_item", "write").rules.map((r) => r.name), ["a", "d"]);
  assert.deepEqual(policy.forTool("list_items", "read").rules.map((r) => r.name), ["b", "d"]);
  const args = { amount: 5 };
  for (const [tool, access] of [["create_item", "write"], ["list_items", "read"]] as const) {
    assert.deepEqual(
      decideEscalation(policy.forTool(tool, access), call({ tool, access, args })),
      decideEscalation(policy, call({ tool, access, args })),
    );
  }
});
