/**
 * The MCP protocol engine: a transport-agnostic handler for the methods a
 * tool server speaks (initialize, ping, tools/list, tools/call,
 * logging/setLevel, cancellation). Transports (stdio, streamable HTTP) decode
 * bytes into messages, hand them to {@linkcode McpEngine.handle}, and write
 * back what it returns.
 *
 * Why not the SDK's `McpServer` on the hot path: it parses every message with
 * zod and allocates per request, and a stateful session with JSON responses
 * retains memory per call (typescript-sdk issue 2559). This engine keeps the
 * wire format identical (the SDK client and the public conformance suite are
 * the tests) at a fraction of the cost.
 *
 * @module
 */

import {
  type Classified,
  type JsonRpcId,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  RPC_ERRORS,
  rpcError,
} from "./jsonrpc.ts";

/**
 * The newest MCP protocol version this server speaks (the one answered when a
 * client asks for a version it does not know, Lifecycle §Version Negotiation).
 *
 * A literal rather than the SDK's constant: importing the SDK's `types.js`
 * evaluates hundreds of zod schemas, a large share of `loom run`'s start-up.
 * `engine_test.ts` checks it against the SDK's `LATEST_PROTOCOL_VERSION`.
 */
export const LATEST_PROTOCOL_VERSION = "2025-11-25";

/**
 * Every protocol version this server speaks, newest first. Checked against the
 * SDK's `SUPPORTED_PROTOCOL_VERSIONS` by `engine_test.ts`.
 */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly string[] = Object.freeze([
  LATEST_PROTOCOL_VERSION,
  "2025-06-18",
  "2025-03-26",
  "2024-11-05",
  "2024-10-07",
]);

/** A tool as listed by `tools/list`. */
export interface McpTool {
  name: string;
  title?: string;
  description: string;
  inputSchema: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

/** Content of a tool result. */
export interface TextContent {
  type: "text";
  text: string;
}

/** What `tools/call` returns. */
export interface CallToolResult {
  content: TextContent[];
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
}

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

/** What a tool host learns about the call it serves. */
export interface ToolCallContext {
  /** Aborted when the client cancels or the session ends. */
  signal: AbortSignal;
  /** The MCP session, or null on stdio. */
  sessionId: string | null;
  /** The client as it introduced itself at initialize. */
  client: { name: string; version: string } | null;
  /** Send a log notification to the client (filtered by its level). */
  log(level: LogLevel, data: unknown): void;
}

/** Raised by a tool host for a name it does not serve. */
export class UnknownToolError extends Error {
  /** @param name the requested tool name */
  constructor(name: string) {
    super(`Unknown tool "${name}"`);
    this.name = "UnknownToolError";
  }
}

/** The tools behind an engine (one agent's gate, or a mesh). */
export interface ToolHost {
  /** The tools to list. Called on every `tools/list`; keep it cheap. */
  listTools(): readonly McpTool[];
  /**
   * Run one call through the gate. Returns a tool result (with `isError` for
   * tool-level failures) and throws {@linkcode UnknownToolError} for an
   * unknown name.
   */
  callTool(name: string, args: unknown, ctx: ToolCallContext): Promise<CallToolResult>;
}

/** One client connection's protocol state. */
export class McpSession {
  /** Session id on HTTP; null on stdio. */
  readonly id: string | null;
  /** Negotiated protocol version, set by initialize. */
  protocolVersion: string | null = null;
  /** The client's self-description. */
  client: { name: string; version: string } | null = null;
  /** Minimum level of log notifications to send. */
  logLevel: LogLevel = "info";
  /** Monotonic ms of the last message, for idle expiry. */
  lastSeen: number = performance.now();
  /** The latest in-flight request of each id, for `notifications/cancelled`. */
  #byId = new Map<JsonRpcId, AbortController>();
  /** Every in-flight request (ids may repeat when a client breaks the protocol). */
  #inflight = new Set<AbortController>();
  #send: (message: JsonRpcNotification) => void;
  #closed = false;

  /**
   * @param id session id (null for stdio)
   * @param send delivers a server-initiated notification to the client
   */
  constructor(id: string | null, send: (message: JsonRpcNotification) => void) {
    this.id = id;
    this.#send = send;
  }

  /** True once initialize has succeeded. */
  get initialized(): boolean {
    return this.protocolVersion !== null;
  }

