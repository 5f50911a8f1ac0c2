/**
 * The MCP protocol engine: a transport-agnostic handler for the methods a
 * tool server speaks, in both eras of the protocol, and for the client's
 * responses to requests the server sent it (see `session.ts`). Transports
 * (stdio, streamable HTTP) decode bytes into messages, hand them to
 * {@linkcode McpEngine.handle}, and write back what it returns.
 *
 * Two eras, chosen per message (see `modern.ts`):
 * - **2026-07-28, stateless**: a request whose `_meta` names its protocol
 *   version, client and client capabilities. No session and no initialize:
 *   `server/discover`, `tools/list`, `tools/call`, `subscriptions/listen`,
 *   and empty `prompts/list` and `resources/list`. Every result carries
 *   `resultType` and the server's identity in `_meta`; lists carry cache
 *   hints (`ttlMs`, `cacheScope`). `initialize`, `ping` and
 *   `logging/setLevel` do not exist in this era (-32601).
 * - **2025-11-25 and earlier**: `initialize` opens a session (the stdio
 *   process, or an HTTP session), then `ping`, `tools/list`, `tools/call`,
 *   `logging/setLevel` and cancellation, exactly as before.
 *
 * Methods live in one table per era, built once per engine: each entry
 * names the server capability it belongs to, and the capabilities announced
 * (at initialize, or by `server/discover`) are read from the same table, so
 * a method is served exactly when its capability is announced. A lookup in
 * the table costs what a `switch` did.
 *
 * A request's own notifications (progress, log messages) go where
 * {@linkcode HandleOptions.notify} says (the request's SSE stream on HTTP),
 * else to the session. Log messages of a stateless request are sent only at
 * or above the level its `_meta` asks for, and none when it asks for none.
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
import {
  capabilityNames,
  clientInfo,
  hasModernMeta,
  META,
  MODERN_PROTOCOL_VERSION,
  MODERN_PROTOCOL_VERSIONS,
  readRequestMeta,
  type RequestMeta,
} from "./modern.ts";
import { LOG_LEVELS, type LogLevel, McpSession } from "./session.ts";
import { Subscriptions } from "./subscriptions.ts";
import { callContext } from "./_call_context.ts";
import {
  type HandleOptions,
  LATEST_PROTOCOL_VERSION,
  type McpEngineOptions,
  type McpTool,
  SUPPORTED_PROTOCOL_VERSIONS,
  type ToolHost,
  UnknownToolError,
} from "./types.ts";

export {
  ClientRequestError,
  type ClientRequestOptions,
  LOG_LEVELS,
  type LogLevel,
  McpSession,
} from "./session.ts";
export {
  hasModernMeta,
  META,
  MODERN_ERRORS,
  MODERN_PROTOCOL_VERSION,
  MODERN_PROTOCOL_VERSIONS,
} from "./modern.ts";

export * from "./types.ts";

/** How long a client may cache a list (`ttlMs`): a change is also announced. */
export const LIST_TTL_MS = 60_000;
/** How long a client may cache `server/discover`: it changes only with the process. */
export const DISCOVER_TTL_MS = 10 * 60_000;

const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** A server capability, announced with its settings. */
type ServerCapability = "tools" | "logging" | "prompts" | "resources";

/** The facts a method runs with: from the session, or from the request's `_meta`. */
interface RequestFacts {
  session: McpSession;
  client: { name: string; version: string } | null;
  /** Present for a 2026-07-28 request. */
  meta: RequestMeta | null;
  options: HandleOptions;
}

/** One method the engine serves. */
interface Method {
  /** The server capability it belongs to; null for the base protocol. */
  capability: ServerCapability | null;
  handle(
    req: JsonRpcRequest,
    params: Record<string, unknown>,
    facts: RequestFacts,
  ): JsonRpcResponse | null | Promise<JsonRpcResponse | null>;
}

/** What each server capability announces. */
const CAPABILITY_SETTINGS: Readonly<Record<ServerCapability, Record<string, unknown>>> = {
  tools: { listChanged: true },
  logging: {},
  prompts: { listChanged: false },
  resources: { subscribe: false, listChanged: false },
};

/**
 * Handles decoded MCP messages for any number of sessions, in both eras: a
 * request whose `_meta` names a protocol version is served statelessly
 * (2026-07-28); `initialize` opens a session of the earlier revisions.
 */
