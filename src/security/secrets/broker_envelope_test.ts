/**
 * The broker's envelope encryption (`docs/security-requirements.md` SEC-2 to
 * SEC-5): a data key wrapped by the master key, rotation by count and on demand,
 * migration of format-1 vaults; and the salted value HMAC of its audit
 * records (SEC-12).
 */

import assert from "node:assert/strict";
import { LoomError, NotFoundError, PolicyError } from "../../errors.ts";
import { auditSaltPath } from "./audit_hmac.ts";
import { CredentialBroker } from "./broker.ts";
import {
  auditRecords,
  digestOf,
  expectedHmac,
  type Fixture,
  openFixture,
  readVaultDoc,
  resolveRecords,
  treeText,
  valueForms,
  type VaultDoc,
  WEATHER_DIGEST,
  weatherRequest,
  writeVaultDoc,
} from "./_testing.ts";

const VALUE = 'tok_Zx9+/=é "q" 4f2a';
const DIGEST = WEATHER_DIGEST;
const MASTER = crypto.getRandomValues(new Uint8Array(32));

function isIntegrityFailure(error: unknown): boolean {
  return error instanceof LoomError && error.code === "INTEGRITY_FAILED" &&
    !error.message.includes(VALUE);
}

function flipBit(b64: string, index: number): string {
  const bytes = Uint8Array.fromBase64(b64);
  bytes[index] ^= 0x01;
  return bytes.toBase64();
}

/** Every form of every value, absent from every file under the audit directory. */
async function assertNoValuesInAuditDir(f: Fixture, values: string[]): Promise<void> {
  await f.audit.flush();
  const text = await treeText(f.home.audit);
  assert.ok(text.length > 0);
  for (const value of values) {
    for (const form of valueForms(value)) {
      assert.equal(text.split(form).length - 1, 0, `audit holds a form of a value: ${form}`);
    }
  }
}

/** Resolve each name and check it decrypts to its own value. */
async function assertValues(broker: CredentialBroker, values: Record<string, string>) {
  for (const [name, value] of Object.entries(values)) {
    const r = await broker.resolve(weatherRequest({ names: [name], call: `check-${name}` }));
    assert.ok(r.ok, `${name} resolves`);
    assert.equal(r.values.get(name), value, name);
  }
}

async function grantAll(f: Fixture, names: string[]): Promise<void> {
  for (const name of names) await f.broker.grant("weather", name, DIGEST);
}

/** Write a format-1 vault as the previous LOOM version did: values under the master key. */
async function writeV1Vault(f: Fixture, values: Record<string, string>): Promise<string> {
  const key = await crypto.subtle.importKey("raw", MASTER, "AES-GCM", false, ["encrypt"]);
  const vaultId = crypto.randomUUID();
  const entries: VaultDoc["entries"] = {};
  for (const [name, value] of Object.entries(values)) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = await crypto.subtle.encrypt(
      {
        name: "AES-GCM",
        iv,
        additionalData: new TextEncoder().encode(`loom:v1:${vaultId}:${name}:1`),
      },
      key,
      new TextEncoder().encode(value),
    );
    entries[name] = {
      iv: iv.toBase64(),
      ct: new Uint8Array(ct).toBase64(),
      version: 1,
      updated_at: new Date().toISOString(),
    };
  }
  await writeVaultDoc(f.home, { v: 1, vault_id: vaultId, entries });
  return vaultId;
}

function masterEnv(): Map<string, string> {
  return new Map([["LOOM_MASTER_KEY", MASTER.toBase64()]]);
}

// --- Negative tests first: value HMAC (SEC-12, SEC-7) ------------------------

