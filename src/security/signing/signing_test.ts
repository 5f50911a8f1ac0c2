import assert from "node:assert/strict";
import { join } from "node:path";
import { PolicyError } from "../../errors.ts";
import { resolveHome } from "../../store/mod.ts";
import {
  checkConfigSignature,
  generateSigningKey,
  loadSigningKey,
  signaturePath,
  signConfig,
  signingKeyPaths,
  trustPublicKey,
} from "./mod.ts";
import { exportPublicKey } from "./keys.ts";

async function tempHome(): Promise<{ root: string } & AsyncDisposable> {
  const root = await Deno.makeTempDir({ prefix: "loom-sign-" });
  return { root, [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }) };
}

const DIGEST_A = "a".repeat(64);
const DIGEST_B = "b".repeat(64);

/** The agent `x` at `path`, with bytes whose SHA-256 is `digest`. */
function agent(path: string, digest: string) {
  return { name: "x", path, digest };
}

Deno.test("checkConfigSignature() refuses a signature over other bytes (digest_mismatch)", async () => {
  await using dir = await tempHome();
  const home = resolveHome(new Map([["LOOM_HOME", join(dir.root, "home")]]));
  await generateSigningKey(home, "ed25519");
  const config = join(dir.root, "x.yaml");
  await signConfig(home, agent(config, DIGEST_A), await loadSigningKey(home, "ed25519"));
  const check = await checkConfigSignature(home, agent(config, DIGEST_B));
  assert.equal(check.verdict, "digest_mismatch");
  assert.equal((await checkConfigSignature(home, agent(config, DIGEST_A))).verdict, "valid");
});

Deno.test("checkConfigSignature() refuses an Ed25519 signature by a key this home does not trust", async () => {
  await using dir = await tempHome();
  const signer = resolveHome(new Map([["LOOM_HOME", join(dir.root, "signer")]]));
  const runner = resolveHome(new Map([["LOOM_HOME", join(dir.root, "runner")]]));
  await generateSigningKey(signer, "ed25519");
  await generateSigningKey(runner, "ed25519");
  const config = join(dir.root, "x.yaml");
  await signConfig(signer, agent(config, DIGEST_A), await loadSigningKey(signer, "ed25519"));
  const check = await checkConfigSignature(runner, agent(config, DIGEST_A));
  assert.equal(check.verdict, "untrusted_key");
  // Once the runner trusts the signer's public key, the same signature verifies.
  await trustPublicKey(runner, JSON.parse(await exportPublicKey(signer)));
  assert.equal((await checkConfigSignature(runner, agent(config, DIGEST_A))).verdict, "valid");
});

Deno.test("checkConfigSignature() refuses a forged signature and an altered signed_at (bad_signature)", async () => {
  await using dir = await tempHome();
  const home = resolveHome(new Map([["LOOM_HOME", join(dir.root, "home")]]));
  await generateSigningKey(home, "ed25519");
  const config = join(dir.root, "x.yaml");
  const sig = await signConfig(
    home,
    agent(config, DIGEST_A),
    await loadSigningKey(home, "ed25519"),
  );
  const flipped = sig.signature[0] === "A" ? "B" : "A";
  for (
    const forged of [
      { signature: flipped + sig.signature.slice(1) },
      { signed_at: "2020-01-01T00:00:00.000Z" },
    ]
  ) {
    await Deno.writeTextFile(signaturePath(config), JSON.stringify({ ...sig, ...forged }));
    assert.equal(
      (await checkConfigSignature(home, agent(config, DIGEST_A))).verdict,
      "bad_signature",
    );
  }
  await Deno.writeTextFile(signaturePath(config), "{not json");
  assert.equal((await checkConfigSignature(home, agent(config, DIGEST_A))).verdict, "malformed");
  await Deno.remove(signaturePath(config));
  assert.equal((await checkConfigSignature(home, agent(config, DIGEST_A))).verdict, "unsigned");
});

Deno.test("checkConfigSignature() refuses an HMAC signature made with another home's key", async () => {
  await using dir = await tempHome();
  const signer = resolveHome(new Map([["LOOM_HOME", join(dir.root, "signer")]]));
  const runner = resolveHome(new Map([["LOOM_HOME", join(dir.root, "runner")]]));
  await generateSigningKey(signer, "hmac-sha256");
  await generateSigningKey(runner, "hmac-sha256");
  const config = join(dir.root, "x.yaml");
  const sig = await signConfig(
    signer,
    agent(config, DIGEST_A),
    await loadSigningKey(signer, "hmac-sha256"),
  );
  assert.equal(
    (await checkConfigSignature(runner, agent(config, DIGEST_A))).verdict,
    "untrusted_key",
  );
  // Claiming the runner's key id does not help: the MAC is wrong.
  const runnerKey = await loadSigningKey(runner, "hmac-sha256");
  await Deno.writeTextFile(
    signaturePath(config),
    JSON.stringify({ ...sig, key_id: runnerKey.keyId }),
  );
  assert.equal(
    (await checkConfigSignature(runner, agent(config, DIGEST_A))).verdict,
    "bad_signature",
  );
  // The signer's own home verifies its HMAC signature.
  await signConfig(signer, agent(config, DIGEST_A), await loadSigningKey(signer, "hmac-sha256"));
  assert.equal((await checkConfigSignature(signer, agent(config, DIGEST_A))).verdict, "valid");
});

Deno.test("loadSigningKey() refuses a key file readable by group or others", async () => {
  if (Deno.build.os === "windows") return;
  await using dir = await tempHome();
  const home = resolveHome(new Map([["LOOM_HOME", join(dir.root, "home")]]));
  await generateSigningKey(home, "ed25519");
  await Deno.chmod(signingKeyPaths(home).ed25519, 0o644);
  await assert.rejects(loadSigningKey(home, "ed25519"), PolicyError);
});

Deno.test("generateSigningKey() refuses to replace an existing key without force", async () => {
  await using dir = await tempHome();
  const home = resolveHome(new Map([["LOOM_HOME", join(dir.root, "home")]]));
  const first = await generateSigningKey(home, "ed25519");
  await assert.rejects(generateSigningKey(home, "ed25519"), /exists; pass --force/);
  const second = await generateSigningKey(home, "ed25519", { force: true });
  assert.notEqual(first.keyId, second.keyId);
  assert.match(second.keyId, /^[0-9a-f]{16}$/);
});
