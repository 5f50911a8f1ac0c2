/**
 * AES-256-GCM with Web Crypto for the vault: a fresh random 96-bit IV per
 * encryption (NIST SP 800-38D §8.2.2; §8.3 caps one key at 2^32 random-IV
 * encryptions, far above one per `loom secrets set`), a 128-bit tag, and
 * additional data `loom:v1:<vault_id>:<name>:<version>` so a ciphertext moved
 * to another vault, name or version fails to decrypt (SOPS binds the tree path
 * the same way).
 *
 * @module
 */

/** Bytes of an AES-GCM IV. */
export const IV_BYTES = 12;
/** Bytes of the master key. */
export const KEY_BYTES = 32;
/** Bytes of the GCM tag appended to each ciphertext. */
export const TAG_BYTES = 16;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Import raw key bytes as a non-extractable AES-GCM key (encrypt and decrypt
 * only: `exportKey` throws `InvalidAccessError`).
 *
 * @param raw exactly 32 bytes
 */
export function importMasterKey(raw: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  if (raw.length !== KEY_BYTES) throw new RangeError(`Master key must be ${KEY_BYTES} bytes`);
  return crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
}

/** The additional data bound to one vault entry. */
export function entryAad(vaultId: string, name: string, version: number): Uint8Array<ArrayBuffer> {
  return encoder.encode(`loom:v1:${vaultId}:${name}:${version}`);
}

/**
 * Encrypt one value under a fresh random IV.
 *
 * @param key the master key
 * @param plaintext the secret value
 * @param aad from {@linkcode entryAad}
 * @returns the IV and the ciphertext with its tag appended
 */
export async function sealValue(
  key: CryptoKey,
  plaintext: string,
  aad: Uint8Array<ArrayBuffer>,
): Promise<{ iv: Uint8Array<ArrayBuffer>; ct: Uint8Array<ArrayBuffer> }> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: aad, tagLength: TAG_BYTES * 8 },
    key,
    encoder.encode(plaintext),
  );
  return { iv, ct: new Uint8Array(ct) };
}

/**
 * Decrypt and authenticate one value.
 *
 * @param key the master key
 * @param iv the entry's IV
 * @param ct ciphertext with tag
 * @param aad from {@linkcode entryAad}
 * @returns the value
 * @throws {DOMException} `OperationError` when the tag does not verify (tampered
 *   IV, ciphertext or tag, other additional data, or another key)
 */
export async function openValue(
  key: CryptoKey,
  iv: Uint8Array<ArrayBuffer>,
  ct: Uint8Array<ArrayBuffer>,
  aad: Uint8Array<ArrayBuffer>,
): Promise<string> {
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv, additionalData: aad, tagLength: TAG_BYTES * 8 },
    key,
    ct,
  );
  try {
    return decoder.decode(plain);
  } catch {
    // Authenticated, so written by LOOM; a non-UTF-8 plaintext is still refused.
    throw new DOMException("Decrypted value is not UTF-8", "OperationError");
  }
}
