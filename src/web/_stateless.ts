/**
 * Serving one MCP 2026-07-28 request over HTTP: no session is made or needed
 * (`Mcp-Session-Id` is ignored), so everything the request needs lives for
 * the length of the request.
 *
 * Before anything runs, the headers that mirror the body are checked
 * (`mcp_headers.ts`: -32020, HTTP 400). Errors carry their HTTP status
 * (`statelessStatus`): 404 for an unknown method, 400 for a malformed
 * request or an unsupported version. A request that asked for notifications
 * (a progress token or a log level) is answered as an SSE stream once the
 * first one is sent, else as JSON (`_sse.ts`); closing the stream cancels
 * it. `subscriptions/listen` is a long-lived SSE stream, counted against the
 * same per-client stream quotas as a session's GET stream (`_quotas.ts`).
 *
 * @module
 */

import type { Context } from "hono";
import {
  hasModernMeta,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type McpEngine,
  McpSession,
  META,
  MODERN_ERRORS,
  RPC_ERRORS,
  rpcError,
} from "../mcp/mod.ts";
import { answer } from "./_sse.ts";
import { type Env, jsonError, SERVER_BUSY, STREAM_RETRY_SECONDS } from "./_hono_context.ts";
import type { ClientQuotas, ClientUsage } from "./_quotas.ts";
import { checkMirroredHeaders } from "./mcp_headers.ts";
import { clientKey } from "./guard.ts";
import { httpCaller } from "./_caller.ts";

/** An Accept header that allows an SSE answer. */
export const ACCEPTS_SSE = /text\/event-stream/i;
/** A stateless request's session sends nothing outside its own answer. */
const NO_SEND = (): void => {};

/**
 * One 2026-07-28 request: headers checked against the body, a session of
 * its own for the length of the request, the answer as JSON or a stream.
 *
 * @param c the request's context (after the guards)
 * @param engine the protocol engine
 * @param quotas the per-client quotas a `subscriptions/listen` stream counts against
 * @param req the request
 * @param accept the request's `Accept` header
 * @returns the answer, as soon as its form is known
 */
export function serveStateless(
  c: Context<Env>,
  engine: McpEngine,
  quotas: ClientQuotas,
  req: JsonRpcRequest,
  accept: string,
): Response | Promise<Response> {
  const params = req.params ?? {};
  if (hasModernMeta(params)) {
    const mismatch = checkMirroredHeaders(
      c.req.raw.headers,
      req.method,
      params,
      (name) => engine.findTool(name),
    );
    if (mismatch !== null) {
      return c.json(
        rpcError(req.id, MODERN_ERRORS.HEADER_MISMATCH, `Header mismatch: ${mismatch}`),
        400,
      );
    }
  }
  const listen = req.method === "subscriptions/listen";
  const sse = ACCEPTS_SSE.test(accept);
  let usage: ClientUsage | null = null;
  if (listen) {
    if (!sse) {
      return jsonError(c, 406, RPC_ERRORS.INVALID_REQUEST, "Accept must allow text/event-stream");
    }
    usage = quotas.openStream(clientKey(c.get("principal"), c.env?.remoteAddr));
    if (usage === null) {
      c.header("retry-after", String(STREAM_RETRY_SECONDS));
      return jsonError(c, 429, SERVER_BUSY, "Too many notification streams for this client");
    }
  }
  const session = new McpSession(null, NO_SEND);
  session.stateless = true;
  const streamable = listen ||
    (req.method === "tools/call" && sse && asksForNotifications(params));
  return answer(
    (notify) =>
      engine.handle(session, { kind: "request", message: req }, {
        notify,
        principal: c.get("identity"),
        caller: httpCaller(c.get("principal")),
      }),
    {
      stream: listen,
      canStream: streamable,
      status: statelessStatus,
      headers: {},
      onCancel: () => session.close(),
      onEnd: () => {
        if (usage !== null) quotas.closeStream(usage);
      },
    },
  );
}

/**
 * The HTTP status of a stateless answer: 404 for an unknown method, 400 for
 * a malformed request, a header mismatch, a missing client capability or an
 * unsupported version; 200 otherwise (a tool's failure is a result).
 */
function statelessStatus(response: JsonRpcResponse): number {
  if (!("error" in response)) return 200;
  switch (response.error.code) {
    case RPC_ERRORS.METHOD_NOT_FOUND:
      return 404;
    case RPC_ERRORS.INVALID_PARAMS:
    case RPC_ERRORS.INVALID_REQUEST:
    case MODERN_ERRORS.HEADER_MISMATCH:
    case MODERN_ERRORS.MISSING_CLIENT_CAPABILITY:
    case MODERN_ERRORS.UNSUPPORTED_PROTOCOL_VERSION:
      return 400;
    default:
      return 200;
  }
}

/** Whether a stateless request asked for notifications of its own (progress, logs). */
function asksForNotifications(params: Record<string, unknown>): boolean {
  const meta = params._meta as Record<string, unknown>;
  return meta !== null && typeof meta === "object" &&
    (meta.progressToken !== undefined || meta[META.logLevel] !== undefined);
}
