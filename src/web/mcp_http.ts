/**
 * Streamable HTTP transport on Hono, for both eras of MCP on one endpoint
 * `/mcp`, plus `/healthz` and, given the process's metrics, `/metrics`
 * (`_metrics.ts`: the same Host/Origin and token guards).
 *
 * **2026-07-28 (stateless).** A POSTed request whose `_meta` names its
 * protocol version (or any request outside a session that is not
 * `initialize`) is served on its own: no session is made or needed, and
 * `Mcp-Session-Id` is ignored. Before anything runs, the headers that mirror
 * the body are checked (`mcp_headers.ts`: -32020, HTTP 400). Errors carry
 * their HTTP status: 404 for an unknown method (-32601; `initialize`, `ping`
 * and `logging/setLevel` do not exist in this era), 400 for a malformed
 * `_meta` (-32602) or an unsupported version (-32022). A request that asked
 * for notifications (a progress token or a log level) is answered as an SSE
 * stream once the first one is sent, else as JSON (`_sse.ts`); closing the
 * stream cancels it. `subscriptions/listen` is a long-lived SSE stream,
 * counted against the same stream quotas as a session's GET stream. All of
 * this is `_stateless.ts`; this module routes to it.
 *
 * **2025-11-25 and earlier (sessions)**, decisions with the section of that
 * revision's transport specification behind each:
 * - Responses to POSTed requests are JSON objects, or an SSE stream carrying
 *   a tool call's own progress and log messages when the client accepts one
 *   (§Sending Messages allows both); other server notifications go on the
 *   GET stream (`_session_stream.ts`).
 * - A notification or response body is answered 202 with no body (§Sending
 *   Messages, point 4).
 * - Sessions (§Session Management): a 256-bit random id issued at initialize;
 *   a later request of that revision without it gets 400, with an unknown or
 *   ended id 404.
 * - `MCP-Protocol-Version` (§Protocol Version Header): an unsupported value is
 *   400; when absent, the version negotiated at initialize applies.
 * - Batches were removed in 2025-06-18: an array body is 400 / -32600.
 * - `Content-Type` other than JSON is 415 (a text/plain POST is a CORS simple
 *   request that skips preflight).
 *
 * Session exhaustion. Sessions and notification streams are memory and open
 * connections, so a client that opens many could crowd out the others. The
 * session table (`_sessions.ts`) therefore never evicts a live session to
 * admit a new one: a session ends only by DELETE, at shutdown, or when it
 * has been idle (no request, no request in flight, no open GET stream) for
 * `sessionIdleMs`, checked when its id is next used and by one sweep timer
 * for the whole table. Admission is by quota instead (`_quotas.ts`): at most
 * `maxSessionsPerClient` sessions and `maxStreamsPerClient` streams per
 * client, within `maxSessions` and `maxStreams` in all. Over a quota,
 * initialize (or GET) is 429 with `Retry-After` (RFC 9110 §10.2.3) and a
 * JSON-RPC error without id, and nobody else's session is touched. A client
 * is the token it presented and the remote address of its connection
 * (`clientKey`); every loopback address counts as one client, so on a
 * loopback bind without per-client tokens all local clients share one
 * quota: a local flood can delay their new sessions (429) but cannot end an
 * existing one. One token per client (`tokens`) gives each local client its
 * own quota.
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
 * This module keeps the Hono app: the guards middleware (Host/Origin, then
 * token or OAuth), the POST checks and the routing between the eras, and
 * the session requests. What the modules share about a request (`Env`, the
 * JSON-RPC error answer) is in `_hono_context.ts`.
 *
 * @module
 */

