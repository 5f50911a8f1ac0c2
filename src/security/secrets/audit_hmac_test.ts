import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { LoomError, NotFoundError, PolicyError } from "../../errors.ts";
import { auditHmac, auditSaltPath, loadAuditHmacKey } from "./audit_hmac.ts";
import { tempHome } from "./_testing.ts";

const VALUE = 'tok_Zx9+/=é "q" 4f2a';

// --- Negative tests first ---------------------------------------------------

Deno.test("loadAuditHmacKey() does not create a salt unless asked", async () => {
  await using t = await tempHome();
  await assert.rejects(loadAuditHmacKey(t.home), (error: unknown) => {
    assert.ok(error instanceof NotFoundError);
    assert.ok(error.message.includes(auditSaltPath(t.home)), error.message);
    return true;
  });
  await assert.rejects(Deno.lstat(auditSaltPath(t.home)), Deno.errors.NotFound);
});

Deno.test("loadAuditHmacKey() refuses a salt file readable by group or others, naming it", async () => {
  await using t = await tempHome();
  await loadAuditHmacKey(t.home, { create: true });
  const path = auditSaltPath(t.home);
  for (const mode of [0o644, 0o640, 0o604]) {
    await Deno.chmod(path, mode);
    await assert.rejects(loadAuditHmacKey(t.home, { create: true }), (error: unknown) => {
      assert.ok(error instanceof PolicyError);
      assert.ok(error.message.includes(`audit salt file "${path}"`), error.message);
      return true;
    });
  }
});

Deno.test("loadAuditHmacKey() refuses a salt that is not 32 bytes, a symlink, or an open key directory", async () => {
  await using t = await tempHome();
  await Deno.mkdir(t.home.keys, { recursive: true, mode: 0o700 });
  const path = auditSaltPath(t.home);
  for (const size of [0, 16, 33]) {
    await Deno.writeFile(path, new Uint8Array(size), { mode: 0o600 });
    await assert.rejects(loadAuditHmacKey(t.home), (error: unknown) => {
      assert.ok(error instanceof LoomError && error.code === "INTEGRITY_FAILED");
      return true;
    });
  }
  await Deno.remove(path);
  const target = `${t.home.root}/elsewhere.salt`;
  await Deno.writeFile(target, new Uint8Array(32), { mode: 0o600 });
  await Deno.symlink(target, path);
  await assert.rejects(loadAuditHmacKey(t.home), PolicyError);
  await Deno.remove(path);
  await Deno.chmod(t.home.keys, 0o755);
  await assert.rejects(loadAuditHmacKey(t.home, { create: true }), PolicyError);
});

Deno.test("loadAuditHmacKey() with an explicit path never creates it", async () => {
  await using t = await tempHome();
  const path = `${t.home.root}/copy.salt`;
  await assert.rejects(loadAuditHmacKey(t.home, { path, create: true }), NotFoundError);
  await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
});

// --- Positive behaviour -----------------------------------------------------

Deno.test("auditHmac() is HMAC-SHA256 keyed by the salt file's bytes, as node:crypto computes it", async () => {
  await using t = await tempHome();
  const key = await loadAuditHmacKey(t.home, { create: true });
  const info = await Deno.stat(auditSaltPath(t.home));
  assert.equal(info.mode! & 0o777, 0o600);
  assert.equal(info.size, 32);
  const salt = await Deno.readFile(auditSaltPath(t.home));
  for (const value of [VALUE, "a", "x".repeat(70_000)]) {
    const expected = createHmac("sha256", salt).update(value, "utf8").digest("hex");
    assert.equal(await auditHmac(key, value), `hmac-sha256:${expected}`);
  }
  assert.match(await auditHmac(key, VALUE), /^hmac-sha256:[0-9a-f]{64}$/);
  // Not an unsalted hash of the value.
  const plain = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(VALUE)),
  ).toHex();
  assert.notEqual(await auditHmac(key, VALUE), `hmac-sha256:${plain}`);
});

Deno.test("loadAuditHmacKey() makes a non-extractable key and reuses the salt once created", async () => {
  await using t = await tempHome();
  const keys = await Promise.all(
    Array.from({ length: 8 }, () => loadAuditHmacKey(t.home, { create: true })),
  );
  const first = await auditHmac(keys[0], VALUE);
  for (const key of keys) {
    assert.equal(key.extractable, false);
    assert.equal(await auditHmac(key, VALUE), first);
  }
  await assert.rejects(
    crypto.subtle.exportKey("raw", keys[0]),
    (e: unknown) => e instanceof DOMException && e.name === "InvalidAccessError",
  );
  const copy = `${t.home.root}/copy.salt`;
  await Deno.writeFile(copy, await Deno.readFile(auditSaltPath(t.home)), { mode: 0o600 });
  assert.equal(await auditHmac(await loadAuditHmacKey(t.home, { path: copy }), VALUE), first);
});
