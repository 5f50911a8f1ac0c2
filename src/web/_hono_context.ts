/**
 * What the modules of the MCP HTTP transport share about one Hono request:
 * the `Env` (what `Deno.serve` hands the handler, and what the guards
 * middleware of `mcp_http.ts` found out about the caller), the JSON-RPC
 * error answer with an HTTP status, and the 429 code and hint.
 *
 * It exists so that the session table (`_sessions.ts`), the GET stream
 * (`_session_stream.ts`) and the stateless requests (`_stateless.ts`) answer
 * errors exactly as the app does, with the headers already set on the
 * context (`Retry-After`, `WWW-Authenticate`) kept.
 *
 * @module
 */

import type { Context } from "hono";
import { type Principal, rpcError } from "../mcp/mod.ts";

/**
 * Hono's view of what `Deno.serve` passes a handler (absent in-process):
 * the peer's address, and `completed`, which settles when the response has
 * ended, delivered or not.
 */
export type Env = {
  Bindings: Partial<Pick<Deno.ServeHandlerInfo, "remoteAddr" | "completed">> | undefined;
  Variables: {
    /** The credential presented: `tok:N`, `sub:SUBJECT`, or `-` (see `clientKey`). */
    principal: string;
    /** Who sent the request, when the credential names a subject. */
    identity: Principal | null;
  };
};

const JSON_HEADERS = { "content-type": "application/json" };

/**
 * JSON-RPC 2.0 §5.1 leaves -32000 to -32099 to the server: this one says the
 * server will not take more from this client now (the HTTP status is 429).
 */
export const SERVER_BUSY = -32000;

/** Streams end when their clients leave, not on a schedule: a fixed hint. */
export const STREAM_RETRY_SECONDS = 30;

/**
 * A JSON-RPC error without id as an HTTP response, carrying the headers
 * already set on the context.
 *
 * @param c the request's context
 * @param status the HTTP status
 * @param code the JSON-RPC error code
 * @param message the error message
 * @returns the response
 */
export function jsonError(
  c: Context<Env>,
  status: number,
  code: number,
  message: string,
): Response {
  return new Response(JSON.stringify(rpcError(null, code, message)), {
    status,
    headers: { ...JSON_HEADERS, ...Object.fromEntries(c.res.headers) },
  });
}