  /** Send a notification (no-op after close). */
  notify(method: string, params?: Record<string, unknown>): void {
    if (this.#closed) return;
    this.#send(params ? { jsonrpc: "2.0", method, params } : { jsonrpc: "2.0", method });
  }

  /** Send a log message if the session's level admits it. */
  log(level: LogLevel, data: unknown, logger = "loom"): void {
    if (LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(this.logLevel)) return;
    this.notify("notifications/message", { level, logger, data });
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

  /** Abort everything in flight; no further notifications are sent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const inflight = [...this.#inflight];
    this.#inflight.clear();
    this.#byId.clear();
    const reason = sessionClosed();
    for (const controller of inflight) controller.abort(reason);
  }
}

function sessionClosed(): DOMException {
  return new DOMException("Session closed", "AbortError");
}

/** Options of an engine. */
export interface McpEngineOptions {
  name: string;
  version: string;
  instructions?: string;
}

const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** Handles decoded MCP messages for any number of sessions. */
export class McpEngine {
  #host: ToolHost;
  #options: McpEngineOptions;
  #sessions = new Set<McpSession>();

  /**
   * @param host the tools served
   * @param options server name, version and optional instructions
   */
  constructor(host: ToolHost, options: McpEngineOptions) {
    this.#host = host;
    this.#options = options;
  }

  /** Track a session so it receives `notifications/tools/list_changed`. */
  attach(session: McpSession): void {
    this.#sessions.add(session);
  }

  /** Stop tracking a session and abort its calls. */
  detach(session: McpSession): void {
    this.#sessions.delete(session);
    session.close();
  }

  /** Tell every initialized session that the tool list changed. */
  notifyToolsChanged(): void {
    for (const s of this.#sessions) {
      if (s.initialized) s.notify("notifications/tools/list_changed");
    }
  }

  /** Protocol versions this server speaks, newest first. */
  static readonly supportedVersions: readonly string[] = SUPPORTED_PROTOCOL_VERSIONS;

  /**
   * Handle one classified message.
   *
   * @param session the connection's state
   * @param message a classified message (see `classifyMessage`)
   * @returns the response for a request (or invalid message), null otherwise
   */
  async handle(session: McpSession, message: Classified): Promise<JsonRpcResponse | null> {
    session.lastSeen = performance.now();
    switch (message.kind) {
      case "invalid":
        return rpcError(message.id, RPC_ERRORS.INVALID_REQUEST, message.reason);
      case "response":
        // LOOM sends no requests to clients yet; a stray response is ignored.
        return null;
      case "notification":
        this.#onNotification(session, message.message);
        return null;
      case "request":
        return await this.#onRequest(session, message.message);
    }
  }

  #onNotification(session: McpSession, n: JsonRpcNotification): void {
    if (n.method === "notifications/cancelled") {
      const id = n.params?.requestId;
      if (typeof id === "string" || typeof id === "number") session.cancel(id);
    }
    // notifications/initialized and unknown notifications need no action.
  }

  async #onRequest(session: McpSession, req: JsonRpcRequest): Promise<JsonRpcResponse> {
    const params = req.params ?? {};
    switch (req.method) {
      case "initialize":
        return this.#initialize(session, req.id, params);
      case "ping":
        return { jsonrpc: "2.0", id: req.id, result: {} };
    }
    if (!session.initialized) {
      return rpcError(req.id, RPC_ERRORS.INVALID_REQUEST, "Server not initialized");
    }
    switch (req.method) {
      case "tools/list":
        return {
          jsonrpc: "2.0",
          id: req.id,
          result: { tools: this.#host.listTools() as unknown as Record<string, unknown>[] },
        };
      case "tools/call":
        return await this.#callTool(session, req.id, params);
      case "logging/setLevel": {
        const level = params.level;
        if (typeof level !== "string" || !(LOG_LEVELS as readonly string[]).includes(level)) {
          return rpcError(
            req.id,
            RPC_ERRORS.INVALID_PARAMS,
            `Invalid log level: expected one of ${LOG_LEVELS.join(", ")}`,
          );
        }
        session.logLevel = level as LogLevel;
        return { jsonrpc: "2.0", id: req.id, result: {} };
      }
      default:
        return rpcError(req.id, RPC_ERRORS.METHOD_NOT_FOUND, "Method not found");
    }
  }

  #initialize(
    session: McpSession,
    id: JsonRpcId,
    params: Record<string, unknown>,
  ): JsonRpcResponse {
    const requested = params.protocolVersion;
    if (typeof requested !== "string") {
      return rpcError(id, RPC_ERRORS.INVALID_PARAMS, 'Field "protocolVersion" must be a string');
    }
    // Lifecycle §Version Negotiation: answer with the requested version when
    // supported, otherwise with the latest this server speaks.
    const version = SUPPORTED_PROTOCOL_VERSIONS.includes(requested)
      ? requested
      : LATEST_PROTOCOL_VERSION;
    const info = params.clientInfo as Record<string, unknown> | undefined;
    session.client = info && typeof info.name === "string"
      ? { name: info.name.slice(0, 128), version: String(info.version ?? "").slice(0, 64) }
      : null;
    session.protocolVersion = version;
    const result: Record<string, unknown> = {
      protocolVersion: version,
      capabilities: { tools: { listChanged: true }, logging: {} },
      serverInfo: { name: this.#options.name, version: this.#options.version },
    };
    if (this.#options.instructions) result.instructions = this.#options.instructions;
    return { jsonrpc: "2.0", id, result };
  }

  async #callTool(
    session: McpSession,
    id: JsonRpcId,
    params: Record<string, unknown>,
  ): Promise<JsonRpcResponse> {
    const name = params.name;
    if (typeof name !== "string") {
      return rpcError(id, RPC_ERRORS.INVALID_PARAMS, 'Field "name" must be a string');
    }
    const controller = session.begin(id);
    try {
      const result = await this.#host.callTool(name, params.arguments, {
        signal: controller.signal,
        sessionId: session.id,
        client: session.client,
        log: (level, data) => session.log(level, data),
      });
      return { jsonrpc: "2.0", id, result: result as unknown as Record<string, unknown> };
    } catch (error) {
      if (error instanceof UnknownToolError) {
        const shown = TOOL_NAME.test(name) ? `Unknown tool "${name}"` : "Unknown tool";
        return rpcError(id, RPC_ERRORS.INVALID_PARAMS, shown);
      }
      // A host bug: never leak a stack or internal detail to the client.
      console.error("loom: internal error in tools/call:", error);
      return rpcError(id, RPC_ERRORS.INTERNAL_ERROR, "Internal error");
    } finally {
      session.end(id, controller);
    }
  }
}
