/**
 * `loom mesh DIR`: serve every agent config of a directory through one MCP
 * connection (stdio, or one streamable HTTP endpoint), each agent behind its
 * own gate and sandbox process. The mesh itself is `src/app/mesh.ts`; this
 * module reads the options, opens the home and the audit log, prints what
 * was left out, and runs the transport until a signal or the end of stdin.
 *
 * @module
 */

import { parseOptions } from "./_args.ts";
import { UsageError } from "../errors.ts";
import { AgentRegistry, ensureHome, resolveHome } from "../store/mod.ts";
import { Mesh, type MeshReloadReport, MeshScheduler } from "../app/mod.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import type { CliIo } from "./_io.ts";
import * as serving from "./_serve_options.ts";
import {
  EXPOSURE_HELP,
  EXPOSURE_OPTIONS,
  type MeshExposure,
  meshExposure,
} from "./_mesh_exposure.ts";
import { VERSION } from "./version.ts";
import { SCHEDULE_HELP, SCHEDULE_OPTIONS, scheduleTimeZone } from "./_schedule_options.ts";
import { resolve } from "node:path";
import { dashboard } from "../web/mod.ts";
import { dashboardOptions } from "./dashboard.ts";

/** Help text of `loom mesh`. */
export const MESH_HELP: string = `Usage: loom mesh DIR [options]

Serve every agent config in DIR (each *.yaml and *.yml file directly in it)
through one MCP connection. Each agent keeps its own gate (tier, rate limits,
approvals) and its own sandbox process, started by its first call and
stopped when idle. A config that fails validation or its signature check is
reported and left out; the others serve. Two configs offering the same tool
name refuse to start (exit 78) unless --namespace.

DIR is watched: a changed, added or removed config is checked first, then
served (or stopped) without a restart, and clients are told the tool list
changed. A broken, unsigned or colliding edit is reported and the previous
version keeps serving; calls in flight finish on the version they began on.

A tool with triggers (cron schedules) is called by the mesh itself when one
comes due, through its agent's gate as client "schedule", and audited.

Options:
  -t, --transport stdio|http  transport (default stdio, as Claude Desktop runs it)
      --host HOST             HTTP bind address (default 127.0.0.1)
  -p, --port PORT             HTTP port (default 8400; 0 picks a free port)
      --token-file FILE       file holding the HTTP bearer token (required for a
                              non-loopback --host), or one token per line; or
                              set LOOM_HTTP_TOKEN
      --metrics-token-file FILE
                              with --transport http: a token (or one per line)
                              that opens /metrics (every agent's series) and
                              nothing else
      --allowed-host NAME     extra Host name accepted (repeatable)
      --allowed-origin ORIGIN extra browser Origin accepted (repeatable)
      --namespace             serve every tool as agent__tool (the agent's "-"
                              written "_"), whatever other agents are present
${EXPOSURE_HELP}
      --sandbox-idle SECONDS  stop an agent's sandbox process after this long
                              without calls (default 300)
      --require-signed        leave out configs without a valid signature; or
                              set LOOM_REQUIRE_SIGNED=1
${SCHEDULE_HELP}
      --dashboard             also serve the web dashboard ("loom dashboard")
                              from this process, for DIR
      --dashboard-host HOST   its bind address (default 127.0.0.1)
      --dashboard-port PORT   its port (default ${dashboard.DASHBOARD_PORT})
      --dashboard-token-file FILE
                              its login token (required off loopback), or set
                              LOOM_DASHBOARD_TOKEN
  -h, --help                  show this help

Environment:
  LOOM_HOME        state directory (default ~/.loom)
  LOOM_HTTP_TOKEN  bearer token for the HTTP transport

A profile of the mesh file (DIR/loom-mesh.yaml, never loaded as an agent)
names the tools one client entry sees, so each Claude Desktop entry can serve
its own subset of one directory:

  profiles:
    ops:
      tools: ["prometheus__*", "grafana__search_*"]
    everything:
      discovery: true

Examples:
  loom mesh agents/
  loom mesh agents/ --namespace
  loom mesh agents/ --namespace --tools 'github__*' --tools '*_alerts'
  loom mesh agents/ --profile ops
  loom mesh agents/ --discovery
  loom mesh agents/ --transport http --port 8400 --token-file ~/.loom/token
`;

