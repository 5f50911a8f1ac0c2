import assert from "node:assert/strict";
import { LoomError, NotFoundError, PolicyError } from "../../errors.ts";
import { masterKeyPath } from "./master_key.ts";
import { checkSecretAccess, describeSecretProblem } from "./problems.ts";
import { resolveHome } from "../../store/mod.ts";
import {
  auditRecords,
  digestOf,
  expectedHmac,
  type Fixture,
  openFixture,
  resolveRecords,
  valueForms,
  type VaultDoc,
  WEATHER_DIGEST,
  weatherRequest,
} from "./_testing.ts";

const VALUE = 'tok_Zx9+/=é "q" 4f2a'; // exercises every encoding
const DIGEST = WEATHER_DIGEST;
const OTHER_DIGEST = digestOf("agent: weather v2 (tampered)");

/** The value must not be in the audit log in any encoding. */
async function assertNoValueInAudit(f: Fixture, value: string): Promise<void> {
  await f.audit.flush();
  const text = await Deno.readTextFile(f.audit.path);
  const forms = valueForms(value);
  for (const form of forms) assert.equal(text.split(form).length - 1, 0, `found ${form}`);
}

/** Store VALUE as "api-key" and grant it to the "weather" config. */
async function storeAndGrant(f: Fixture): Promise<void> {
  await f.broker.set("api-key", VALUE);
  await f.broker.grant("weather", "api-key", DIGEST);
}

/** The last `resolve` record is a denial for `reason`, and the value is nowhere in the audit log. */
async function assertLastResolveDenied(f: Fixture, reason: string): Promise<void> {
  const last = resolveRecords(await auditRecords(f)).at(-1)!;
  assert.equal(last.granted, false);
  assert.equal(last.reason, reason);
  await assertNoValueInAudit(f, VALUE);
}

async function editVault(f: Fixture, edit: (doc: VaultDoc) => void): Promise<void> {
  const doc = JSON.parse(await Deno.readTextFile(f.home.secrets)) as VaultDoc;
  edit(doc);
  await Deno.writeTextFile(f.home.secrets, JSON.stringify(doc), { mode: 0o600 });
}

function flipBit(b64: string, index: number): string {
  const bytes = Uint8Array.fromBase64(b64);
  bytes[index] ^= 0x80;
  return bytes.toBase64();
}

function isIntegrityFailure(error: unknown): boolean {
  return error instanceof LoomError && error.code === "INTEGRITY_FAILED" &&
    !error.message.includes(VALUE);
}

// --- Negative tests first: storing ------------------------------------------

Deno.test("CredentialBroker.set() refuses an empty value, NUL/CR/LF and an oversized value without echoing it", async () => {
  await using f = await openFixture();
  const bad = ["", "line1\nline2", "a\rb", "nul\0byte", "x".repeat(64 * 1024 + 1)];
  for (const value of bad) {
    await assert.rejects(f.broker.set("api-key", value), (error: unknown) => {
      assert.ok(error instanceof LoomError && error.code === "INPUT_INVALID");
      if (value.length > 0) assert.ok(!error.message.includes(value));
      return true;
    });
  }
  await assert.rejects(Deno.lstat(f.home.secrets), Deno.errors.NotFound);
});

Deno.test("CredentialBroker.set() refuses an invalid name without quoting it", async () => {
  await using f = await openFixture();
  for (const name of ["", "-lead", "has space", "a/b", "__proto__", "x".repeat(129)]) {
    await assert.rejects(f.broker.set(name, VALUE), (error: unknown) => {
      assert.ok(error instanceof LoomError && error.code === "INPUT_INVALID");
      if (name) assert.ok(!error.message.includes(name));
      return true;
    });
  }
});