Deno.test("CredentialBroker.resolve() records no value_hmac when it refuses by policy or fails integrity", async () => {
  await using f = await openFixture();
  await f.broker.set("api-key", VALUE);
  await f.broker.set("other-key", "other-value-1");
  await f.broker.grant("weather", "other-key", digestOf("another config"));
  const refusals = [
    await f.broker.resolve(weatherRequest()), // no_grant
    await f.broker.resolve(weatherRequest({ names: ["other-key"] })), // config_mismatch
    await f.broker.resolve(weatherRequest({ names: ["missing"] })), // not_found: never set
  ];
  assert.ok(refusals.every((r) => !r.ok));
  await f.broker.grant("weather", "api-key", DIGEST);
  const doc = await readVaultDoc(f.home);
  doc.entries["api-key"].ct = flipBit(doc.entries["api-key"].ct, 0);
  await writeVaultDoc(f.home, doc);
  await assert.rejects((await f.another()).resolve(weatherRequest()), isIntegrityFailure);
  const records = resolveRecords(await auditRecords(f));
  assert.deepEqual(records.map((r) => r.reason), [
    "no_grant",
    "config_mismatch",
    "not_found",
    "integrity_failed",
  ]);
  for (const r of records) assert.equal("value_hmac" in r, false);
  await assertNoValuesInAuditDir(f, [VALUE, "other-value-1"]);
});

Deno.test("CredentialBroker refuses an audit salt readable by others: set stores nothing, resolve releases nothing", async () => {
  await using f = await openFixture();
  await f.broker.set("api-key", VALUE);
  await f.broker.grant("weather", "api-key", DIGEST);
  await Deno.chmod(auditSaltPath(f.home), 0o644);
  const before = await Deno.readTextFile(f.home.secrets);
  const fresh = await f.another();
  const named = (error: unknown) => {
    assert.ok(error instanceof PolicyError);
    assert.ok(error.message.includes(`audit salt file "${auditSaltPath(f.home)}"`));
    return true;
  };
  await assert.rejects(fresh.set("second", "second-value"), named);
  assert.equal(await Deno.readTextFile(f.home.secrets), before);
  await assert.rejects(fresh.resolve(weatherRequest()), named);
  const last = resolveRecords(await auditRecords(f)).at(-1)!;
  assert.equal(last.granted, false);
  assert.equal(last.reason, "policy_denied");
  assert.equal("value_hmac" in last, false);
});

// --- Positive behaviour: value HMAC -----------------------------------------

Deno.test("CredentialBroker records value_hmac = HMAC-SHA256(audit salt, value) on set and on a granted resolution, never the value", async () => {
  await using f = await openFixture({ cacheTtlMs: 60_000 });
  await f.broker.set("api-key", VALUE);
  await f.broker.set("b-key", "b-value-123");
  await grantAll(f, ["api-key", "b-key"]);
  const salt = await Deno.stat(auditSaltPath(f.home));
  assert.equal(salt.mode! & 0o777, 0o600);
  assert.equal(salt.size, 32);
  for (let i = 0; i < 2; i++) { // the second resolution comes from the cache
    const r = await f.broker.resolve(
      weatherRequest({ names: ["api-key", "b-key"], call: `c-${i}` }),
    );
    assert.ok(r.ok);
  }
  const hmacA = await expectedHmac(f.home, VALUE);
  const hmacB = await expectedHmac(f.home, "b-value-123");
  const records = (await auditRecords(f)).filter((r) => r.event === "credential_access");
  const withHmac = records.filter((r) => r.action === "set" || r.action === "resolve")
    .map((r) => [r.action, r.key, r.value_hmac]);
  assert.deepEqual(withHmac, [
    ["set", "api-key", hmacA],
    ["set", "b-key", hmacB],
    ["resolve", "api-key", hmacA],
    ["resolve", "b-key", hmacB],
    ["resolve", "api-key", hmacA],
    ["resolve", "b-key", hmacB],
  ]);
  for (const r of records.filter((r) => r.action === "grant")) {
    assert.equal("value_hmac" in r, false);
  }
  await assertNoValuesInAuditDir(f, [VALUE, "b-value-123"]);
});

