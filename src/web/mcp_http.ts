/**
 * Streamable HTTP transport (MCP 2025-11-25, also 2025-06-18 and 2025-03-26
 * clients) on Hono: one endpoint `/mcp` for POST (client messages), GET (the
 * server's notification stream) and DELETE (end a session), plus `/healthz`.
 *
 * Decisions, with the section of the MCP transport specification behind each:
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
 * Session exhaustion. Sessions and notification streams are memory and open
 * connections, so a client that opens many could crowd out the others. The
 * table therefore never evicts a live session to admit a new one: a session
 * ends only by DELETE, at shutdown, or when it has been idle (no request, no
 * request in flight, no open GET stream) for `sessionIdleMs`, checked when
 * its id is next used and by one sweep timer for the whole table. Admission
 * is by quota instead: at most `maxSessionsPerClient` sessions and
 * `maxStreamsPerClient` streams per client, within `maxSessions` and
 * `maxStreams` in all. Over a quota, initialize (or GET) is 429 with
 * `Retry-After` (RFC 9110 §10.2.3) and a JSON-RPC error without id, and
 * nobody else's session is touched. A client is the token it presented and
 * the remote address of its connection (`clientKey`); every loopback address
 * counts as one client, so on a loopback bind without per-client tokens all
 * local clients share one quota: a local flood can delay their new sessions
 * (429) but cannot end an existing one. One token per client
 * (`tokens`) gives each local client its own quota.
 *
 * Sessions are bound to the token that created them (sessions are not
 * authentication): presenting another valid token with a session id gets
 * 404, as for an unknown id, so the id's existence is not revealed.
 *
 * `/healthz` passes the same Host/Origin guard as `/mcp`. It answers `ok`
 * and nothing else unless the request presents a valid token, or no token is
 * configured and `healthDetails` is set (a loopback bind): the session count
 * tells a stranger how busy the server is and that it is LOOM.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import {
  classifyMessage,
  hasModernMeta,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
  McpEngine,
  McpSession,
  META,
  MODERN_ERRORS,
  type Principal,
  RPC_ERRORS,
  rpcError,
} from "../mcp/mod.ts";
import { answer } from "./_sse.ts";
import { checkMirroredHeaders } from "./mcp_headers.ts";
import type { OAuthResourceServer } from "./oauth.ts";
import { BearerTokens, checkOrigin, clientKey, type OriginPolicy } from "./guard.ts";
import { readBody } from "./_body.ts";

/** Options of the MCP HTTP app. */
export interface McpHttpOptions {
  /** Host/Origin policy (see `originPolicy`). */
  policy: OriginPolicy;
  /**
   * Bearer tokens; when any is set, every `/mcp` request must present one.
   * One token per client gives each its own session quota, and a session can
   * be used only with the token that created it.
   */
  tokens?: readonly string[];
  /**
   * Accept OAuth 2.1 access tokens instead of static tokens: every `/mcp`
   * request must carry one; sessions and quotas belong to its subject.
   */
  oauth?: OAuthResourceServer;
  /** Largest accepted request body (default 1 MiB). */
  maxBodyBytes?: number;
  /** Deadline for receiving a request body (default 10 s). */
  bodyTimeoutMs?: number;
  /** Most sessions in all (default 1024). Threat: memory exhaustion by session floods. */
  maxSessions?: number;
  /**
   * Most sessions of one client, a token and remote address (default 256).
   * Threat: one client filling the table so that nobody else can initialize.
   */
  maxSessionsPerClient?: number;
  /** Most open GET notification streams in all (default 256): each holds a connection. */
  maxStreams?: number;
  /** Most open GET notification streams of one client (default 64). */
  maxStreamsPerClient?: number;
  /** A session with no request and no open stream for this long ends (default 10 min). */
  sessionIdleMs?: number;
  /**
   * Whether `/healthz` shows the session count without a token. Only
   * honoured when no token is configured; set it for a loopback bind only.
   */
  healthDetails?: boolean;
}

/** One client's share of the table. */
interface ClientUsage {
  /** Its key in the quota table (see `clientKey`). */
  key: string;
  sessions: number;
  streams: number;
}

interface HttpSession {
  session: McpSession;
  stream: ReadableStreamDefaultController<Uint8Array> | null;
  eventId: number;
  /** The credential that created the session (see `clientKey`). */
  principal: string;
  /** The quota this session counts against. */
  usage: ClientUsage;
  /** Requests in flight: a session busy with a call is not idle. */
  busy: number;
}

