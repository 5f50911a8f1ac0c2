import assert from "node:assert/strict";
import type { AccessMode, HttpMethod, TrustTier } from "../../config/mod.ts";
import { allowedMethods, allowsAgentCalls, decideTier, requiresApproval } from "./decide_tier.ts";
import { METHOD_OVERRIDE_HEADERS, TIER_NAMES } from "./decide_tier.ts";

const TIERS: readonly TrustTier[] = [1, 2, 3, 4];
const METHODS: readonly HttpMethod[] = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"];
const ACCESS: readonly AccessMode[] = ["read", "write"];

// The tier table of README.md (`trust_tier`), written out by hand. A cell says what decideTier()
// does when a tool of that tier and access mode uses that method: "ok" allows it, "m" refuses
// the method (action `http_<METHOD>`), "w" refuses the write tool (action `write_tool`).
const TABLE = `
tier access  GET HEAD OPTIONS POST PUT PATCH DELETE
1    read    ok  ok   ok      m    m   m     m
1    write   w   w    w       w    w   w     w
2    read    ok  ok   ok      ok   ok  ok    m
2    write   ok  ok   ok      ok   ok  ok    m
3    read    ok  ok   ok      ok   ok  ok    ok
3    write   ok  ok   ok      ok   ok  ok    ok
4    read    ok  ok   ok      ok   ok  ok    ok
4    write   ok  ok   ok      ok   ok  ok    ok
`;

interface TableCase {
  readonly tier: TrustTier;
  readonly access: AccessMode;
  readonly method: HttpMethod;
  /** "allow", or the refusal's action. */
  readonly expected: string;
}

const CELLS: Record<string, (method: HttpMethod) => string> = {
  ok: () => "allow",
  m: (method) => `http_${method}`,
  w: () => "write_tool",
};

function tableCases(): TableCase[] {
  const [header, ...rows] = TABLE.trim().split("\n").map((line) => line.split(/\s+/));
  assert.deepEqual(header.slice(2), METHODS);
  return rows.flatMap(([tier, access, ...cells]) =>
    METHODS.map((method, i) => {
      assert.ok(Object.hasOwn(CELLS, cells[i]), `unknown cell "${cells[i]}" in T${tier} ${access}`);
      const expected = CELLS[cells[i]](method);
      return { tier: Number(tier) as TrustTier, access: access as AccessMode, method, expected };
    })
  );
}

Deno.test("decideTier() follows the tier table for every tier, access mode and method", async (t) => {
  const cases = tableCases();
  assert.equal(cases.length, TIERS.length * ACCESS.length * METHODS.length);
  for (const { tier, access, method, expected } of cases) {
    const rule = expected === "allow" ? "allows" : `refuses as ${expected}`;
    await t.step(`T${tier} ${access} tool, ${method}: ${rule}`, () => {
      const decision = decideTier({ tier, access, method });
      assert.equal(decision.allow ? "allow" : decision.action, expected);
      if (!decision.allow) assert.match(decision.reason, new RegExp(`^Tier ${tier} \\(`));
    });
  }
});

Deno.test("decideTier() explains a refusal with the tier's name and its allowed methods", async (t) => {
  const cases: [TrustTier, AccessMode, HttpMethod, string][] = [
    [1, "write", "GET", "Tier 1 (observer) cannot call a write tool"],
    [
      1,
      "read",
      "POST",
      "Tier 1 (observer) cannot use POST: allowed methods are GET, HEAD, OPTIONS",
    ],
    [
      2,
      "write",
      "DELETE",
      "Tier 2 (worker) cannot use DELETE: allowed methods are GET, HEAD, OPTIONS, POST, PUT, PATCH",
    ],
  ];
  for (const [tier, access, method, reason] of cases) {
    await t.step(`T${tier} ${access} tool, ${method}`, () => {
      const decision = decideTier({ tier, access, method });
      assert.ok(!decision.allow);
      assert.equal(decision.reason, reason);
    });
  }
});

Deno.test("decideTier() refuses an unknown tier for every method", () => {
  for (const tier of [0, 5, -1, 1.5, NaN] as unknown as TrustTier[]) {
    for (const method of METHODS) {
      const decision = decideTier({ tier, access: "read", method });
      assert.equal(decision.allow, false, `tier ${tier} ${method}`);
    }
  }
});

