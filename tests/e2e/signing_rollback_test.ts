/**
 * End to end: rollback and freeze protection of signed configs, through the
 * real CLI as subprocesses over a real home. An older signed config put back
 * after `loom run` accepted a newer one is refused (exit 65) by `loom run`
 * and reported by `loom sign verify`; `--expires never` is refused; a
 * signature file from an earlier LOOM is refused with the re-sign command.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readAuditRecords } from "../../src/security/audit/mod.ts";
import { runLoom, tempDir, writeKeyedConfig } from "../_helpers.ts";

const SERVING = /loom: serving 1 tool\(s\)/;

Deno.test("loom run refuses an older signed version after a newer one was served (rollback, exit 65)", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const config = join(dir.path, "agent.yaml");
  await writeKeyedConfig(config, "https://api.example.com", "X-Plain: one");
  assert.equal((await runLoom(["sign", "keygen"], { home })).code, 0);

  const first = await runLoom(["sign", "config", config], { home });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /version 1, expires \d{4}-/);
  const oldBytes = await Deno.readFile(config);
  const oldSig = await Deno.readFile(`${config}.sig`);

  // A reviewed edit, signed as version 2 and served once: this home accepts version 2.
  await Deno.writeTextFile(config, (await Deno.readTextFile(config)) + "# reviewed edit\n");
  const second = await runLoom(["sign", "config", config, "--expires", "90d"], { home });
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /version 2/);
  const served = await runLoom(["run", config], { home });
  assert.equal(served.code, 0, served.stderr);
  assert.match(served.stderr, SERVING);

  // Someone puts the old, validly signed version 1 back.
  await Deno.writeFile(config, oldBytes);
  await Deno.writeFile(`${config}.sig`, oldSig);
  const verify = await runLoom(["sign", "verify", config], { home });
  assert.equal(verify.code, 65, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /^rollback .*agent\.yaml \(version 1, expires /m);
  const run = await runLoom(["run", config], { home });
  assert.equal(run.code, 65, run.stderr);
  assert.match(run.stderr, /version 1, lower than version 2 .* \(rollback\)/);
  assert.doesNotMatch(run.stderr, SERVING);

  const verifies = (await readAuditRecords(join(home, "audit")))
    .filter((r) => r.event === "config_signature" && r.action === "verify")
    .map((r) => [r.verdict, r.version, r.refused]);
  assert.deepEqual(verifies, [["valid", 2, false], ["rollback", 1, false], [
    "rollback",
    1,
    true,
  ]]);

  // Going back on purpose: sign the old bytes as a new version.
  const resign = await runLoom(["sign", "config", config], { home });
  assert.match(resign.stdout, /version 3/);
  const back = await runLoom(["run", config], { home });
  assert.equal(back.code, 0, back.stderr);
});

Deno.test("loom sign config refuses --expires never, and loom run refuses a v1 signature with the re-sign command", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const config = join(dir.path, "agent.yaml");
  await writeKeyedConfig(config, "https://api.example.com", "X-Plain: one");
  assert.equal((await runLoom(["sign", "keygen"], { home })).code, 0);
  const never = await runLoom(["sign", "config", config, "--expires", "never"], { home });
  assert.equal(never.code, 64, never.stderr);
  assert.match(never.stderr, /cannot be "never".*freeze protection/);
  const zero = await runLoom(["sign", "config", config, "--version", "0"], { home });
  assert.equal(zero.code, 64, zero.stderr);

  await Deno.writeTextFile(
    `${config}.sig`,
    JSON.stringify({
      format: "loom-config-signature/1",
      algorithm: "ed25519",
      key_id: "0123456789abcdef",
      digest: `sha256:${"a".repeat(64)}`,
      signed_at: "2026-01-01T00:00:00.000Z",
      signature: "AAAA",
    }),
  );
  const run = await runLoom(["run", config], { home });
  assert.equal(run.code, 65, run.stderr);
  assert.match(run.stderr, /earlier LOOM/);
  assert.ok(run.stderr.includes(`loom sign config ${config}`), run.stderr);
  assert.doesNotMatch(run.stderr, SERVING);
});
