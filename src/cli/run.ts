/**
 * `loom run CONFIG`: serve one agent's tools over stdio (default) or
 * streamable HTTP, with every call through the gate.
 *
 * @module
 */

import { parseOptions } from "./_args.ts";
import { formatConfigIssue, UsageError } from "../errors.ts";
import { loadConfig } from "../config/mod.ts";
import { ensureHome, resolveHome } from "../store/mod.ts";
import { AuditLog } from "../security/audit/mod.ts";
import { CredentialBroker } from "../security/secrets/mod.ts";
import { enforceConfigSignature } from "../security/signing/mod.ts";
import { bridgeSecretNames } from "../upstream/mod.ts";
import { serveStdio } from "../mcp/mod.ts";
import { endOn, ServedAgent, watchStopSignals } from "../app/mod.ts";
import { OAuthResourceServer, serveMcpHttp } from "../web/mod.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import type { CliIo } from "./_io.ts";
import { VERSION } from "./version.ts";

/** Help text of `loom run`. */
export const RUN_HELP = `Usage: loom run CONFIG [options]

Serve the tools of one agent config to MCP clients. Every call passes the
gate: input validation and injection detection, trust tier, rate limit and a
durable, hash-chained audit record.

Options:
  -t, --transport stdio|http  transport (default stdio: JSON-RPC on stdin/stdout,
                              logs on stderr)
      --host HOST             HTTP bind address (default 127.0.0.1)
  -p, --port PORT             HTTP port (default 8400; 0 picks a free port)
      --token-file FILE       file holding the HTTP bearer token (required for a
                              non-loopback --host), or one token per line to give
                              each client its own; or set LOOM_HTTP_TOKEN
      --token TOKEN           the token itself (visible to other local users in
                              the process list: prefer the two above)
      --auth token|oauth      HTTP authentication (default token: the bearer
                              token options above, none on loopback without one);
                              oauth accepts JWT access tokens of one authorization
                              server (scopes loom:read, loom:write) and serves
                              /.well-known/oauth-protected-resource
      --issuer URL            with --auth oauth: the authorization server's issuer,
                              exactly as tokens carry it in "iss" (https)
      --audience URL          with --auth oauth: this server's canonical URL, which
                              tokens must carry in "aud" (e.g. https://host/mcp)
      --jwks-url URL          with --auth oauth: the issuer's key set (default:
                              discovered from the issuer's metadata)
      --allowed-host NAME     extra Host name accepted (repeatable)
      --allowed-origin ORIGIN extra browser Origin accepted (repeatable)
      --max-sessions N        most HTTP sessions in all (default 1024)
      --max-sessions-per-client N
                              most sessions of one client, a token and remote
                              address; all of loopback is one (default 256)
      --session-idle SECONDS  end a session idle this long (default 600)
      --require-signed        refuse a config without a signature (CONFIG.sig,
                              see "loom sign"); or set LOOM_REQUIRE_SIGNED=1.
                              A config whose signature is bad, by an untrusted
                              key or for other bytes never loads (exit 65); an
                              unsigned one loads with a warning unless required
  -h, --help                  show this help

Environment:
  LOOM_HOME        state directory (default ~/.loom): audit log, keys, database
  LOOM_HTTP_TOKEN  bearer token for the HTTP transport
  LOOM_REQUIRE_SIGNED=1  same as --require-signed
  LOOM_AUDIT_HEARTBEAT  seconds between audit checkpoints of an idle log
                   (default 600; "off" for none)

Examples:
  loom run agents/prometheus.yaml
  loom run agents/prometheus.yaml --transport http --port 8400
  loom run agents/prometheus.yaml --require-signed
  loom run agents/prometheus.yaml --transport http --host 0.0.0.0 --auth oauth \
    --issuer https://auth.example.com --audience https://loom.example.com/mcp
`;