Deno.test("decideTier() refuses methods outside the table at every tier, without echoing junk", () => {
  for (const tier of TIERS) {
    for (const method of ["TRACE", "CONNECT", "get", "PROPFIND"]) {
      const decision = decideTier({ tier, access: "read", method: method as HttpMethod });
      assert.equal(decision.allow, false, `T${tier} ${method}`);
    }
  }
  const junk = decideTier({ tier: 4, access: "read", method: "GET\r\nX: y" as HttpMethod });
  assert.ok(!junk.allow);
  assert.equal(junk.action, "http_UNKNOWN");
  assert.ok(!junk.reason.includes("\n"));
});

Deno.test("decideTier() treats an unknown access mode as write", () => {
  const decision = decideTier({ tier: 1, access: "admin" as AccessMode, method: "GET" });
  assert.ok(!decision.allow);
  assert.equal(decision.action, "write_tool");
});

Deno.test("decideTier() refuses every method-override header below T3", () => {
  for (const tier of [1, 2] as const) {
    for (const header of METHOD_OVERRIDE_HEADERS) {
      for (const value of ["DELETE", "GET", "POST"]) {
        const decision = decideTier({
          tier,
          access: "read",
          method: "GET",
          headers: [[header.toUpperCase(), value]],
        });
        assert.deepEqual(
          decision.allow ? "allow" : decision.action,
          "method_override",
          `T${tier} ${header}: ${value}`,
        );
      }
    }
  }
});

Deno.test("decideTier() finds override headers in Headers, records and arrays, case-insensitively", () => {
  const forms = [
    new Headers({ "X-HTTP-Method-Override": "DELETE" }),
    { "x-Http-Method": "DELETE" },
    [["accept", "application/json"], ["X-Method-Override", "DELETE"]] as [string, string][],
    new Map([["x-http-method-override", "DELETE"]]),
  ];
  for (const headers of forms) {
    const decision = decideTier({ tier: 1, access: "read", method: "GET", headers });
    assert.equal(decision.allow ? "allow" : decision.action, "method_override");
  }
});

Deno.test("decideTier() at T3+ allows an override only to a method the tier allows", () => {
  for (const tier of [3, 4] as const) {
    for (const value of ["DELETE", "delete", " PATCH ", "GET, POST"]) {
      const headers = { "X-HTTP-Method-Override": value };
      assert.deepEqual(decideTier({ tier, access: "write", method: "POST", headers }), {
        allow: true,
      });
    }
    for (const value of ["TRACE", "CONNECT", "", "DELETE, TRACE", "<script>"]) {
      const headers = { "X-HTTP-Method-Override": value };
      const decision = decideTier({ tier, access: "write", method: "POST", headers });
      assert.ok(!decision.allow, `T${tier} override to ${JSON.stringify(value)}`);
      assert.equal(decision.action, "method_override");
      assert.ok(!decision.reason.includes("<script>"));
    }
  }
});

Deno.test("decideTier() ignores ordinary headers", () => {
  const headers = new Headers({ accept: "application/json", "x-method": "DELETE" });
  assert.deepEqual(decideTier({ tier: 1, access: "read", method: "GET", headers }), {
    allow: true,
  });
});

Deno.test("decideTier() checks the method before the override header", () => {
  const decision = decideTier({
    tier: 1,
    access: "read",
    method: "DELETE",
    headers: { "X-HTTP-Method-Override": "GET" },
  });
  assert.ok(!decision.allow);
  assert.equal(decision.action, "http_DELETE");
});

Deno.test("allowedMethods() lists each tier's methods and none for an unknown tier", () => {
  assert.deepEqual(allowedMethods(1), ["GET", "HEAD", "OPTIONS"]);
  assert.deepEqual(allowedMethods(2), ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"]);
  assert.deepEqual(allowedMethods(3), [...METHODS]);
  assert.deepEqual(allowedMethods(4), [...METHODS]);
  assert.deepEqual(allowedMethods(9 as TrustTier), []);
  assert.ok(Object.isFrozen(allowedMethods(1)));
});

Deno.test("requiresApproval() holds only tier 4 write calls", () => {
  for (const tier of TIERS) {
    for (const access of ACCESS) {
      assert.equal(requiresApproval(tier, access), tier === 4 && access === "write");
    }
  }
});

Deno.test("allowsAgentCalls() allows cross-agent calls from tier 3 up", () => {
  assert.deepEqual(TIERS.map(allowsAgentCalls), [false, false, true, true]);
});

Deno.test("TIER_NAMES names the four tiers", () => {
  assert.deepEqual({ ...TIER_NAMES }, {
    1: "observer",
    2: "worker",
    3: "operator",
    4: "privileged",
  });
});
