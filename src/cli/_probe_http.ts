/**
 * `loom probe`'s streamable HTTP transport: one POST per message, answered
 * with `application/json` or a `text/event-stream` whose events are read
 * until the answer to the request arrives. A 2026-07-28 request mirrors its
 * version and method in `MCP-Protocol-Version` and `Mcp-Method`; a
 * 2025-11-25 session sends back the `Mcp-Session-Id` its initialize answer
 * gave, and the session is ended with DELETE when the probe closes.
 *
 * Redirects are not followed (the token goes only to the URL typed), the
 * bearer token is sent only in the `Authorization` header and never
 * appears in a message, and an answer that is not JSON or an event stream
 * (an HTML page, say) is reported as not MCP.
 *
 * @module
 */

import { UpstreamError } from "../errors.ts";
import { type JsonRpcId, META } from "../mcp/mod.ts";
import {
  answerOf,
  fetchFailure,
  isResponseTo,
  parseMessage,
  type ProbeTransport,
  quote,
  readCapped,
  type RpcAnswer,
  sseEvents,
  statusError,
} from "./_probe_transport.ts";

/** The streamable HTTP transport of the probe. */
export class HttpProbeTransport implements ProbeTransport {
  readonly kind = "http";
  legacyVersion: string | null = null;
  readonly #url: string;
  readonly #token: string | undefined;
  #sessionId: string | null = null;
  #nextId = 1;

  /**
   * @param url the MCP endpoint (http or https)
   * @param token the bearer token, or undefined
   */
  constructor(url: string, token: string | undefined) {
    this.#url = url;
    this.#token = token;
  }

  /** Send a request; the answer is the JSON body or the stream's response to it. */
  async request(
    method: string,
    params: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<RpcAnswer> {
    const id = this.#nextId++;
    const response = await this.#post({ jsonrpc: "2.0", id, method, params }, method, signal);
    if (method === "initialize") this.#sessionId = response.headers.get("mcp-session-id");
    return await this.#answer(response, id);
  }

  /** Send a notification: any 2xx is fine, the body is not read. */
  async notify(
    method: string,
    params: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<void> {
    const response = await this.#post({ jsonrpc: "2.0", method, params }, method, signal);
    await response.body?.cancel();
  }

  /** End a 2025-11-25 session (DELETE, best effort, bounded). */
  async close(): Promise<void> {
    if (this.#sessionId === null) return;
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 2_000);
    try {
      const response = await fetch(this.#url, {
        method: "DELETE",
        headers: this.#headers(null, null),
        redirect: "manual",
        signal: stop.signal,
      });
      await response.body?.cancel();
    } catch {
      /* the session expires on its own */
    } finally {
      clearTimeout(timer);
    }
  }

  #headers(method: string | null, version: string | null): Headers {
    const headers = new Headers({
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    });
    if (this.#token !== undefined) headers.set("authorization", `Bearer ${this.#token}`);
    if (version !== null) headers.set("mcp-protocol-version", version);
    if (method !== null && version !== null && this.legacyVersion === null) {
      headers.set("mcp-method", method);
    }
    if (this.#sessionId !== null) headers.set("mcp-session-id", this.#sessionId);
    return headers;
  }

  async #post(message: Record<string, unknown>, method: string, signal: AbortSignal) {
    const meta = (message.params as { _meta?: Record<string, unknown> })?._meta;
    const modern = meta?.[META.protocolVersion];
    const version = typeof modern === "string" ? modern : this.legacyVersion;
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: "POST",
        headers: this.#headers(method, version),
        body: JSON.stringify(message),
        redirect: "manual",
        signal,
      });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw fetchFailure(this.#url, error);
    }
    if (response.status < 200 || response.status > 299) {
      await response.body?.cancel().catch(() => {});
      throw statusError(this.#url, response, this.#token !== undefined);
    }
    return response;
  }

  async #answer(response: Response, id: JsonRpcId): Promise<RpcAnswer> {
    const type = (response.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    const from = this.#url;
    if (response.body === null) throw notMcp(from, response.status, type || "no body");
    if (type === "application/json") {
      const message = parseMessage(await readCapped(response.body, from), from);
      if (!isResponseTo(message, id)) {
        throw new UpstreamError(
          "UPSTREAM_FAILED",
          `${from} is not MCP: the JSON is not the response to the request`,
        );
      }
      return answerOf(message, from);
    }
    if (type === "text/event-stream") {
      try {
        for await (const data of sseEvents(response.body, from)) {
          const message = parseMessage(data, from);
          if (isResponseTo(message, id)) return answerOf(message, from);
          // Progress, log messages and server requests before the answer are skipped.
        }
      } finally {
        await response.body.cancel().catch(() => {});
      }
      throw new UpstreamError(
        "UPSTREAM_FAILED",
        `${from} ended its event stream without answering`,
      );
    }
    await response.body.cancel().catch(() => {});
    throw notMcp(from, response.status, type || "no content type");
  }
}

function notMcp(from: string, status: number, type: string): UpstreamError {
  return new UpstreamError(
    "UPSTREAM_FAILED",
    `${from} is not an MCP endpoint: it answered HTTP ${status} with ${quote(type)}, ` +
      "not application/json or text/event-stream",
  );
}