Deno.test("CredentialBroker keeps value_hmac stable across data key rotation and brokers", async () => {
  await using f = await openFixture();
  await f.broker.set("api-key", VALUE);
  await f.broker.grant("weather", "api-key", DIGEST);
  await f.broker.rotate();
  const other = await f.another();
  assert.ok((await other.resolve(weatherRequest())).ok);
  const last = resolveRecords(await auditRecords(f)).at(-1)!;
  assert.equal(last.value_hmac, await expectedHmac(f.home, VALUE));
});

// --- Negative tests first: envelope encryption (SEC-5) -----------------------

Deno.test("CredentialBroker.resolve() fails closed when the wrapped data key is tampered with", async () => {
  const edits: [string, (doc: VaultDoc) => void][] = [
    ["wrapped key bit", (d) => (d.dek!.wrapped = flipBit(d.dek!.wrapped, 5))],
    ["wrapped tag bit", (d) => (d.dek!.wrapped = flipBit(d.dek!.wrapped, 47))],
    ["wrap iv", (d) => (d.dek!.iv = flipBit(d.dek!.iv, 0))],
    ["kid", (d) => {
      const kid = "0".repeat(32);
      d.dek!.kid = kid;
      for (const e of Object.values(d.entries)) e.kid = kid;
    }],
    ["vault id", (d) => (d.vault_id = crypto.randomUUID())],
    ["another vault's data key", () => {}], // filled in below
  ];
  for (const [label, edit] of edits) {
    await using f = await openFixture({ env: masterEnv() });
    await f.broker.set("api-key", VALUE);
    await f.broker.grant("weather", "api-key", DIGEST);
    const doc = await readVaultDoc(f.home);
    if (label === "another vault's data key") {
      // A data key wrapped by the same master key, for another vault.
      await using g = await openFixture({ env: masterEnv() });
      await g.broker.set("api-key", VALUE);
      const foreign = await readVaultDoc(g.home);
      doc.dek = foreign.dek;
      for (const e of Object.values(doc.entries)) e.kid = foreign.dek!.kid;
    } else {
      edit(doc);
    }
    await writeVaultDoc(f.home, doc);
    const fresh = await f.another();
    await assert.rejects(fresh.resolve(weatherRequest()), isIntegrityFailure, label);
    const last = resolveRecords(await auditRecords(f)).at(-1)!;
    assert.equal(last.granted, false, label);
    assert.equal(last.reason, "integrity_failed", label);
    // A set must not paper over it with a new key either.
    await assert.rejects(fresh.set("second", "second-value"), isIntegrityFailure, label);
    await assert.rejects(fresh.rotate(), isIntegrityFailure, label);
  }
});

Deno.test("CredentialBroker: a ciphertext from before a rotation pasted into the new vault fails", async () => {
  await using f = await openFixture();
  await f.broker.set("api-key", VALUE);
  await f.broker.grant("weather", "api-key", DIGEST);
  const before = await readVaultDoc(f.home);
  const rotation = await f.broker.rotate();
  assert.equal(rotation.previousKid, before.dek!.kid);
  const after = await readVaultDoc(f.home);
  assert.notEqual(after.dek!.kid, before.dek!.kid);

  // Pasted whole (with its old kid): the vault no longer parses.
  await writeVaultDoc(f.home, { ...after, entries: { "api-key": before.entries["api-key"] } });
  await assert.rejects((await f.another()).resolve(weatherRequest()), isIntegrityFailure);
  // Pasted with the new kid: it does not decrypt under the new data key.
  await writeVaultDoc(f.home, {
    ...after,
    entries: { "api-key": { ...before.entries["api-key"], kid: after.dek!.kid } },
  });
  await assert.rejects((await f.another()).resolve(weatherRequest()), isIntegrityFailure);
  // The old data key and its values together (a rollback of the whole file) are
  // not detected: there is no whole-file MAC (documented limit).
  await writeVaultDoc(f.home, after);
  assert.ok((await (await f.another()).resolve(weatherRequest())).ok);
});

