/**
 * The pipe between LOOM and an agent host: newline-delimited JSON, one
 * message per line, in both directions.
 *
 * Parent to child: `init` once, then `run`, `cancel`, `ping`, and `resolved`
 * (the answer to a child's `lookup`). Child to parent: one response per
 * request with an `id` (`{ id, ok: true, result }` or
 * `{ id, ok: false, code, message }`), `lookup` requests, and `head`
 * notices (a `run` that asked for one: the upstream's response headers
 * arrived, with their status).
 *
 * The child is treated as untrusted: {@linkcode parseChildMessage} checks
 * every field before the parent acts on it.
 *
 * Both sides import this file, the child entry included, so it imports types
 * only (the child's graph loads without npm, config or read permission).
 *
 * @module
 */

import type { BridgeSpec, HttpMethod } from "../../config/mod.ts";
import type { LoomErrorCode } from "../../errors.ts";
import type { BridgeRunResult } from "../../upstream/mod.ts";

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
  /** Send a `head` notice when the upstream's final response headers arrive. */
  head?: true;
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

/** The child asks the parent to resolve a bridge host (see `child/agent_server.ts`). */
export interface LookupRequest {
  op: "lookup";
  lid: number;
  host: string;
}

/**
 * The upstream's final response headers arrived for the `run` with this
 * `id` (sent only when the run asked with `head: true`); no answer. The
 * parent drops it when the call is not in flight or did not ask.
 */
export interface HeadNotice {
  op: "head";
  id: number;
  /** The response's status, 100 to 999 (as the HTTP/1.1 parser accepts). */
  status: number;
}

/** Anything the child sends. */
export type ChildMessage = OkResponse | ErrorResponse | LookupRequest | HeadNotice;

/** Longest line either side accepts (a 1 MiB body is at most about 6 MiB of JSON). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

const ENCODER = new TextEncoder();
// A BOM is data here, not a marker to drop: a line starting with one is not JSON.
const DECODER = new TextDecoder("utf-8", { ignoreBOM: true });
const NEWLINE = 0x0a;
const NO_LINES: readonly string[] = Object.freeze([]);
/** Bytes asked for per read of a pipe. */
const READ_BYTES = 64 * 1024;

function lineTooLong(): RangeError {
  return new RangeError("Line exceeds the limit");
}

/**
 * Splits a byte stream into lines (without the newline), decoded as UTF-8.
 * All complete lines of a chunk are decoded at once; only the bytes of an
 * unfinished line are copied and held until its newline arrives, so the
 * caller may reuse a chunk's buffer once {@linkcode LineSplitter.push}
 * returns. A newline byte never occurs inside a UTF-8 sequence, so
 * splitting bytes and splitting the decoded text agree.
 */
export class LineSplitter {
  readonly #maxBytes: number;
  #held: Uint8Array[] = [];
  #heldBytes = 0;

