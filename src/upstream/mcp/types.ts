/**
 * The shapes of LOOM's client for an upstream MCP server (gateway mode):
 * how to reach it, what it lists and answers, and what the owner hears
 * about (tool list changes, log messages, process lifecycle, requests the
 * server sends back).
 *
 * @module
 */

/** How to reach the upstream server. */
export type McpUpstreamTransport = McpUpstreamStdio | McpUpstreamHttp;

/** A program LOOM starts and speaks to over its stdin and stdout. */
export interface McpUpstreamStdio {
  kind: "stdio";
  /** argv: command[0] is the program, or (when denoFlags is set) the module to run with Deno. */
  command: readonly string[];
  /** When set: spawn `<deno> run <denoFlags...> command[0] command[1..]` (`launcherDeno()`). */
  denoFlags?: readonly string[];
  /**
   * Literal environment (non-secret); the child gets a CLEARED environment
   * plus this, plus resolveEnv()'s.
   */
  env: Readonly<Record<string, string>>;
  /** Called before each (re)start; returns secret env values (never logged). */
  resolveEnv?: () => Promise<Record<string, string>>;
  /** Working directory of the child; default `/` (`C:\` on Windows). */
  cwd?: string;
}

/** A server reached over streamable HTTP. */
export interface McpUpstreamHttp {
  kind: "http";
  /** The server's MCP endpoint, `http(s)://...`. */
  url: string;
  /** Sent on every request (may hold secrets; never logged). */
  headers?: () => Promise<Record<string, string>>;
  /** Private CIDRs the destination check may allow (like a bridge's runtime.allow_networks). */
  allowNetworks: readonly string[];
  /**
   * Which protocol revision to speak: `2025` (initialize and a session),
   * `2026-07-28` (stateless, per-request `_meta`), or `auto` (default:
   * `server/discover` first, `initialize` when the server does not offer
   * 2026-07-28).
   */
  era?: "2025" | "2026-07-28" | "auto";
}

/** One tool as the upstream lists it. */
export interface UpstreamToolDefinition {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

/** What a `tools/call` answered (a tool error is `isError: true`, not a throw). */
export interface UpstreamCallResult {
  content: unknown[];
  structuredContent?: Record<string, unknown>;
  isError: boolean;
}

/** Options of one call. */
export interface UpstreamCallOptions {
  /** Cancellation and deadline: aborting sends `notifications/cancelled`. */
  signal: AbortSignal;
  /** The upstream's `notifications/progress` for this call. */
  onProgress?: (progress: number, total?: number, message?: string) => void;
}

/** A change in the upstream's process (stdio) or connection. */
export interface UpstreamLifecycleEvent {
  kind: "start" | "exit" | "restart" | "give_up";
  pid?: number;
  code?: number | null;
  detail?: string;
  /**
   * `exit` of a child: the last bytes of its stderr (at most 4 KiB), control
   * characters replaced. It may hold anything the upstream printed, secrets
   * included: never show it to MCP clients, redact it before recording it.
   */
  stderrTail?: string;
}

/** What the handshake learned. */
export interface UpstreamServerInfo {
  serverName?: string;
  serverVersion?: string;
  protocolVersion: string;
  instructions?: string;
}

/** Options of {@linkcode McpUpstream}. */
export interface McpUpstreamOptions {
  /** The agent's name, for errors. */
  name: string;
  /** `notifications/tools/list_changed` from the upstream, and every restart. */
  onToolsChanged?: () => void;
  /** `notifications/message` from the upstream. */
  onLog?: (level: string, data: unknown, logger?: string) => void;
  /** Process or connection events. */
  onLifecycle?: (event: UpstreamLifecycleEvent) => void;
  /**
   * `sampling/createMessage` and `elicitation/create` from the upstream:
   * absent, they are refused with a JSON-RPC error; present, its answer is
   * returned (a throw becomes a JSON-RPC error).
   */
  onServerRequest?: (method: string, params: unknown, signal: AbortSignal) => Promise<unknown>;
  /** Cap on one message from the upstream, bytes. Default 4 MiB. */
  maxMessageBytes?: number;
  /** Restart policy after the child exits (stdio). */
  restart?: {
    /** First delay. Default 200 ms. */
    initialDelayMs?: number;
    /** Largest delay. Default 30 s. */
    maxDelayMs?: number;
    /** Consecutive failed starts or early exits before giving up. Default 8. */
    maxAttempts?: number;
    /** Up this long, the backoff starts over. Default 60 s. */
    resetAfterMs?: number;
  };
  /** `clientInfo.version` sent to the upstream. Default "0". */
  clientVersion?: string;
  /** Resolver seam for the HTTP destination check; the system resolver by default. */
  lookup?: (host: string) => Promise<string[]>;
}
