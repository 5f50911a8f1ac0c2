/**
 * Streamable HTTP transport (MCP 2025-11-25, also 2025-06-18 and 2025-03-26
 * clients) on Hono: one endpoint `/mcp` for POST (client messages), GET (the
 * server's notification stream) and DELETE (end a session), plus `/healthz`.
 *
 * Decisions, with the spec section behind each:
 * - Responses to POSTed requests are single JSON objects (§Sending Messages
 *   allows JSON or SSE); server-initiated notifications go on the GET stream.
 * - A notification or response body is answered 202 with no body (§Sending
 *   Messages, point 4).
 * - Sessions (§Session Management): a 256-bit random id issued at initialize;
 *   a later request without it gets 400, with an unknown or ended id 404.
 * - `MCP-Protocol-Version` (§Protocol Version Header): an unsupported value is
 *   400; when absent, the version negotiated at initialize applies.
 * - Batches were removed in 2025-06-18: an array body is 400 / -32600.
 * - `Content-Type` other than JSON is 415 (a text/plain POST is a CORS simple
 *   request that skips preflight).
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import {
  classifyMessage,
  type JsonRpcNotification,
  McpEngine,
  McpSession,
  RPC_ERRORS,
  rpcError,
} from "../mcp/mod.ts";
import { checkBearer, checkOrigin, type OriginPolicy } from "./guard.ts";
import { Deadlines } from "../_util/deadlines.ts";

/** Options of the MCP HTTP app. */
export interface McpHttpOptions {
  /** Host/Origin policy (see `originPolicy`). */
  policy: OriginPolicy;
  /** Bearer token required on every `/mcp` request when set. */
  token?: string;
  /** Largest accepted request body (default 1 MiB). */
  maxBodyBytes?: number;
  /** Deadline for receiving a request body (default 10 s). */
  bodyTimeoutMs?: number;
  /** Most concurrent sessions (default 1024); the least recently used idle one is evicted. */
  maxSessions?: number;
  /** Sessions idle longer than this are ended (default 30 min). */
  sessionIdleMs?: number;
}

interface HttpSession {
  session: McpSession;
  stream: ReadableStreamDefaultController<Uint8Array> | null;
  eventId: number;
}

const encoder = new TextEncoder();
const DECODER = new TextDecoder();
/** Body deadlines of every request, on shared timers (a slot late at most). */
const BODY_DEADLINES = new Deadlines();
const NO_DEADLINE = (): void => {};
const JSON_HEADERS = { "content-type": "application/json" };

/** The Hono app and its session table. */
export interface McpHttpApp {
  app: Hono;
  /** Number of live sessions. */
  sessionCount(): number;
  /** End every session and stop the idle sweeper. */
  close(): void;
}

/**
 * Build the `/mcp` Hono app for an engine.
 *
 * @param engine the protocol engine
 * @param options guards and limits
 * @returns the app and its lifecycle handle
 */
