/**
 * Public types and constants of the audit log: what a caller appends, what a
 * stored record looks like, and what the verifier reports.
 *
 * @module
 */

import type { AuditEventName } from "./events.ts";

/** The `prev` of the first record: 64 hex zeros. */
export const GENESIS_HASH: string = "0".repeat(64);

/** The file name of the log inside its directory. */
export const AUDIT_FILE_NAME = "audit.jsonl";

/** Largest record (one line, UTF-8, newline included) the writer accepts: 1 MiB. */
export const MAX_RECORD_BYTES: number = 1024 * 1024;

/**
 * The shape the log's formatter accepts; every `AuditEvent` of
 * `events.ts` is one (appenders use those). `event`, `agent` and `tool` become top-level members;
 * every other own enumerable property is an event field merged into the record.
 * The names `seq`, `ts`, `prev` and `hash` are reserved (appending them throws a
 * `TypeError`). Field values must be JSON values (finite numbers, strings,
 * booleans, null, arrays, plain objects); `undefined` members are dropped.
 * Secret values must never be passed here: store `hmac-sha256:<hex>` instead.
 */
export interface AuditEntryInput {
  /** The event type. */
  event: AuditEventName;
  /** The agent the event belongs to (`"loom"` for the runtime itself). */
  agent: string;
  /** The tool the event concerns, or null (the default). */
  tool?: string | null;
  /** Event fields. */
  [field: string]: unknown;
}

/** One stored record, as read back from the log. */
export interface AuditRecord {
  /** 1-based position in the chain, contiguous. */
  seq: number;
  /** When the entry was appended: ISO-8601 UTC with milliseconds. */
  ts: string;
  /** The event type. */
  event: AuditEventName;
  /** The agent. */
  agent: string;
  /** The tool, or null. */
  tool: string | null;
  /** Hex SHA-256 `hash` of the previous record; {@linkcode GENESIS_HASH} for seq 1. */
  prev: string;
  /** Hex SHA-256 over the canonical JSON of this record without `hash`. */
  hash: string;
  /** Event fields. */
  [field: string]: unknown;
}

/** Proof that an append is durable: its position and hash in the chain. */
export interface AuditReceipt {
  /** The record's `seq`. */
  readonly seq: number;
  /** The record's `hash`. */
  readonly hash: string;
}

/**
 * The kind of damage the verifier found:
 * - `modified`: a line's bytes do not match its own hash (the record at that
 *   position was edited, including its `seq`, `prev` or `hash`);
 * - `deleted`: `seq` jumps forward and the missing records do not turn up later;
 * - `reordered`: `seq` goes backwards or repeats, or a missing record turns up later;
 * - `chain_broken`: a record is intact but its `prev` is not the hash of the record
 *   before it (the previous record was rewritten with a fresh hash, or one was inserted);
 * - `malformed`: a line is not a JSON object at all (or, in strict mode, not canonical);
 * - `truncated`: the last line has no newline (a torn write).
 */
export type AuditDamage =
  | "modified"
  | "deleted"
  | "reordered"
  | "chain_broken"
  | "malformed"
  | "truncated";

/** The first problem the verifier found. */
export interface AuditProblem {
  /**
   * The record concerned: the one found at the damaged position or, when its own
   * `seq` cannot be trusted (`modified`, `malformed`, `truncated`), the `seq`
   * expected there; for `deleted`, the first missing `seq`. Null when none applies.
   */
  seq: number | null;
  /** 1-based line number in the file. */
  line: number;
  /** The kind of damage. */
  kind: AuditDamage;
  /** Human detail in std style, e.g. `Cannot verify audit record 42: hash mismatch`. */
  detail: string;
}

/** The result of `verifyAuditLog()`. */
export interface VerifyReport {
  /** True when every line verified and the chain is unbroken. */
  ok: boolean;
  /** Records verified before the first problem (all of them when `ok`). */
  records: number;
  /** `seq` of the last good record (0 for an empty log). */
  lastSeq: number;
  /** `hash` of the last good record ({@linkcode GENESIS_HASH} for an empty log). */
  lastHash: string;
  /** The first problem, when not `ok`. */
  firstBad?: AuditProblem;
  /** With `VerifyOptions.hashesAt`: the hash of each asked-for record among those verified. */
  hashesAt?: ReadonlyMap<number, string>;
  /** With `VerifyOptions.rootsAt`: the Merkle root (base64) of each asked-for size among those verified. */
  rootsAt?: ReadonlyMap<number, string>;
}
