/**
 * Rollback and freeze protection of config signatures (format
 * `loom-config-signature/2`): every signed field is covered, an older
 * version after a newer one was accepted is refused, an expired signature is
 * refused, a version number is used for one digest only, the accepted state
 * survives reopening the home, and a v1 file is refused with a re-sign hint.
 * Negative cases first; real homes, real SQLite, real audit logs; the clock
 * is injected (no sleeps).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { IntegrityError, UsageError } from "../../errors.ts";
import { AuditLog, readAuditRecords } from "../audit/mod.ts";
import { type LoomHome, openStore, resolveHome } from "../../store/mod.ts";
import {
  checkConfigSignature,
  type ConfigSignature,
  createSignature,
  enforceConfigSignature,
  exportPublicKey,
  generateSigningKey,
  loadSigningKey,
  parseExpiresOption,
  parseVersionOption,
  signaturePath,
  signConfig,
  type SignedConfig,
  type SigningAlgorithm,
  trustPublicKey,
} from "./mod.ts";

const DIGEST_A = "a".repeat(64);
const DIGEST_B = "b".repeat(64);
const DAY = 86_400_000;

async function setup(algorithm: SigningAlgorithm = "ed25519") {
  const root = await Deno.makeTempDir({ prefix: "loom-rollback-" });
  const home = resolveHome(new Map([["LOOM_HOME", join(root, "home")]]));
  await generateSigningKey(home, algorithm);
  const key = await loadSigningKey(home, algorithm);
  const path = join(root, "x.yaml");
  const config = (digest: string): SignedConfig => ({ name: "x", path, digest });
  return {
    root,
    home,
    key,
    path,
    config,
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

/** `loom run`'s check, with its own audit log in the home. */
async function enforce(home: LoomHome, config: SignedConfig, now?: Date, warnings?: string[]) {
  await using audit = await AuditLog.open(home.audit);
  return await enforceConfigSignature(home, audit, config, {
    requireSigned: false,
    now,
    onWarning: (m) => warnings?.push(m),
  });
}

async function lastVerify(home: LoomHome) {
  const records = (await readAuditRecords(home.audit))
    .filter((r) => r.event === "config_signature" && r.action === "verify");
  return records[records.length - 1];
}

/** Every signed field changed, one at a time, and an added member: none verifies. */
function refusesEveryChangedField(algorithm: SigningAlgorithm) {
  return async () => {
    await using t = await setup(algorithm);
    const sig = await signConfig(t.home, t.config(DIGEST_A), t.key, { version: 4 });
    const changes: Partial<Record<keyof ConfigSignature, unknown>>[] = [
      { version: 5 },
      { version: 3 },
      { expires: new Date(Date.parse(sig.expires) + DAY).toISOString() },
      { agent: "y" },
      { digest: `sha256:${DIGEST_B}` },
      { key_id: "0123456789abcdef" },
      { signed_at: new Date(Date.parse(sig.signed_at) - 1000).toISOString() },
      { algorithm: algorithm === "ed25519" ? "hmac-sha256" : "ed25519" },
    ];
    for (const change of changes) {
      await Deno.writeTextFile(signaturePath(t.path), JSON.stringify({ ...sig, ...change }));
      const check = await checkConfigSignature(t.home, t.config(DIGEST_A));
      assert.notEqual(check.verdict, "valid", JSON.stringify(change));
      assert.ok(
        ["bad_signature", "untrusted_key", "malformed"].includes(check.verdict),
        `${JSON.stringify(change)}: ${check.verdict}`,
      );
    }
    // An added member is not signed: refused too.
    await Deno.writeTextFile(signaturePath(t.path), JSON.stringify({ ...sig, note: "hi" }));
    assert.equal((await checkConfigSignature(t.home, t.config(DIGEST_A))).verdict, "malformed");
    // Changed config bytes.
    await Deno.writeTextFile(signaturePath(t.path), JSON.stringify(sig));
    assert.equal(
      (await checkConfigSignature(t.home, t.config(DIGEST_B))).verdict,
      "digest_mismatch",
    );
    assert.equal((await checkConfigSignature(t.home, t.config(DIGEST_A))).verdict, "valid");
  };
}

