/**
 * End to end: `loom sign` and the signature check of `loom run`, as real
 * processes over real homes. Negative cases first: a changed byte, an
 * untrusted key, a wrong HMAC key and a missing signature under
 * `--require-signed` never serve; each check is in the audit log. Then
 * secrets granted to a signing key reach only a config signed by that key.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readAuditRecords } from "../../src/security/audit/mod.ts";
import {
  INITIALIZE,
  jsonLines,
  runLoom,
  startUpstream,
  tempDir,
  toolCall,
  writeKeyedConfig,
} from "../_helpers.ts";

const SERVING = /loom: serving 1 tool\(s\)/;

/** A home with a signing key, and a config signed by it. */
async function signedSetup(root: string, url = "https://api.example.com") {
  const home = join(root, "home");
  const config = join(root, "agent.yaml");
  await writeKeyedConfig(config, url, 'Authorization: "Bearer {{secret:api-token}}"');
  const keygen = await runLoom(["sign", "keygen"], { home });
  assert.equal(keygen.code, 0, keygen.stderr);
  const keyId = /signing key ([0-9a-f]{16})/.exec(keygen.stdout)![1];
  const sign = await runLoom(["sign", "config", config], { home });
  assert.equal(sign.code, 0, sign.stderr);
  return { home, config, keyId };
}

async function verifyRecords(home: string) {
  return (await readAuditRecords(join(home, "audit")))
    .filter((r) => r.event === "config_signature" && r.action === "verify");
}

Deno.test("loom run refuses a signed config with one byte changed (exit 65) and records the refusal", async () => {
  await using dir = await tempDir();
  const { home, config } = await signedSetup(dir.path);
  const bytes = await Deno.readFile(config);
  // One byte of the description: "Ask the API" becomes "ask the API", still a valid config.
  const at = new TextDecoder().decode(bytes).indexOf("Ask the API");
  assert.ok(at > 0);
  bytes[at] = "a".charCodeAt(0);
  await Deno.writeFile(config, bytes);
  const run = await runLoom(["run", config], { home });
  assert.equal(run.code, 65, run.stderr);
  assert.match(run.stderr, /changed since it was signed/);
  assert.doesNotMatch(run.stderr, SERVING);
  const [record] = (await verifyRecords(home)).slice(-1);
  assert.equal(record.verdict, "digest_mismatch");
  assert.equal(record.refused, true);
});

Deno.test("loom run refuses a config signed by a key its home does not trust (exit 65)", async () => {
  await using dir = await tempDir();
  const { config } = await signedSetup(dir.path);
  const other = join(dir.path, "other-home");
  const run = await runLoom(["run", config], { home: other });
  assert.equal(run.code, 65, run.stderr);
  assert.match(run.stderr, /does not trust/);
  assert.doesNotMatch(run.stderr, SERVING);
  assert.equal((await verifyRecords(other))[0].verdict, "untrusted_key");
});

Deno.test("loom run refuses an HMAC signature made with another home's HMAC key (exit 65)", async () => {
  await using dir = await tempDir();
  const signer = join(dir.path, "signer");
  const runner = join(dir.path, "runner");
  const config = join(dir.path, "agent.yaml");
  await writeKeyedConfig(config, "https://api.example.com", "X-Plain: one");
  for (const home of [signer, runner]) {
    assert.equal((await runLoom(["sign", "keygen", "--hmac"], { home })).code, 0);
  }
  assert.equal((await runLoom(["sign", "config", config, "--hmac"], { home: signer })).code, 0);
  const refused = await runLoom(["run", config], { home: runner });
  assert.equal(refused.code, 65, refused.stderr);
  assert.doesNotMatch(refused.stderr, SERVING);
  const served = await runLoom(["run", config], { home: signer });
  assert.equal(served.code, 0, served.stderr);
  assert.match(served.stderr, SERVING);
});

Deno.test("loom run --require-signed and LOOM_REQUIRE_SIGNED=1 refuse an unsigned config (exit 77)", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const config = join(dir.path, "agent.yaml");
  await writeKeyedConfig(config, "https://api.example.com", "X-Plain: one");
  const flag = await runLoom(["run", config, "--require-signed"], { home });
  assert.equal(flag.code, 77, flag.stderr);
  assert.match(flag.stderr, /Refusing unsigned config/);
  const env = await runLoom(["run", config], { home, env: { LOOM_REQUIRE_SIGNED: "1" } });
  assert.equal(env.code, 77, env.stderr);
  for (const r of [flag, env]) assert.doesNotMatch(r.stderr, SERVING);
  const records = await verifyRecords(home);
  assert.deepEqual(records.map((r) => [r.verdict, r.refused]), [
    ["unsigned", true],
    ["unsigned", true],
  ]);
});

