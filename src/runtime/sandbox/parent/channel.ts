/**
 * The parent's end of the pipe to one agent host process: requests written
 * as lines (every message of one event-loop turn in one write), answers
 * matched to their pending call by id, the child's name lookups answered,
 * and the child's errors mapped to LOOM's.
 *
 * The child is untrusted. Every line it writes is checked by
 * `parseChildMessage()` (`../protocol.ts`) before the parent acts on it, and
 * the first line that fails (or is longer than the protocol allows) is
 * reported through {@linkcode ChannelOptions.onBroken}: the supervisor then
 * kills the process. An answer or a `head` notice to an id that is not
 * pending is dropped. The
 * parent resolves only hosts of bridges it sent, so a compromised child
 * cannot use it as a DNS channel. Error answers become LOOM errors by code,
 * with the child's clean message, never a stack.
 *
 * @module
 */

import { lookup as dnsLookup } from "node:dns/promises";
import { type BridgeRunResult, UpstreamStatusError } from "../../../upstream/mod.ts";
import { InputError, LoomError, PolicyError, UpstreamError } from "../../../errors.ts";
import { formatDuration } from "../../../_util/units.ts";
import {
  type ChildMessage,
  type ErrorResponse,
  forEachLine,
  type InitRequest,
  LineWriter,
  type LookupRequest,
  type ParentMessage,
  parseChildMessage,
  type PingRequest,
} from "../protocol.ts";

/** A call waiting for the child's answer. */
export interface Pending {
  resolve(result: BridgeRunResult | null): void;
  reject(error: LoomError): void;
  /** The child's `head` notice for this call; absent: the notice is dropped. */
  head?(status: number): void;
}

/** What a {@linkcode HostChannel} needs besides the process. */
export interface ChannelOptions {
  /** Resolves a host for the child's destination checks. */
  lookup: (host: string) => Promise<string[]>;
  /** The hosts the child may have resolved: those of bridges this parent sent. */
  resolvable: ReadonlySet<string>;
  /** Each line the process writes to stderr (cut to 4 KiB). */
  onLog?: (line: string) => void;
  /** The child wrote a line that is not a valid message, or an overlong one. */
  onBroken: () => void;
}

const LOG_LINE_CHARS = 4096;
const LOG_LINE_BYTES = 1024 * 1024;
const OUT_OF_MEMORY = /out of memory|heap limit/i;

/** Resolve a host with the system resolver: every address. */
export async function systemLookup(host: string): Promise<string[]> {
  const found = await dnsLookup(host, { all: true });
  return found.map((a) => a.address);
}

/**
 * The pipe to one agent host process. Reading starts at construction and
 * ends when the process closes its stdout and stderr ({@linkcode drained}).
 */
export class HostChannel {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Coalesces the messages of one turn into one write to the child's stdin. */
  readonly #out: LineWriter;
  readonly #pending = new Map<number, Pending>();
  readonly #options: ChannelOptions;
  #outOfMemory = false;
  /** Settles when the child's stdout and stderr were read to their end. */
  readonly drained: Promise<void>;

  /**
   * @param child the process, with all three streams piped
   * @param options lookups, logs, and what to do when the child breaks the protocol
   */
  constructor(child: Deno.ChildProcess, options: ChannelOptions) {
    this.#child = child;
    this.#options = options;
    const writer = child.stdin.getWriter();
    this.#writer = writer;
    // A failed write means the process is gone; its exit fails whatever is pending.
    this.#out = new LineWriter((bytes) => writer.write(bytes));
    const stdout = this.#readStdout();
    const stderr = this.#readStderr();
    this.drained = Promise.allSettled([stdout, stderr]).then(() => {});
  }

  /** Whether the child reported that V8 ran out of heap. */
  get outOfMemory(): boolean {
    return this.#outOfMemory;
  }

  /** Queue one message; it is written at the end of this turn. */
  send(message: ParentMessage): void {
    this.#out.send(message);
  }

  /** Send a request; settles with the child's answer to its id. */
  request(message: InitRequest | PingRequest): Promise<BridgeRunResult | null> {
    return new Promise((resolve, reject) => {
      this.#pending.set(message.id, { resolve, reject });
      this.send(message);
    });
  }

  /** Route the answer to `id` to `pending` (send the request after). */
  expect(id: number, pending: Pending): void {
    this.#pending.set(id, pending);
  }

  /** Drop the call `id`: a later answer to it is ignored. */
  forget(id: number): void {
    this.#pending.delete(id);
  }