Deno.test("CredentialBroker refuses a secrets file readable by group or others, naming it", async () => {
  await using f = await openFixture();
  await storeAndGrant(f);
  await Deno.chmod(f.home.secrets, 0o644);
  const named = (error: unknown) => {
    assert.ok(error instanceof PolicyError);
    assert.ok(error.message.includes(`secrets file "${f.home.secrets}"`), error.message);
    return true;
  };
  await assert.rejects(f.broker.list(), named);
  await assert.rejects(f.broker.set("other", VALUE), named);
  const fresh = await f.another();
  await assert.rejects(fresh.resolve(weatherRequest()), named);
  const denied = resolveRecords(await auditRecords(f));
  assert.equal(denied.at(-1)?.granted, false);
  assert.equal(denied.at(-1)?.reason, "policy_denied");
});

Deno.test({
  name: "CredentialBroker refuses a secrets file owned by another uid",
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
  fn: async () => {
    await using f = await openFixture();
    await f.broker.set("api-key", VALUE);
    await Deno.chown(f.home.secrets, 65534, 65534);
    await assert.rejects(f.broker.list(), /owned by uid 65534/);
  },
});

Deno.test("CredentialBroker.set() will not create a new master key for a vault that holds secrets", async () => {
  await using f = await openFixture();
  await f.broker.set("api-key", VALUE);
  await Deno.remove(masterKeyPath(f.home));
  const fresh = await f.another();
  await assert.rejects(fresh.set("other", "value-2"), NotFoundError);
  await assert.rejects(Deno.lstat(masterKeyPath(f.home)), Deno.errors.NotFound);
});

// --- Negative tests first: tampering ----------------------------------------

Deno.test("CredentialBroker.resolve() fails closed on a bit flip in the IV, ciphertext or tag", async () => {
  for (const part of ["iv", "ct-start", "tag"] as const) {
    await using f = await openFixture();
    await storeAndGrant(f);
    await editVault(f, (doc) => {
      const e = doc.entries["api-key"];
      if (part === "iv") e.iv = flipBit(e.iv, 3);
      else if (part === "ct-start") e.ct = flipBit(e.ct, 0);
      else e.ct = flipBit(e.ct, Uint8Array.fromBase64(e.ct).length - 1);
    });
    const fresh = await f.another();
    await assert.rejects(fresh.resolve(weatherRequest()), isIntegrityFailure, part);
    await assertLastResolveDenied(f, "integrity_failed");
  }
});

Deno.test("CredentialBroker.resolve() fails closed on tampering even with the value cached", async () => {
  await using f = await openFixture();
  await storeAndGrant(f);
  assert.equal((await f.broker.resolve(weatherRequest())).ok, true);
  await editVault(f, (doc) => {
    const e = doc.entries["api-key"];
    e.ct = flipBit(e.ct, 1);
  });
  await assert.rejects(f.broker.resolve(weatherRequest()), isIntegrityFailure);
});

Deno.test("CredentialBroker.resolve() fails closed when two entries' ciphertexts are swapped", async () => {
  await using f = await openFixture();
  await f.broker.set("api-key", VALUE);
  await f.broker.set("other-key", "another-value-123");
  await f.broker.grant("weather", "api-key", DIGEST);
  await f.broker.grant("weather", "other-key", DIGEST);
  await editVault(f, (doc) => {
    const a = doc.entries["api-key"];
    const b = doc.entries["other-key"];
    [a.iv, a.ct, b.iv, b.ct] = [b.iv, b.ct, a.iv, a.ct];
  });
  const fresh = await f.another();
  await assert.rejects(fresh.resolve(weatherRequest()), isIntegrityFailure);
  await assert.rejects(fresh.resolve(weatherRequest({ names: ["other-key"] })), isIntegrityFailure);
});

Deno.test("CredentialBroker.resolve() fails closed when an entry's version or the vault id is changed", async () => {
  for (const edit of ["version", "vault_id"] as const) {
    await using f = await openFixture();
    await storeAndGrant(f);
    await editVault(f, (doc) => {
      if (edit === "version") doc.entries["api-key"].version += 1;
      else doc.vault_id = crypto.randomUUID();
    });
    const fresh = await f.another();
    await assert.rejects(fresh.resolve(weatherRequest()), isIntegrityFailure, edit);
  }
});

