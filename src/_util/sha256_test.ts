import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256, sha256Prefixed32, sha256Prefixed64 } from "./sha256.ts";

function reference(...parts: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("sha256() gives the FIPS 180-4 digests of the standard examples", () => {
  const text = (s: string) => new TextEncoder().encode(s);
  assert.equal(
    hex(sha256()),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(
    hex(sha256(text("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    hex(sha256(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
});

Deno.test("sha256() equals node:crypto for every length 0..300 and split points (property)", () => {
  const data = new Uint8Array(300);
  crypto.getRandomValues(data);
  for (let n = 0; n <= 300; n++) {
    const message = data.subarray(0, n);
    assert.equal(hex(sha256(message)), reference(message), `length ${n}`);
    const cut = n === 0 ? 0 : (n * 7919) % n;
    assert.equal(
      hex(sha256(message.subarray(0, cut), message.subarray(cut))),
      reference(message),
      `length ${n} split at ${cut}`,
    );
  }
});

Deno.test("sha256() equals node:crypto on the Merkle shapes: 0x00 + 32 bytes and 0x01 + 64 bytes (property)", () => {
  for (let i = 0; i < 2000; i++) {
    const left = crypto.getRandomValues(new Uint8Array(32));
    const right = crypto.getRandomValues(new Uint8Array(32));
    const leafPrefix = Uint8Array.of(0);
    const nodePrefix = Uint8Array.of(1);
    assert.equal(hex(sha256(leafPrefix, left)), reference(leafPrefix, left));
    assert.equal(hex(sha256Prefixed32(0, left)), reference(leafPrefix, left));
    assert.equal(hex(sha256Prefixed64(1, left, right)), reference(nodePrefix, left, right));
    assert.equal(
      hex(sha256(nodePrefix, left, right)),
      reference(nodePrefix, left, right),
    );
  }
});
