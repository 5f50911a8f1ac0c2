import assert from "node:assert/strict";
import { LoomError, NotFoundError, PolicyError } from "../../errors.ts";
import { createDataKey, unwrapDataKey } from "./_crypto.ts";
import { tempHome } from "./_testing.ts";
import { loadMasterKey, MASTER_KEY_ENV, masterKeyPath, parseMasterKey } from "./master_key.ts";

const KEY = crypto.getRandomValues(new Uint8Array(32));

async function sameKey(a: CryptoKey, b: CryptoKey): Promise<boolean> {
  const vaultId = crypto.randomUUID();
  const { kid, iv, wrapped } = await createDataKey(a, vaultId);
  return await unwrapDataKey(b, { vaultId, kid, iv, wrapped }).then(() => true, () => false);
}

// --- Negative tests first ---------------------------------------------------

Deno.test("parseMasterKey() refuses wrong sizes and garbage without echoing the value", () => {
  const bad = [
    "",
    "short",
    "a".repeat(63),
    "a".repeat(65),
    "g".repeat(64),
    new Uint8Array(31).toBase64(),
    new Uint8Array(33).toBase64(),
    new Uint8Array(48).fill(255).toBase64(),
    "correct horse battery staple correct horse!!",
    KEY.toBase64().slice(0, 40) + "!!!=",
  ];
  for (const text of bad) {
    assert.throws(() => parseMasterKey(text), (error: unknown) => {
      assert.ok(error instanceof LoomError);
      assert.equal(error.code, "CONFIG_INVALID");
      assert.ok(error.message.includes(MASTER_KEY_ENV));
      if (text.length > 3) assert.ok(!error.message.includes(text), "value echoed");
      return true;
    });
  }
});

Deno.test("loadMasterKey() refuses a malformed LOOM_MASTER_KEY instead of falling back to the file", async () => {
  await using t = await tempHome();
  const value = "not-a-key-" + crypto.randomUUID();
  await assert.rejects(
    loadMasterKey(t.home, new Map([[MASTER_KEY_ENV, value]]), { create: true }),
    (error: unknown) => {
      assert.ok(error instanceof LoomError && error.code === "CONFIG_INVALID");
      assert.ok(!error.message.includes(value));
      return true;
    },
  );
  await assert.rejects(Deno.lstat(masterKeyPath(t.home)), Deno.errors.NotFound);
});

Deno.test("loadMasterKey() refuses a key file readable by group or others, naming the file", async () => {
  await using t = await tempHome();
  await loadMasterKey(t.home, new Map(), { create: true });
  const path = masterKeyPath(t.home);
  for (const mode of [0o644, 0o640, 0o604, 0o660]) {
    await Deno.chmod(path, mode);
    await assert.rejects(loadMasterKey(t.home, new Map()), (error: unknown) => {
      assert.ok(error instanceof PolicyError);
      assert.ok(error.message.includes(`master key file "${path}"`), error.message);
      return true;
    });
  }
});

Deno.test("loadMasterKey() refuses a key directory open to others", async () => {
  await using t = await tempHome();
  await Deno.mkdir(t.home.keys, { mode: 0o700 });
  await Deno.chmod(t.home.keys, 0o755);
  await assert.rejects(loadMasterKey(t.home, new Map(), { create: true }), PolicyError);
});

Deno.test("loadMasterKey() refuses a key file that is not exactly 32 bytes", async () => {
  await using t = await tempHome();
  await Deno.mkdir(t.home.keys, { recursive: true, mode: 0o700 });
  for (const size of [0, 31, 33, 5000]) {
    await Deno.writeFile(masterKeyPath(t.home), new Uint8Array(size), { mode: 0o600 });
    await assert.rejects(loadMasterKey(t.home, new Map()), (error: unknown) => {
      assert.ok(error instanceof LoomError && error.code === "INTEGRITY_FAILED", String(error));
      return true;
    });
  }
});

Deno.test("loadMasterKey() refuses a key file that is a symlink", async () => {
  await using t = await tempHome();
  await Deno.mkdir(t.home.keys, { recursive: true, mode: 0o700 });
  const target = `${t.home.root}/elsewhere.key`;
  await Deno.writeFile(target, KEY, { mode: 0o600 });
  await Deno.symlink(target, masterKeyPath(t.home));
  await assert.rejects(loadMasterKey(t.home, new Map()), PolicyError);
});

Deno.test({
  name: "loadMasterKey() refuses a key file owned by another uid",
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
  fn: async () => {
    await using t = await tempHome();
    await loadMasterKey(t.home, new Map(), { create: true });
    await Deno.chown(masterKeyPath(t.home), 65534, 65534);
    await assert.rejects(loadMasterKey(t.home, new Map()), /owned by uid 65534/);
  },
});

Deno.test("loadMasterKey() does not create a key file unless asked", async () => {
  await using t = await tempHome();
  await assert.rejects(loadMasterKey(t.home, new Map()), NotFoundError);
  await assert.rejects(Deno.lstat(masterKeyPath(t.home)), Deno.errors.NotFound);
});

// --- Positive behaviour -----------------------------------------------------

Deno.test("parseMasterKey() accepts 32 bytes as hex, base64 and base64url", () => {
  for (
    const text of [
      KEY.toHex(),
      KEY.toHex().toUpperCase(),
      KEY.toBase64(),
      KEY.toBase64({ omitPadding: true }),
      KEY.toBase64({ alphabet: "base64url" }),
      ` ${KEY.toBase64()}\n`,
    ]
  ) {
    assert.deepEqual(parseMasterKey(text), KEY, text);
  }
});

Deno.test("loadMasterKey() prefers LOOM_MASTER_KEY and creates no key file then", async () => {
  await using t = await tempHome();
  const loaded = await loadMasterKey(t.home, new Map([[MASTER_KEY_ENV, KEY.toBase64()]]), {
    create: true,
  });
  assert.equal(loaded.source, "env");
  assert.equal(loaded.key.extractable, false);
  await assert.rejects(Deno.lstat(masterKeyPath(t.home)), Deno.errors.NotFound);
});

Deno.test("loadMasterKey() creates a 0600 key file in a 0700 directory once and reuses it", async () => {
  await using t = await tempHome();
  const first = await loadMasterKey(t.home, new Map(), { create: true });
  assert.equal(first.created, true);
  assert.equal(first.source, "file");
  assert.equal(first.key.extractable, false);
  const info = await Deno.stat(masterKeyPath(t.home));
  assert.equal(info.mode! & 0o777, 0o600);
  assert.equal(info.size, 32);
  assert.equal((await Deno.stat(t.home.keys)).mode! & 0o777, 0o700);
  const second = await loadMasterKey(t.home, new Map(), { create: true });
  assert.equal(second.created, false);
  assert.ok(await sameKey(first.key, second.key));
  assert.deepEqual([...Deno.readDirSync(t.home.keys)].map((e) => e.name), ["master.key"]);
});

Deno.test("loadMasterKey() run concurrently creates exactly one key that all callers share", async () => {
  await using t = await tempHome();
  const keys = await Promise.all(
    Array.from({ length: 12 }, () => loadMasterKey(t.home, new Map(), { create: true })),
  );
  assert.equal(keys.filter((k) => k.created).length, 1);
  for (const k of keys) assert.ok(await sameKey(keys[0].key, k.key));
  assert.deepEqual([...Deno.readDirSync(t.home.keys)].map((e) => e.name), ["master.key"]);
});
