/** `runtime.anomaly`: its defaults, its resolution, and the webhook's load-time rules. */

import assert from "node:assert/strict";
import { parseConfig } from "./load.ts";
import { onlyIssue, refusedIssues } from "./_testing.ts";
import { DEFAULT_ANOMALY } from "./anomaly.ts";

/** A config whose runtime has the given anomaly block (its lines from 10 on). */
function config(anomaly: string, tier = 2): string {
  return `agent:
  name: watched
  exposes:
    - name: get
      description: Read
  http_bridge:
    - tool_name: get
      url: https://api.example.com/get
  runtime:
    trust_tier: ${tier}
${anomaly}`;
}

const load = (text: string) => parseConfig(text, { path: "watched.yaml" });

Deno.test("anomaly load: a webhook below trust tier 2 is refused at its line and column", () => {
  const issue = onlyIssue(
    refusedIssues(() =>
      load(config("    anomaly:\n      webhook: https://hooks.example.com/loom\n", 1))
    ),
  );
  assert.equal(issue.path, "agent.runtime.anomaly.webhook");
  assert.equal(issue.line, 12);
  assert.equal(issue.column, 16);
  assert.match(issue.message, /anomaly webhook .*trust tier 1/);
});

Deno.test("anomaly load: a webhook that is not http(s), or carries credentials, is refused", () => {
  for (const url of ["ftp://hooks.example.com/x", "https://user:pw@hooks.example.com/x"]) {
    const issue = onlyIssue(
      refusedIssues(() => load(config(`    anomaly:\n      webhook: "${url}"\n`))),
    );
    assert.equal(issue.line, 12);
  }
});

Deno.test("anomaly load: an unknown key and a zero window are refused", () => {
  const typo = onlyIssue(refusedIssues(() => load(config("    anomaly:\n      windw: 5m\n"))));
  assert.equal(typo.line, 12);
  const zero = onlyIssue(refusedIssues(() => load(config("    anomaly:\n      window: 0\n"))));
  assert.equal(zero.line, 12);
});

Deno.test("anomaly load: defaults when absent; the block resolved in milliseconds", () => {
  assert.deepEqual(load(config("")).runtime.anomaly, DEFAULT_ANOMALY);
  assert.deepEqual(DEFAULT_ANOMALY, {
    enabled: true,
    warmupMs: 86_400_000,
    windowMs: 300_000,
    rateLimit: 1,
    credentialDenials: 3,
    denialBurst: 20,
    webhook: null,
  });
  const resolved = load(config(
    "    anomaly:\n      enabled: false\n      warmup: 0\n      window: 30s\n" +
      "      rate_limit: 5\n      credential_denials: 2\n      denial_burst: 9\n" +
      "      webhook: https://hooks.example.com/loom\n",
  )).runtime.anomaly;
  assert.deepEqual(resolved, {
    enabled: false,
    warmupMs: 0,
    windowMs: 30_000,
    rateLimit: 5,
    credentialDenials: 2,
    denialBurst: 9,
    webhook: "https://hooks.example.com/loom",
  });
});
