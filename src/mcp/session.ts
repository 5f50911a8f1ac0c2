/**
 * One client connection's protocol state: the negotiated version, what the
 * client said about itself and its capabilities, its log level, the requests
 * it has in flight (so `notifications/cancelled` and a closing session can
 * abort them), and the requests the server has sent it and awaits answers to.
 *
 * Server-to-client requests (elicitation, sampling, roots) are the base for
 * asking a person or the client something in the middle of a call. They are
 * refused locally, before anything is sent, unless the client declared the
 * capability at initialize; each one ends on the client's response, on its
 * deadline, on the caller's signal, or when the session closes, so none can
 * be left waiting. A response whose id the server never sent, or already
 * settled, is dropped: a client cannot answer for another session or twice.
 *
 * @module
 */

import type { JsonRpcId, JsonRpcMessage, JsonRpcResponse } from "./jsonrpc.ts";

/** Log levels of MCP logging, least severe first (RFC 5424 names). */
export const LOG_LEVELS = [
  "debug",
  "info",
  "notice",
  "warning",
  "error",
  "critical",
  "alert",
  "emergency",
] as const;

/** One MCP log level. */
export type LogLevel = typeof LOG_LEVELS[number];

/** The client capabilities a server request can need, by request method. */
const METHOD_CAPABILITY: Readonly<Record<string, string>> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
  "roots/list": "roots",
};

/** Default deadline of a server-to-client request. */
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** Outgoing requests one session may have unanswered at a time. */
const MAX_OUTGOING = 64;

/** A server-to-client request that did not get a result. */
export class ClientRequestError extends Error {
  /**
   * The JSON-RPC error code the client answered with, or null when the
   * request ended without an answer (deadline, cancellation, closed session,
   * missing capability).
   */
  readonly code: number | null;

  /**
   * @param message what happened
   * @param code the client's error code, if it answered with one
   */
  constructor(message: string, code: number | null = null) {
    super(message);
    this.name = "ClientRequestError";
    this.code = code;
  }
}

/** Options of {@linkcode McpSession.request}. */
export interface ClientRequestOptions {
  /** Ends the request early (e.g. the tool call it belongs to was cancelled). */
  signal?: AbortSignal;
  /** Deadline in ms. Default 60 s. */
  timeoutMs?: number;
}

interface Outgoing {
  resolve(result: Record<string, unknown>): void;
  reject(error: ClientRequestError): void;
}

/** One client connection's protocol state. */
export class McpSession {
  /** Session id on HTTP; null on stdio. */
  readonly id: string | null;
  /** Negotiated protocol version, set by initialize. */
  protocolVersion: string | null = null;
  /** The client's self-description. */
  client: { name: string; version: string } | null = null;
  /** The capability names the client declared at initialize (`elicitation`, `roots`...). */
  clientCapabilities: ReadonlySet<string> = new Set();
  /**
   * Least severe level of log notifications to send; null sends none: a
   * client that did not ask (`logging/setLevel`, or a 2026-07-28 request's
   * `_meta`) gets no log messages.
   */
  logLevel: LogLevel | null = null;
  /**
   * Set for the state of one 2026-07-28 request: that revision has no
   * server-to-client requests on a stream (a server asks through an
   * `input_required` result instead), so {@linkcode McpSession.request} refuses.
   */
  stateless = false;
  /** Monotonic ms of the last message, for idle expiry. */
  lastSeen: number = performance.now();
  /** The latest in-flight request of each id, for `notifications/cancelled`. */
  #byId = new Map<JsonRpcId, AbortController>();
  /** Every in-flight request (ids may repeat when a client breaks the protocol). */
  #inflight = new Set<AbortController>();
  /** Requests sent to the client, by the id the server gave them. */
  #outgoing = new Map<string, Outgoing>();
  #nextOutgoing = 1;
  #send: (message: JsonRpcMessage) => void;
  #closed = false;

  /**
   * @param id session id (null for stdio)
   * @param send delivers a server-initiated message (notification or request) to the client
   */
  constructor(id: string | null, send: (message: JsonRpcMessage) => void) {
    this.id = id;
    this.#send = send;
  }

  /** True once initialize has succeeded. */
  get initialized(): boolean {
    return this.protocolVersion !== null;
  }