Deno.test("CredentialBroker.resolve() fails closed under a different master key", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  await using f = await openFixture({ env: new Map([["LOOM_MASTER_KEY", key.toBase64()]]) });
  await storeAndGrant(f);
  const wrong = await f.another({
    env: new Map([["LOOM_MASTER_KEY", crypto.getRandomValues(new Uint8Array(32)).toHex()]]),
  });
  await assert.rejects(wrong.resolve(weatherRequest()), isIntegrityFailure);
});

Deno.test("CredentialBroker refuses a malformed vault file without quoting its content", async () => {
  await using f = await openFixture();
  await f.broker.set("api-key", VALUE);
  const cases: [string, (doc: VaultDoc) => void][] = [
    ["iv length", (d) => (d.entries["api-key"].iv = new Uint8Array(8).toBase64())],
    ["short ct", (d) => (d.entries["api-key"].ct = new Uint8Array(4).toBase64())],
    ["format", (d) => (d.v = 3)],
    ["format 1 with a dek", (d) => (d.v = 1)],
    ["no dek", (d) => delete d.dek],
    ["dek kid", (d) => (d.dek!.kid = "not-hex")],
    ["dek wrapped length", (d) => (d.dek!.wrapped = new Uint8Array(32).toBase64())],
    ["dek count", (d) => (d.dek!.encryptions = -1)],
    ["entry under another kid", (d) => (d.entries["api-key"].kid = "f".repeat(32))],
    ["bad name", (d) => (d.entries["bad name"] = d.entries["api-key"])],
  ];
  for (const [label, edit] of cases) {
    const before = await Deno.readTextFile(f.home.secrets);
    await editVault(f, edit);
    await assert.rejects(f.broker.list(), (error: unknown) => {
      assert.ok(error instanceof LoomError && error.code === "INTEGRITY_FAILED", label);
      return true;
    });
    await Deno.writeTextFile(f.home.secrets, before);
  }
  await Deno.writeTextFile(f.home.secrets, "{not json", { mode: 0o600 });
  await assert.rejects(f.broker.names(), /not valid JSON/);
});

// --- Negative tests first: policy -------------------------------------------

Deno.test("CredentialBroker.resolve() denies a secret without a grant and audits it by name only", async () => {
  await using f = await openFixture();
  await f.broker.set("api-key", VALUE);
  const result = await f.broker.resolve(weatherRequest());
  assert.deepEqual({ ...result, message: undefined }, {
    ok: false,
    name: "api-key",
    reason: "no_grant",
    message: undefined,
  });
  assert.ok(result.ok === false && !result.message.includes(VALUE));
  const [record] = resolveRecords(await auditRecords(f));
  assert.equal(record.agent, "weather");
  assert.equal(record.tool, "forecast");
  assert.equal(record.call, "c-1");
  assert.equal(record.key, "api-key");
  assert.equal(record.granted, false);
  assert.equal(record.reason, "no_grant");
  assert.equal(record.origin, "https://api.example.com");
  await assertNoValueInAudit(f, VALUE);
});

Deno.test("CredentialBroker.resolve() gives nothing to another config claiming the same agent name", async () => {
  await using f = await openFixture();
  await storeAndGrant(f);
  const result = await f.broker.resolve(weatherRequest({ configDigest: OTHER_DIGEST }));
  assert.equal(result.ok, false);
  assert.ok(!result.ok && result.reason === "config_mismatch");
  assert.ok(!("values" in result));
  await assertLastResolveDenied(f, "config_mismatch");
});

Deno.test("CredentialBroker.resolve() denies another agent holding no grant of its own", async () => {
  await using f = await openFixture();
  await storeAndGrant(f);
  const result = await f.broker.resolve(weatherRequest({ agent: "intruder" }));
  assert.ok(!result.ok && result.reason === "no_grant");
});