  /** @param maxBytes the longest line accepted, in bytes */
  constructor(maxBytes: number = MAX_LINE_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /**
   * Take the next chunk of the stream.
   *
   * @param chunk bytes; not kept after the call
   * @returns the lines the chunk completed, in order
   * @throws {RangeError} when a line is longer than the limit
   */
  push(chunk: Uint8Array): readonly string[] {
    const last = chunk.lastIndexOf(NEWLINE);
    if (last === -1) {
      this.#hold(chunk);
      return NO_LINES;
    }
    const max = this.#maxBytes;
    const first = chunk.indexOf(NEWLINE);
    if (this.#heldBytes + first > max) throw lineTooLong();
    if (last - first - 1 > max) {
      for (let at = first + 1, nl = chunk.indexOf(NEWLINE, at); nl !== -1 && nl <= last;) {
        if (nl - at > max) throw lineTooLong();
        at = nl + 1;
        nl = chunk.indexOf(NEWLINE, at);
      }
    }
    const head = chunk.subarray(0, last);
    const text = DECODER.decode(this.#heldBytes === 0 ? head : this.#take(head));
    if (last + 1 < chunk.byteLength) this.#hold(chunk.subarray(last + 1));
    return text.split("\n");
  }

  /** The unfinished last line when the stream ended without a newline, else null. */
  end(): string | null {
    if (this.#heldBytes === 0) return null;
    return DECODER.decode(this.#take(new Uint8Array(0)));
  }

  #hold(bytes: Uint8Array): void {
    this.#heldBytes += bytes.byteLength;
    if (this.#heldBytes > this.#maxBytes) throw lineTooLong();
    this.#held.push(bytes.slice());
  }

  #take(tail: Uint8Array): Uint8Array {
    const bytes = new Uint8Array(this.#heldBytes + tail.byteLength);
    let at = 0;
    for (const part of this.#held) {
      bytes.set(part, at);
      at += part.byteLength;
    }
    bytes.set(tail, at);
    this.#held = [];
    this.#heldBytes = 0;
    return bytes;
  }
}

/**
 * Call `onLine` for each line of a byte stream (without the newline), the
 * last one included when the stream ends without a newline. Reads into one
 * reused buffer when the stream allows it, and calls back synchronously, so
 * a chunk of many lines costs one read and one decode.
 *
 * @param stream the bytes
 * @param onLine takes each line; returning `false` stops the reading
 * @param maxBytes the longest line accepted
 * @returns when the stream ended or `onLine` returned `false`
 * @throws {RangeError} when a line is longer than `maxBytes`
 */
export async function forEachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => boolean | void,
  maxBytes: number = MAX_LINE_BYTES,
): Promise<void> {
  const splitter = new LineSplitter(maxBytes);
  const feed = (chunk: Uint8Array): boolean => {
    for (const line of splitter.push(chunk)) if (onLine(line) === false) return false;
    return true;
  };
  let byob: ReadableStreamBYOBReader | null = null;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    byob = null; // not a byte stream
  }
  if (byob !== null) {
    try {
      let buffer = new ArrayBuffer(READ_BYTES);
      for (;;) {
        const { done, value } = await byob.read(new Uint8Array(buffer));
        if (done || value === undefined) break;
        if (!feed(value)) return;
        buffer = value.buffer;
      }
    } finally {
      byob.releaseLock();
    }
  } else {
    const reader = stream.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!feed(value)) return;
      }
    } finally {
      reader.releaseLock();
    }
  }
  const tail = splitter.end();
  if (tail !== null) onLine(tail);
}

/**
 * Writes messages as lines, coalescing into one write every message sent in
 * one turn of the event loop (the write happens in `setImmediate`, after the
 * turn's I/O callbacks and microtasks), and any sent while an asynchronous
 * write is under way. Under load a turn handles many calls, so one write
 * (and one wake-up of the reader) serves all of them; an idle pipe waits no
 * longer than the rest of the turn. Order is kept. The first failed write
 * ends the writer: `onError` is called once and later messages are dropped.
 */
export class LineWriter {
  readonly #write: (bytes: Uint8Array) => Promise<unknown> | void;
  readonly #onError: () => void;
  #lines: string[] = [];
  #scheduled = false;
  #inFlight = 0;
  #failed = false;

  /**
   * @param write writes all of the bytes, synchronously or by the returned promise
   * @param onError called once after the first failed write
   */
  constructor(write: (bytes: Uint8Array) => Promise<unknown> | void, onError: () => void = noop) {
    this.#write = write;
    this.#onError = onError;
  }

  /** Queue one message; it is written at the end of this turn, or after the write under way. */
  send(message: ParentMessage | ChildMessage): void {
    if (this.#failed) return;
    this.#lines.push(JSON.stringify(message));
    if (!this.#scheduled && this.#inFlight === 0) {
      this.#scheduled = true;
      setImmediate(this.#onTurn);
    }
  }

  /** Write everything queued now, without waiting for a write under way. */
  flush(): void {
    const lines = this.#lines;
    if (lines.length === 0 || this.#failed) return;
    this.#lines = [];
    const text = lines.length === 1 ? lines[0] + "\n" : lines.join("\n") + "\n";
    let pending: Promise<unknown> | void;
    try {
      pending = this.#write(ENCODER.encode(text));
    } catch {
      this.#fail();
      return;
    }
    if (pending !== undefined) {
      this.#inFlight++;
      pending.then(this.#onWritten, this.#onFailed);
    }
  }

  #onTurn = (): void => {
    this.#scheduled = false;
    if (this.#inFlight === 0) this.flush();
  };

  #onWritten = (): void => {
    if (--this.#inFlight === 0) this.flush();
  };

  #onFailed = (): void => {
    this.#inFlight--;
    this.#fail();
  };

  #fail(): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#lines = [];
    this.#onError();
  }
}

function noop(): void {}

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
  if (value.op === "head") {
    const { id, status } = value;
    if (!isCount(id) || !isCount(status) || status < 100 || status > 999) return null;
    return { op: "head", id, status };
  }
  if (value.op !== undefined) return null;
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
