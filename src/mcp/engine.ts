/**
 * The MCP protocol engine: a transport-agnostic handler for the methods a
 * tool server speaks (initialize, ping, tools/list, tools/call,
 * logging/setLevel, cancellation) and for the client's responses to
 * requests the server sent it (see `session.ts`). Transports (stdio,
 * streamable HTTP) decode bytes into messages, hand them to
 * {@linkcode McpEngine.handle}, and write back what it returns.
 *
 * Methods live in a table built once per engine: each entry says whether it
 * may run before initialize and which server capability it belongs to, and
 * the capabilities announced at initialize are read from the same table, so
 * a method is served exactly when its capability is announced. A lookup in
 * the table costs what a `switch` did.
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
import { LOG_LEVELS, type LogLevel, McpSession } from "./session.ts";

export {
  ClientRequestError,
  type ClientRequestOptions,
  LOG_LEVELS,
  type LogLevel,
  McpSession,
} from "./session.ts";

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
  /**
   * Ask the client something in the middle of the call (a request such as
   * `elicitation/create`); see {@linkcode McpSession.request}. Ends with the
   * call's signal. Absent where no client can answer (a host driven
   * directly, as in tests and benches).
   */
  request?(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
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

/** Options of an engine. */
export interface McpEngineOptions {
  name: string;
  version: string;
  instructions?: string;
}

const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** Client capability names kept from initialize, and their length. */
const MAX_CLIENT_CAPABILITIES = 32;
const MAX_CAPABILITY_NAME = 64;

/** A server capability, announced at initialize with its settings. */
type ServerCapability = "tools" | "logging";

/** One method the engine serves. */
interface Method {
  /** Whether it may run before initialize (initialize and ping). */
  beforeInit: boolean;
  /** The server capability it belongs to; null for the base protocol. */
  capability: ServerCapability | null;
  handle(
    session: McpSession,
    req: JsonRpcRequest,
    params: Record<string, unknown>,
  ): JsonRpcResponse | Promise<JsonRpcResponse>;
}

/** What each server capability announces. */
const CAPABILITY_SETTINGS: Readonly<Record<ServerCapability, Record<string, unknown>>> = {
  tools: { listChanged: true },
  logging: {},
};

/** Handles decoded MCP messages for any number of sessions. */
export class McpEngine {
  #host: ToolHost;
  #options: McpEngineOptions;
  #sessions = new Set<McpSession>();
  #methods: ReadonlyMap<string, Method>;
  #capabilities: Record<string, unknown>;

  /**
   * @param host the tools served
   * @param options server name, version and optional instructions
   */
  constructor(host: ToolHost, options: McpEngineOptions) {
    this.#host = host;
    this.#options = options;
    this.#methods = new Map<string, Method>([
      ["initialize", {
        beforeInit: true,
        capability: null,
        handle: (session, req, params) => this.#initialize(session, req.id, params),
      }],
      ["ping", {
        beforeInit: true,
        capability: null,
        handle: (_session, req) => ({ jsonrpc: "2.0", id: req.id, result: {} }),
      }],
      ["tools/list", {
        beforeInit: false,
        capability: "tools",
        handle: (_session, req) => ({
          jsonrpc: "2.0",
          id: req.id,
          result: { tools: this.#host.listTools() as unknown as Record<string, unknown>[] },
        }),
      }],
      ["tools/call", {
        beforeInit: false,
        capability: "tools",
        handle: (session, req, params) => this.#callTool(session, req.id, params),
      }],
      ["logging/setLevel", {
        beforeInit: false,
        capability: "logging",
        handle: (session, req, params) => setLogLevel(session, req.id, params),
      }],
    ]);
    const capabilities: Record<string, unknown> = {};
    for (const method of this.#methods.values()) {
      if (method.capability !== null) {
        capabilities[method.capability] = CAPABILITY_SETTINGS[method.capability];
      }
    }
    this.#capabilities = capabilities;
  }

  /** Track a session so it receives `notifications/tools/list_changed`. */
  attach(session: McpSession): void {
    this.#sessions.add(session);
  }

  /** Stop tracking a session, abort its calls and fail its requests to the client. */
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
        // The answer to a request this server sent; one it never sent is dropped.
        session.settle(message.message);
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

  #onRequest(
    session: McpSession,
    req: JsonRpcRequest,
  ): JsonRpcResponse | Promise<JsonRpcResponse> {
    const method = this.#methods.get(req.method);
    if (method === undefined) {
      return rpcError(req.id, RPC_ERRORS.METHOD_NOT_FOUND, "Method not found");
    }
    if (!method.beforeInit && !session.initialized) {
      return rpcError(req.id, RPC_ERRORS.INVALID_REQUEST, "Server not initialized");
    }
    return method.handle(session, req, req.params ?? {});
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
    // Version negotiation: answer with the requested version when supported,
    // otherwise with the latest this server speaks.
    const version = SUPPORTED_PROTOCOL_VERSIONS.includes(requested)
      ? requested
      : LATEST_PROTOCOL_VERSION;
    const info = params.clientInfo as Record<string, unknown> | undefined;
    session.client = info && typeof info.name === "string"
      ? { name: info.name.slice(0, 128), version: String(info.version ?? "").slice(0, 64) }
      : null;
    session.clientCapabilities = capabilityNames(params.capabilities);
    session.protocolVersion = version;
    const result: Record<string, unknown> = {
      protocolVersion: version,
      capabilities: this.#capabilities,
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
        request: (method, params) => session.request(method, params, { signal: controller.signal }),
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

function setLogLevel(
  session: McpSession,
  id: JsonRpcId,
  params: Record<string, unknown>,
): JsonRpcResponse {
  const level = params.level;
  if (typeof level !== "string" || !(LOG_LEVELS as readonly string[]).includes(level)) {
    return rpcError(
      id,
      RPC_ERRORS.INVALID_PARAMS,
      `Invalid log level: expected one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  session.logLevel = level as LogLevel;
  return { jsonrpc: "2.0", id, result: {} };
}

/** The names of the capabilities a client declared (object keys), bounded. */
function capabilityNames(declared: unknown): ReadonlySet<string> {
  const names = new Set<string>();
  if (declared === null || typeof declared !== "object" || Array.isArray(declared)) return names;
  for (const [name, value] of Object.entries(declared)) {
    if (names.size >= MAX_CLIENT_CAPABILITIES) break;
    if (name.length <= MAX_CAPABILITY_NAME && value !== null && typeof value === "object") {
      names.add(name);
    }
  }
  return names;
}