Deno.test("CredentialBroker.resolve() denies a granted secret that is not set", async () => {
  await using f = await openFixture();
  await f.broker.grant("weather", "api-key", DIGEST);
  const result = await f.broker.resolve(weatherRequest());
  assert.ok(!result.ok && result.reason === "not_found");
});

Deno.test("CredentialBroker.resolve() stops at the first denied name and releases nothing", async () => {
  await using f = await openFixture();
  await f.broker.set("api-key", VALUE);
  await f.broker.set("second", "second-value");
  await f.broker.grant("weather", "api-key", DIGEST);
  const result = await f.broker.resolve(weatherRequest({ names: ["api-key", "second", "third"] }));
  assert.ok(!result.ok && result.name === "second");
  const records = resolveRecords(await auditRecords(f));
  assert.deepEqual(records.map((r) => [r.key, r.granted]), [["api-key", true], ["second", false]]);
});

Deno.test("CredentialBroker.resolve() tells a secret that is not set from one not granted or granted to an older config", async () => {
  await using f = await openFixture();
  const request = (names: string[]) => weatherRequest({ names, configPath: "agents/weather.yaml" });
  const grantCommand = (key: string) =>
    `"loom secrets grant weather ${key} --config agents/weather.yaml"`;
  await f.broker.set("set-only", VALUE);
  await f.broker.set("stale", VALUE);
  await f.broker.grant("weather", "stale", OTHER_DIGEST);

  const unset = await f.broker.resolve(request(["never-set"]));
  assert.ok(!unset.ok);
  assert.equal(unset.reason, "not_found");
  assert.match(unset.message, /^Secret "never-set" is not set/);
  assert.ok(unset.message.includes(`"loom secrets set never-set"`), unset.message);
  assert.ok(unset.message.includes(grantCommand("never-set")), unset.message);

  const ungranted = await f.broker.resolve(request(["set-only"]));
  assert.ok(!ungranted.ok);
  assert.equal(ungranted.reason, "no_grant");
  assert.match(ungranted.message, /^Secret "set-only" is set but not granted to agent "weather"/);
  assert.ok(ungranted.message.includes(grantCommand("set-only")), ungranted.message);
  assert.ok(!ungranted.message.includes("loom secrets set"), ungranted.message);

  const stale = await f.broker.resolve(request(["stale"]));
  assert.ok(!stale.ok);
  assert.equal(stale.reason, "config_mismatch");
  assert.ok(stale.message.includes(`sha256 ${OTHER_DIGEST.slice(0, 12)}`), stale.message);
  assert.ok(stale.message.includes(`sha256 ${DIGEST.slice(0, 12)}`), stale.message);
  assert.ok(stale.message.includes(grantCommand("stale")), stale.message);
  assert.ok(!stale.message.includes(OTHER_DIGEST.slice(0, 13)), "a prefix, not the digest");

  for (const r of [unset, ungranted, stale]) assert.ok(!r.ok && !r.message.includes(VALUE));
  assert.deepEqual(resolveRecords(await auditRecords(f)).map((r) => [r.key, r.reason]), [
    ["never-set", "not_found"],
    ["set-only", "no_grant"],
    ["stale", "config_mismatch"],
  ]);
  await assertNoValueInAudit(f, VALUE);
});

Deno.test("CredentialBroker.resolve() quotes a config path with spaces in the command it suggests", async () => {
  await using f = await openFixture();
  await f.broker.set("api-key", VALUE);
  const result = await f.broker.resolve(weatherRequest({ configPath: "my agents/it's.yaml" }));
  assert.ok(!result.ok);
  assert.ok(
    result.message.includes(
      `"loom secrets grant weather api-key --config 'my agents/it'\\''s.yaml'"`,
    ),
    result.message,
  );
});

