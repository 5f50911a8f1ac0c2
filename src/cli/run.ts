/**
 * `loom run CONFIG`: serve one agent's tools over stdio (default) or
 * streamable HTTP, with every call through the gate.
 *
 * @module
 */

import { parseOptions } from "./_args.ts";
import { formatConfigIssue, UsageError } from "../errors.ts";
import { loadConfig } from "../config/mod.ts";
import { AgentRegistry, ensureHome, resolveHome } from "../store/mod.ts";
import { CredentialBroker } from "../security/secrets/mod.ts";
import { enforceConfigSignature } from "../security/signing/mod.ts";
import type { ToolHost } from "../mcp/mod.ts";
import { configNeedsSecrets, pinServedAgent, ServedAgent } from "../app/mod.ts";
import { OAuthResourceServer } from "../web/mod.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import type { CliIo } from "./_io.ts";
import { VERSION } from "./version.ts";
import {
  bearerTokens,
  openServeAudit,
  requireSigned,
  SERVE_OPTIONS,
  serveMetrics,
  serveTarget,
  serveUntilStopped,
} from "./_serve_options.ts";

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
      --metrics-token-file FILE
                              a token (or one per line) that opens /metrics and
                              nothing else; the only way to /metrics with
                              --auth oauth (access tokens do not open it)
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
      ...SERVE_OPTIONS,
      token: { type: "string" },
      auth: { type: "string" },
      issuer: { type: "string" },
      audience: { type: "string" },
      "jwks-url": { type: "string" },
      "max-sessions": { type: "string" },
      "max-sessions-per-client": { type: "string" },
      "session-idle": { type: "string" },
    },
  });
  if (values.help) return (io.out(RUN_HELP), 0);
  if (positionals.length !== 1) throw new UsageError("Expected one CONFIG: loom run CONFIG");
  const { transport, port } = serveTarget(values);
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
  } else {
    token = await bearerTokens(values["token-file"], io.env);
  }
  const { metrics, metricsTokens } = await serveMetrics(values["metrics-token-file"], transport);

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
  const audit = await openServeAudit(home, io.env, metrics);
  try {
    // The signature is checked against the digest of the bytes just loaded.
    const signature = await enforceConfigSignature(
      home,
      audit,
      { name: config.name, path: positionals[0], digest: config.source.digest },
      {
        requireSigned: requireSigned(values["require-signed"], io.env),
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
    await using broker = signature.verdict === "valid" && configNeedsSecrets(config)
      ? await CredentialBroker.open({
        home,
        env: io.env,
        audit,
        signer: { configDigest: config.source.digest, keyId: signature.keyId },
      })
      : undefined;
    // Set once the pins are open (below): the upstream may change its tools before.
    const pinned: { recheck?: () => Promise<void> } = {};
    await using agent = await ServedAgent.open(config, {
      home,
      audit,
      broker,
      env: io.env,
      transport,
      version: VERSION,
      metrics,
      // Sandbox log lines come from the agent's process: escaped, they cannot drive the terminal.
      log: (line) => io.err(`${escapeForTerminal(line)}\n`),
      onUpstreamChange: () => pinned.recheck?.(),
    });
    // Gateway mode: the upstream's tools are pinned on first contact; one whose
    // definition changed since is held (not called, its pinned text listed)
    // until "loom pin approve".
    using pins = config.mcpUpstream === null
      ? undefined
      : await pinServedAgent(agent, home, audit, (line) => io.err(`${escapeForTerminal(line)}\n`));
    pinned.recheck = pins?.recheck;
    // The registry behind "loom list" and "loom info": a failure there is
    // one warning, never a reason to stop serving.
    await using registry = await AgentRegistry.open(home, {
      onError: (message) => io.err(`warning: ${escapeForTerminal(message)}\n`),
    });
    registry.registerAgent(config, { path: positionals[0], signature, transport });
    agent.engine.setHost(touchingHost(agent.gate, () => registry.touch(config.name)));
    let ended: "stopped" | "failed" = "failed";
    using _registered = { [Symbol.dispose]: () => void registry.markAgent(config.name, ended) };
    io.err(
      `loom: serving ${agent.gate.listTools().length} tool(s) of "${config.name}" over ${transport}\n`,
    );
    await serveUntilStopped(agent.engine, transport, io, {
      host: values.host,
      port,
      token,
      oauth,
      metrics,
      metricsToken: metricsTokens,
      allowedHosts: values["allowed-host"],
      allowedOrigins: values["allowed-origin"],
      maxSessions,
      maxSessionsPerClient,
      sessionIdleMs: sessionIdle === undefined ? undefined : sessionIdle * 1000,
    });
    ended = "stopped";
  } finally {
    await audit.close();
  }
  return 0;
}

/** The gate as the engine's tool host, telling the registry of each call (throttled there). */
function touchingHost(gate: ToolHost, touch: () => void): ToolHost {
  return {
    listTools: () => gate.listTools(),
    callTool: (name, args, ctx) => {
      touch();
      return gate.callTool(name, args, ctx);
    },
  };
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