export function createMcpApp(engine: McpEngine, options: McpHttpOptions): McpHttpApp {
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const bodyTimeout = options.bodyTimeoutMs ?? 10_000;
  const maxSessions = options.maxSessions ?? 1024;
  const idleMs = options.sessionIdleMs ?? 30 * 60_000;
  const sessions = new Map<string, HttpSession>();
  const supported = McpEngine.supportedVersions;

  const end = (id: string): void => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    engine.detach(s.session);
    try {
      s.stream?.close();
    } catch { /* already closed */ }
  };

  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const [id, s] of sessions) {
      if (!s.stream && now - s.session.lastSeen > idleMs) end(id);
    }
  }, Math.min(60_000, idleMs));
  Deno.unrefTimer(sweeper as unknown as number);

  /**
   * The session a non-initialize request names (§Session Management): 400
   * without the header, 404 for an unknown or ended id, 400 for an
   * unsupported `MCP-Protocol-Version` (§Protocol Version Header).
   */
  const findSession = (c: Context): HttpSession | Response => {
    const sid = c.req.header("mcp-session-id");
    if (sid === undefined) {
      return jsonError(c, 400, RPC_ERRORS.INVALID_REQUEST, "Bad Request: Mcp-Session-Id required");
    }
    const entry = sessions.get(sid);
    if (!entry) return jsonError(c, 404, RPC_ERRORS.INVALID_REQUEST, "Session not found");
    const version = c.req.header("mcp-protocol-version");
    if (version !== undefined && !supported.includes(version)) {
      return jsonError(c, 400, RPC_ERRORS.INVALID_REQUEST, "Unsupported MCP-Protocol-Version");
    }
    return entry;
  };

  const app = new Hono();

  app.get("/healthz", (c) => c.json({ status: "ok", sessions: sessions.size }));

  // Guards for every /mcp method: DNS rebinding first, then authentication.
  app.use("/mcp", async (c, next) => {
    const refused = checkOrigin(c.req.raw.headers, options.policy);
    if (refused) return jsonError(c, 403, RPC_ERRORS.INVALID_REQUEST, `Forbidden: ${refused}`);
    if (options.token !== undefined && !checkBearer(c.req.raw.headers, options.token)) {
      c.header("www-authenticate", 'Bearer realm="loom"');
      return jsonError(c, 401, RPC_ERRORS.INVALID_REQUEST, "Unauthorized: bearer token required");
    }
    await next();
    return undefined;
  });

  app.post("/mcp", async (c) => {
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      return jsonError(c, 415, RPC_ERRORS.INVALID_REQUEST, "Content-Type must be application/json");
    }
    const accept = c.req.header("accept") ?? "*/*";
    if (!/application\/json|\*\/\*|application\/\*/i.test(accept)) {
      return jsonError(c, 406, RPC_ERRORS.INVALID_REQUEST, "Accept must allow application/json");
    }
    const body = await readBody(c.req.raw, maxBody, bodyTimeout);
    if (body.kind === "too_large") {
      return jsonError(c, 413, RPC_ERRORS.INVALID_REQUEST, `Request body exceeds ${maxBody} bytes`);
    }
    if (body.kind === "timeout") {
      return jsonError(c, 408, RPC_ERRORS.INVALID_REQUEST, "Request body not received in time");
    }
    let value: unknown;
    try {
      value = JSON.parse(body.text);
    } catch {
      return jsonError(c, 400, RPC_ERRORS.PARSE_ERROR, "Parse error: invalid JSON");
    }
    const message = classifyMessage(value);
    if (message.kind === "invalid") {
      return c.json(rpcError(message.id, RPC_ERRORS.INVALID_REQUEST, message.reason), 400);
    }

    const sid = c.req.header("mcp-session-id");
    if (message.kind === "request" && message.message.method === "initialize") {
      if (sid !== undefined) {
        return c.json(
          rpcError(message.message.id, RPC_ERRORS.INVALID_REQUEST, "Session already initialized"),
          400,
        );
      }
      if (sessions.size >= maxSessions && !evictIdle(sessions, end)) {
        return jsonError(c, 503, RPC_ERRORS.INTERNAL_ERROR, "Too many sessions");
      }
      const id = newSessionId();
      const entry: HttpSession = {
        session: new McpSession(id, (n) => push(entry, n)),
        stream: null,
        eventId: 0,
      };
      const response = await engine.handle(entry.session, message);
      if (response && "result" in response) {
        sessions.set(id, entry);
        engine.attach(entry.session);
        c.header("mcp-session-id", id);
      }
      return c.json(response, 200);
    }

    const entry = findSession(c);
    if (entry instanceof Response) return entry;
    if (message.kind !== "request") {
      await engine.handle(entry.session, message);
      return c.body(null, 202);
    }
    const response = await engine.handle(entry.session, message);
    return c.json(response, 200);
  });

  app.get("/mcp", (c) => {
    const accept = c.req.header("accept") ?? "";
    if (!/text\/event-stream/i.test(accept)) {
      return jsonError(c, 406, RPC_ERRORS.INVALID_REQUEST, "Accept must allow text/event-stream");
    }
    const entry = findSession(c);
    if (entry instanceof Response) return entry;
    if (entry.stream) {
      return jsonError(c, 409, RPC_ERRORS.INVALID_REQUEST, "Conflict: stream already open");
    }
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        entry.stream = controller;
        // A comment line keeps proxies from closing an idle stream.
        controller.enqueue(encoder.encode(": loom\n\n"));
        keepAlive = setInterval(() => {
          try {
            controller.enqueue(encoder.encode(": keep-alive\n\n"));
          } catch {
            clearInterval(keepAlive);
          }
        }, 15_000);
      },
      cancel() {
        clearInterval(keepAlive);
        if (entry.stream) entry.stream = null;
      },
    });
    c.req.raw.signal.addEventListener("abort", () => {
      clearInterval(keepAlive);
      entry.stream = null;
    });
    return new Response(stream, {
      status: 200,
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache, no-transform",
        "mcp-session-id": entry.session.id!,
      },
    });
  });

  app.delete("/mcp", (c) => {
    const entry = findSession(c);
    if (entry instanceof Response) return entry;
    end(entry.session.id!);
    return c.body(null, 200);
  });

  app.all("/mcp", (c) => {
    c.header("allow", "GET, POST, DELETE");
    return jsonError(c, 405, RPC_ERRORS.INVALID_REQUEST, "Method not allowed");
  });

  app.notFound((c) => c.json({ error: "Not found" }, 404));
  app.onError((error, c) => {
    console.error("loom: internal error in HTTP transport:", error);
    return jsonError(c, 500, RPC_ERRORS.INTERNAL_ERROR, "Internal error");
  });

  return {
    app,
    sessionCount: () => sessions.size,
    close() {
      clearInterval(sweeper);
      for (const id of [...sessions.keys()]) end(id);
    },
  };
}

