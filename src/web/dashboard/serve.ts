/**
 * Serving the dashboard: `Deno.serve` on its own address (default
 * 127.0.0.1:8300), over TLS when given a certificate. A token is required
 * whenever the address is not loopback; on loopback it is optional.
 *
 * @module
 */

import { LoomError, UsageError } from "../../errors.ts";
import { isLoopbackHost } from "../../net/mod.ts";
import { originPolicy } from "../guard.ts";
import { createDashboardApp, type DashboardContext } from "./app.ts";
import { MIN_TOKEN_LENGTH } from "./_session.ts";
import { ROUTES } from "./routes.ts";

/** The dashboard's default port. */
export const DASHBOARD_PORT = 8300;

/** Options of {@linkcode serveDashboard}. */
export interface ServeDashboardOptions {
  context: DashboardContext;
  /** Bind address; default 127.0.0.1. */
  host?: string;
  /** Port; default {@linkcode DASHBOARD_PORT}; 0 picks a free one. */
  port?: number;
  /** The login token; required off loopback. */
  token?: string | null;
  /** PEM certificate and key: serve HTTPS (cookies then carry `Secure`). */
  tls?: { cert: string; key: string };
  /** Host names (besides the bind address and loopback) browsers may use. */
  allowedHosts?: readonly string[];
}

/** A running dashboard. */
export interface DashboardHandle {
  /** `http://127.0.0.1:8300/`. */
  url: string;
  port: number;
  shutdown(): Promise<void>;
  finished: Promise<void>;
}

/**
 * Start the dashboard.
 *
 * @throws {UsageError} off loopback without a token, or with a short one
 * @throws {LoomError} `UNAVAILABLE` when the port is taken
 */
export function serveDashboard(options: ServeDashboardOptions): DashboardHandle {
  const host = options.host ?? "127.0.0.1";
  const token = options.token ?? null;
  if (token === null && !isLoopbackHost(host)) {
    throw new UsageError(
      `Refusing to serve the dashboard on "${host}" without a token: pass --token-file FILE ` +
        "or set LOOM_DASHBOARD_TOKEN",
    );
  }
  if (token !== null && token.length < MIN_TOKEN_LENGTH) {
    throw new UsageError(`The dashboard token must be at least ${MIN_TOKEN_LENGTH} characters`);
  }
  const policy = originPolicy(host, { allowedHosts: options.allowedHosts });
  const { app } = createDashboardApp({ context: options.context, token, policy, routes: ROUTES });
  const port = options.port ?? DASHBOARD_PORT;
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: host,
      port,
      ...(options.tls ?? {}),
      onListen: () => {},
      onError: (error) => {
        console.error("loom: dashboard handler error:", error);
        return new Response("Internal error", { status: 500 });
      },
    }, (req, info) => app.fetch(req, info));
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new LoomError(
        "UNAVAILABLE",
        `Cannot serve the dashboard: ${host}:${port} is in use (choose another port)`,
      );
    }
    throw error;
  }
  const addr = server.addr;
  const shown = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const scheme = options.tls ? "https" : "http";
  return {
    url: `${scheme}://${shown}:${addr.port}/`,
    port: addr.port,
    finished: server.finished,
    shutdown: () => server.shutdown(),
  };
}
