/**
 * Start the streamable HTTP transport on `Deno.serve`. The handler receives
 * the connection's remote address from `Deno.serve` (Hono's `c.env`), which
 * the session quotas of `mcp_http.ts` count clients by.
 *
 * With an {@linkcode OAuthResourceServer} (`--auth oauth`), the handler in
 * front of the app serves the Protected Resource Metadata document (RFC 9728)
 * without authentication, after the same Host/Origin guard as `/mcp`; the app
 * accepts a `/mcp` request only with a valid access token, and binds
 * sessions and quotas to its subject.
 *
 * @module
 */

import type { McpEngine } from "../mcp/mod.ts";
import { UsageError } from "../errors.ts";
import { isLoopbackHost } from "../net/mod.ts";
import { checkOrigin, originPolicy } from "./guard.ts";
import { createMcpApp } from "./mcp_http.ts";
import type { OAuthResourceServer } from "./oauth.ts";
import type { LoomMetrics } from "../_util/loom_metrics.ts";

/** Options of {@linkcode serveMcpHttp}. */
export interface ServeMcpHttpOptions {
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 8400; 0 picks a free one). */
  port?: number;
  /**
   * Bearer token, or one token per client (each at least 16 characters,
   * distinct). Required for a non-loopback bind.
   * Threat: an unauthenticated server on a reachable interface lets anyone
   * on the network drive the agent's tools. Separate tokens also give each
   * client its own session quota and keep its sessions its own.
   */
  token?: string | readonly string[];
  /**
   * Accept OAuth 2.1 access tokens of one issuer instead of static tokens
   * (`--auth oauth`); excludes `token`. Counts as authentication for a
   * non-loopback bind.
   */
  oauth?: OAuthResourceServer;
  /** The process's metrics, served at `/metrics` behind the `/mcp` guards (`_metrics.ts`). */
  metrics?: LoomMetrics;
  /**
   * Token(s) that open `/metrics` and nothing else (each at least 16
   * characters, none equal to a `/mcp` token); with `oauth` the only way in.
   */
  metricsToken?: string | readonly string[];
  /** Extra Host names accepted (DNS-rebinding allowlist). */
  allowedHosts?: readonly string[];
  /** Extra browser Origins accepted. */
  allowedOrigins?: readonly string[];
  /** Largest request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Most sessions in all (default 1024). */
  maxSessions?: number;
  /** Most sessions of one client: a token and remote address (default 256). */
  maxSessionsPerClient?: number;
  /** A session idle this long ends (default 10 min). */
  sessionIdleMs?: number;
  /** Called once the socket listens. */
  onListen?: (url: string) => void;
}

/** A running HTTP transport. */
export interface HttpServerHandle {
  /** The MCP endpoint URL, e.g. `http://127.0.0.1:8400/mcp`. */
  url: string;
  /** The bound port. */
  port: number;
  /** Stop accepting, end sessions, wait for in-flight requests. */
  shutdown(): Promise<void>;
  /** Settles when the server has stopped. */
  finished: Promise<void>;
}

/**
 * Serve an engine over streamable HTTP at `/mcp`.
 *
 * @param engine the protocol engine
 * @param options bind address and guards
 * @returns a handle once listening
 * @throws {UsageError} when binding a non-loopback host without a token
 *   or OAuth, or when given both
 */
export function serveMcpHttp(
  engine: McpEngine,
  options: ServeMcpHttpOptions = {},
): Promise<HttpServerHandle> {
  const host = options.host ?? "127.0.0.1";
  const tokens = typeof options.token === "string" ? [options.token] : options.token ?? [];
  const oauth = options.oauth ?? null;
  if (oauth !== null && tokens.length > 0) {
    throw new UsageError("OAuth (--auth oauth) and bearer tokens exclude each other: pick one");
  }
  if (!isLoopbackHost(host) && tokens.length === 0 && oauth === null) {
    throw new UsageError(
      `Refusing to listen on "${host}" without a bearer token: pass --token-file FILE or set ` +
        "LOOM_HTTP_TOKEN",
    );
  }
  if (tokens.some((t) => t.length < 16)) {
    throw new UsageError("Bearer token must be at least 16 characters");
  }
  if (new Set(tokens).size !== tokens.length) {
    throw new UsageError("Bearer tokens must be distinct");
  }
  const metricsTokens = typeof options.metricsToken === "string"
    ? [options.metricsToken]
    : options.metricsToken ?? [];
  checkMetricsTokens(metricsTokens, tokens);
  const policy = originPolicy(host, options);
  const { app, close } = createMcpApp(engine, {
    policy,
    tokens,
    oauth: oauth ?? undefined,
    maxBodyBytes: options.maxBodyBytes,
    maxSessions: options.maxSessions,
    maxSessionsPerClient: options.maxSessionsPerClient,
    sessionIdleMs: options.sessionIdleMs,
    // Session counts only for a loopback bind without a token; otherwise to token holders.
    healthDetails: isLoopbackHost(host) && tokens.length === 0 && oauth === null,
    metrics: options.metrics,
    metricsTokens,
  });
  const handler: Deno.ServeHandler = oauth === null
    ? (req, info) => app.fetch(req, info) // `info` (remote address, `completed`) is `c.env`
    : metadataFront(oauth, policy, (req, info) => app.fetch(req, info));
  const server = Deno.serve({
    hostname: host,
    port: options.port ?? 8400,
    onListen: () => {}, // the default prints to stdout, which stdio reserves
    onError: (error) => {
      console.error("loom: HTTP handler error:", error);
      return new Response("Internal error", { status: 500 });
    },
  }, handler);
  const addr = server.addr;
  const shown = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `http://${shown}:${addr.port}/mcp`;
  options.onListen?.(url);
  return Promise.resolve({
    url,
    port: addr.port,
    finished: server.finished,
    async shutdown() {
      close();
      await server.shutdown();
    },
  });
}

/**
 * Metrics tokens open `/metrics` only, so one that is also a `/mcp` token
 * would hand a scraper the agent's tools.
 *
 * @throws {UsageError} for a short, repeated or `/mcp` token
 */
function checkMetricsTokens(metricsTokens: readonly string[], tokens: readonly string[]): void {
  if (metricsTokens.some((t) => t.length < 16)) {
    throw new UsageError("Metrics token must be at least 16 characters");
  }
  if (new Set(metricsTokens).size !== metricsTokens.length) {
    throw new UsageError("Metrics tokens must be distinct");
  }
  if (metricsTokens.some((t) => tokens.includes(t))) {
    throw new UsageError("A metrics token must not also be a /mcp bearer token");
  }
}

/**
 * The handler in front of the app in OAuth mode: the metadata document at its
 * well-known paths, without authentication but behind the Host/Origin guard.
 * Everything else goes to the app, which checks access tokens on `/mcp`.
 */
function metadataFront(
  oauth: OAuthResourceServer,
  policy: ReturnType<typeof originPolicy>,
  next: Deno.ServeHandler,
): Deno.ServeHandler {
  const metadataPaths = new Set(oauth.metadataPaths);
  return (req, info) => {
    const path = new URL(req.url).pathname;
    if (!metadataPaths.has(path)) return next(req, info);
    const refused = checkOrigin(req.headers, policy);
    if (refused !== null) {
      const error = { code: -32600, message: `Forbidden: ${refused}` };
      return Response.json({ jsonrpc: "2.0", id: null, error }, { status: 403 });
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
    }
    return Response.json(oauth.metadata(), { headers: { "cache-control": "max-age=300" } });
  };
}
