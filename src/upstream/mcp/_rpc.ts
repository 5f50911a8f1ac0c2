/**
 * One JSON-RPC 2.0 conversation with an upstream MCP server, whatever
 * carries it (a child's stdio, HTTP POSTs): ids and pending requests,
 * progress tokens routed to their call, cancellation both ways, and the
 * server's own requests answered through the owner's handler.
 *
 * A message that is not JSON-RPC is dropped and counted. A response whose
 * id matches nothing sent (and nothing recently cancelled) means the two
 * sides are out of step: the conversation is broken (`onBroken`), which
 * resets the connection.
 *
 * @module
 */

import type { LoomError } from "../../errors.ts";
import { abortError, failed, RpcFault, UpstreamRpcError } from "./_errors.ts";

/** A JSON-RPC message as sent. */
export type RpcMessage = Record<string, unknown>;

/** Sends one message; for HTTP it also delivers what the answer carried. */
export type RpcSend = (message: RpcMessage, signal: AbortSignal) => Promise<void>;

/** What the conversation hands to its owner. */
export interface RpcHandlers {
  /** A notification other than progress and cancellation. */
  notification(method: string, params: Record<string, unknown>): void;
  /** A request of the server; throw {@linkcode RpcFault} for an error answer. */
  request(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<unknown>;
  /** The server answered an id never sent: the connection must be reset. */
  onBroken(reason: string): void;
}

interface Pending {
  method: string;
  resolve(result: Record<string, unknown>): void;
  reject(error: LoomError): void;
  progressToken?: string;
}

/** Ids of cancelled requests remembered, whose late answers are ignored. */
const CANCELLED_MEMORY = 256;
/** Requests of the server handled at once; more are refused. */
const MAX_INCOMING = 16;

/** One JSON-RPC conversation. */
export class RpcPeer {
  /** Messages dropped as malformed. */
  malformed = 0;
  readonly #agent: string;
  readonly #send: RpcSend;
  readonly #handlers: RpcHandlers;
  /** Whether `send()` resolves only after the answer was delivered (HTTP). */
  readonly #answersInline: boolean;
  readonly #pending = new Map<number, Pending>();
  readonly #progress = new Map<string, (p: number, total?: number, message?: string) => void>();
  readonly #cancelled = new Set<number>();
  readonly #incoming = new Map<string | number, AbortController>();
  #nextId = 1;
  #failure: LoomError | null = null;

  /**
   * @param agent the agent's name, for errors
   * @param send how a message leaves
   * @param handlers where the server's messages go
   * @param answersInline true when `send()` delivers the answer before resolving
   */
  constructor(agent: string, send: RpcSend, handlers: RpcHandlers, answersInline: boolean) {
    this.#agent = agent;
    this.#send = send;
    this.#handlers = handlers;
    this.#answersInline = answersInline;
  }

  /** Whether the conversation has ended (every request fails). */
  get failed(): boolean {
    return this.#failure !== null;
  }

