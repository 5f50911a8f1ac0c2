/**
 * The pipe between LOOM and an agent host: newline-delimited JSON, one
 * message per line, in both directions.
 *
 * Parent to child: `init` once, then `run`, `cancel`, `ping`, and `resolved`
 * (the answer to a child's `lookup`). Child to parent: one response per
 * request with an `id` (`{ id, ok: true, result }` or
 * `{ id, ok: false, code, message }`), and `lookup` requests.
 *
 * The child is treated as untrusted: {@linkcode parseChildMessage} checks
 * every field before the parent acts on it.
 *
 * This file is imported by the child entry, so it imports types only.
 *
 * @module
 */

import type { BridgeSpec, HttpMethod } from "../../config/mod.ts";
import type { LoomErrorCode } from "../../errors.ts";
import type { BridgeRunResult } from "../../bridge/mod.ts";

/** First message: the agent's bridges and allowances. Answered with `result: null`. */
export interface InitRequest {
  id: number;
  op: "init";
  bridges: BridgeSpec[];
  allowNetworks: string[];
}

/** Run one bridge call. */
export interface RunRequest {
  id: number;
  op: "run";
  /** Index into the `init` bridges, or a bridge sent inline. */
  bridge: number | BridgeSpec;
  args: Record<string, unknown>;
  /** Secret values granted for this bridge, by name. */
  secrets: Record<string, string>;
  /** The call deadline, counted from receipt. */
  deadlineMs: number;
  maxResponseBytes: number;
}

/** Abort a running call; no answer. */
export interface CancelRequest {
  op: "cancel";
  id: number;
}

/** Liveness check, answered with `result: null`. */
export interface PingRequest {
  id: number;
  op: "ping";
}

/** The parent's answer to a `lookup`. */
export interface LookupAnswer {
  op: "resolved";
  lid: number;
  /** The addresses, or absent when the name could not or may not be resolved. */
  addresses?: string[];
}

/** Anything the parent sends. */
export type ParentMessage = InitRequest | RunRequest | CancelRequest | PingRequest | LookupAnswer;

/** A successful answer. */
export interface OkResponse {
  id: number;
  ok: true;
  result: BridgeRunResult | null;
}

/** A failed call: a LOOM error code and a clean message, never a stack. */
export interface ErrorResponse {
  id: number;
  ok: false;
  code: LoomErrorCode;
  message: string;
  /** The argument name of an `INPUT_INVALID`. */
  field?: string;
  /** The HTTP status of an upstream error status. */
  status?: number;
  /** The start of the upstream error body. */
  detail?: string;
}

/** The child asks the parent to resolve a bridge host (see `_agent_server.ts`). */
export interface LookupRequest {
  op: "lookup";
  lid: number;
  host: string;
}

/** Anything the child sends. */
export type ChildMessage = OkResponse | ErrorResponse | LookupRequest;

/** Longest line either side accepts (a 1 MiB body is at most about 6 MiB of JSON). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

const ENCODER = new TextEncoder();
const NEWLINE = 0x0a;

/** Encode one message as a line. */
export function encodeLine(message: ParentMessage | ChildMessage): Uint8Array {
  return ENCODER.encode(JSON.stringify(message) + "\n");
}

/**
 * Split a byte stream into lines (without the newline). A line longer than
 * `maxBytes` ends the iteration with a `RangeError`.
 *
 * @param stream the bytes
 * @param maxBytes the longest line accepted
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number = MAX_LINE_BYTES,
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  const take = (tail: Uint8Array): string => {
    let bytes = tail;
    if (held.length > 0) {
      bytes = new Uint8Array(heldBytes + tail.byteLength);
      let at = 0;
      for (const part of held) {
        bytes.set(part, at);
        at += part.byteLength;
      }
      bytes.set(tail, at);
      held = [];
      heldBytes = 0;
    }
    return decoder.decode(bytes);
  };
  for await (const chunk of stream) {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      if (heldBytes + nl - start > maxBytes) throw new RangeError("Line exceeds the limit");
      yield take(chunk.subarray(start, nl));
      start = nl + 1;
    }
    if (start < chunk.byteLength) {
      const rest = chunk.slice(start);
      heldBytes += rest.byteLength;
      if (heldBytes > maxBytes) throw new RangeError("Line exceeds the limit");
      held.push(rest);
    }
  }
  if (heldBytes > 0) yield take(new Uint8Array(0));
}

const CODES: ReadonlySet<string> = new Set<LoomErrorCode>([
  "CONFIG_INVALID",
  "POLICY_DENIED",
  "RATE_LIMITED",
  "INTEGRITY_FAILED",
  "NOT_FOUND",
  "UPSTREAM_FAILED",
  "UPSTREAM_TIMEOUT",
  "RESPONSE_TOO_LARGE",
  "HELD_FOR_REVIEW",
  "INPUT_INVALID",
  "AUDIT_UNAVAILABLE",
  "USAGE",
  "UNAVAILABLE",
  "INTERNAL",
]);
const METHODS: ReadonlySet<string> = new Set<HttpMethod>([
  "GET",
  "HEAD",
  "OPTIONS",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
]);
const MAX_MESSAGE_CHARS = 2000;
const MAX_HOST_CHARS = 255;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function parseResult(value: unknown): BridgeRunResult | null | undefined {
  if (value === null) return null;
  if (!isRecord(value)) return undefined;
  const { text, status, bytes, url, method, redirects, secretNames } = value;
  if (
    typeof text !== "string" || !isCount(status) || !isCount(bytes) || typeof url !== "string" ||
    typeof method !== "string" || !METHODS.has(method) || !isCount(redirects) ||
    !Array.isArray(secretNames) || !secretNames.every((n) => typeof n === "string")
  ) return undefined;
  const result: BridgeRunResult = {
    text,
    status,
    bytes,
    url,
    method: method as HttpMethod,
    redirects,
    secretNames: secretNames as string[],
  };
  if ("structured" in value) result.structured = value.structured;
  return result;
}

/**
 * Parse and check one line from an agent host. The child may be
 * compromised, so anything unexpected is refused.
 *
 * @param line one line of the child's stdout
 * @returns the message, or null when the line is not a valid message
 */
export function parseChildMessage(line: string): ChildMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isRecord(value)) return null;
  if (value.op === "lookup") {
    const { lid, host } = value;
    if (!isCount(lid) || typeof host !== "string" || host.length > MAX_HOST_CHARS) return null;
    return { op: "lookup", lid, host };
  }
  const { id, ok } = value;
  if (!isCount(id)) return null;
  if (ok === true) {
    const result = parseResult(value.result);
    return result === undefined ? null : { id, ok: true, result };
  }
  if (ok !== false) return null;
  const { code, message, field, status, detail } = value;
  if (typeof code !== "string" || !CODES.has(code) || typeof message !== "string") return null;
  const error: ErrorResponse = {
    id,
    ok: false,
    code: code as LoomErrorCode,
    message: message.slice(0, MAX_MESSAGE_CHARS),
  };
  if (typeof field === "string") error.field = field.slice(0, MAX_MESSAGE_CHARS);
  if (isCount(status)) error.status = status;
  if (typeof detail === "string") error.detail = detail.slice(0, MAX_MESSAGE_CHARS);
  return error;
}