Deno.test("checkSecretAccess() finds each secret a config cannot use, without a master key or audit record", async () => {
  await using f = await openFixture();
  await f.broker.set("set-only", VALUE);
  await f.broker.set("stale", VALUE);
  await f.broker.set("good", VALUE);
  await f.broker.grant("weather", "stale", OTHER_DIGEST);
  await f.broker.grant("weather", "good", DIGEST);
  await f.broker.grant("weather", "never-set", DIGEST);
  await Deno.remove(masterKeyPath(f.home));
  const before = (await auditRecords(f)).length;
  const problems = await checkSecretAccess(f.home, {
    agent: "weather",
    configDigest: DIGEST,
    names: ["good", "never-set", "set-only", "stale"],
  });
  assert.deepEqual(problems.map((p) => [p.name, p.reason, p.set, p.grantedDigest]), [
    ["never-set", "not_found", false, DIGEST],
    ["set-only", "no_grant", true, null],
    ["stale", "config_mismatch", true, OTHER_DIGEST],
  ]);
  const texts = problems.map((p) => describeSecretProblem(p, { configPath: "w.yaml" }));
  assert.ok(texts[0].includes(`"loom secrets set never-set"`), texts[0]);
  assert.ok(!texts[0].includes("loom secrets grant"), "its grant is current");
  assert.ok(texts[1].includes(`"loom secrets grant weather set-only --config w.yaml"`), texts[1]);
  assert.ok(texts[2].includes(OTHER_DIGEST.slice(0, 12)) && texts[2].includes(DIGEST.slice(0, 12)));
  assert.ok(!texts.join("\n").includes(VALUE));
  assert.equal((await auditRecords(f)).length, before, "checking records nothing");
});