  /** Requests waiting for an answer. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * Send a request and wait for its result.
   *
   * @param method the method
   * @param params its params (`_meta.progressToken` is added when `onProgress` is given)
   * @param signal aborting sends `notifications/cancelled` and rejects
   * @param onProgress receives this request's progress notifications
   * @returns the result object
   * @throws {UpstreamRpcError} for an error answer; the abort's error; the connection's failure
   */
  request(
    method: string,
    params: Record<string, unknown>,
    signal: AbortSignal,
    onProgress?: (progress: number, total?: number, message?: string) => void,
  ): Promise<Record<string, unknown>> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (signal.aborted) return Promise.reject(abortError(this.#agent, signal));
    const id = this.#nextId++;
    let sent = params;
    let progressToken: string | undefined;
    if (onProgress) {
      progressToken = `loom-${id}`;
      const meta = isObject(params._meta) ? params._meta : {};
      sent = { ...params, _meta: { ...meta, progressToken } };
      this.#progress.set(progressToken, onProgress);
    }
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const onAbort = () => {
        if (!this.#settle(id)) return;
        this.#remember(id);
        reject(abortError(this.#agent, signal));
        this.notify("notifications/cancelled", { requestId: id, reason: "Cancelled by LOOM" })
          .catch(() => {});
      };
      const done = () => signal.removeEventListener("abort", onAbort);
      this.#pending.set(id, {
        method,
        progressToken,
        resolve: (result) => {
          done();
          resolve(result);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
      signal.addEventListener("abort", onAbort, { once: true });
      this.#send({ jsonrpc: "2.0", id, method, params: sent }, signal).then(
        () => {
          if (this.#answersInline && this.#pending.has(id)) {
            this.#fail(id, failed(this.#agent, `ended its answer to ${method} without a result`));
          }
        },
        (error: LoomError) => this.#fail(id, error),
      );
    });
  }

  /** Send a notification. */
  notify(method: string, params: Record<string, unknown>): Promise<void> {
    if (this.#failure) return Promise.resolve();
    return this.#send({ jsonrpc: "2.0", method, params }, AbortSignal.timeout(5_000));
  }

  /**
   * Deliver one parsed message from the server.
   *
   * @param value the parsed JSON
   */
  receive(value: unknown): void {
    if (!isObject(value) || value.jsonrpc !== "2.0") {
      this.malformed++;
      return;
    }
    const id = value.id;
    const validId = typeof id === "string" || (typeof id === "number" && Number.isFinite(id));
    if (typeof value.method === "string") {
      const params = isObject(value.params) ? value.params : {};
      if (validId) this.#serve(id, value.method, params);
      else if (id === undefined) this.#notification(value.method, params);
      else this.malformed++;
      return;
    }
    if (!validId || (!("result" in value) && !("error" in value))) {
      this.malformed++; // an error about our message (id null) included
      return;
    }
    const key = typeof id === "number" ? id : Number.NaN;
    const pending = this.#pending.get(key);
    if (pending === undefined) {
      if (this.#cancelled.has(key)) return;
      this.#handlers.onBroken("answered a request that was never sent");
      return;
    }
    this.#settle(key);
    if ("error" in value) {
      const code = isObject(value.error) && typeof value.error.code === "number"
        ? value.error.code
        : -32603;
      pending.reject(new UpstreamRpcError(this.#agent, pending.method, code));
    } else if (isObject(value.result)) {
      pending.resolve(value.result);
    } else {
      pending.reject(failed(this.#agent, `answered ${pending.method} with a malformed result`));
    }
  }

  /**
   * End the conversation: every pending request, now and later, fails with `error`.
   *
   * @param error the failure
   */
  failAll(error: LoomError): void {
    this.#failure ??= error;
    for (const id of [...this.#pending.keys()]) this.#fail(id, error);
    for (const controller of this.#incoming.values()) controller.abort();
    this.#incoming.clear();
  }

  #fail(id: number, error: LoomError): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#settle(id);
    pending.reject(error);
  }

  /** Forget a pending request; false when it was already settled. */
  #settle(id: number): boolean {
    const pending = this.#pending.get(id);
    if (pending === undefined) return false;
    this.#pending.delete(id);
    if (pending.progressToken) this.#progress.delete(pending.progressToken);
    return true;
  }

  #remember(id: number): void {
    this.#cancelled.add(id);
    if (this.#cancelled.size > CANCELLED_MEMORY) {
      this.#cancelled.delete(this.#cancelled.values().next().value!);
    }
  }

  #notification(method: string, params: Record<string, unknown>): void {
    if (method === "notifications/progress") {
      const token = params.progressToken;
      const progress = params.progress;
      const route = typeof token === "string" ? this.#progress.get(token) : undefined;
      if (route === undefined || typeof progress !== "number") return;
      const total = typeof params.total === "number" ? params.total : undefined;
      const message = typeof params.message === "string" ? params.message : undefined;
      try {
        route(progress, total, message);
      } catch {
        // The owner's callback must not break the conversation.
      }
      return;
    }
    if (method === "notifications/cancelled") {
      const target = params.requestId;
      if (typeof target === "string" || typeof target === "number") {
        this.#incoming.get(target)?.abort();
      }
      return;
    }
    try {
      this.#handlers.notification(method, params);
    } catch {
      // Same.
    }
  }

  #serve(id: string | number, method: string, params: Record<string, unknown>): void {
    if (this.#incoming.size >= MAX_INCOMING || this.#incoming.has(id)) {
      this.#answer({ jsonrpc: "2.0", id, error: { code: -32603, message: "Too many requests" } });
      return;
    }
    const controller = new AbortController();
    this.#incoming.set(id, controller);
    this.#handlers.request(method, params, controller.signal).then(
      (result) => ({ jsonrpc: "2.0", id, result: isObject(result) ? result : {} }),
      (error) => {
        const fault = error instanceof RpcFault
          ? error
          : new RpcFault(-32603, "The request could not be answered");
        return { jsonrpc: "2.0", id, error: { code: fault.code, message: fault.message } };
      },
    ).then((answer) => {
      const live = this.#incoming.get(id) === controller && !controller.signal.aborted;
      this.#incoming.delete(id);
      if (live) this.#answer(answer);
    });
  }

  #answer(message: RpcMessage): void {
    if (this.#failure) return;
    this.#send(message, AbortSignal.timeout(30_000)).catch(() => {});
  }
}

/** Whether a value is a plain JSON object. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** How a link ended. */
export interface LinkEnd {
  /** The child's exit code (null when killed by a signal or not a process). */
  code: number | null;
  /** What happened, in LOOM's words. */
  detail: string;
  /** The child's last stderr bytes, sanitized (may hold secrets: diagnostics only). */
  stderrTail?: string;
}

/** One connection to the upstream: a running child, or an HTTP endpoint. */
export interface UpstreamLink {
  readonly peer: RpcPeer;
  /** The child's pid (stdio). */
  readonly pid: number | undefined;
  /** Resolves when the connection ends by itself or is closed. */
  readonly ended: Promise<LinkEnd>;
  /** End it: the child and its process group are killed; idempotent. */
  close(): Promise<void>;
}