/** `loom mesh`. */
export async function meshCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions({
    args,
    allowPositionals: true,
    options: {
      ...serving.SERVE_OPTIONS,
      ...EXPOSURE_OPTIONS,
      ...SCHEDULE_OPTIONS,
      namespace: { type: "boolean" },
      "sandbox-idle": { type: "string" },
      dashboard: { type: "boolean" },
      "dashboard-host": { type: "string" },
      "dashboard-port": { type: "string" },
      "dashboard-token-file": { type: "string" },
    },
  });
  if (values.help) return (io.out(MESH_HELP), 0);
  if (positionals.length !== 1) throw new UsageError("Expected one DIR: loom mesh DIR");
  const { transport, port } = serving.serveTarget(values);
  const idle = values["sandbox-idle"];
  if (idle !== undefined && !/^[1-9][0-9]{0,6}$/.test(idle)) {
    throw new UsageError(`Invalid --sandbox-idle "${idle.slice(0, 16)}": expected seconds`);
  }
  const timeZone = scheduleTimeZone(values);
  const exposure = await meshExposure(positionals[0], values);
  const token = await serving.bearerTokens(values["token-file"], io.env);
  const { metrics, metricsTokens } = await serving.serveMetrics(
    values["metrics-token-file"],
    transport,
  );
  const warn = (message: string) => io.err(`warning: ${escapeForTerminal(message)}\n`);
  const board = await dashboardListen(values, io);

  const home = await ensureHome(resolveHome(io.env));
  const audit = await serving.openServeAudit(home, io.env, metrics);
  let refreshSchedule = () => {};
  try {
    // The registry behind "loom list": a failure there is one warning, never a reason to stop.
    await using registry = await AgentRegistry.open(home, { onError: warn });
    const mesh = await Mesh.open(positionals[0], {
      home,
      audit,
      env: io.env,
      version: VERSION,
      namespace: values.namespace === true,
      requireSigned: serving.requireSigned(values["require-signed"], io.env),
      idleMs: idle === undefined ? undefined : Number(idle) * 1000,
      registry,
      metrics,
      watch: true,
      tools: exposure.tools,
      discovery: exposure.discovery,
      onReload: (report) => {
        for (const line of reloadLines(report)) io.err(`${escapeForTerminal(line)}\n`);
        refreshSchedule();
      },
      onWarning: warn,
      // Sandbox log lines come from agents' processes: escaped, they cannot drive the terminal.
      log: (line) => io.err(`${escapeForTerminal(line)}\n`),
    });
    let ended: "stopped" | "failed" = "failed";
    await using _closed = { [Symbol.asyncDispose]: () => mesh.close(ended) };
    // Closed before the mesh: no run starts on a closing agent.
    await using schedule = timeZone === null ? null : MeshScheduler.start(mesh, {
      timeZone,
      audit,
      version: VERSION,
      log: (line) => io.err(`${escapeForTerminal(line)}\n`),
    });
    refreshSchedule = () => schedule?.refresh();
    if (schedule !== null && schedule.planned > 0) {
      io.err(`loom: ${schedule.planned} scheduled trigger(s), time zone ${timeZone}\n`);
    }
    for (const { file, problems } of mesh.skipped) {
      for (const problem of problems) io.err(`error: ${escapeForTerminal(problem)}\n`);
      io.err(`loom: left out "${escapeForTerminal(file)}"\n`);
    }
    await using _board = board === null
      ? null
      : startDashboard(board, { home, agentsDir: resolve(positionals[0]), audit }, io);
    const agents = mesh.agents();
    io.err(
      `loom: serving ${servingLine(mesh, exposure)} of ${agents.length} agent(s) ` +
        `(${agents.map((a) => a.name).join(", ")}) over ${transport}\n`,
    );
    await serving.serveUntilStopped(mesh.engine, transport, io, {
      host: values.host,
      port,
      token,
      metrics,
      metricsToken: metricsTokens,
      allowedHosts: values["allowed-host"],
      allowedOrigins: values["allowed-origin"],
    });
    ended = "stopped";
  } finally {
    await audit.close();
  }
  return 0;
}

/** The dashboard's options, or null without --dashboard. */
async function dashboardListen(
  values: {
    dashboard?: boolean;
    "dashboard-host"?: string;
    "dashboard-port"?: string;
    "dashboard-token-file"?: string;
  },
  io: CliIo,
) {
  const given = values["dashboard-host"] ?? values["dashboard-port"] ??
    values["dashboard-token-file"];
  if (!values.dashboard) {
    if (given !== undefined) throw new UsageError("The --dashboard-* options need --dashboard");
    return null;
  }
  return await dashboardOptions({
    host: values["dashboard-host"],
    port: values["dashboard-port"],
    "token-file": values["dashboard-token-file"],
  }, io);
}

/** Serve the dashboard beside the mesh; disposing stops it. */
function startDashboard(
  listen: Awaited<ReturnType<typeof dashboardOptions>>,
  context: dashboard.DashboardContext,
  io: CliIo,
): AsyncDisposable {
  // The mesh's own audit writer: a process has one.
  const served = dashboard.serveDashboard({ ...listen, context });
  io.err(`loom: dashboard at ${served.url}\n`);
  return { [Symbol.asyncDispose]: () => served.shutdown() };
}

/** What the mesh serves, for the start line: tools, or the discovery tools over how many. */
function servingLine(mesh: Mesh, exposure: MeshExposure): string {
  const shown = exposure.discovery ? mesh.searchableCount() : mesh.listTools().length;
  const what = exposure.discovery ? `2 discovery tools over ${shown} tool(s)` : `${shown} tool(s)`;
  const profile = exposure.profile === null ? "" : ` (profile ${exposure.profile.profile.name})`;
  const filtered = exposure.tools.length > 0 && exposure.profile === null ? " (filtered)" : "";
  return `${what}${profile}${filtered}`;
}

/** What a reload did, as lines for the operator: each refusal with its problems, then a summary. */
export function reloadLines(report: MeshReloadReport): string[] {
  const lines: string[] = [];
  for (const { file, problems, kept } of report.refused) {
    for (const problem of problems) lines.push(`error: ${problem}`);
    lines.push(
      kept
        ? `loom: refused the change to "${file}"; its previous version keeps serving`
        : `loom: left out "${file}"`,
    );
  }
  const changes = [
    ...report.added.map((name) => `added ${name}`),
    ...report.replaced.map((name) => `reloaded ${name}`),
    ...report.removed.map((name) => `removed ${name}`),
  ];
  if (changes.length > 0) lines.push(`loom: ${changes.join(", ")}`);
  return lines;
}
