/**
 * {@linkcode McpUpstream}: LOOM's client of one upstream MCP server
 * (gateway mode). It connects on first use (a child over stdio, or an
 * endpoint over HTTP, see `_stdio.ts` and `_http.ts`), runs the handshake,
 * lists tools and calls them, and keeps the connection alive:
 *
 * - a child that exits fails the calls in flight ("upstream exited (code
 *   N)"); the next call starts it again after an exponential backoff
 *   (200 ms doubling to 30 s, back to 200 ms once it stayed up a minute),
 *   re-runs the handshake and reports the restart through `onToolsChanged`
 *   (its tools may differ now); after `maxAttempts` consecutive failures it
 *   gives up, and calls fail at once until {@linkcode McpUpstream.close};
 * - the server's own requests: `ping` is answered, `sampling/createMessage`
 *   and `elicitation/create` go to `onServerRequest` (refused without one),
 *   anything else is refused with -32601.
 *
 * @module
 */

import { LoomError, UpstreamError } from "../../errors.ts";
import { abortError, failed, raceAbort, RpcFault, sleep } from "./_errors.ts";
import { HttpLink, HttpStatusError, META_KEYS, MODERN_VERSION } from "./_http.ts";
import { describe, toolOf } from "./_results.ts";
import { isObject, type LinkEnd, type RpcHandlers, type UpstreamLink } from "./_rpc.ts";
import { StdioLink } from "./_stdio.ts";
import type {
  McpUpstreamOptions,
  McpUpstreamTransport,
  UpstreamCallOptions,
  UpstreamCallResult,
  UpstreamServerInfo,
  UpstreamToolDefinition,
} from "./types.ts";

/** The version LOOM asks for in `initialize`. */
export const CLIENT_PROTOCOL_VERSION = "2025-11-25";
/** Versions of the initialize era LOOM accepts from a server. */
export const ACCEPTED_PROTOCOL_VERSIONS: readonly string[] = Object.freeze([
  "2025-11-25",
  "2025-06-18",
  "2025-03-26",
]);
/** Default cap on one message from the upstream. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Tools and pages `listTools()` accepts at most. */
export const MAX_TOOLS = 1000;
export const MAX_PAGES = 100;
/** How long one handshake may take. */
const HANDSHAKE_MS = 30_000;
const SERVER_REQUESTS: ReadonlySet<string> = new Set([
  "sampling/createMessage",
  "elicitation/create",
]);

/** A client of one upstream MCP server. */
export class McpUpstream {
  readonly #transport: McpUpstreamTransport;
  readonly #options: McpUpstreamOptions;
  readonly #agent: string;
  readonly #closed = new AbortController();
  readonly #schemas = new Map<string, Record<string, unknown>>();
  #link: UpstreamLink | null = null;
  #info: UpstreamServerInfo | null = null;
  #starting: Promise<UpstreamServerInfo> | null = null;
  #reinit: Promise<void> | null = null;
  #closing: Promise<void> | null = null;
  #starts = 0;
  #failures = 0;
  #delay: number;
  #retryAt = 0;
  #upAt = 0;
  #gaveUp = false;

  /**
   * @param transport how to reach the server
   * @param options the agent's name, callbacks and limits
   */
  constructor(transport: McpUpstreamTransport, options: McpUpstreamOptions) {
    this.#transport = transport;
    this.#options = options;
    this.#agent = options.name;
    this.#delay = this.#restart.initialDelayMs;
  }

  /** The child's pid while it runs (stdio). */
  get pid(): number | undefined {
    return this.#link?.pid;
  }