/**
 * Hono's view of what `Deno.serve` passes a handler (absent in-process):
 * the peer's address, and `completed`, which settles when the response has
 * ended, delivered or not.
 */
type Env = {
  Bindings: Partial<Pick<Deno.ServeHandlerInfo, "remoteAddr" | "completed">> | undefined;
  Variables: {
    /** The credential presented: `tok:N`, `sub:SUBJECT`, or `-` (see `clientKey`). */
    principal: string;
    /** Who sent the request, when the credential names a subject. */
    identity: Principal | null;
  };
};

const encoder = new TextEncoder();
const JSON_HEADERS = { "content-type": "application/json" };
/** An Accept header that allows an SSE answer. */
const SSE = /text\/event-stream/i;
/** A stateless request's session sends nothing outside its own answer. */
const NO_SEND = (): void => {};
/**
 * JSON-RPC 2.0 §5.1 leaves -32000 to -32099 to the server: this one says the
 * server will not take more from this client now (the HTTP status is 429).
 */
const SERVER_BUSY = -32000;
/** Streams end when their clients leave, not on a schedule: a fixed hint. */
const STREAM_RETRY_SECONDS = 30;

/** The Hono app and its session table. */
export interface McpHttpApp {
  app: Hono<Env>;
  /** Number of live sessions. */
  sessionCount(): number;
  /** Number of open GET notification streams. */
  streamCount(): number;
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
  const maxClientSessions = options.maxSessionsPerClient ?? 256;
  const maxStreams = options.maxStreams ?? 256;
  const maxClientStreams = options.maxStreamsPerClient ?? 64;
  const idleMs = options.sessionIdleMs ?? 10 * 60_000;
  const bearer = new BearerTokens(options.tokens ?? []);
  const sessions = new Map<string, HttpSession>();
  const clients = new Map<string, ClientUsage>();
  /** Sessions admitted, counting those whose initialize is still running. */
  let sessionTotal = 0;
  let streamTotal = 0;
  const supported = McpEngine.supportedVersions;

  const expired = (s: HttpSession, now: number): boolean =>
    s.stream === null && s.busy === 0 && now - s.session.lastSeen > idleMs;

  const release = (usage: ClientUsage): void => {
    usage.sessions--;
    sessionTotal--;
    if (usage.sessions === 0 && clients.get(usage.key) === usage) clients.delete(usage.key);
  };

  /** Forget a session's stream (once), giving its slot back. */
  const dropStream = (
    s: HttpSession,
    controller: ReadableStreamDefaultController<Uint8Array> | null,
  ): void => {
    if (s.stream === null || s.stream !== controller) return;
    s.stream = null;
    s.usage.streams--;
    streamTotal--;
    // Idle time counts from when the client stopped listening.
    s.session.lastSeen = performance.now();
  };

