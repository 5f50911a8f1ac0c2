/**
 * `loom dashboard`: the web dashboard on its own (`src/web/dashboard/`),
 * reading and steering the state in `$LOOM_HOME` and the agents directory a
 * mesh serves. A mesh started elsewhere sees what it does: approvals it
 * waits for, configs promoted into its directory. `loom mesh --dashboard`
 * serves the same pages from inside the mesh's process.
 *
 * @module
 */

import { resolve } from "node:path";
import { watchStopSignals } from "../app/mod.ts";
import { UsageError } from "../errors.ts";
import { ensureHome, resolveHome } from "../store/mod.ts";
import { dashboard } from "../web/mod.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import { parseOptions } from "./_args.ts";
import type { CliIo } from "./_io.ts";
import { DEFAULT_AGENTS_DIR } from "./quarantine.ts";
import { readTokenFile } from "./_serve_options.ts";

/** Help text of `loom dashboard`. */
export const DASHBOARD_HELP = `Usage: loom dashboard [options]

Serve the web dashboard: agents and tools, the mesh topology, the live audit
log, approvals waiting for you, credential policy, signatures, the
quarantine, anomalies. It reads $LOOM_HOME and the agents directory, so it
works beside a "loom mesh" running elsewhere ("loom mesh --dashboard" serves
it from the mesh's own process).

Options:
  --host H           bind address (default 127.0.0.1); any other address
                     needs a token
  --port P           port (default ${dashboard.DASHBOARD_PORT}; 0 picks a free one)
  --token-file F     the login token (at least 16 characters), else
                     $LOOM_DASHBOARD_TOKEN; optional on loopback
  --agents DIR       the agents directory (default ./${DEFAULT_AGENTS_DIR})
  --tls-cert F       PEM certificate: serve HTTPS (with --tls-key)
  --tls-key F        PEM private key
  --allowed-host H   a host name browsers use to reach it (repeatable), such
                     as the name of a reverse proxy
  -h, --help         this help

Examples:
  loom dashboard
  loom dashboard --host 0.0.0.0 --token-file ~/.loom/dashboard.token --tls-cert cert.pem --tls-key key.pem
`;

/** `loom dashboard`. */
export async function dashboardCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions({
    args,
    allowPositionals: false,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      "token-file": { type: "string" },
      agents: { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "allowed-host": { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(DASHBOARD_HELP), 0);
  if (positionals.length > 0) throw new UsageError("loom dashboard takes no arguments");
  const options = await dashboardOptions(values, io);
  const home = await ensureHome(resolveHome(io.env));
  using stop = watchStopSignals();
  const served = dashboard.serveDashboard({
    ...options,
    context: { home, agentsDir: resolve(values.agents ?? DEFAULT_AGENTS_DIR) },
  });
  io.err(`loom: dashboard at ${served.url}\n`);
  await Promise.race([stop.signalled, served.finished]);
  await served.shutdown();
  return 0;
}

/** What `--host`, `--port`, `--token-file`, `--tls-*` and `--allowed-host` give. */
export interface DashboardListen {
  host: string;
  port: number;
  token: string | null;
  tls?: { cert: string; key: string };
  allowedHosts: string[];
}

/**
 * Read the listening options of `loom dashboard` (and of `loom mesh --dashboard`).
 *
 * @throws {UsageError} for a bad port, a lone TLS file, an unreadable token file
 */
export async function dashboardOptions(
  values: {
    host?: string;
    port?: string;
    "token-file"?: string;
    "tls-cert"?: string;
    "tls-key"?: string;
    "allowed-host"?: string[];
  },
  io: CliIo,
): Promise<DashboardListen> {
  const port = values.port === undefined ? dashboard.DASHBOARD_PORT : Number(values.port);
  if (!/^\d+$/.test(values.port ?? "0") || port > 65535) {
    throw new UsageError("--port must be a number from 0 to 65535");
  }
  let token: string | null = null;
  if (values["token-file"] !== undefined) {
    const tokens = await readTokenFile(values["token-file"], "Token file");
    if (tokens.length !== 1) throw new UsageError("The dashboard token file must hold one token");
    token = tokens[0];
  } else {
    token = io.env.get("LOOM_DASHBOARD_TOKEN") || null;
  }
  const cert = values["tls-cert"];
  const key = values["tls-key"];
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  let tls: { cert: string; key: string } | undefined;
  if (cert !== undefined && key !== undefined) {
    try {
      tls = { cert: await Deno.readTextFile(cert), key: await Deno.readTextFile(key) };
    } catch (error) {
      throw new UsageError(
        `Cannot read the TLS files: ${escapeForTerminal((error as Error).message)}`,
      );
    }
  }
  return {
    host: values.host ?? "127.0.0.1",
    port,
    token,
    tls,
    allowedHosts: values["allowed-host"] ?? [],
  };
}