function push(entry: HttpSession, message: JsonRpcNotification): void {
  if (!entry.stream) return; // no GET stream open: notifications have nowhere to go
  entry.eventId++;
  const frame = `id: ${entry.eventId}\nevent: message\ndata: ${JSON.stringify(message)}\n\n`;
  try {
    entry.stream.enqueue(encoder.encode(frame));
  } catch {
    entry.stream = null;
  }
}

function evictIdle(sessions: Map<string, HttpSession>, end: (id: string) => void): boolean {
  let oldest: [string, number] | null = null;
  for (const [id, s] of sessions) {
    if (s.stream) continue;
    if (!oldest || s.session.lastSeen < oldest[1]) oldest = [id, s.session.lastSeen];
  }
  if (!oldest) return false;
  end(oldest[0]);
  return true;
}

function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function jsonError(c: Context, status: number, code: number, message: string): Response {
  return new Response(JSON.stringify(rpcError(null, code, message)), {
    status,
    headers: { ...JSON_HEADERS, ...Object.fromEntries(c.res.headers) },
  });
}

type BodyResult =
  | { kind: "ok"; text: string }
  | { kind: "too_large" }
  | { kind: "timeout" };

/** Read a request body, counting bytes as they stream in (never buffering past the cap). */
async function readBody(req: Request, max: number, timeoutMs: number): Promise<BodyResult> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > max) return { kind: "too_large" };
  if (!req.body) return { kind: "ok", text: "" };
  let cancel = NO_DEADLINE;
  const timeout = new Promise<"timeout">((resolve) => {
    cancel = BODY_DEADLINES.after(timeoutMs, () => resolve("timeout"));
  });
  try {
    return Number.isFinite(declared)
      ? await readDeclared(req, max, timeout)
      : await readStreamed(req.body, max, timeout);
  } finally {
    cancel();
  }
}

/**
 * A body with a `content-length` within the cap: the HTTP framing holds it to
 * that length, so it is read in one go.
 */
async function readDeclared(
  req: Request,
  max: number,
  timeout: Promise<"timeout">,
): Promise<BodyResult> {
  const got = await Promise.race([req.bytes(), timeout]);
  if (got === "timeout") return { kind: "timeout" };
  if (got.byteLength > max) return { kind: "too_large" };
  return { kind: "ok", text: DECODER.decode(got) };
}

/** A chunked body: counted as it arrives, cancelled past the cap. */
async function readStreamed(
  body: ReadableStream<Uint8Array>,
  max: number,
  timeout: Promise<"timeout">,
): Promise<BodyResult> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const next = await Promise.race([reader.read(), timeout]);
    if (next === "timeout") {
      reader.cancel().catch(() => {});
      return { kind: "timeout" };
    }
    if (next.done) break;
    total += next.value.length;
    if (total > max) {
      reader.cancel().catch(() => {});
      return { kind: "too_large" };
    }
    chunks.push(next.value);
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.length;
  }
  return { kind: "ok", text: DECODER.decode(all) };
}