  const end = (id: string): void => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    const stream = s.stream;
    dropStream(s, stream);
    release(s.usage);
    engine.detach(s.session);
    try {
      stream?.close();
    } catch { /* already closed */ }
  };

  const sweep = (): void => {
    const now = performance.now();
    for (const [id, s] of sessions) if (expired(s, now)) end(id);
  };
  const sweeper = setInterval(sweep, Math.min(60_000, idleMs));
  Deno.unrefTimer(sweeper as unknown as number);

  /**
   * Seconds until a session counted against `usage` (any session when null)
   * can next expire: the `Retry-After` of a 429.
   */
  const retryAfter = (usage: ClientUsage | null): number => {
    const now = performance.now();
    let soonest = idleMs;
    for (const s of sessions.values()) {
      if (usage !== null && s.usage !== usage) continue;
      if (s.stream !== null || s.busy > 0) continue;
      soonest = Math.min(soonest, idleMs - (now - s.session.lastSeen));
    }
    return Math.max(1, Math.ceil(soonest / 1000));
  };

  const push = (entry: HttpSession, message: JsonRpcMessage): void => {
    const stream = entry.stream;
    if (!stream) return; // no GET stream open: notifications have nowhere to go
    entry.eventId++;
    const frame = `id: ${entry.eventId}\nevent: message\ndata: ${JSON.stringify(message)}\n\n`;
    try {
      stream.enqueue(encoder.encode(frame));
    } catch {
      dropStream(entry, stream);
    }
  };

  /**
   * The session a non-initialize request names (§Session Management): 400
   * without the header; 404 for an unknown, ended or expired id, or one
   * created with another token; 400 for an unsupported
   * `MCP-Protocol-Version` (§Protocol Version Header).
   */
  const findSession = (c: Context<Env>): HttpSession | Response => {
    const sid = c.req.header("mcp-session-id");
    if (sid === undefined) {
      return jsonError(c, 400, RPC_ERRORS.INVALID_REQUEST, "Bad Request: Mcp-Session-Id required");
    }
    const entry = sessions.get(sid);
    if (!entry || entry.principal !== c.get("principal")) {
      return jsonError(c, 404, RPC_ERRORS.INVALID_REQUEST, "Session not found");
    }
    if (expired(entry, performance.now())) {
      end(sid);
      return jsonError(c, 404, RPC_ERRORS.INVALID_REQUEST, "Session not found");
    }
    const version = c.req.header("mcp-protocol-version");
    if (version !== undefined && !supported.includes(version)) {
      return jsonError(c, 400, RPC_ERRORS.INVALID_REQUEST, "Unsupported MCP-Protocol-Version");
    }
    return entry;
  };

  /** Admit a new session for a client, or say how long to wait. */
  const admit = (key: string): ClientUsage | number => {
    let usage = clients.get(key);
    const full = () => (usage?.sessions ?? 0) >= maxClientSessions || sessionTotal >= maxSessions;
    if (full()) {
      sweep();
      usage = clients.get(key);
      if (full()) {
        return retryAfter((usage?.sessions ?? 0) >= maxClientSessions ? usage! : null);
      }
    }
    if (!usage) {
      usage = { key, sessions: 0, streams: 0 };
      clients.set(key, usage);
    }
    usage.sessions++;
    sessionTotal++;
    return usage;
  };

  const app = new Hono<Env>();

  app.get("/healthz", (c) => {
    const refused = checkOrigin(c.req.raw.headers, options.policy);
    if (refused) return jsonError(c, 403, RPC_ERRORS.INVALID_REQUEST, `Forbidden: ${refused}`);
    const details = bearer.size > 0
      ? bearer.match(c.req.raw.headers) !== -1
      : options.healthDetails === true;
    if (!details) return c.text("ok");
    return c.json({ status: "ok", sessions: sessions.size, streams: streamTotal });
  });

  // Guards for every /mcp method: DNS rebinding first, then authentication.
  app.use("/mcp", async (c, next) => {
    const refused = checkOrigin(c.req.raw.headers, options.policy);
    if (refused) return jsonError(c, 403, RPC_ERRORS.INVALID_REQUEST, `Forbidden: ${refused}`);
    if (options.oauth) {
      const auth = await options.oauth.authenticate(c.req.raw);
      if (!auth.ok) {
        await c.req.raw.body?.cancel().catch(() => {});
        return auth.response;
      }
      c.set("principal", `sub:${auth.principal.subject}`);
      c.set("identity", { subject: auth.principal.subject, scopes: auth.principal.scopes });
    } else if (bearer.size > 0) {
      const index = bearer.match(c.req.raw.headers);
      if (index === -1) {
        c.header("www-authenticate", 'Bearer realm="loom"');
        return jsonError(c, 401, RPC_ERRORS.INVALID_REQUEST, "Unauthorized: bearer token required");
      }
      c.set("principal", `tok:${index}`);
      c.set("identity", null);
    } else {
      c.set("principal", "-");
      c.set("identity", null);
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
    if (message.kind === "request" && hasModernMeta(message.message.params)) {
      // 2026-07-28: stateless, whatever else the request carries.
      return await serveStateless(c, message.message, accept);
    }
    if (message.kind === "request" && message.message.method === "initialize") {
      if (sid !== undefined) {
        return c.json(
          rpcError(message.message.id, RPC_ERRORS.INVALID_REQUEST, "Session already initialized"),
          400,
        );
      }
      const principal = c.get("principal");
      const usage = admit(clientKey(principal, c.env?.remoteAddr));
      if (typeof usage === "number") {
        c.header("retry-after", String(usage));
        return jsonError(c, 429, SERVER_BUSY, "Too many sessions for this client");
      }
      const id = newSessionId();
      const entry: HttpSession = {
        session: new McpSession(id, (n) => push(entry, n)),
        stream: null,
        eventId: 0,
        principal,
        usage,
        busy: 0,
      };
      let admitted = false;
      try {
        const response = await engine.handle(entry.session, message);
        if (response && "result" in response) {
          sessions.set(id, entry);
          engine.attach(entry.session);
          c.header("mcp-session-id", id);
          admitted = true;
        }
        return c.json(response, 200);
      } finally {
        if (!admitted) release(usage);
      }
    }

    if (sid === undefined) {
      const version = c.req.header("mcp-protocol-version")?.trim();
      if (version !== undefined && supported.includes(version)) {
        // A client of a session revision that lost (or never had) its session.
        return jsonError(
          c,
          400,
          RPC_ERRORS.INVALID_REQUEST,
          "Bad Request: Mcp-Session-Id required",
        );
      }
      if (message.kind === "request") return await serveStateless(c, message.message, accept);
      if (message.kind === "notification") return c.body(null, 202);
      return jsonError(c, 400, RPC_ERRORS.INVALID_REQUEST, "A response needs a session");
    }
    const entry = findSession(c);
    if (entry instanceof Response) return entry;
    entry.busy++;
    const done = () => {
      entry.busy--;
      // Idle time counts from the end of the last request, however long it ran.
      entry.session.lastSeen = performance.now();
    };
    if (message.kind !== "request") {
      try {
        await engine.handle(entry.session, message);
        return c.body(null, 202);
      } finally {
        done();
      }
    }
    // A tool call's progress and log messages go on its own response stream
    // when the client accepts one (else on the session's GET stream).
    const req = message.message;
    const streamable = req.method === "tools/call" && SSE.test(accept);
    return await answer(
      (notify) =>
        engine.handle(
          entry.session,
          message,
          streamable ? { notify, principal: c.get("identity") } : {
            principal: c.get("identity"),
          },
        ),
      {
        stream: false,
        canStream: streamable,
        status: () => 200,
        headers: {},
        onCancel: () => entry.session.cancel(req.id),
        onEnd: done,
      },
    );
  });

  /**
   * One 2026-07-28 request: headers checked against the body, a session of
   * its own for the length of the request, the answer as JSON or a stream.
   */
  const serveStateless = (
    c: Context<Env>,
    req: JsonRpcRequest,
    accept: string,
  ): Response | Promise<Response> => {
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
    const sse = SSE.test(accept);
    let usage: ClientUsage | null = null;
    if (listen) {
      if (!sse) {
        return jsonError(c, 406, RPC_ERRORS.INVALID_REQUEST, "Accept must allow text/event-stream");
      }
      const key = clientKey(c.get("principal"), c.env?.remoteAddr);
      usage = clients.get(key) ?? { key, sessions: 0, streams: 0 };
      if (usage.streams >= maxClientStreams || streamTotal >= maxStreams) {
        c.header("retry-after", String(STREAM_RETRY_SECONDS));
        return jsonError(c, 429, SERVER_BUSY, "Too many notification streams for this client");
      }
      clients.set(key, usage);
      usage.streams++;
      streamTotal++;
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
        }),
      {
        stream: listen,
        canStream: streamable,
        status: statelessStatus,
        headers: {},
        onCancel: () => session.close(),
        onEnd: () => {
          if (usage === null) return;
          usage.streams--;
          streamTotal--;
          if (usage.sessions === 0 && usage.streams === 0 && clients.get(usage.key) === usage) {
            clients.delete(usage.key);
          }
        },
      },
    );
  };

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
    if (entry.usage.streams >= maxClientStreams || streamTotal >= maxStreams) {
      c.header("retry-after", String(STREAM_RETRY_SECONDS));
      return jsonError(c, 429, SERVER_BUSY, "Too many notification streams for this client");
    }
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    let own: ReadableStreamDefaultController<Uint8Array> | null = null;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        own = controller;
        entry.stream = controller;
        entry.usage.streams++;
        streamTotal++;
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
        dropStream(entry, own);
      },
    });
    // A client that goes away cancels the body (the `cancel` above); the
    // server also settles `completed` when the response ends, whichever way.
    // Not `request.signal`: Deno aborts it after every response and warns.
    const ended = () => {
      clearInterval(keepAlive);
      dropStream(entry, own);
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
    streamCount: () => streamTotal,
    close() {
      clearInterval(sweeper);
      engine.close();
      for (const id of [...sessions.keys()]) end(id);
    },
  };
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

function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function jsonError(c: Context<Env>, status: number, code: number, message: string): Response {
  return new Response(JSON.stringify(rpcError(null, code, message)), {
    status,
    headers: { ...JSON_HEADERS, ...Object.fromEntries(c.res.headers) },
  });
}
