/**
 * An upstream MCP server reached over streamable HTTP, in either era:
 *
 * - 2025 (session): each message is a POST with
 *   `Accept: application/json, text/event-stream`; the answer is JSON or an
 *   SSE stream carrying the server's notifications, its requests and the
 *   response. `Mcp-Session-Id` from `initialize` is kept and sent, and
 *   `MCP-Protocol-Version` after it; a 404 for the session re-initializes
 *   once (`onSessionLost`); closing DELETEs the session.
 * - 2026-07-28 (stateless): no session; every request carries its
 *   `_meta` (protocol version, client info, client capabilities) and the
 *   headers that mirror its body (`MCP-Protocol-Version`, `Mcp-Method`,
 *   `Mcp-Name`, `Mcp-Param-*` for arguments whose schema carries
 *   `x-mcp-header`), as LOOM's own server checks them.
 *
 * Every request goes through LOOM's HTTP client after the destination
 * check a bridge gets, with an empty configured host: a loopback, private
 * or special address is refused unless `allowNetworks` names it, and the
 * connected socket must be one the check approved. Redirects are not
 * followed. The client reads a body whole, so an SSE answer is read
 * completely (within the message cap) before its events are delivered:
 * progress arrives with the result, not before it. The GET stream of the
 * session era (server notifications outside a request) is not opened.
 *
 * @module
 */

import { LoomError, PolicyError, UpstreamError } from "../../errors.ts";
import {
  BodyLimitError,
  checkDestination,
  type ClientResponse,
  type ConnectionPin,
  destinationPin,
  type HostLookup,
  HttpClient,
} from "../../net/mod.ts";
import { abortError, failed } from "./_errors.ts";
import {
  isObject,
  type LinkEnd,
  type RpcHandlers,
  type RpcMessage,
  RpcPeer,
  type UpstreamLink,
} from "./_rpc.ts";
import type { McpUpstreamHttp } from "./types.ts";

/** The stateless revision. */
export const MODERN_VERSION = "2026-07-28";
/** The `_meta` keys of a stateless request. */
export const META_KEYS = Object.freeze({
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  serverInfo: "io.modelcontextprotocol/serverInfo",
});

const DECODER = new TextDecoder("utf-8", { fatal: false });
const ENCODER = new TextEncoder();
const NAMED: Readonly<Record<string, string>> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
};
const PLAIN = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** The upstream answered with an HTTP status other than 2xx. */
export class HttpStatusError extends UpstreamError {
  /** The status. */
  readonly status: number;

  /**
   * @param agent the agent's name
   * @param status the HTTP status
   */
  constructor(agent: string, status: number) {
    super("UPSTREAM_FAILED", `Agent "${agent}": upstream answered HTTP ${status}`);
    this.name = "HttpStatusError";
    this.status = status;
  }
}

/** What an HTTP link needs from its owner. */
export interface HttpLinkOptions {
  agent: string;
  transport: McpUpstreamHttp;
  handlers: RpcHandlers;
  maxBytes: number;
  clientInfo: { name: string; version: string };
  lookup?: HostLookup;
  /** The session expired: run the handshake again (once per failed request). */
  onSessionLost: () => Promise<void>;
  /** A tool's input schema, for its `x-mcp-header` arguments. */
  schemaOf: (tool: string) => Record<string, unknown> | undefined;
}

/** An MCP endpoint over HTTP. */
export class HttpLink implements UpstreamLink {
  readonly peer: RpcPeer;
  readonly pid: undefined = undefined;
  readonly ended: Promise<LinkEnd>;
  /** `2025` or `2026-07-28`; the owner sets it before the handshake. */
  era: "2025" | "2026-07-28" = "2025";
  /** The negotiated version (2025 era), sent as `MCP-Protocol-Version`. */
  protocolVersion: string | null = null;
  /** The session of the 2025 era. */
  sessionId: string | null = null;
  readonly #options: HttpLinkOptions;
  readonly #url: URL;
  readonly #client = new HttpClient({ maxIdlePerOrigin: 8 });
  readonly #closed = new AbortController();
  #end!: (end: LinkEnd) => void;
  #closing: Promise<void> | null = null;

