import assert from "node:assert/strict";
import {
  createDataKey,
  dekAad,
  entryAad,
  type EntryBinding,
  importMasterKey,
  IV_BYTES,
  legacyEntryAad,
  openValue,
  sealValue,
  TAG_BYTES,
  unwrapDataKey,
  WRAPPED_DEK_BYTES,
} from "./_crypto.ts";

const VAULT = "0b4c1d2e-3f40-4152-8637-48495a6b7c8d";

function randomMaster(): Promise<CryptoKey> {
  return importMasterKey(crypto.getRandomValues(new Uint8Array(32)));
}

async function randomDataKey(): Promise<CryptoKey> {
  return (await createDataKey(await randomMaster(), VAULT)).key;
}

function binding(overrides: Partial<EntryBinding> = {}): EntryBinding {
  return { vaultId: VAULT, name: "k", version: 1, kid: "a".repeat(32), ...overrides };
}

function flip(bytes: Uint8Array<ArrayBuffer>, index: number): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(bytes);
  copy[index] ^= 0x01;
  return copy;
}

function isOperationError(error: unknown): boolean {
  return error instanceof DOMException && error.name === "OperationError";
}

function isInvalidAccess(error: unknown): boolean {
  return error instanceof DOMException && error.name === "InvalidAccessError";
}

// --- Negative tests first ---------------------------------------------------

Deno.test("openValue() fails with OperationError on a bit flip in the IV, ciphertext or tag", async () => {
  const key = await randomDataKey();
  const aad = entryAad(binding());
  const { iv, ct } = await sealValue(key, "a secret value", aad);
  assert.equal(await openValue(key, iv, ct, aad), "a secret value");
  for (let i = 0; i < IV_BYTES; i++) {
    await assert.rejects(openValue(key, flip(iv, i), ct, aad), isOperationError, `iv ${i}`);
  }
  for (let i = 0; i < ct.length; i++) {
    // The last TAG_BYTES bytes are the tag; the rest is ciphertext.
    const where = i >= ct.length - TAG_BYTES ? "tag" : "ct";
    await assert.rejects(openValue(key, iv, flip(ct, i), aad), isOperationError, `${where} ${i}`);
  }
});

Deno.test("openValue() fails with OperationError under other additional data or another key", async () => {
  const key = await randomDataKey();
  const { iv, ct } = await sealValue(key, "v", entryAad(binding()));
  for (
    const aad of [
      entryAad(binding({ vaultId: "1b4c1d2e-3f40-4152-8637-48495a6b7c8d" })),
      entryAad(binding({ name: "j" })),
      entryAad(binding({ version: 2 })),
      entryAad(binding({ kid: "b".repeat(32) })),
      legacyEntryAad(VAULT, { name: "k", version: 1 }),
    ]
  ) {
    await assert.rejects(openValue(key, iv, ct, aad), isOperationError);
  }
  await assert.rejects(
    openValue(await randomDataKey(), iv, ct, entryAad(binding())),
    isOperationError,
  );
});

Deno.test("unwrapDataKey() fails with OperationError on a tampered wrapped key, IV, vault id, kid or master key", async () => {
  const master = await randomMaster();
  const dek = await createDataKey(master, VAULT);
  const stored = { vaultId: VAULT, kid: dek.kid, iv: dek.iv, wrapped: dek.wrapped };
  for (let i = 0; i < WRAPPED_DEK_BYTES; i++) {
    await assert.rejects(
      unwrapDataKey(master, { ...stored, wrapped: flip(dek.wrapped, i) }),
      isOperationError,
      `wrapped ${i}`,
    );
  }
  await assert.rejects(unwrapDataKey(master, { ...stored, iv: flip(dek.iv, 0) }), isOperationError);
  await assert.rejects(
    unwrapDataKey(master, { ...stored, vaultId: "1b4c1d2e-3f40-4152-8637-48495a6b7c8d" }),
    isOperationError,
  );
  await assert.rejects(unwrapDataKey(master, { ...stored, kid: "c".repeat(32) }), isOperationError);
  await assert.rejects(unwrapDataKey(await randomMaster(), stored), isOperationError);
});

Deno.test("importMasterKey() makes a non-extractable key that exportKey refuses and that cannot encrypt values", async () => {
  const key = await randomMaster();
  assert.equal(key.extractable, false);
  assert.deepEqual([...key.usages].sort(), ["decrypt", "unwrapKey", "wrapKey"]);
  await assert.rejects(crypto.subtle.exportKey("raw", key), isInvalidAccess);
  await assert.rejects(crypto.subtle.exportKey("jwk", key), isInvalidAccess);
  await assert.rejects(sealValue(key, "v", entryAad(binding())), isInvalidAccess);
  assert.throws(() => importMasterKey(new Uint8Array(31)), RangeError);
});

Deno.test("createDataKey() and unwrapDataKey() give non-extractable data keys that exportKey and wrapKey refuse", async () => {
  const master = await randomMaster();
  const dek = await createDataKey(master, VAULT);
  const unwrapped = await unwrapDataKey(master, {
    vaultId: VAULT,
    kid: dek.kid,
    iv: dek.iv,
    wrapped: dek.wrapped,
  });
  for (const key of [dek.key, unwrapped]) {
    assert.equal(key.extractable, false);
    assert.deepEqual(key.algorithm, { name: "AES-GCM", length: 256 });
    assert.deepEqual([...key.usages].sort(), ["decrypt", "encrypt"]);
    await assert.rejects(crypto.subtle.exportKey("raw", key), isInvalidAccess);
    await assert.rejects(crypto.subtle.exportKey("jwk", key), isInvalidAccess);
    // Nor can it be wrapped out under a key the caller holds.
    const params: AesGcmParams = { name: "AES-GCM", iv: new Uint8Array(IV_BYTES) };
    const algorithm: Algorithm = params;
    await assert.rejects(crypto.subtle.wrapKey("raw", key, master, algorithm), isInvalidAccess);
  }
});

// --- Positive behaviour -----------------------------------------------------

Deno.test("sealValue() uses a fresh IV: 10,000 encryptions give 10,000 distinct 12-byte IVs", async () => {
  const key = await randomDataKey();
  const aad = entryAad(binding());
  const ivs = new Set<string>();
  const cts = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const { iv, ct } = await sealValue(key, "same value", aad);
    assert.equal(iv.length, IV_BYTES);
    ivs.add(iv.toHex());
    cts.add(ct.toHex());
  }
  assert.equal(ivs.size, 10_000);
  assert.equal(cts.size, 10_000);
});

Deno.test("createDataKey() makes distinct keys and ids, each wrapped under its own IV and bound to its vault", async () => {
  const master = await randomMaster();
  const a = await createDataKey(master, VAULT);
  const b = await createDataKey(master, VAULT);
  assert.match(a.kid, /^[0-9a-f]{32}$/);
  assert.notEqual(a.kid, b.kid);
  assert.notEqual(a.iv.toHex(), b.iv.toHex());
  assert.equal(a.wrapped.length, WRAPPED_DEK_BYTES);
  const aad = entryAad(binding({ kid: a.kid }));
  const { iv, ct } = await sealValue(a.key, "value", aad);
  const again = await unwrapDataKey(master, {
    vaultId: VAULT,
    kid: a.kid,
    iv: a.iv,
    wrapped: a.wrapped,
  });
  assert.equal(await openValue(again, iv, ct, aad), "value");
  await assert.rejects(openValue(b.key, iv, ct, aad), isOperationError);
  assert.equal(new TextDecoder().decode(dekAad(VAULT, a.kid)), `loom:v2:dek:${VAULT}:${a.kid}`);
});
