import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { LoomError, PolicyError } from "../errors.ts";
import { type LoomHome, resolveHome } from "./home.ts";
import { openStore, STORE_SCHEMA_VERSION } from "./db.ts";
import { tempDir } from "../../tests/_helpers.ts";

interface TempHome extends AsyncDisposable {
  home: LoomHome;
}

async function tempHome(): Promise<TempHome> {
  const root = await tempDir("loom_store_test_");
  return {
    home: resolveHome(new Map([["LOOM_HOME", root.path]])),
    [Symbol.asyncDispose]: () => root[Symbol.asyncDispose](),
  };
}

const DIGEST_A = "a".repeat(64);
const DIGEST_B = "b".repeat(64);

// --- Negative tests first ---------------------------------------------------

Deno.test("openStore() refuses a database file readable by group or others", async () => {
  await using t = await tempHome();
  (await openStore(t.home)).close();
  await Deno.chmod(t.home.db, 0o644);
  await assert.rejects(openStore(t.home), (error: unknown) => {
    assert.ok(error instanceof PolicyError);
    assert.match(error.message, /state database ".*loom\.db": .*mode 0644/);
    return true;
  });
});

Deno.test("openStore() refuses a database written by a newer schema version", async () => {
  await using t = await tempHome();
  (await openStore(t.home)).close();
  const raw = new DatabaseSync(t.home.db);
  raw.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
    .run(STORE_SCHEMA_VERSION + 1, "future", new Date().toISOString());
  raw.close();
  await assert.rejects(openStore(t.home), (error: unknown) => {
    assert.ok(error instanceof LoomError);
    assert.equal(error.code, "UNAVAILABLE");
    assert.match(error.message, /is newer than this LOOM supports/);
    return true;
  });
});

Deno.test("openStore() refuses a database path that is a symlink", async () => {
  await using t = await tempHome();
  const target = `${t.home.root}/elsewhere.db`;
  await Deno.writeFile(target, new Uint8Array(), { mode: 0o600 });
  await Deno.symlink(target, t.home.db);
  await assert.rejects(openStore(t.home), PolicyError);
});

// --- Positive behaviour -----------------------------------------------------

Deno.test("openStore() creates loom.db with mode 0600 in WAL mode", async () => {
  await using t = await tempHome();
  await using store = await openStore(t.home);
  store.grants.put({ agent: "a", key: "k", configDigest: DIGEST_A });
  const info = await Deno.stat(t.home.db);
  assert.equal(info.mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(t.home.root)).mode! & 0o777, 0o700);
  for (const suffix of ["-wal", "-shm"]) {
    assert.equal((await Deno.stat(t.home.db + suffix)).mode! & 0o077, 0, suffix);
  }
  const raw = new DatabaseSync(t.home.db);
  try {
    assert.equal(raw.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
  } finally {
    raw.close();
  }
  assert.equal(store.schemaVersion, STORE_SCHEMA_VERSION);
});

Deno.test("openStore() applies each migration once across reopenings", async () => {
  await using t = await tempHome();
  for (let i = 0; i < 3; i++) (await openStore(t.home)).close();
  const raw = new DatabaseSync(t.home.db);
  try {
    const rows = raw.prepare("SELECT version, name FROM schema_migrations ORDER BY version").all();
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { version: 1, name: "grants" },
      { version: 2, name: "approvals" },
      { version: 3, name: "config_approvals" },
      { version: 4, name: "config_versions" },
      { version: 5, name: "approvals_requested_by" },
      { version: 6, name: "registry" },
      { version: 7, name: "tool_pins" },
      { version: 8, name: "anomaly_state" },
    ]);
  } finally {
    raw.close();
  }
});

Deno.test("LoomStore.grants put/get/delete/list round-trip plain objects", async () => {
  await using t = await tempHome();
  await using store = await openStore(t.home);
  assert.equal(store.grants.get("a", "k"), undefined);
  const put = store.grants.put({
    agent: "a",
    key: "k",
    configDigest: DIGEST_A,
    grantedAt: "2026-01-01T00:00:00.000Z",
  });
  assert.deepEqual(store.grants.get("a", "k"), put);
  assert.equal(Object.getPrototypeOf(store.grants.get("a", "k")), Object.prototype);
  store.grants.put({ agent: "b", key: "k", configDigest: DIGEST_B });
  store.grants.put({ agent: "a", key: "j", configDigest: DIGEST_B });
  assert.deepEqual(store.grants.list().map((g) => `${g.agent}/${g.key}`), ["a/j", "a/k", "b/k"]);
  assert.deepEqual(store.grants.list({ agent: "a" }).map((g) => g.key), ["j", "k"]);
  assert.deepEqual(store.grants.list({ key: "k" }).map((g) => g.agent), ["a", "b"]);
  assert.equal(store.grants.delete("a", "k"), true);
  assert.equal(store.grants.delete("a", "k"), false);
  assert.equal(store.grants.get("a", "k"), undefined);
});

Deno.test("LoomStore.grants.put() replaces the digest of an existing grant", async () => {
  await using t = await tempHome();
  await using store = await openStore(t.home);
  store.grants.put({ agent: "a", key: "k", configDigest: DIGEST_A });
  store.grants.put({ agent: "a", key: "k", configDigest: DIGEST_B });
  assert.equal(store.grants.get("a", "k")?.configDigest, DIGEST_B);
  assert.equal(store.grants.list().length, 1);
});

Deno.test("LoomStore.grants.put() rejects an empty field with a TypeError", async () => {
  await using t = await tempHome();
  await using store = await openStore(t.home);
  assert.throws(() => store.grants.put({ agent: "", key: "k", configDigest: DIGEST_A }), TypeError);
});

Deno.test("LoomStore sees writes made through another connection", async () => {
  await using t = await tempHome();
  await using one = await openStore(t.home);
  await using two = await openStore(t.home);
  one.grants.put({ agent: "a", key: "k", configDigest: DIGEST_A });
  assert.equal(two.grants.get("a", "k")?.configDigest, DIGEST_A);
  two.grants.delete("a", "k");
  assert.equal(one.grants.get("a", "k"), undefined);
});

Deno.test("LoomStore.close() is idempotent and later use throws", async () => {
  await using t = await tempHome();
  const store = await openStore(t.home);
  store.close();
  store.close();
  assert.equal(store.isOpen, false);
  assert.throws(() => store.grants.list());
});
