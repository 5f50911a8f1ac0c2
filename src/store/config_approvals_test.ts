/**
 * The approvals of generated configs in the state database: a submitter
 * cannot approve, an approval is keyed by agent and exact digest, malformed
 * values are refused before SQL, and submissions survive reopening.
 */

import assert from "node:assert/strict";
import { tempDir } from "../../tests/_helpers.ts";
import { resolveHome } from "./home.ts";
import { openStore } from "./db.ts";
import { checkApprover, generatorPrincipal, isPrincipal } from "./config_approvals.ts";

const DIGEST = "ab".repeat(32);

Deno.test("checkApprover() refuses an approver who submitted the config, and allows anyone else", () => {
  const submitters = [generatorPrincipal("ollama/llama3.1"), "cli:alice"];
  assert.match(String(checkApprover("cli:alice", submitters)), /submitted this config/);
  assert.match(
    String(checkApprover("generator:ollama/llama3.1", submitters)),
    /must come from someone else/,
  );
  assert.equal(checkApprover("cli:bob", submitters), null);
  assert.equal(checkApprover("cli:bob", []), null);
});

Deno.test("config approvals: put() refuses a malformed digest or principal; nothing is stored", async () => {
  await using dir = await tempDir("loom-config-approvals-");
  await using store = await openStore(resolveHome(new Map([["LOOM_HOME", dir.path]])));
  const table = store.configApprovals;
  for (const configDigest of ["", "AB".repeat(32), "ab".repeat(31), `sha256:${DIGEST}`]) {
    assert.throws(() => table.put({ agent: "a", configDigest, approvedBy: "cli:bob" }), TypeError);
  }
  for (const approvedBy of ["", "bob", "cli:", "cli:a\nb", "CLI:bob", `cli:${"x".repeat(200)}`]) {
    assert.throws(() => table.put({ agent: "a", configDigest: DIGEST, approvedBy }), TypeError);
  }
  assert.throws(() => table.addSubmission(DIGEST, "nobody"), TypeError);
  assert.equal(table.get("a", DIGEST), undefined);
  assert.deepEqual(table.submitters(DIGEST), []);
  assert.equal(isPrincipal("generator:ollama/llama3.1"), true);
});

Deno.test("config approvals: keyed by agent and exact digest; submissions are kept across reopening", async () => {
  await using dir = await tempDir("loom-config-approvals-");
  const home = resolveHome(new Map([["LOOM_HOME", dir.path]]));
  {
    await using store = await openStore(home);
    const table = store.configApprovals;
    table.addSubmission(DIGEST, "cli:alice");
    table.addSubmission(DIGEST, "cli:alice");
    table.addSubmission(DIGEST, "generator:x");
    const stored = table.put({ agent: "drafted", configDigest: DIGEST, approvedBy: "cli:bob" });
    assert.match(stored.approvedAt, /^\d{4}-\d\d-\d\dT/);
  }
  await using store = await openStore(home);
  const table = store.configApprovals;
  assert.deepEqual(table.submitters(DIGEST), ["cli:alice", "generator:x"]);
  assert.equal(table.get("drafted", DIGEST)?.approvedBy, "cli:bob");
  assert.equal(table.get("other", DIGEST), undefined);
  assert.equal(table.get("drafted", "cd".repeat(32)), undefined);
});