Deno.test("CredentialBroker.set() at the rotation threshold writes nothing when a value cannot be re-encrypted", async () => {
  await using f = await openFixture({ rotateDataKeyAfter: 2 });
  await f.broker.set("a-key", "a-value-1");
  await f.broker.set("b-key", "b-value-1");
  const doc = await readVaultDoc(f.home);
  doc.entries["a-key"].ct = flipBit(doc.entries["a-key"].ct, 2);
  await writeVaultDoc(f.home, doc);
  const before = await Deno.readTextFile(f.home.secrets);
  await assert.rejects(f.broker.set("b-key", "b-value-2"), isIntegrityFailure);
  assert.equal(await Deno.readTextFile(f.home.secrets), before);
});

Deno.test("CredentialBroker.open() refuses a rotation threshold outside 1..2^32", async () => {
  await using f = await openFixture();
  for (const bad of [0, -1, 1.5, 2 ** 32 + 1, Number.NaN]) {
    await assert.rejects(f.another({ rotateDataKeyAfter: bad }), RangeError, String(bad));
  }
});

Deno.test("CredentialBroker.rotate() with no vault is not found", async () => {
  await using f = await openFixture();
  await assert.rejects(f.broker.rotate(), NotFoundError);
});

// --- Positive behaviour: envelope encryption ---------------------------------

Deno.test("CredentialBroker.set() rotates the data key before its count passes a lowered threshold (5); every value still decrypts under its name", async () => {
  await using f = await openFixture({ rotateDataKeyAfter: 5 });
  const names = ["a-key", "b-key", "c-key"];
  await grantAll(f, names);
  const current: Record<string, string> = {};
  const kids: string[] = [];
  for (let i = 0; i < 20; i++) {
    const name = names[i % 3];
    current[name] = `${name}-value-${i}`;
    await f.broker.set(name, current[name]);
    const doc = await readVaultDoc(f.home);
    assert.ok(doc.dek!.encryptions <= 5, `count ${doc.dek!.encryptions} after set ${i}`);
    for (const e of Object.values(doc.entries)) assert.equal(e.kid, doc.dek!.kid);
    if (kids.at(-1) !== doc.dek!.kid) kids.push(doc.dek!.kid);
    await assertValues(f.broker, current);
  }
  // 3 values, each set re-encrypts the other 2 on rotation: first key 5 sets,
  // then each key 2 re-encryptions + 3 sets.
  assert.ok(kids.length >= 5, `rotations: ${kids.length - 1}`);
  assert.equal(new Set(kids).size, kids.length);
  const fresh = await f.another({ cacheTtlMs: 0 });
  await assertValues(fresh, current);
  const rotations = (await auditRecords(f)).filter((r) => r.action === "rotate");
  assert.equal(rotations.length, kids.length - 1);
  for (const r of rotations) {
    assert.equal(r.reason, "threshold");
    assert.equal(r.values, 2);
    assert.match(String(r.kid), /^[0-9a-f]{32}$/);
  }
  assert.deepEqual(rotations.map((r) => r.kid), kids.slice(1));
  assert.deepEqual(rotations.map((r) => r.previous_kid), kids.slice(0, -1));
});