Deno.test("checkSecretAccess() fails with NotFoundError when the LOOM home does not exist, creating nothing", async () => {
  const root = await Deno.makeTempDir({ prefix: "loom_secrets_test_" });
  try {
    const home = resolveHome(new Map([["LOOM_HOME", `${root}/absent`]]));
    await assert.rejects(
      checkSecretAccess(home, { agent: "weather", configDigest: DIGEST, names: ["api-key"] }),
      (error: unknown) => {
        assert.ok(error instanceof NotFoundError, String(error));
        assert.ok(error.message.includes(`"${root}/absent"`), error.message);
        return true;
      },
    );
    await assert.rejects(Deno.lstat(`${root}/absent`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("CredentialBroker.revoke() takes effect on the next resolution", async () => {
  await using f = await openFixture();
  await storeAndGrant(f);
  assert.equal((await f.broker.resolve(weatherRequest())).ok, true);
  assert.equal(await f.broker.revoke("weather", "api-key"), true);
  assert.equal(await f.broker.revoke("weather", "api-key"), false);
  const result = await f.broker.resolve(weatherRequest());
  assert.ok(!result.ok && result.reason === "no_grant");
});

Deno.test("CredentialBroker.resolve() releases nothing when the audit log cannot be written", async () => {
  await using f = await openFixture();
  await storeAndGrant(f);
  await f.audit.close();
  await assert.rejects(f.broker.resolve(weatherRequest()), (error: unknown) => {
    assert.ok(error instanceof LoomError && error.code === "AUDIT_UNAVAILABLE");
    return true;
  });
});

Deno.test("CredentialBroker.grant() refuses a malformed agent name or digest", async () => {
  await using f = await openFixture();
  await assert.rejects(f.broker.grant("Weather!", "api-key", DIGEST), /Invalid agent name/);
  await assert.rejects(f.broker.grant("weather", "api-key", "abc"), /Invalid config digest/);
  await assert.rejects(f.broker.grant("weather", "api-key", DIGEST.toUpperCase()), /digest/);
  assert.deepEqual(f.broker.policy(), []);
});

// --- Positive behaviour -----------------------------------------------------

Deno.test("CredentialBroker.resolve() returns a granted value, audits granted=true and redacts it", async () => {
  await using f = await openFixture();
  await storeAndGrant(f);
  const result = await f.broker.resolve(weatherRequest());
  assert.ok(result.ok);
  assert.deepEqual([...result.values], [["api-key", VALUE]]);
  assert.equal(result.redactor.redact(`echo: ${VALUE}`), "echo: «redacted:api-key»");
  const [record] = resolveRecords(await auditRecords(f));
  assert.deepEqual(
    { ...record, seq: 0, ts: "", prev: "", hash: "" },
    {
      seq: 0,
      ts: "",
      prev: "",
      hash: "",
      event: "credential_access",
      agent: "weather",
      tool: "forecast",
      call: "c-1",
      action: "resolve",
      key: "api-key",
      granted: true,
      origin: "https://api.example.com",
      value_hmac: await expectedHmac(f.home, VALUE),
    },
  );
  await assertNoValueInAudit(f, VALUE);
});

Deno.test("CredentialBroker writes the vault format with 0600 and no plaintext", async () => {
  await using f = await openFixture();
  await f.broker.set("api-key", VALUE);
  await f.broker.set("api-key", VALUE + "2");
  const info = await Deno.stat(f.home.secrets);
  assert.equal(info.mode! & 0o777, 0o600);
  const text = await Deno.readTextFile(f.home.secrets);
  assert.ok(!text.includes(VALUE) && !text.includes(encodeURIComponent(VALUE)));
  const doc = JSON.parse(text) as VaultDoc;
  assert.equal(doc.v, 2);
  assert.match(doc.vault_id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(Object.keys(doc.dek!).sort(), [
    "alg",
    "created_at",
    "encryptions",
    "iv",
    "kid",
    "wrap",
    "wrapped",
  ]);
  assert.equal(doc.dek!.alg, "A256GCM");
  assert.match(doc.dek!.kid, /^[0-9a-f]{32}$/);
  assert.equal(Uint8Array.fromBase64(doc.dek!.wrapped).length, 48);
  assert.equal(doc.dek!.encryptions, 2);
  assert.deepEqual(Object.keys(doc.entries), ["api-key"]);
  const entry = doc.entries["api-key"];
  assert.equal(entry.kid, doc.dek!.kid);
  assert.equal(entry.version, 2);
  assert.equal(Uint8Array.fromBase64(entry.iv).length, 12);
  assert.ok(!Number.isNaN(Date.parse(entry.updated_at)));
  const files = [...Deno.readDirSync(f.home.root)].map((e) => e.name).filter((n) =>
    n.endsWith(".tmp")
  );
  assert.deepEqual(files, []);
});

Deno.test("CredentialBroker.list() and names() need no master key and show no values", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32)).toBase64();
  await using f = await openFixture({ env: new Map([["LOOM_MASTER_KEY", key]]) });
  await f.broker.set("b-key", VALUE);
  await f.broker.set("a-key", VALUE);
  const keyless = await f.another({ env: new Map() });
  assert.deepEqual(await keyless.names(), ["a-key", "b-key"]);
  const listed = await keyless.list();
  assert.deepEqual(listed.map((s) => [s.name, s.version]), [["a-key", 1], ["b-key", 1]]);
  assert.ok(!JSON.stringify(listed).includes(VALUE));
  await assert.rejects(Deno.lstat(masterKeyPath(f.home)), Deno.errors.NotFound);
});

Deno.test("CredentialBroker.remove() deletes a secret; later resolutions are not_found", async () => {
  await using f = await openFixture();
  await storeAndGrant(f);
  assert.equal((await f.broker.resolve(weatherRequest())).ok, true);
  assert.equal(await f.broker.remove("api-key"), true);
  assert.equal(await f.broker.remove("api-key"), false);
  assert.deepEqual(await f.broker.names(), []);
  const result = await f.broker.resolve(weatherRequest());
  assert.ok(!result.ok && result.reason === "not_found");
});

Deno.test("CredentialBroker.resolve() sees a value changed by another broker (another process)", async () => {
  await using f = await openFixture();
  await storeAndGrant(f);
  const server = await f.another();
  const first = await server.resolve(weatherRequest());
  assert.ok(first.ok && first.values.get("api-key") === VALUE);
  await f.broker.set("api-key", "rotated-value-42");
  const second = await server.resolve(weatherRequest());
  assert.ok(second.ok && second.values.get("api-key") === "rotated-value-42");
  assert.ok(second.redactor.redact("rotated-value-42").includes("«redacted:api-key»"));
});

Deno.test("CredentialBroker.set() from concurrent brokers keeps every secret (vault lock)", async () => {
  await using f = await openFixture();
  await f.broker.set("seed", "seed-value");
  const brokers = [f.broker, await f.another(), await f.another()];
  await Promise.all(
    Array.from({ length: 12 }, (_, i) => brokers[i % 3].set(`key-${i}`, `value-${i}`)),
  );
  assert.equal((await f.broker.names()).length, 13);
});

Deno.test("CredentialBroker.policy() lists grants with a 12-digit digest prefix and no values", async () => {
  await using f = await openFixture();
  await storeAndGrant(f);
  await f.broker.grant("alpha", "api-key", OTHER_DIGEST);
  const rows = f.broker.policy();
  assert.deepEqual(rows.map((r) => [r.agent, r.key, r.configDigest]), [
    ["alpha", "api-key", OTHER_DIGEST.slice(0, 12)],
    ["weather", "api-key", DIGEST.slice(0, 12)],
  ]);
  assert.ok(!JSON.stringify(rows).includes(VALUE));
});

Deno.test("CredentialBroker.policy() with the current config marks that agent's grants pinned to another digest as stale", async () => {
  await using f = await openFixture();
  await f.broker.grant("weather", "api-key", DIGEST);
  await f.broker.grant("weather", "old-key", OTHER_DIGEST);
  await f.broker.grant("alpha", "api-key", OTHER_DIGEST);
  const rows = f.broker.policy({ agent: "weather", configDigest: DIGEST });
  assert.deepEqual(rows.map((r) => [r.agent, r.key, r.configDigest, r.stale]), [
    ["alpha", "api-key", OTHER_DIGEST.slice(0, 12), undefined],
    ["weather", "api-key", DIGEST.slice(0, 12), false],
    ["weather", "old-key", OTHER_DIGEST.slice(0, 12), true],
  ]);
  assert.ok(f.broker.policy().every((r) => r.stale === undefined));
});

Deno.test("CredentialBroker audits set, remove, grant and revoke without values", async () => {
  await using f = await openFixture();
  await storeAndGrant(f);
  await f.broker.revoke("weather", "api-key");
  await f.broker.remove("api-key");
  const records = (await auditRecords(f)).filter((r) => r.event === "credential_access");
  assert.deepEqual(records.map((r) => [r.action, r.agent, r.key]), [
    ["set", "loom", "api-key"],
    ["grant", "weather", "api-key"],
    ["revoke", "weather", "api-key"],
    ["remove", "loom", "api-key"],
  ]);
  await assertNoValueInAudit(f, VALUE);
});

Deno.test("CredentialBroker.resolve() with caching off still returns values", async () => {
  await using f = await openFixture({ cacheTtlMs: 0 });
  await storeAndGrant(f);
  for (let i = 0; i < 3; i++) {
    const r = await f.broker.resolve(weatherRequest({ call: `c-${i}` }));
    assert.ok(r.ok && r.values.get("api-key") === VALUE);
  }
  const empty = await f.broker.resolve(weatherRequest({ names: [] }));
  assert.ok(empty.ok && empty.values.size === 0 && empty.redactor.size === 0);
});

Deno.test("CredentialBroker methods after close() throw UNAVAILABLE", async () => {
  await using f = await openFixture();
  await f.broker.close();
  await assert.rejects(
    f.broker.names(),
    (e: unknown) => e instanceof LoomError && e.code === "UNAVAILABLE",
  );
  assert.throws(() => f.broker.policy(), LoomError);
});