/** Version 1 put back after version 2 was accepted: refused as a rollback. */
function refusesRollback(algorithm: SigningAlgorithm) {
  return async () => {
    await using t = await setup(algorithm);
    const v1 = await signConfig(t.home, t.config(DIGEST_A), t.key);
    const v2 = await signConfig(t.home, t.config(DIGEST_B), t.key);
    assert.deepEqual([v1.version, v2.version], [1, 2]);
    assert.equal((await enforce(t.home, t.config(DIGEST_B))).verdict, "valid");
    // Put the older, validly signed config back.
    await Deno.writeTextFile(signaturePath(t.path), JSON.stringify(v1));
    assert.equal((await checkConfigSignature(t.home, t.config(DIGEST_A))).verdict, "rollback");
    await assert.rejects(
      enforce(t.home, t.config(DIGEST_A)),
      (e: unknown) =>
        e instanceof IntegrityError && /version 1, lower than version 2/.test(e.message) &&
        /rollback/.test(e.message),
    );
    const record = await lastVerify(t.home);
    assert.equal(record.verdict, "rollback");
    assert.equal(record.refused, true);
    assert.equal(record.version, 1);
    assert.equal(record.expires, v1.expires);
    // The newer one still loads, again and again.
    await Deno.writeTextFile(signaturePath(t.path), JSON.stringify(v2));
    assert.equal((await enforce(t.home, t.config(DIGEST_B))).verdict, "valid");
  };
}

Deno.test(
  "checkConfigSignature() refuses an ed25519 signature with any field changed",
  refusesEveryChangedField("ed25519"),
);
Deno.test(
  "checkConfigSignature() refuses an hmac-sha256 signature with any field changed",
  refusesEveryChangedField("hmac-sha256"),
);
Deno.test(
  "enforceConfigSignature() refuses an older ed25519 version after a newer one was accepted (rollback)",
  refusesRollback("ed25519"),
);
Deno.test(
  "enforceConfigSignature() refuses an older hmac-sha256 version after a newer one was accepted (rollback)",
  refusesRollback("hmac-sha256"),
);

Deno.test("enforceConfigSignature() refuses an expired signature (freeze), judged by an injected clock", async () => {
  await using t = await setup();
  const signedAt = new Date("2020-01-01T00:00:00.000Z");
  await signConfig(t.home, t.config(DIGEST_A), t.key, {
    now: signedAt,
    expires: new Date(signedAt.getTime() + 30 * DAY),
  });
  const check = await checkConfigSignature(t.home, t.config(DIGEST_A));
  assert.equal(check.verdict, "expired");
  await assert.rejects(
    enforce(t.home, t.config(DIGEST_A)),
    (e: unknown) =>
      e instanceof IntegrityError &&
      e.message.includes(`signature of agent "x" expired at 2020-01-31T00:00:00.000Z`) &&
      e.message.includes(`loom sign config ${t.path}`),
  );
  assert.equal((await lastVerify(t.home)).verdict, "expired");
  // Before the end it loads, with a warning inside the last 14 days.
  const warnings: string[] = [];
  const early = new Date(signedAt.getTime() + DAY);
  assert.equal((await enforce(t.home, t.config(DIGEST_A), early, warnings)).verdict, "valid");
  assert.deepEqual(warnings, []);
  const late = new Date(signedAt.getTime() + 20 * DAY);
  assert.equal((await enforce(t.home, t.config(DIGEST_A), late, warnings)).verdict, "valid");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /expires at 2020-01-31T00:00:00.000Z; re-sign it/);
});

Deno.test("a version number is used once: the same version over other bytes is refused", async () => {
  await using t = await setup();
  await signConfig(t.home, t.config(DIGEST_A), t.key, { version: 3 });
  assert.equal((await enforce(t.home, t.config(DIGEST_A))).verdict, "valid");
  // This home refuses to sign version 3 again over other bytes.
  await assert.rejects(
    signConfig(t.home, t.config(DIGEST_B), t.key, { version: 3 }),
    /version 3 of agent "x" was already signed or accepted for other bytes/,
  );
  // Another host holding the key (it knows nothing of version 3) signs other bytes as 3.
  const reused = await createSignature(
    { agent: "x", digest: DIGEST_B, version: 3, expires: new Date(Date.now() + DAY) },
    t.key,
  );
  await Deno.writeTextFile(signaturePath(t.path), JSON.stringify(reused));
  assert.equal(
    (await checkConfigSignature(t.home, t.config(DIGEST_B))).verdict,
    "version_reused",
  );
  await assert.rejects(enforce(t.home, t.config(DIGEST_B)), /a version number is used once/);
  assert.equal((await lastVerify(t.home)).verdict, "version_reused");
  // Re-signing the same bytes under the same version (a new expiry) is fine.
  await signConfig(t.home, t.config(DIGEST_A), t.key, { version: 3 });
  assert.equal((await enforce(t.home, t.config(DIGEST_A))).verdict, "valid");
});

