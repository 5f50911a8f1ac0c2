import assert from "node:assert/strict";
import { entryAad, importMasterKey, IV_BYTES, openValue, sealValue, TAG_BYTES } from "./_crypto.ts";

function randomKey(): Promise<CryptoKey> {
  return importMasterKey(crypto.getRandomValues(new Uint8Array(32)));
}

function flip(bytes: Uint8Array<ArrayBuffer>, index: number): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(bytes);
  copy[index] ^= 0x01;
  return copy;
}

function isOperationError(error: unknown): boolean {
  return error instanceof DOMException && error.name === "OperationError";
}

// --- Negative tests first ---------------------------------------------------

Deno.test("openValue() fails with OperationError on a bit flip in the IV, ciphertext or tag", async () => {
  const key = await randomKey();
  const aad = entryAad("v", "k", 1);
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
  const key = await randomKey();
  const { iv, ct } = await sealValue(key, "v", entryAad("vault-a", "k", 1));
  for (
    const aad of [
      entryAad("vault-b", "k", 1),
      entryAad("vault-a", "j", 1),
      entryAad("vault-a", "k", 2),
    ]
  ) {
    await assert.rejects(openValue(key, iv, ct, aad), isOperationError);
  }
  await assert.rejects(
    openValue(await randomKey(), iv, ct, entryAad("vault-a", "k", 1)),
    isOperationError,
  );
});

Deno.test("importMasterKey() makes a non-extractable key that exportKey refuses", async () => {
  const key = await randomKey();
  assert.equal(key.extractable, false);
  assert.deepEqual([...key.usages].sort(), ["decrypt", "encrypt"]);
  const invalidAccess = (e: unknown) =>
    e instanceof DOMException && e.name === "InvalidAccessError";
  await assert.rejects(crypto.subtle.exportKey("raw", key), invalidAccess);
  await assert.rejects(crypto.subtle.exportKey("jwk", key), invalidAccess);
  assert.throws(() => importMasterKey(new Uint8Array(31)), RangeError);
});

// --- Positive behaviour -----------------------------------------------------

Deno.test("sealValue() uses a fresh IV: 10,000 encryptions give 10,000 distinct 12-byte IVs", async () => {
  const key = await randomKey();
  const aad = entryAad("v", "k", 1);
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