import { Hono } from "hono";
import {
  classifyMessage,
  hasModernMeta,
  McpEngine,
  McpSession,
  RPC_ERRORS,
  rpcError,
} from "../mcp/mod.ts";
import { answer } from "./_sse.ts";
import type { OAuthResourceServer } from "./oauth.ts";
import { BearerTokens, checkOrigin, clientKey, type OriginPolicy } from "./guard.ts";
import { readBody } from "./_body.ts";
import { type Env, jsonError, SERVER_BUSY } from "./_hono_context.ts";
import { httpCaller } from "./_caller.ts";
import { ClientQuotas } from "./_quotas.ts";
import { type HttpSession, newSessionId, SessionTable } from "./_sessions.ts";
import { openSessionStream, pushToSession } from "./_session_stream.ts";
import { ACCEPTS_SSE, serveStateless } from "./_stateless.ts";
import { metricsHandler } from "./_metrics.ts";
import type { LoomMetrics } from "../_util/loom_metrics.ts";

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
  /** The process's metrics, served at `/metrics` (`_metrics.ts`); without them no such route. */
  metrics?: LoomMetrics;
  /**
   * Tokens that open `/metrics` and nothing else; the only way in with
   * `oauth` (see `_metrics.ts`).
   */
  metricsTokens?: readonly string[];
}

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
  const bearer = new BearerTokens(options.tokens ?? []);
  const quotas = new ClientQuotas({
    maxSessions: options.maxSessions ?? 1024,
    maxSessionsPerClient: options.maxSessionsPerClient ?? 256,
    maxStreams: options.maxStreams ?? 256,
    maxStreamsPerClient: options.maxStreamsPerClient ?? 64,
  });
  const sessions = new SessionTable(engine, quotas, options.sessionIdleMs ?? 10 * 60_000);
  const supported = McpEngine.supportedVersions;

  const app = new Hono<Env>();

  app.get("/healthz", (c) => {
    const refused = checkOrigin(c.req.raw.headers, options.policy);
    if (refused) return jsonError(c, 403, RPC_ERRORS.INVALID_REQUEST, `Forbidden: ${refused}`);
    const details = bearer.size > 0
      ? bearer.match(c.req.raw.headers) !== -1
      : options.healthDetails === true;
    if (!details) return c.text("ok");
    return c.json({ status: "ok", sessions: sessions.size, streams: quotas.streamTotal });
  });

  if (options.metrics !== undefined) {
    app.get(
      "/metrics",
      metricsHandler({
        metrics: options.metrics,
        policy: options.policy,
        bearer,
        metricsBearer: new BearerTokens(options.metricsTokens ?? []),
        oauth: options.oauth !== undefined,
      }),
    );
  }

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
      c.set("identity", {
        subject: auth.principal.subject,
        scopes: auth.principal.scopes,
        issuer: options.oauth.issuer,
      });
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
      return await serveStateless(c, engine, quotas, message.message, accept);
    }
    if (message.kind === "request" && message.message.method === "initialize") {
      if (sid !== undefined) {
        return c.json(
          rpcError(message.message.id, RPC_ERRORS.INVALID_REQUEST, "Session already initialized"),
          400,
        );
      }
      const principal = c.get("principal");
      const usage = sessions.admit(clientKey(principal, c.env?.remoteAddr));
      if (typeof usage === "number") {
        c.header("retry-after", String(usage));
        return jsonError(c, 429, SERVER_BUSY, "Too many sessions for this client");
      }
      const id = newSessionId();
      const entry: HttpSession = {
        session: new McpSession(id, (n) => pushToSession(sessions, entry, n)),
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
          sessions.add(id, entry);
          c.header("mcp-session-id", id);
          admitted = true;
        }
        return c.json(response, 200);
      } finally {
        if (!admitted) sessions.release(usage);
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
      if (message.kind === "request") {
        return await serveStateless(c, engine, quotas, message.message, accept);
      }
      if (message.kind === "notification") return c.body(null, 202);
      return jsonError(c, 400, RPC_ERRORS.INVALID_REQUEST, "A response needs a session");
    }
    const entry = sessions.find(c);
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
    const streamable = req.method === "tools/call" && ACCEPTS_SSE.test(accept);
    return await answer(
      (notify) =>
        engine.handle(
          entry.session,
          message,
          streamable
            ? { notify, principal: c.get("identity"), caller: httpCaller(c.get("principal")) }
            : { principal: c.get("identity"), caller: httpCaller(c.get("principal")) },
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

  app.get("/mcp", (c) => {
    const accept = c.req.header("accept") ?? "";
    if (!/text\/event-stream/i.test(accept)) {
      return jsonError(c, 406, RPC_ERRORS.INVALID_REQUEST, "Accept must allow text/event-stream");
    }
    const entry = sessions.find(c);
    if (entry instanceof Response) return entry;
    return openSessionStream(c, sessions, entry);
  });

  app.delete("/mcp", (c) => {
    const entry = sessions.find(c);
    if (entry instanceof Response) return entry;
    sessions.end(entry.session.id!);
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
    streamCount: () => quotas.streamTotal,
    close() {
      sessions.stopSweeping();
      engine.close();
      sessions.endAll();
    },
  };
}