  /**
   * @param options the transport and the owner's hooks
   * @throws {TypeError} for a URL that is not http(s) or carries credentials or a fragment
   */
  constructor(options: HttpLinkOptions) {
    this.#options = options;
    this.#url = endpointUrl(options.transport.url);
    this.ended = new Promise((resolve) => this.#end = resolve);
    this.peer = new RpcPeer(
      options.agent,
      (message, signal) => this.#deliver(message, signal),
      options.handlers,
      true,
    );
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.peer.failAll(failed(this.#options.agent, "connection was closed"));
      if (this.era === "2025" && this.sessionId !== null) {
        await this.#exchange("DELETE", null, AbortSignal.timeout(2_000))
          .then((res) => res.discard(), () => {});
      }
      this.#closed.abort();
      this.#client.close();
      this.#end({ code: null, detail: "closed" });
    })();
    return this.#closing;
  }

  /** Send one message; deliver what its answer carries. */
  async #deliver(message: RpcMessage, signal: AbortSignal): Promise<void> {
    const sentSession = this.sessionId;
    let res = await this.#post(message, signal);
    if (
      res.status === 404 && sentSession !== null && this.era === "2025" &&
      message.method !== "initialize"
    ) {
      res.discard();
      this.sessionId = null;
      await this.#options.onSessionLost();
      res = await this.#post(message, signal);
    }
    if (res.status === 202 || res.status === 204) {
      res.discard();
      return;
    }
    if (res.status < 200 || res.status > 299) {
      res.discard();
      throw new HttpStatusError(this.#options.agent, res.status);
    }
    if (message.method === "initialize") {
      const session = res.header("mcp-session-id");
      if (session !== null && PLAIN.test(session) && session.length <= 256) {
        this.sessionId = session;
      }
    }
    const type = (res.header("content-type") ?? "").toLowerCase();
    const text = await this.#read(res, signal);
    for (const value of type.startsWith("text/event-stream") ? sseMessages(text) : [text]) {
      if (value.trim() === "") continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        this.peer.malformed++;
        continue;
      }
      for (const item of Array.isArray(parsed) ? parsed.slice(0, 1000) : [parsed]) {
        this.peer.receive(item);
      }
    }
  }