export class McpEngine {
  #host: ToolHost;
  #options: McpEngineOptions;
  #sessions = new Set<McpSession>();
  #legacy: ReadonlyMap<string, Method>;
  #modern: ReadonlyMap<string, Method>;
  #legacyCapabilities: Record<string, unknown>;
  #modernCapabilities: Record<string, unknown>;
  #subscriptions = new Subscriptions();
  #indexed: readonly McpTool[] | null = null;
  #index = new Map<string, McpTool>();
  /** Answer `_meta` of a stateless result: who the server is. */
  #resultMeta: Record<string, unknown>;

  /**
   * @param host the tools served
   * @param options server name, version and optional instructions
   */
  constructor(host: ToolHost, options: McpEngineOptions) {
    this.#host = host;
    this.#options = options;
    this.#resultMeta = Object.freeze({
      [META.serverInfo]: Object.freeze({ name: options.name, version: options.version }),
    });
    const toolsList: Method = {
      capability: "tools",
      handle: (req, _params, facts) =>
        this.#result(req.id, facts, { tools: this.#host.listTools() }, LIST_TTL_MS),
    };
    const toolsCall: Method = {
      capability: "tools",
      handle: (req, params, facts) => this.#callTool(req.id, params, facts),
    };
    this.#legacy = new Map<string, Method>([
      ["initialize", {
        capability: null,
        handle: (req, params, facts) => this.#initialize(facts.session, req.id, params),
      }],
      ["ping", {
        capability: null,
        handle: (req) => ({ jsonrpc: "2.0", id: req.id, result: {} }),
      }],
      ["tools/list", toolsList],
      ["tools/call", toolsCall],
      ["logging/setLevel", {
        capability: "logging",
        handle: (req, params, facts) => setLogLevel(facts.session, req.id, params),
      }],
    ]);
    const empty = (key: string): Method => ({
      capability: key === "prompts" ? "prompts" : "resources",
      handle: (req, _params, facts) => this.#result(req.id, facts, { [key]: [] }, LIST_TTL_MS),
    });
    this.#modern = new Map<string, Method>([
      ["server/discover", {
        capability: null,
        handle: (req, _params, facts) => this.#discover(req.id, facts),
      }],
      ["tools/list", toolsList],
      ["tools/call", toolsCall],
      ["subscriptions/listen", {
        capability: null,
        handle: (req, params, facts) => this.#listen(req.id, params, facts),
      }],
      // LOOM serves no prompts or resources (yet): the lists are honestly
      // empty, cacheable, and a name asked for is unknown.
      ["prompts/list", empty("prompts")],
      ["resources/list", empty("resources")],
      ["resources/templates/list", empty("resourceTemplates")],
      ["prompts/get", {
        capability: "prompts",
        handle: (req) => rpcError(req.id, RPC_ERRORS.INVALID_PARAMS, "Unknown prompt"),
      }],
      ["resources/read", {
        capability: "resources",
        // The error names the URI asked for (bounded), so a client can tell which.
        handle: (req, params) =>
          rpcError(
            req.id,
            RPC_ERRORS.INVALID_PARAMS,
            "Resource not found",
            typeof params.uri === "string" && params.uri.length <= 2048
              ? { uri: params.uri }
              : undefined,
          ),
      }],
    ]);
    this.#legacyCapabilities = capabilitiesOf(this.#legacy);
    // Log messages ride on the request that asked for them (`_meta` logLevel):
    // no method of their own, but the capability is announced.
    this.#modernCapabilities = { ...capabilitiesOf(this.#modern), logging: {} };
  }

  /** Track a session so it receives `notifications/tools/list_changed`. */
  attach(session: McpSession): void {
    this.#sessions.add(session);
  }

  /** Stop tracking a session, abort its calls and fail its requests to the client. */
  detach(session: McpSession): void {
    this.#sessions.delete(session);
    this.#subscriptions.endFor(session);
    session.close();
  }

  /**
   * The client of a session can send nothing more (stdio input ended): its
   * subscriptions end with a complete result, so none is left waiting.
   */
  inputEnded(session: McpSession): void {
    this.#subscriptions.endFor(session);
    session.inputEnded();
  }

  /**
   * Tell every initialized session, and every subscription that asked for
   * it, that the tool list changed. Call it after the host's tools change.
   */
  notifyToolsChanged(): void {
    for (const s of this.#sessions) {
      if (s.initialized) s.notify("notifications/tools/list_changed");
    }
    this.#subscriptions.publish("toolsListChanged");
  }

  /**
   * Serve another set of tools (the mesh adds and removes agents): the next
   * `tools/list` lists them, and the change is announced when the listed
   * tools differ.
   *
   * @param host the new tools
   */
  setHost(host: ToolHost): void {
    const before = JSON.stringify(this.#host.listTools());
    this.#host = host;
    if (JSON.stringify(host.listTools()) !== before) this.notifyToolsChanged();
  }

  /** End every open subscription with a complete result (shutdown). */
  close(): void {
    this.#subscriptions.endAll();
  }

  /**
   * The listed tool of that name (a transport checks `Mcp-Param-*` headers
   * against its schema). The index is rebuilt only when the host lists a
   * new array.
   *
   * @param name a tool name
   * @returns the tool, or undefined when none is listed under that name
   */
  findTool(name: string): McpTool | undefined {
    const tools = this.#host.listTools();
    if (tools !== this.#indexed) {
      this.#indexed = tools;
      this.#index = new Map(tools.map((t) => [t.name, t]));
    }
    return this.#index.get(name);
  }

  /** Number of open `subscriptions/listen` streams. */
  get subscriptionCount(): number {
    return this.#subscriptions.size;
  }

  /** Protocol versions of the initialize era this server speaks, newest first. */
  static readonly supportedVersions: readonly string[] = SUPPORTED_PROTOCOL_VERSIONS;

  /**
   * Handle one classified message.
   *
   * @param session the connection's state (for a 2026-07-28 request on
   *   HTTP, a session made for that request alone)
   * @param message a classified message (see `classifyMessage`)
   * @param options where the request's notifications go, and who sent it
   * @returns the response for a request (or invalid message), null otherwise
   *   (and for a subscription the client cancelled)
   */
  async handle(
    session: McpSession,
    message: Classified,
    options: HandleOptions = {},
  ): Promise<JsonRpcResponse | null> {
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
        return await this.#onRequest(session, message.message, options);
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
    options: HandleOptions,
  ): JsonRpcResponse | null | Promise<JsonRpcResponse | null> {
    const params = req.params ?? {};
    if (hasModernMeta(params) || !(session.initialized || req.method === "initialize")) {
      const meta = readRequestMeta(req.id, params);
      if ("error" in meta) return this.#notInitialized(session, req, meta);
      const method = this.#modern.get(req.method);
      if (method === undefined) {
        return rpcError(req.id, RPC_ERRORS.METHOD_NOT_FOUND, "Method not found");
      }
      return method.handle(req, params, { session, client: meta.client, meta, options });
    }
    const method = this.#legacy.get(req.method);
    if (method === undefined) {
      return rpcError(req.id, RPC_ERRORS.METHOD_NOT_FOUND, "Method not found");
    }
    return method.handle(req, params, { session, client: session.client, meta: null, options });
  }

  /**
   * A request with neither a session nor usable `_meta`: a request of the
   * initialize era sent before initialize gets that era's answer (ping is
   * answered); anything else the error of the stateless era.
   */
  #notInitialized(
    session: McpSession,
    req: JsonRpcRequest,
    error: JsonRpcResponse,
  ): JsonRpcResponse {
    const params = req.params ?? {};
    if (hasModernMeta(params) || session.stateless) return error;
    if (req.method === "ping") return { jsonrpc: "2.0", id: req.id, result: {} };
    if (session.id === null && this.#legacy.has(req.method)) {
      return rpcError(
        req.id,
        RPC_ERRORS.INVALID_PARAMS,
        `Server not initialized: send initialize first, or (${MODERN_PROTOCOL_VERSION}) ` +
          `"_meta.${META.protocolVersion}" with each request`,
      );
    }
    return error;
  }

  /** A result of either era: the stateless one adds its type, cache hints and who answered. */
  #result(
    id: JsonRpcId,
    facts: RequestFacts,
    body: Record<string, unknown>,
    ttlMs?: number,
  ): JsonRpcResponse {
    if (facts.meta === null) return { jsonrpc: "2.0", id, result: body };
    const result: Record<string, unknown> = { resultType: "complete", ...body };
    if (ttlMs !== undefined) {
      result.ttlMs = ttlMs;
      result.cacheScope = "public";
    }
    result._meta = this.#resultMeta;
    return { jsonrpc: "2.0", id, result };
  }

  #discover(id: JsonRpcId, facts: RequestFacts): JsonRpcResponse {
    const body: Record<string, unknown> = {
      supportedVersions: [...MODERN_PROTOCOL_VERSIONS, ...SUPPORTED_PROTOCOL_VERSIONS],
      capabilities: this.#modernCapabilities,
    };
    if (this.#options.instructions) body.instructions = this.#options.instructions;
    return this.#result(id, facts, body, DISCOVER_TTL_MS);
  }

  #listen(
    id: JsonRpcId,
    params: Record<string, unknown>,
    facts: RequestFacts,
  ): JsonRpcResponse | null | Promise<JsonRpcResponse | null> {
    const { session, options } = facts;
    const controller = session.begin(id);
    const notify = options.notify ??
      ((n: JsonRpcNotification) => session.notify(n.method, n.params));
    const ended = this.#subscriptions.listen(id, params, session, notify, controller.signal);
    if (!(ended instanceof Promise)) {
      session.end(id, controller);
      return ended;
    }
    return ended.finally(() => session.end(id, controller));
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
    session.client = clientInfo(params.clientInfo);
    session.clientCapabilities = capabilityNames(params.capabilities);
    session.protocolVersion = version;
    const result: Record<string, unknown> = {
      protocolVersion: version,
      capabilities: this.#legacyCapabilities,
      serverInfo: { name: this.#options.name, version: this.#options.version },
    };
    if (this.#options.instructions) result.instructions = this.#options.instructions;
    return { jsonrpc: "2.0", id, result };
  }

  async #callTool(
    id: JsonRpcId,
    params: Record<string, unknown>,
    facts: RequestFacts,
  ): Promise<JsonRpcResponse> {
    const name = params.name;
    if (typeof name !== "string") {
      return rpcError(id, RPC_ERRORS.INVALID_PARAMS, 'Field "name" must be a string');
    }
    if (facts.meta !== null) {
      const malformed = inputResponseError(params);
      if (malformed !== null) return rpcError(id, RPC_ERRORS.INVALID_PARAMS, malformed);
    }
    const { session } = facts;
    const controller = session.begin(id);
    try {
      const ctx = callContext(session, controller, facts, params);
      const { inputRequired, ...result } = await this.#host.callTool(name, params.arguments, ctx);
      if (inputRequired !== undefined && facts.meta !== null) {
        // An InputRequiredResult carries only its own fields (and who answered).
        return {
          jsonrpc: "2.0",
          id,
          result: { resultType: "input_required", ...inputRequired, _meta: this.#resultMeta },
        };
      }
      return this.#result(id, facts, result as unknown as Record<string, unknown>);
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

/** Longest `requestState` accepted back from a client. */
export const MAX_REQUEST_STATE_CHARS = 8192;

/**
 * A 2026-07-28 retry's `inputResponses` must be an object and its
 * `requestState` a bounded string (multi round-trip requests, Error
 * Handling): the reason it is malformed, or null.
 */
function inputResponseError(params: Record<string, unknown>): string | null {
  const responses = params.inputResponses;
  if (
    responses !== undefined &&
    (responses === null || typeof responses !== "object" || Array.isArray(responses))
  ) {
    return 'Field "inputResponses" must be an object';
  }
  const state = params.requestState;
  if (
    state !== undefined && (typeof state !== "string" || state.length > MAX_REQUEST_STATE_CHARS)
  ) {
    return `Field "requestState" must be a string of at most ${MAX_REQUEST_STATE_CHARS} characters`;
  }
  return null;
}

/** The capabilities announced for a method table: those its methods belong to. */
function capabilitiesOf(methods: ReadonlyMap<string, Method>): Record<string, unknown> {
  const capabilities: Record<string, unknown> = {};
  for (const method of methods.values()) {
    if (method.capability !== null) {
      capabilities[method.capability] = CAPABILITY_SETTINGS[method.capability];
    }
  }
  return capabilities;
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
