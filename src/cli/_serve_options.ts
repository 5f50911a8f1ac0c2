/**
 * What the two serving commands, `loom run` and `loom mesh`, read the same
 * way: the transport and port, the bearer token file, the `/metrics` token
 * file, the process's metrics, the audit log they open, and how they serve
 * until the client leaves or a signal comes. One place, so
 * both commands give the same errors for the same mistakes.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { LoomHome } from "../store/mod.ts";
import { AuditLog } from "../security/audit/mod.ts";
import { type McpEngine, serveStdio } from "../mcp/mod.ts";
import { endOn, watchStopSignals } from "../app/mod.ts";
import { serveMcpHttp, type ServeMcpHttpOptions } from "../web/mod.ts";
import { LoomMetrics } from "../_util/loom_metrics.ts";
import type { CliIo } from "./_io.ts";
import { VERSION } from "./version.ts";

/** The `parseArgs` options both serving commands take (spread into each command's own). */
export const SERVE_OPTIONS = {
  transport: { type: "string", short: "t", default: "stdio" },
  host: { type: "string", default: "127.0.0.1" },
  port: { type: "string", short: "p", default: "8400" },
  "token-file": { type: "string" },
  "metrics-token-file": { type: "string" },
  "allowed-host": { type: "string", multiple: true },
  "allowed-origin": { type: "string", multiple: true },
  "require-signed": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** The transport and port a serving command was asked for. */
export interface ServeTarget {
  transport: "stdio" | "http";
  port: number;
}

/**
 * Check `--transport` and `--port`.
 *
 * @throws {UsageError} for a transport other than stdio or http, or a port
 *   outside 0-65535
 */
export function serveTarget(values: { transport?: string; port?: string }): ServeTarget {
  const transport = values.transport;
  if (transport !== "stdio" && transport !== "http") {
    throw new UsageError(`Invalid --transport "${transport}": expected stdio or http`);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`Invalid --port "${values.port}": expected 0-65535`);
  }
  return { transport, port };
}

/**
 * The tokens of a token file: one per line, blank lines skipped.
 *
 * @param file the file
 * @param what how the error names the file ("Token file", "Metrics token file")
 * @throws {UsageError} when it holds no token
 */
export async function readTokenFile(file: string, what: string): Promise<string[]> {
  const tokens = (await Deno.readTextFile(file)).split("\n").map((l) => l.trim())
    .filter((l) => l !== "");
  if (tokens.length === 0) throw new UsageError(`${what} holds no token`);
  return tokens;
}

/**
 * The `/mcp` bearer token(s): those of `--token-file`, else `LOOM_HTTP_TOKEN`,
 * else none.
 */
export async function bearerTokens(
  tokenFile: string | undefined,
  env: { get(key: string): string | undefined },
): Promise<string[] | string | undefined> {
  if (tokenFile !== undefined) return await readTokenFile(tokenFile, "Token file");
  return env.get("LOOM_HTTP_TOKEN") || undefined;
}

/** What `--metrics-token-file` gives a serving command. */
export interface ServeMetrics {
  /** The process's metrics: one registry over HTTP, none over stdio. */
  metrics: LoomMetrics | undefined;
  /** The tokens that open `/metrics` only, when given. */
  metricsTokens: string[] | undefined;
}

/**
 * The process's metrics (HTTP only) and the tokens of `--metrics-token-file`
 * (one per line, blank lines skipped).
 *
 * @throws {UsageError} for the file without `--transport http`, or a file with no token
 */
export async function serveMetrics(
  file: string | undefined,
  transport: "stdio" | "http",
): Promise<ServeMetrics> {
  if (file !== undefined && transport !== "http") {
    throw new UsageError("--metrics-token-file needs --transport http");
  }
  const metricsTokens = file === undefined
    ? undefined
    : await readTokenFile(file, "Metrics token file");
  // One registry for the process: the audit log, every agent and /metrics share it.
  const metrics = transport === "http" ? new LoomMetrics({ version: VERSION }) : undefined;
  return { metrics, metricsTokens };
}

/**
 * Open the home's audit log as a server does: signed checkpoints, the idle
 * heartbeat of `LOOM_AUDIT_HEARTBEAT`, commit times into the metrics.
 *
 * @throws {UsageError} for a bad `LOOM_AUDIT_HEARTBEAT`
 */
export function openServeAudit(
  home: LoomHome,
  env: { get(key: string): string | undefined },
  metrics: LoomMetrics | undefined,
): Promise<AuditLog> {
  return AuditLog.open(home.audit, {
    commitSeconds: metrics?.auditCommitSeconds,
    checkpoints: {
      keyFile: home.auditSigningKey,
      heartbeatMs: auditHeartbeatMs(env.get("LOOM_AUDIT_HEARTBEAT")),
    },
  });
}

/**
 * The idle checkpoint heartbeat from `LOOM_AUDIT_HEARTBEAT`: seconds (at
 * least 1), `off`, or unset for the default.
 *
 * @throws {UsageError} for any other value
 */
export function auditHeartbeatMs(value: string | undefined): number | null | undefined {
  if (value === undefined || value === "") return undefined;
  if (value === "off") return null;
  if (!/^[1-9][0-9]{0,6}$/.test(value)) {
    throw new UsageError(
      `Invalid LOOM_AUDIT_HEARTBEAT "${
        value.slice(0, 16)
      }": expected seconds (1 to 9999999) or "off"`,
    );
  }
  return Number(value) * 1000;
}

/** Whether signatures are required: `--require-signed` or `LOOM_REQUIRE_SIGNED=1`. */
export function requireSigned(
  flag: boolean | undefined,
  env: { get(key: string): string | undefined },
): boolean {
  return flag === true || env.get("LOOM_REQUIRE_SIGNED") === "1";
}

/**
 * Serve an engine until the end: over stdio until the input ends (a signal
 * ends it as if the client had closed it, so calls in flight are answered
 * first); over HTTP until a signal, then shut the server down.
 *
 * @param engine the protocol engine
 * @param transport stdio or http
 * @param io the command's streams and stderr
 * @param http the HTTP server's options (host, port, tokens, metrics, ...)
 */
export async function serveUntilStopped(
  engine: McpEngine,
  transport: "stdio" | "http",
  io: CliIo,
  http: Omit<ServeMcpHttpOptions, "onListen">,
): Promise<void> {
  using stop = watchStopSignals();
  if (transport === "stdio") {
    const input = endOn(io.stdin, stop.signalled.then(() => io.err("loom: shutting down\n")));
    await serveStdio(engine, { input, output: io.stdout });
    return;
  }
  const server = await serveMcpHttp(engine, {
    ...http,
    onListen: (url) => io.err(`loom: listening on ${url}\n`),
  });
  await stop.signalled;
  io.err("loom: shutting down\n");
  await server.shutdown();
}