  #post(message: RpcMessage, signal: AbortSignal): Promise<ClientResponse> {
    const body = this.era === "2026-07-28" && typeof message.method === "string"
      ? this.#withMeta(message)
      : message;
    return this.#exchange("POST", body, signal);
  }

  /** A stateless-era message: its params carry the per-request `_meta`. */
  #withMeta(message: RpcMessage): RpcMessage {
    const params = isObject(message.params) ? message.params : {};
    const meta = isObject(params._meta) ? params._meta : {};
    return {
      ...message,
      params: {
        ...params,
        _meta: {
          ...meta,
          [META_KEYS.protocolVersion]: MODERN_VERSION,
          [META_KEYS.clientInfo]: this.#options.clientInfo,
          [META_KEYS.clientCapabilities]: {},
        },
      },
    };
  }

  async #exchange(
    method: "POST" | "DELETE",
    body: RpcMessage | null,
    signal: AbortSignal,
  ): Promise<ClientResponse> {
    const { agent } = this.#options;
    const both = AbortSignal.any([signal, this.#closed.signal]);
    const headers = new Headers();
    try {
      const extra = await this.#options.transport.headers?.() ?? {};
      for (const [name, value] of Object.entries(extra)) headers.set(name, value);
    } catch {
      throw failed(agent, "headers could not be resolved");
    }
    headers.set("accept", "application/json, text/event-stream");
    if (body !== null) headers.set("content-type", "application/json");
    if (this.sessionId !== null) headers.set("mcp-session-id", this.sessionId);
    if (this.era === "2026-07-28") {
      headers.set("mcp-protocol-version", MODERN_VERSION);
      if (body !== null && typeof body.method === "string") this.#mirror(headers, body);
    } else if (this.protocolVersion !== null) {
      headers.set("mcp-protocol-version", this.protocolVersion);
    }
    const pin = await this.#check(both);
    try {
      return await this.#client.request({
        method,
        url: this.#url,
        headers,
        body: body === null ? null : JSON.stringify(body),
        signal: both,
        pin,
      });
    } catch (error) {
      throw this.#failure(error, both, "cannot be reached");
    }
  }

  /** The headers of MCP 2026-07-28 that repeat the body. */
  #mirror(headers: Headers, body: RpcMessage): void {
    const method = body.method as string;
    headers.set("mcp-method", method);
    const params = isObject(body.params) ? body.params : {};
    const key = Object.hasOwn(NAMED, method) ? NAMED[method] : undefined;
    const name = key === undefined ? undefined : params[key];
    if (typeof name !== "string") return;
    headers.set("mcp-name", headerValue(name));
    if (method !== "tools/call") return;
    const properties = this.#options.schemaOf(name)?.properties;
    if (!isObject(properties) || !isObject(params.arguments)) return;
    for (const [param, schema] of Object.entries(properties)) {
      const mirror = isObject(schema) ? schema["x-mcp-header"] : undefined;
      const value = params.arguments[param];
      if (typeof mirror !== "string" || !/^[A-Za-z0-9-]{1,64}$/.test(mirror)) continue;
      if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
        headers.set(`mcp-param-${mirror}`, headerValue(String(value)));
      }
    }
  }

  async #check(signal: AbortSignal): Promise<ConnectionPin> {
    const { agent, transport } = this.#options;
    if (signal.aborted) throw abortError(agent, signal);
    // An empty configured host: loopback too is allowed only through allowNetworks.
    const policy = {
      allowNetworks: transport.allowNetworks,
      configuredHost: "",
      lookup: this.#options.lookup,
    };
    const verdict = await checkDestination(this.#url, policy).catch(() => {
      throw failed(agent, `host "${this.#url.hostname}" cannot be resolved`);
    });
    if (!verdict.allow) {
      throw new PolicyError(`Agent "${agent}": upstream refused: ${verdict.reason}`);
    }
    return destinationPin(
      this.#url.hostname,
      verdict.addresses,
      policy,
      (reason) => new PolicyError(`Agent "${agent}": upstream refused: ${reason}`),
    );
  }

  async #read(res: ClientResponse, signal: AbortSignal): Promise<string> {
    const { agent, maxBytes } = this.#options;
    try {
      return DECODER.decode(await res.read(maxBytes));
    } catch (error) {
      if (error instanceof BodyLimitError) {
        throw new UpstreamError(
          "RESPONSE_TOO_LARGE",
          `Agent "${agent}": upstream sent an answer over ${maxBytes} bytes`,
        );
      }
      throw this.#failure(error, signal, "answer could not be read");
    }
  }

  /** The runtime's errors may quote the URL (and a secret in it): LOOM's words instead. */
  #failure(error: unknown, signal: AbortSignal, what: string): LoomError {
    if (signal.aborted) return abortError(this.#options.agent, signal);
    if (error instanceof LoomError) return error;
    return failed(this.#options.agent, `at ${this.#url.host}: ${what}`);
  }
}

/** The endpoint URL, checked. */
function endpointUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError("Upstream URL is not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`Upstream URL must be http or https, not ${url.protocol}`);
  }
  if (url.username !== "" || url.password !== "" || url.hash !== "") {
    throw new TypeError("Upstream URL may not carry credentials or a fragment");
  }
  return url;
}

/** A header value: as is when plain, else the base64 form of MCP 2026-07-28. */
export function headerValue(value: string): string {
  return PLAIN.test(value) ? value : `=?base64?${ENCODER.encode(value).toBase64()}?=`;
}

/** The `data` of each event of an SSE body (multi-line data joined with LF). */
export function sseMessages(text: string): string[] {
  const out: string[] = [];
  let data: string[] = [];
  for (const raw of text.split(/\r\n|\r|\n/)) {
    if (raw === "") {
      if (data.length > 0) out.push(data.join("\n"));
      data = [];
      continue;
    }
    if (raw.startsWith("data:")) data.push(raw.slice(raw.startsWith("data: ") ? 6 : 5));
  }
  if (data.length > 0) out.push(data.join("\n"));
  return out;
}
