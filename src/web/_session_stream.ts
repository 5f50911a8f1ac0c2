/**
 * The GET notification stream of a 2025-11-25 session: server notifications
 * that belong to no request of the client's (list changes, other requests'
 * messages when the client did not accept an SSE answer) are sent on it as
 * numbered SSE events.
 *
 * A session has at most one such stream (a second GET is 409), and it counts
 * against the client's stream quota (429 with `Retry-After` when full;
 * `_quotas.ts`). A session with an open stream is never idle. The stream's
 * slot is given back once, whichever way it ends: the client cancels the
 * body, the server settles `completed` when the response ends, a write
 * fails, or the session ends. Comment lines keep proxies from closing an
 * idle stream.
 *
 * @module
 */

import type { Context } from "hono";
import { type JsonRpcMessage, RPC_ERRORS } from "../mcp/mod.ts";
import { type Env, jsonError, SERVER_BUSY, STREAM_RETRY_SECONDS } from "./_hono_context.ts";
import type { HttpSession, SessionTable } from "./_sessions.ts";

const encoder = new TextEncoder();
/** How often an open stream sends a comment line. */
const KEEP_ALIVE_MS = 15_000;

/**
 * Send a notification on a session's GET stream; without one it has nowhere
 * to go and is dropped. A failed write forgets the stream.
 *
 * @param sessions the table the session belongs to
 * @param entry the session
 * @param message the notification
 */
export function pushToSession(
  sessions: SessionTable,
  entry: HttpSession,
  message: JsonRpcMessage,
): void {
  const stream = entry.stream;
  if (!stream) return; // no GET stream open: notifications have nowhere to go
  entry.eventId++;
  const frame = `id: ${entry.eventId}\nevent: message\ndata: ${JSON.stringify(message)}\n\n`;
  try {
    stream.enqueue(encoder.encode(frame));
  } catch {
    sessions.dropStream(entry, stream);
  }
}

/**
 * Open the GET stream of a session the request has already been matched to:
 * 409 when it has one, 429 over the stream quota.
 *
 * @param c the request's context
 * @param sessions the session table
 * @param entry the session
 * @returns the SSE response, or the error answer
 */
export function openSessionStream(
  c: Context<Env>,
  sessions: SessionTable,
  entry: HttpSession,
): Response {
  if (entry.stream) {
    return jsonError(c, 409, RPC_ERRORS.INVALID_REQUEST, "Conflict: stream already open");
  }
  if (sessions.quotas.streamsFull(entry.usage)) {
    c.header("retry-after", String(STREAM_RETRY_SECONDS));
    return jsonError(c, 429, SERVER_BUSY, "Too many notification streams for this client");
  }
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  let own: ReadableStreamDefaultController<Uint8Array> | null = null;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      own = controller;
      sessions.attachStream(entry, controller);
      // A comment line keeps proxies from closing an idle stream.
      controller.enqueue(encoder.encode(": loom\n\n"));
      keepAlive = setInterval(() => {
        try {
          controller.enqueue(encoder.encode(": keep-alive\n\n"));
        } catch {
          clearInterval(keepAlive);
        }
      }, KEEP_ALIVE_MS);
    },
    cancel() {
      clearInterval(keepAlive);
      sessions.dropStream(entry, own);
    },
  });
  // A client that goes away cancels the body (the `cancel` above); the
  // server also settles `completed` when the response ends, whichever way.
  // Not `request.signal`: Deno aborts it after every response and warns.
  const ended = () => {
    clearInterval(keepAlive);
    sessions.dropStream(entry, own);
  };
  c.env?.completed?.then(ended, ended);
  return new Response(stream, {
    status: 200,
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache, no-transform",
      "mcp-session-id": entry.session.id!,
    },
  });
}
