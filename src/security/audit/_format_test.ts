import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalJson } from "../../_util/canonical_json.ts";
import {
  checkRecordLine,
  HASH_SUFFIX_LENGTH,
  isoTimestamp,
  prepareEntry,
  sealEntry,
  sha256Hex,
} from "./_format.ts";
import { AUDIT_EVENTS } from "./events.ts";
import { type AuditEntryInput, GENESIS_HASH } from "./types.ts";

const RESERVED = new Set(["seq", "ts", "prev", "hash", "event", "agent", "tool"]);
const fieldName = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !RESERVED.has(k));
const jsonValue = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)));

Deno.test("sealEntry() line is the canonical JSON of the record without hash, plus the hash last", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...AUDIT_EVENTS),
      fc.string({ minLength: 1 }),
      fc.option(fc.string(), { nil: null }),
      fc.dictionary(fieldName, jsonValue, { maxKeys: 8 }),
      fc.integer({ min: 1, max: 2 ** 40 }),
      fc.stringMatching(/^[0-9a-f]{64}$/),
      (event, agent, tool, fields, seq, prev) => {
        const ts = "2026-03-04T05:06:07.089Z";
        const entry = { ...fields, event, agent, tool } as AuditEntryInput;
        const sealed = sealEntry(prepareEntry(entry, ts), seq, prev);
        const record = { ...fields, event, agent, tool, ts, seq, prev };
        const canonical = canonicalJson(record);
        assert.equal(sealed.hash, sha256Hex(canonical));
        assert.equal(
          sealed.line,
          canonical.slice(0, -1) + `,"hash":"${sealed.hash}"}\n`,
        );
        // The hash input is the line minus its fixed-size suffix.
        const line = sealed.line.slice(0, -1);
        assert.equal(line.slice(0, -HASH_SUFFIX_LENGTH) + "}", canonical);
        assert.deepEqual(JSON.parse(line), { ...record, hash: sealed.hash });
        const check = checkRecordLine(line);
        assert.ok(check.ok);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("checkRecordLine() rejects a line whose content or hash was changed", () => {
  const sealed = sealEntry(
    prepareEntry({ event: "agent_lifecycle", agent: "a", action: "signed" }, isoTimestamp(0)),
    1,
    GENESIS_HASH,
  );
  const line = sealed.line.trimEnd();
  assert.deepEqual(checkRecordLine(line.replace("signed", "signeD")), { ok: false, parsed: true });
  assert.deepEqual(checkRecordLine(line.replace(sealed.hash, "0".repeat(64))), {
    ok: false,
    parsed: true,
  });
  assert.deepEqual(checkRecordLine(line.slice(0, -5)), { ok: false, parsed: false });
  assert.deepEqual(checkRecordLine("[]"), { ok: false, parsed: false });
});

Deno.test("prepareEntry() rejects a reserved name even when its value is undefined", () => {
  assert.throws(
    () => prepareEntry({ event: "agent_lifecycle", agent: "a", seq: undefined }, isoTimestamp(0)),
    TypeError,
  );
  assert.throws(
    () => prepareEntry(null as unknown as AuditEntryInput, isoTimestamp(0)),
    TypeError,
  );
});

Deno.test("isoTimestamp() formats like Date#toISOString", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 253402300799999 }), (ms) => {
      assert.equal(isoTimestamp(ms), new Date(ms).toISOString());
    }),
    { numRuns: 2000 },
  );
  // Consecutive calls within one second reuse the cached prefix correctly.
  for (const ms of [1_700_000_000_000, 1_700_000_000_009, 1_700_000_000_010, 1_700_000_000_999]) {
    assert.equal(isoTimestamp(ms), new Date(ms).toISOString());
  }
});