  /** True once the session is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Send a notification (no-op after close). */
  notify(method: string, params?: Record<string, unknown>): void {
    if (this.#closed) return;
    this.#send(params ? { jsonrpc: "2.0", method, params } : { jsonrpc: "2.0", method });
  }

  /** Send a log message if the session's level admits it. */
  log(level: LogLevel, data: unknown, logger = "loom"): void {
    if (this.logLevel === null) return;
    if (LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(this.logLevel)) return;
    this.notify("notifications/message", { level, logger, data });
  }

  /**
   * Send a request to the client and await its result.
   *
   * @param method e.g. `elicitation/create`
   * @param params the request's params
   * @param options deadline and cancellation
   * @returns the client's `result`
   * @throws {ClientRequestError} when the client did not declare the
   *   capability the method needs, answered with an error, or did not answer
   *   before the deadline, the signal or the end of the session
   */
  request(
    method: string,
    params: Record<string, unknown>,
    options: ClientRequestOptions = {},
  ): Promise<Record<string, unknown>> {
    const needs = Object.hasOwn(METHOD_CAPABILITY, method) ? METHOD_CAPABILITY[method] : null;
    if (this.#closed) return Promise.reject(new ClientRequestError("Session closed"));
    if (this.stateless) {
      return Promise.reject(
        new ClientRequestError("A 2026-07-28 request cannot carry a request to the client"),
      );
    }
    if (!this.initialized) {
      return Promise.reject(new ClientRequestError("Session not initialized"));
    }
    if (needs !== null && !this.clientCapabilities.has(needs)) {
      return Promise.reject(
        new ClientRequestError(`The client did not declare the "${needs}" capability`),
      );
    }
    if (this.#outgoing.size >= MAX_OUTGOING) {
      return Promise.reject(new ClientRequestError("Too many requests awaiting the client"));
    }
    if (options.signal?.aborted) return Promise.reject(new ClientRequestError("Cancelled"));
    const id = `loom-${this.#nextOutgoing++}`;
    return new Promise((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
      const timer = setTimeout(() => {
        settle();
        this.notify("notifications/cancelled", { requestId: id, reason: "Timed out" });
        reject(new ClientRequestError(`The client did not answer "${method}" in time`));
      }, timeoutMs);
      const onAbort = () => {
        settle();
        this.notify("notifications/cancelled", { requestId: id, reason: "Cancelled" });
        reject(new ClientRequestError("Cancelled"));
      };
      const settle = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
        this.#outgoing.delete(id);
      };
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.#outgoing.set(id, {
        resolve: (result) => (settle(), resolve(result)),
        reject: (error) => (settle(), reject(error)),
      });
      this.#send({ jsonrpc: "2.0", id, method, params });
    });
  }

  /**
   * Deliver a response from the client to the request it answers.
   *
   * @param response the client's response
   * @returns true when it answered a request this session is awaiting
   */
  settle(response: JsonRpcResponse): boolean {
    const id = response.id;
    if (typeof id !== "string") return false; // this server's ids are strings
    const waiting = this.#outgoing.get(id);
    if (waiting === undefined) return false;
    if ("result" in response) waiting.resolve(response.result);
    else {
      const { code, message } = response.error;
      waiting.reject(new ClientRequestError(`The client answered with an error: ${message}`, code));
    }
    return true;
  }

  /**
   * The client can send nothing more (stdin ended): fail every request
   * awaiting its answer now, rather than at each one's deadline. Calls in
   * flight go on.
   */
  inputEnded(): void {
    for (const waiting of [...this.#outgoing.values()]) {
      waiting.reject(new ClientRequestError("The client closed its input"));
    }
  }

  /**
   * Start tracking a request so it can be cancelled. Its signal aborts on
   * {@linkcode McpSession.cancel} of its id or on {@linkcode McpSession.close}
   * (already aborted when the session is closed). One controller per request,
   * aborted directly, costs less than deriving a combined signal per request.
   *
   * @param id the request's id
   * @returns the request's controller; pass it to {@linkcode McpSession.end}
   */
  begin(id: JsonRpcId): AbortController {
    const controller = new AbortController();
    if (this.#closed) {
      controller.abort(sessionClosed());
      return controller;
    }
    this.#byId.set(id, controller);
    this.#inflight.add(controller);
    return controller;
  }

  /**
   * Stop tracking a request.
   *
   * @param id the request's id
   * @param controller what {@linkcode McpSession.begin} returned for it
   */
  end(id: JsonRpcId, controller: AbortController): void {
    this.#inflight.delete(controller);
    if (this.#byId.get(id) === controller) this.#byId.delete(id);
  }

  /** Cancel one in-flight request (notifications/cancelled). */
  cancel(id: JsonRpcId): void {
    this.#byId.get(id)?.abort(new DOMException("Cancelled by the client", "AbortError"));
  }

  /**
   * Abort everything in flight and fail every request awaiting the client;
   * no further messages are sent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const inflight = [...this.#inflight];
    this.#inflight.clear();
    this.#byId.clear();
    const reason = sessionClosed();
    for (const controller of inflight) controller.abort(reason);
    for (const waiting of [...this.#outgoing.values()]) {
      waiting.reject(new ClientRequestError("Session closed"));
    }
  }
}

function sessionClosed(): DOMException {
  return new DOMException("Session closed", "AbortError");
}