Deno.test("CredentialBroker.rotate() re-encrypts every value under a new data key with fresh IVs, keeping versions", async () => {
  await using f = await openFixture();
  const values = { "a-key": "a-value-1", "b-key": "b-value-1", "api-key": VALUE };
  for (const [name, value] of Object.entries(values)) await f.broker.set(name, value);
  await f.broker.set("a-key", "a-value-2");
  values["a-key"] = "a-value-2";
  await grantAll(f, Object.keys(values));
  await assertValues(f.broker, values); // caches values under the old entries
  const before = await readVaultDoc(f.home);
  const rotation = await f.broker.rotate();
  const after = await readVaultDoc(f.home);
  assert.deepEqual(rotation, {
    kid: after.dek!.kid,
    previousKid: before.dek!.kid,
    values: 3,
    reason: "manual",
  });
  assert.equal(after.vault_id, before.vault_id);
  assert.equal(after.dek!.encryptions, 3);
  assert.notEqual(after.dek!.wrapped, before.dek!.wrapped);
  for (const [name, e] of Object.entries(after.entries)) {
    const old = before.entries[name];
    assert.equal(e.kid, after.dek!.kid);
    assert.equal(e.version, old.version);
    assert.equal(e.updated_at, old.updated_at);
    assert.notEqual(e.iv, old.iv);
    assert.notEqual(e.ct, old.ct);
  }
  assert.equal(after.entries["a-key"].version, 2);
  await assertValues(f.broker, values);
  await assertValues(await f.another({ cacheTtlMs: 0 }), values);
  const [record] = (await auditRecords(f)).filter((r) => r.action === "rotate");
  assert.deepEqual(
    [record.agent, record.reason, record.kid, record.previous_kid, record.values],
    ["loom", "manual", after.dek!.kid, before.dek!.kid, 3],
  );
  await assertNoValuesInAuditDir(f, Object.values(values));
});

Deno.test("CredentialBroker reads a format-1 vault as it is and migrates it on the first set", async () => {
  await using f = await openFixture({ env: masterEnv() });
  const values: Record<string, string> = { "api-key": VALUE, "b-key": "b-value-1" };
  const vaultId = await writeV1Vault(f, values);
  const v1 = await Deno.readTextFile(f.home.secrets);
  await grantAll(f, [...Object.keys(values), "c-key"]);

  // Reading does not write.
  assert.deepEqual(await f.broker.names(), ["api-key", "b-key"]);
  await assertValues(f.broker, values);
  assert.equal(await Deno.readTextFile(f.home.secrets), v1);
  // remove needs no key and keeps the format.
  assert.equal(await (await f.another({ env: new Map() })).remove("b-key"), true);
  assert.equal((await readVaultDoc(f.home)).v, 1);
  await Deno.writeTextFile(f.home.secrets, v1, { mode: 0o600 });

  await f.broker.set("c-key", "c-value-1");
  values["c-key"] = "c-value-1";
  const doc = await readVaultDoc(f.home);
  assert.equal(doc.v, 2);
  assert.equal(doc.vault_id, vaultId);
  assert.equal(doc.dek!.encryptions, 3);
  for (const e of Object.values(doc.entries)) assert.equal(e.kid, doc.dek!.kid);
  await assertValues(f.broker, values);
  await assertValues(await f.another({ cacheTtlMs: 0 }), values);
  const migrations = (await auditRecords(f)).filter((r) => r.reason === "migration");
  assert.deepEqual(migrations.map((r) => [r.previous_kid, r.values]), [[null, 2]]);

  // A format-1 ciphertext pasted into the migrated vault fails.
  const old = JSON.parse(v1) as VaultDoc;
  doc.entries["api-key"] = { ...old.entries["api-key"], kid: doc.dek!.kid };
  await writeVaultDoc(f.home, doc);
  await assert.rejects((await f.another()).resolve(weatherRequest()), isIntegrityFailure);
});

Deno.test("CredentialBroker.rotate() migrates a format-1 vault", async () => {
  await using f = await openFixture({ env: masterEnv() });
  const values = { "api-key": VALUE };
  await writeV1Vault(f, values);
  await grantAll(f, ["api-key"]);
  const rotation = await f.broker.rotate();
  assert.equal(rotation.previousKid, null);
  assert.equal(rotation.values, 1);
  assert.equal((await readVaultDoc(f.home)).v, 2);
  await assertValues(await f.another(), values);
});