Deno.test("loom run serves an unsigned config with exactly one warning line", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const config = join(dir.path, "agent.yaml");
  await writeKeyedConfig(config, "https://api.example.com", "X-Plain: one");
  const run = await runLoom(["run", config], { home });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, SERVING);
  assert.equal(run.stderr.split("\n").filter((l) => /not signed/.test(l)).length, 1);
  assert.equal((await verifyRecords(home))[0].verdict, "unsigned");
});

Deno.test("loom run serves a config signed by a trusted key without a warning; sign verify agrees", async () => {
  await using dir = await tempDir();
  const { home, config, keyId } = await signedSetup(dir.path);
  const run = await runLoom(["run", config], { home });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, SERVING);
  assert.doesNotMatch(run.stderr, /not signed|warning/);
  const verify = await runLoom(["sign", "verify", dir.path], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, new RegExp(`^ok .*agent\\.yaml: ed25519 key ${keyId}`, "m"));
  const events = (await readAuditRecords(join(home, "audit")))
    .filter((r) => r.event === "config_signature").map((r) => r.action);
  assert.deepEqual(events, ["keygen", "sign", "verify", "verify"]);
});

Deno.test("loom secrets grant --signed-by releases a secret only to a config signed by that key", async () => {
  await using dir = await tempDir();
  const seen: string[] = [];
  await using api = await startUpstream((req) => {
    seen.push(req.headers.get("authorization") ?? "");
    return Response.json({ ok: true });
  });
  const { home, config, keyId } = await signedSetup(dir.path, api.url);
  assert.equal(
    (await runLoom(["secrets", "set", "api-token"], { home, stdin: "tok-signed-1234" })).code,
    0,
  );
  const grant = await runLoom(
    ["secrets", "grant", "keyed-agent", "api-token", "--config", config, "--signed-by", keyId],
    { home },
  );
  assert.equal(grant.code, 0, grant.stderr);
  const call = async () => {
    const r = await runLoom(["run", config], {
      home,
      stdin: jsonLines(INITIALIZE, toolCall(2, "whoami")),
    });
    assert.equal(r.code, 0, r.stderr);
    const line = r.stdout.split("\n").find((l) => l.includes('"id":2'))!;
    return JSON.parse(line).result as { isError?: boolean; content: { text: string }[] };
  };

  // Unsigned (signature removed): nothing is sent.
  const sig = await Deno.readTextFile(`${config}.sig`);
  await Deno.remove(`${config}.sig`);
  const unsigned = await call();
  assert.equal(unsigned.isError, true);
  assert.match(unsigned.content[0].text, new RegExp(`signed by key ${keyId}`));
  assert.deepEqual(seen, []);

  // Signed by another trusted key: nothing is sent either.
  const other = join(dir.path, "other");
  assert.equal((await runLoom(["sign", "keygen"], { home: other })).code, 0);
  assert.equal((await runLoom(["sign", "config", config], { home: other })).code, 0);
  const pub = join(dir.path, "other.pub");
  await Deno.writeTextFile(pub, (await runLoom(["sign", "public"], { home: other })).stdout);
  assert.equal((await runLoom(["sign", "trust", pub], { home })).code, 0);
  assert.equal((await call()).isError, true);
  assert.deepEqual(seen, []);

  // Signed by the pinned key: released.
  await Deno.writeTextFile(`${config}.sig`, sig);
  assert.equal((await call()).isError, undefined);
  assert.deepEqual(seen, ["Bearer tok-signed-1234"]);

  // Edited and re-signed by the pinned key: still released, no new grant.
  await Deno.writeTextFile(config, (await Deno.readTextFile(config)) + "# reviewed edit\n");
  assert.equal((await runLoom(["sign", "config", config], { home })).code, 0);
  assert.equal((await call()).isError, undefined);
  assert.equal(seen.length, 2);

  const grants = (await readAuditRecords(join(home, "audit")))
    .filter((r) => r.event === "credential_access" && r.action === "grant");
  assert.equal(grants[0].signed_by, keyId);
});