  /**
   * Connect (spawn and handshake) unless connected; concurrent callers share one start.
   *
   * @param signal gives up waiting (the shared start goes on)
   * @returns what the server said of itself
   * @throws {UpstreamError} when it cannot start, after giving up, or once closed
   */
  start(signal: AbortSignal = new AbortController().signal): Promise<UpstreamServerInfo> {
    if (this.#closed.signal.aborted) return Promise.reject(failed(this.#agent, "client is closed"));
    if (this.#gaveUp) {
      return Promise.reject(failed(this.#agent, "kept failing; LOOM stopped restarting it"));
    }
    const link = this.#link;
    if (link !== null && this.#info !== null) {
      if (!link.peer.failed) return Promise.resolve(this.#info);
      // Broken (a message over the cap, out of step): wait for it to end, then restart.
      return raceAbort(this.#agent, link.ended.then(() => this.start(signal)), signal);
    }
    this.#starting ??= this.#connect().finally(() => this.#starting = null);
    return raceAbort(this.#agent, this.#starting, signal);
  }

  /**
   * Every tool the server lists, following `nextCursor`.
   *
   * @param signal cancellation and deadline
   * @returns the tools (malformed entries left out)
   * @throws {UpstreamError} beyond {@linkcode MAX_TOOLS} tools or {@linkcode MAX_PAGES} pages
   */
  async listTools(signal: AbortSignal): Promise<UpstreamToolDefinition[]> {
    const tools: UpstreamToolDefinition[] = [];
    const cursors = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      await this.start(signal);
      const result = await this.#request("tools/list", cursor ? { cursor } : {}, signal);
      const listed = Array.isArray(result.tools) ? result.tools : [];
      for (const entry of listed) {
        const tool = toolOf(entry);
        if (tool !== null) tools.push(tool);
      }
      if (tools.length > MAX_TOOLS) throw failed(this.#agent, `lists more than ${MAX_TOOLS} tools`);
      const next = result.nextCursor;
      if (typeof next !== "string" || next === "" || cursors.has(next)) {
        this.#schemas.clear();
        for (const tool of tools) this.#schemas.set(tool.name, tool.inputSchema);
        return tools;
      }
      cursors.add(next);
      cursor = next;
    }
    throw failed(this.#agent, `lists tools over more than ${MAX_PAGES} pages`);
  }

  /**
   * Call one tool.
   *
   * @param name the upstream's tool name
   * @param args its arguments
   * @param options signal and progress callback
   * @returns the result (a tool error is `isError: true`)
   * @throws {UpstreamRpcError} for a JSON-RPC error; the abort's error; {@linkcode UpstreamError}
   */
  async callTool(
    name: string,
    args: Record<string, unknown>,
    options: UpstreamCallOptions,
  ): Promise<UpstreamCallResult> {
    await this.start(options.signal);
    const result = await this.#request(
      "tools/call",
      { name, arguments: args },
      options.signal,
      options.onProgress,
    );
    const out: UpstreamCallResult = {
      content: Array.isArray(result.content) ? result.content : [],
      isError: result.isError === true,
    };
    if (isObject(result.structuredContent)) out.structuredContent = result.structuredContent;
    return out;
  }

  /** Kill the child (and its group), end calls in flight; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed.abort(failed(this.#agent, "client is closed"));
      const link = this.#link;
      this.#link = null;
      this.#info = null;
      await this.#starting?.catch(() => {});
      await link?.close();
    })();
    return this.#closing;
  }

  get #restart() {
    const r = this.#options.restart ?? {};
    return {
      initialDelayMs: r.initialDelayMs ?? 200,
      maxDelayMs: r.maxDelayMs ?? 30_000,
      maxAttempts: r.maxAttempts ?? 8,
      resetAfterMs: r.resetAfterMs ?? 60_000,
    };
  }

  #request(
    method: string,
    params: Record<string, unknown>,
    signal: AbortSignal,
    onProgress?: (progress: number, total?: number, message?: string) => void,
  ): Promise<Record<string, unknown>> {
    const link = this.#link;
    if (link === null) return Promise.reject(failed(this.#agent, "is not running"));
    return link.peer.request(method, params, signal, onProgress);
  }

  async #connect(): Promise<UpstreamServerInfo> {
    const closed = this.#closed.signal;
    await sleep(this.#agent, this.#retryAt - Date.now(), closed);
    const restart = this.#starts > 0;
    this.#starts++;
    let link: UpstreamLink | null = null;
    let pid: number | undefined;
    try {
      link = await this.#open();
      pid = link.pid;
      if (closed.aborted) throw abortError(this.#agent, closed);
      const window = AbortSignal.any([closed, AbortSignal.timeout(HANDSHAKE_MS)]);
      this.#emit({ kind: restart ? "restart" : "start", pid: link.pid });
      const info = await this.#handshake(link, window);
      if (closed.aborted) throw abortError(this.#agent, closed);
      this.#link = link;
      this.#info = info;
      this.#upAt = Date.now();
      const current = link;
      link.ended.then((end) => this.#onEnd(current, end, pid));
      if (restart) this.#toolsChanged();
      return info;
    } catch (error) {
      await link?.close();
      if (!closed.aborted) this.#failed(pid, null, "start failed");
      throw error instanceof LoomError ? error : failed(this.#agent, "could not be started");
    }
  }

  #open(): Promise<UpstreamLink> {
    const maxBytes = this.#options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (this.#transport.kind === "stdio") {
      return StdioLink.open(this.#agent, this.#transport, this.#handlers(), maxBytes);
    }
    const link: HttpLink = new HttpLink({
      agent: this.#agent,
      transport: this.#transport,
      handlers: this.#handlers(),
      maxBytes,
      clientInfo: this.#clientInfo,
      lookup: this.#options.lookup,
      schemaOf: (tool) => this.#schemas.get(tool),
      onSessionLost: () => {
        this.#reinit ??= this.#initialize(link, AbortSignal.timeout(HANDSHAKE_MS))
          .then((info) => {
            this.#info = info;
            this.#toolsChanged();
          })
          .finally(() => this.#reinit = null);
        return this.#reinit;
      },
    });
    return Promise.resolve(link);
  }

  get #clientInfo() {
    return { name: "loom-gateway", version: this.#options.clientVersion ?? "0" };
  }

  async #handshake(link: UpstreamLink, signal: AbortSignal): Promise<UpstreamServerInfo> {
    if (!(link instanceof HttpLink) || this.#transport.kind !== "http") {
      return await this.#initialize(link, signal);
    }
    const era = this.#transport.era ?? "auto";
    if (era === "2025") return await this.#initialize(link, signal);
    link.era = MODERN_VERSION;
    try {
      return await this.#discover(link, signal);
    } catch (error) {
      const fallback = era === "auto" && !signal.aborted &&
        (!(error instanceof HttpStatusError) || error.status < 500);
      if (!fallback || !(error instanceof UpstreamError)) throw error;
      link.era = "2025";
      return await this.#initialize(link, signal);
    }
  }

  async #discover(link: HttpLink, signal: AbortSignal): Promise<UpstreamServerInfo> {
    const result = await link.peer.request("server/discover", {}, signal);
    const versions = Array.isArray(result.supportedVersions) ? result.supportedVersions : [];
    if (!versions.includes(MODERN_VERSION)) {
      throw failed(this.#agent, `does not offer protocol ${MODERN_VERSION}`);
    }
    const meta = isObject(result._meta) ? result._meta : {};
    return describe(MODERN_VERSION, meta[META_KEYS.serverInfo], result.instructions);
  }

  async #initialize(link: UpstreamLink, signal: AbortSignal): Promise<UpstreamServerInfo> {
    if (link instanceof HttpLink) link.protocolVersion = null;
    const capabilities = this.#options.onServerRequest ? { sampling: {}, elicitation: {} } : {};
    const result = await link.peer.request("initialize", {
      protocolVersion: CLIENT_PROTOCOL_VERSION,
      capabilities,
      clientInfo: this.#clientInfo,
    }, signal);
    const version = result.protocolVersion;
    if (typeof version !== "string" || !ACCEPTED_PROTOCOL_VERSIONS.includes(version)) {
      throw failed(this.#agent, "answered initialize with an unsupported protocol version");
    }
    if (link instanceof HttpLink) link.protocolVersion = version;
    await link.peer.notify("notifications/initialized", {});
    return describe(version, result.serverInfo, result.instructions);
  }

  #handlers(): RpcHandlers {
    return {
      notification: (method, params) => {
        if (method === "notifications/tools/list_changed") this.#toolsChanged();
        else if (method === "notifications/message") {
          const level = typeof params.level === "string" ? params.level.slice(0, 16) : "info";
          const logger = typeof params.logger === "string"
            ? params.logger.slice(0, 128)
            : undefined;
          this.#options.onLog?.(level, params.data, logger);
        }
      },
      request: (method, params, signal) => {
        if (method === "ping") return Promise.resolve({});
        const handler = this.#options.onServerRequest;
        if (SERVER_REQUESTS.has(method)) {
          if (handler === undefined) {
            return Promise.reject(new RpcFault(-32601, `LOOM does not allow ${method} here`));
          }
          return handler(method, params, signal);
        }
        return Promise.reject(new RpcFault(-32601, "Method not found"));
      },
      onBroken: () => {},
    };
  }

  #toolsChanged(): void {
    try {
      this.#options.onToolsChanged?.();
    } catch {
      // The owner's callback must not break the client.
    }
  }

  #emit(event: Parameters<NonNullable<McpUpstreamOptions["onLifecycle"]>>[0]): void {
    try {
      this.#options.onLifecycle?.(event);
    } catch {
      // Same.
    }
  }

  #onEnd(link: UpstreamLink, end: LinkEnd, pid: number | undefined): void {
    if (this.#link !== link) return; // closed by LOOM, or replaced
    this.#link = null;
    this.#info = null;
    if (this.#closed.signal.aborted) return;
    if (Date.now() - this.#upAt >= this.#restart.resetAfterMs) {
      this.#failures = 0;
      this.#delay = this.#restart.initialDelayMs;
    }
    this.#failed(pid, end.code, end.detail, end.stderrTail);
  }

  /** One more consecutive failure: schedule the next start, or give up. */
  #failed(pid: number | undefined, code: number | null, detail: string, stderrTail?: string): void {
    this.#emit({ kind: "exit", pid, code, detail, ...(stderrTail ? { stderrTail } : {}) });
    this.#failures++;
    const { maxAttempts, maxDelayMs } = this.#restart;
    if (this.#failures >= maxAttempts) {
      this.#gaveUp = true;
      this.#emit({ kind: "give_up", detail: `${this.#failures} consecutive failures` });
      return;
    }
    this.#retryAt = Date.now() + this.#delay;
    this.#delay = Math.min(this.#delay * 2, maxDelayMs);
  }
}
