/**
 * The types an engine and its tool host share: the tools listed, the result
 * of a call, what the host learns about the call it serves, and the protocol
 * versions of the initialize era.
 *
 * @module
 */

import type { JsonRpcNotification } from "./jsonrpc.ts";
import type { LogLevel } from "./session.ts";

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
  outputSchema?: Record<string, unknown>;
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
  /**
   * 2026-07-28 only (multi round-trip requests): the call needs the client's
   * input first. The engine then answers an `InputRequiredResult`
   * (`resultType: "input_required"`, these fields, nothing else) instead of
   * this result; the client retries the call with `inputResponses` and the
   * `requestState` echoed back. A host sets it only when
   * {@linkcode ToolCallContext.acceptsInputRequired} is true; if it were set
   * on any other call, the engine ignores it and answers `content`, so a
   * host should give `content` the answer it wants for such a client.
   */
  inputRequired?: InputRequired;
}

/** The fields of an `InputRequiredResult` (2026-07-28): at least one of them. */
export interface InputRequired {
  /**
   * Requests for the client to fulfil, by a key the server picks:
   * `{ method: "elicitation/create", params }`. Only methods of
   * capabilities the client declared.
   */
  inputRequests?: Record<string, { method: string; params: Record<string, unknown> }>;
  /** Opaque to the client, echoed back unchanged; integrity-protected by the host. */
  requestState?: string;
}

/**
 * Who sent a request, when the transport authenticated a credential that
 * names a subject (an OAuth access token). Static bearer tokens, stdio and
 * unauthenticated loopback give none (`principal: null`).
 */
export interface Principal {
  /** The token's subject (its `sub`). */
  subject: string;
  /** The issuer that vouched for the subject (the token's `iss`), when known. */
  issuer?: string;
  /** What the token allows (its OAuth scopes). */
  scopes: ReadonlySet<string>;
}

/** What a tool host learns about the call it serves. */
export interface ToolCallContext {
  /** Aborted when the client cancels or the session ends. */
  signal: AbortSignal;
  /** The MCP session, or null on stdio and for a 2026-07-28 request. */
  sessionId: string | null;
  /** The client as it introduced itself (at initialize, or in the request's `_meta`). */
  client: { name: string; version: string } | null;
  /** The authenticated sender, when the transport authenticates (HTTP with tokens). */
  principal?: Principal | null;
  /**
   * How the transport admitted the sender, for records: `stdio`, `http`,
   * `http-token:<n>`, `http-oauth`. Absent when a host is driven directly.
   * Information for audit and approvals; an OAuth sender's identity is its
   * {@linkcode ToolCallContext.principal}.
   */
  caller?: string;
  /**
   * The capabilities the client declared (at initialize, or in the request's
   * `_meta`), by name: `elicitation`, `sampling`, `roots`...
   */
  clientCapabilities?: ReadonlySet<string>;
  /** Send a log notification to the client (filtered by the level it asked for). */
  log(level: LogLevel, data: unknown): void;
  /**
   * Report how far the call has come (`notifications/progress`), when the
   * client asked for it with `_meta.progressToken`; otherwise nothing is
   * sent. Values must increase from one report to the next.
   */
  progress?(progress: number, total?: number, message?: string): void;
  /**
   * Ask the client something in the middle of the call (a request such as
   * `elicitation/create`); see `McpSession.request` in `session.ts`. Ends with the
   * call's signal. Absent where no client can answer (a host driven
   * directly, as in tests and benches, or a 2026-07-28 request).
   */
  request?(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
  /**
   * True for a 2026-07-28 `tools/call`: the host may answer with
   * {@linkcode CallToolResult.inputRequired} instead of asking through
   * {@linkcode ToolCallContext.request} (which such a request does not have).
   */
  acceptsInputRequired?: boolean;
  /**
   * A 2026-07-28 retry's `inputResponses`: the client's results for the
   * `inputRequests` of an earlier `input_required` answer, by their keys.
   * Attacker-controlled, like every argument.
   */
  inputResponses?: Readonly<Record<string, unknown>>;
  /**
   * A 2026-07-28 retry's `requestState`, echoed from an earlier
   * `input_required` answer. Attacker-controlled: the host must verify it.
   */
  requestState?: string;
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

/** How one message is handled beyond the session it arrived on. */
export interface HandleOptions {
  /**
   * Where the request's own notifications (progress, log messages, a
   * subscription's changes) go: the request's SSE stream on HTTP. Without
   * it they go to the session (the stdio output, or an HTTP session's GET
   * stream).
   */
  notify?: (message: JsonRpcNotification) => void;
  /** The authenticated sender. */
  principal?: Principal | null;
  /** How the transport admitted the sender (see `ToolCallContext.caller`). */
  caller?: string;
}