/** `loom run`. */
export async function runCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions({
    args,
    allowPositionals: true,
    options: {
      transport: { type: "string", short: "t", default: "stdio" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", short: "p", default: "8400" },
      token: { type: "string" },
      "token-file": { type: "string" },
      auth: { type: "string" },
      issuer: { type: "string" },
      audience: { type: "string" },
      "jwks-url": { type: "string" },
      "allowed-host": { type: "string", multiple: true },
      "allowed-origin": { type: "string", multiple: true },
      "max-sessions": { type: "string" },
      "max-sessions-per-client": { type: "string" },
      "session-idle": { type: "string" },
      "require-signed": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(RUN_HELP), 0);
  if (positionals.length !== 1) throw new UsageError("Expected one CONFIG: loom run CONFIG");
  const transport = values.transport;
  if (transport !== "stdio" && transport !== "http") {
    throw new UsageError(`Invalid --transport "${transport}": expected stdio or http`);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`Invalid --port "${values.port}": expected 0-65535`);
  }
  const maxSessions = positiveFlag("max-sessions", values["max-sessions"]);
  const maxSessionsPerClient = positiveFlag(
    "max-sessions-per-client",
    values["max-sessions-per-client"],
  );
  const sessionIdle = positiveFlag("session-idle", values["session-idle"]);
  const oauth = oauthFlags(values, transport);
  let token: string | string[] | undefined;
  if (oauth !== undefined) {
    if (io.env.get("LOOM_HTTP_TOKEN")) {
      io.err("warning: LOOM_HTTP_TOKEN is ignored with --auth oauth\n");
    }
  } else if (values.token !== undefined) {
    io.err("warning: --token is visible in the process list; prefer --token-file\n");
    token = values.token;
  } else if (values["token-file"] !== undefined) {
    // One token per line; blank lines are skipped.
    const lines = (await Deno.readTextFile(values["token-file"])).split("\n");
    token = lines.map((l) => l.trim()).filter((l) => l !== "");
    if (token.length === 0) throw new UsageError("Token file holds no token");
  } else {
    token = io.env.get("LOOM_HTTP_TOKEN") || undefined;
  }

  const config = await loadConfig(positionals[0], {
    onWarning: (w) => io.err(`warning: ${escapeForTerminal(formatConfigIssue(w))}\n`),
  });
  if (config.runtime.sandbox === "docker") {
    io.err(
      `warning: sandbox "docker" is a deployment plan ("loom sandbox ${positionals[0]}" prints ` +
        `it); here the agent runs in LOOM's Deno sandbox process\n`,
    );
  }
  const home = await ensureHome(resolveHome(io.env));
  const audit = await AuditLog.open(home.audit, {
    checkpoints: {
      keyFile: home.auditSigningKey,
      heartbeatMs: auditHeartbeatMs(io.env.get("LOOM_AUDIT_HEARTBEAT")),
    },
  });
  try {
    // The signature is checked against the digest of the bytes just loaded.
    const signature = await enforceConfigSignature(
      home,
      audit,
      { name: config.name, path: positionals[0], digest: config.source.digest },
      {
        requireSigned: values["require-signed"] === true ||
          io.env.get("LOOM_REQUIRE_SIGNED") === "1",
        onWarning: (message) => io.err(`warning: ${escapeForTerminal(message)}\n`),
      },
    );
    if (signature.verdict === "unsigned") {
      io.err(
        `warning: config "${escapeForTerminal(positionals[0])}" is not signed; sign it with ` +
          `"loom sign config", or refuse unsigned configs with --require-signed\n`,
      );
    }
    // Grants pinned to a signing key match only a config verified as signed by it.
    const needsSecrets = config.bridges.some((b) => bridgeSecretNames(b).length > 0);
    await using broker = signature.verdict === "valid" && needsSecrets
      ? await CredentialBroker.open({
        home,
        env: io.env,
        audit,
        signer: { configDigest: config.source.digest, keyId: signature.keyId },
      })
      : undefined;
    await using agent = await ServedAgent.open(config, {
      home,
      audit,
      broker,
      env: io.env,
      transport,
      version: VERSION,
      // Sandbox log lines come from the agent's process: escaped, they cannot drive the terminal.
      log: (line) => io.err(`${escapeForTerminal(line)}\n`),
    });
    io.err(
      `loom: serving ${agent.gate.listTools().length} tool(s) of "${config.name}" over ${transport}\n`,
    );
    using stop = watchStopSignals();
    if (transport === "stdio") {
      // A signal ends the input as if the client had closed it: calls in
      // flight are answered, then everything stops in order.
      const input = endOn(io.stdin, stop.signalled.then(() => io.err("loom: shutting down\n")));
      await serveStdio(agent.engine, { input, output: io.stdout });
    } else {
      const server = await serveMcpHttp(agent.engine, {
        host: values.host,
        port,
        token,
        oauth,
        allowedHosts: values["allowed-host"],
        allowedOrigins: values["allowed-origin"],
        maxSessions,
        maxSessionsPerClient,
        sessionIdleMs: sessionIdle === undefined ? undefined : sessionIdle * 1000,
        onListen: (url) => io.err(`loom: listening on ${url}\n`),
      });
      await stop.signalled;
      io.err("loom: shutting down\n");
      await server.shutdown();
    }
  } finally {
    await audit.close();
  }
  return 0;
}

/** A positive integer flag, or undefined when not given. */
function positiveFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`Invalid --${name} "${value}": expected a positive integer`);
  }
  return n;
}

/**
 * The OAuth resource server `--auth oauth --issuer URL --audience URL
 * [--jwks-url URL]` asks for, or undefined for `--auth token` (the default).
 *
 * @throws {UsageError} for an unknown mode, OAuth flags without `--auth
 *   oauth`, OAuth over stdio or with bearer token options, a missing issuer
 *   or audience, or a URL that is not https (http only to a loopback host)
 */
function oauthFlags(
  values: {
    auth?: string;
    issuer?: string;
    audience?: string;
    "jwks-url"?: string;
    token?: string;
    "token-file"?: string;
  },
  transport: string,
): OAuthResourceServer | undefined {
  const mode = values.auth ?? "token";
  if (mode !== "token" && mode !== "oauth") {
    throw new UsageError(`Invalid --auth "${mode}": expected token or oauth`);
  }
  if (mode === "token") {
    for (const flag of ["issuer", "audience", "jwks-url"] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} needs --auth oauth`);
    }
    return undefined;
  }
  if (transport !== "http") throw new UsageError("--auth oauth needs --transport http");
  if (values.token !== undefined || values["token-file"] !== undefined) {
    throw new UsageError(
      "--auth oauth excludes --token and --token-file: pick one way to authenticate",
    );
  }
  if (values.issuer === undefined) {
    throw new UsageError("--auth oauth needs --issuer URL (the authorization server)");
  }
  if (values.audience === undefined) {
    throw new UsageError("--auth oauth needs --audience URL (this server's canonical URL)");
  }
  return new OAuthResourceServer({
    issuer: values.issuer,
    audience: values.audience,
    jwksUrl: values["jwks-url"],
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