Deno.test("accepted versions survive reopening the home; a fresh home has no memory", async () => {
  await using t = await setup();
  const v1 = await signConfig(t.home, t.config(DIGEST_A), t.key);
  await signConfig(t.home, t.config(DIGEST_B), t.key);
  assert.equal((await enforce(t.home, t.config(DIGEST_B))).verdict, "valid");
  {
    // A new process: the home resolved again, the database reopened.
    const reopened = resolveHome(new Map([["LOOM_HOME", t.home.root]]));
    await using store = await openStore(reopened);
    assert.equal(store.configVersions.highestAccepted("x")?.version, 2);
    assert.equal(store.configVersions.highestAccepted("x")?.configDigest, DIGEST_B);
    assert.equal(store.configVersions.highestAccepted("other"), undefined);
    await Deno.writeTextFile(signaturePath(t.path), JSON.stringify(v1));
    assert.equal(
      (await checkConfigSignature(reopened, t.config(DIGEST_A))).verdict,
      "rollback",
    );
  }
  // The documented limit: a home with no state accepts the old version.
  const freshHome = resolveHome(new Map([["LOOM_HOME", join(t.root, "fresh")]]));
  await generateSigningKey(freshHome, "ed25519");
  await trustPublicKey(freshHome, JSON.parse(await exportPublicKey(t.home)));
  assert.equal((await checkConfigSignature(freshHome, t.config(DIGEST_A))).verdict, "valid");
});

Deno.test("checkConfigSignature() refuses a loom-config-signature/1 file with a re-sign hint", async () => {
  await using t = await setup();
  await Deno.writeTextFile(
    signaturePath(t.path),
    JSON.stringify({
      format: "loom-config-signature/1",
      algorithm: "ed25519",
      key_id: t.key.keyId,
      digest: `sha256:${DIGEST_A}`,
      signed_at: "2026-01-01T00:00:00.000Z",
      signature: "AAAA",
    }),
  );
  const check = await checkConfigSignature(t.home, t.config(DIGEST_A));
  assert.equal(check.verdict, "malformed");
  assert.ok("detail" in check);
  assert.match(check.detail, /earlier LOOM/);
  assert.ok(check.detail.includes(`re-sign it with "loom sign config ${t.path}"`));
});

Deno.test("signConfig() numbers versions per agent from what the home signed or accepted", async () => {
  await using t = await setup();
  const versions = [];
  for (const digest of [DIGEST_A, DIGEST_B, DIGEST_A]) {
    versions.push((await signConfig(t.home, t.config(digest), t.key)).version);
  }
  assert.deepEqual(versions, [1, 2, 3]);
  const other = { name: "other", path: join(t.root, "other.yaml"), digest: DIGEST_A };
  assert.equal((await signConfig(t.home, other, t.key)).version, 1);
  // An explicit version below one accepted is refused at signing time.
  await enforce(t.home, t.config(DIGEST_A));
  await assert.rejects(
    signConfig(t.home, t.config(DIGEST_B), t.key, { version: 2 }),
    /rollback/,
  );
});

Deno.test("parseExpiresOption() refuses never and past times; parseVersionOption() positive integers", () => {
  const now = new Date("2026-12-05T00:00:00.000Z");
  for (const never of ["never", "NEVER", "none", "0"]) {
    assert.throws(
      () => parseExpiresOption(never, now),
      (e: unknown) => e instanceof UsageError && /freeze protection/.test(e.message),
    );
  }
  for (const bad of ["2020-01-01", "-1d", "1y", "tomorrow", "2027-13-45", "0d"]) {
    assert.throws(() => parseExpiresOption(bad, now), UsageError, bad);
  }
  assert.equal(parseExpiresOption(undefined, now).toISOString(), "2027-12-05T00:00:00.000Z");
  assert.equal(parseExpiresOption("90d", now).toISOString(), "2027-03-05T00:00:00.000Z");
  assert.equal(parseExpiresOption("12h", now).toISOString(), "2026-12-05T12:00:00.000Z");
  assert.equal(parseExpiresOption("2027-06-30", now).toISOString(), "2027-06-30T00:00:00.000Z");
  assert.equal(
    parseExpiresOption("2027-06-30T12:00:00Z", now).toISOString(),
    "2027-06-30T12:00:00.000Z",
  );
  assert.equal(parseVersionOption("7"), 7);
  for (const bad of ["0", "-1", "1.5", "01", "x", "99999999999999999"]) {
    assert.throws(() => parseVersionOption(bad), UsageError, bad);
  }
});
