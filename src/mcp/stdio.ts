/**
 * The stdio transport (MCP transports §stdio): newline-delimited JSON-RPC on
 * stdin/stdout. Only protocol messages are written to the output; logs belong
 * on stderr. Requests are handled concurrently; responses are written whole,
 * one per line, in completion order.
 *
 * Both eras share the one connection: `initialize` makes it a session of
 * the earlier revisions, and a request carrying 2026-07-28 `_meta` is served
 * on its own terms whether or not the connection initialized. Notifications
 * of a request (progress, log messages, a subscription's changes) are
 * written to the same output; `notifications/cancelled` ends a request or a
 * subscription.
 *
 * @module
 */

import { classifyMessage, RPC_ERRORS, rpcError } from "./jsonrpc.ts";
import { type McpEngine, McpSession } from "./engine.ts";

/** Options of {@linkcode serveStdio}. */
export interface StdioOptions {
  /** Longest accepted line in bytes (default 4 MiB); longer lines are refused, not buffered. */
  maxLineBytes?: number;
}

const NEWLINE = 0x0a;

/**
 * Serve one MCP session over a byte stream pair until the input ends.
 *
 * @param engine the protocol engine
 * @param io input and output streams (stdin / stdout)
 * @param options limits
 * @returns when the input has ended and every in-flight request has been answered
 */
export async function serveStdio(
  engine: McpEngine,
  io: { input: ReadableStream<Uint8Array>; output: WritableStream<Uint8Array> },
  options: StdioOptions = {},
): Promise<void> {
  const maxLine = options.maxLineBytes ?? 4 * 1024 * 1024;
  const writer = io.output.getWriter();
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let broken = false;
  const write = (message: unknown): void => {
    if (broken) return;
    writer.write(encoder.encode(JSON.stringify(message) + "\n")).catch(() => {
      broken = true; // the client went away; nothing more can be said
    });
  };
  const session = new McpSession(null, (n) => write(n));
  engine.attach(session);
  const inflight = new Set<Promise<void>>();

  const dispatch = (line: Uint8Array): void => {
    const text = decoder.decode(line).trim();
    if (text.length === 0) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      write(rpcError(null, RPC_ERRORS.PARSE_ERROR, "Parse error: invalid JSON"));
      return;
    }
    const p = engine.handle(session, classifyMessage(value), { caller: "stdio" }).then(
      (response) => {
        if (response) write(response);
      },
      (error) => {
        console.error("loom: internal error:", error);
      },
    );
    inflight.add(p);
    p.finally(() => inflight.delete(p));
  };

  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let discarding = false;
  try {
    for await (const chunk of io.input) {
      let start = 0;
      while (start < chunk.length) {
        const nl = chunk.indexOf(NEWLINE, start);
        const end = nl === -1 ? chunk.length : nl;
        const piece = chunk.subarray(start, end);
        if (!discarding) {
          if (pendingBytes + piece.length > maxLine) {
            discarding = true;
            pending = [];
            pendingBytes = 0;
            write(rpcError(null, RPC_ERRORS.INVALID_REQUEST, "Message too large"));
          } else if (piece.length > 0) {
            pending.push(piece.slice());
            pendingBytes += piece.length;
          }
        }
        if (nl === -1) break;
        if (!discarding) dispatch(concat(pending, pendingBytes));
        pending = [];
        pendingBytes = 0;
        discarding = false;
        start = nl + 1;
      }
    }
    if (!discarding && pendingBytes > 0) dispatch(concat(pending, pendingBytes));
    // No answer to a request sent to the client can arrive any more, and no
    // cancellation of a subscription: those end with a complete result.
    engine.inputEnded(session);
    while (inflight.size > 0) await Promise.all([...inflight]);
  } finally {
    engine.detach(session);
    await writer.ready.catch(() => {});
    writer.releaseLock();
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