  /** Fail every pending call with `error` (the process is gone). */
  failAll(error: LoomError): void {
    for (const pending of [...this.#pending.values()]) pending.reject(error);
    this.#pending.clear();
  }

  /** Write what is queued and close the child's stdin, which asks it to end. */
  end(): void {
    this.#out.flush();
    this.#writer.close().catch(() => {});
  }

  /** Close the child's stdin after the process exited. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
  }

  async #readStdout(): Promise<void> {
    const stdout = this.#child.stdout;
    try {
      await forEachLine(stdout, (line) => {
        if (line === "") return true;
        const message = parseChildMessage(line);
        if (message === null) {
          this.#options.onBroken();
          return false;
        }
        this.#onMessage(message);
        return true;
      });
    } catch {
      this.#options.onBroken();
    } finally {
      await stdout.cancel().catch(() => {});
    }
  }

  async #readStderr(): Promise<void> {
    const { onLog } = this.#options;
    const stderr = this.#child.stderr;
    try {
      await forEachLine(stderr, (line) => {
        if (OUT_OF_MEMORY.test(line)) this.#outOfMemory = true;
        onLog?.(line.slice(0, LOG_LINE_CHARS));
      }, LOG_LINE_BYTES);
    } catch {
      // An overlong line: stop forwarding and drain.
      await stderr.pipeTo(new WritableStream()).catch(() => {});
    }
  }

  #onMessage(message: ChildMessage): void {
    if ("op" in message) {
      // A notice for a call not in flight (or that did not ask) is dropped.
      if (message.op === "head") this.#pending.get(message.id)?.head?.(message.status);
      else this.#answerLookup(message);
      return;
    }
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return; // answered after its deadline
    this.#pending.delete(message.id);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(toLoomError(message));
  }

  /**
   * Resolve a host for the child's destination check. Only hosts of bridges
   * this parent sent are resolved, so a compromised child cannot use the
   * parent as a DNS channel.
   */
  #answerLookup(request: LookupRequest): void {
    const { lid, host } = request;
    if (!this.#options.resolvable.has(host)) {
      this.send({ op: "resolved", lid });
      return;
    }
    this.#options.lookup(host).then(
      (addresses) => this.send({ op: "resolved", lid, addresses }),
      () => this.send({ op: "resolved", lid }),
    );
  }
}

/**
 * The LOOM error for a child's error answer: the same class and code the
 * bridge would have thrown in process.
 *
 * @param response the checked error answer
 * @returns the error to throw to the caller
 */
export function toLoomError(response: ErrorResponse): LoomError {
  const { code, message } = response;
  switch (code) {
    case "UPSTREAM_FAILED":
      return response.status !== undefined && response.status >= 400
        ? new UpstreamStatusError(response.status, response.detail ?? "")
        : new UpstreamError(code, message);
    case "UPSTREAM_TIMEOUT":
    case "RESPONSE_TOO_LARGE":
      return new UpstreamError(code, message);
    case "POLICY_DENIED":
      return new PolicyError(message);
    case "INPUT_INVALID": {
      const error = new InputError(response.field ?? "", "");
      error.message = message;
      return error;
    }
    default:
      return new LoomError(code, message);
  }
}

/** An `UNAVAILABLE` error: the agent host is not there to answer. */
export function unavailable(message: string): LoomError {
  return new LoomError("UNAVAILABLE", message);
}

/** Whether a call's abort reason is its deadline rather than a cancellation. */
export function isTimeout(reason: unknown): boolean {
  if (reason instanceof LoomError) return reason.code === "UPSTREAM_TIMEOUT";
  return !(reason instanceof DOMException && reason.name === "AbortError");
}

/**
 * The LOOM error for a call ended by its signal: the reason itself when it
 * is a LOOM error, `UPSTREAM_TIMEOUT` at the deadline, else a cancellation.
 *
 * @param reason the signal's reason
 * @param deadlineMs the agent's `max_execution_time`, for the message
 * @returns the error to throw to the caller
 */
export function abortError(reason: unknown, deadlineMs: number): LoomError {
  if (reason instanceof LoomError) return reason;
  if (isTimeout(reason)) return timeoutError(deadlineMs);
  return new UpstreamError("UPSTREAM_FAILED", "Upstream call was cancelled");
}

/** `UPSTREAM_TIMEOUT` for a call that ran past its deadline. */
export function timeoutError(deadlineMs: number): LoomError {
  return new UpstreamError(
    "UPSTREAM_TIMEOUT",
    `Call exceeded max_execution_time of ${formatDuration(deadlineMs)}`,
  );
}
