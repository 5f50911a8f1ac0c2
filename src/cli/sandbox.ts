/**
 * `loom sandbox CONFIG`: print the sandbox an agent gets, derived from its
 * config alone: the Deno flags of its agent host process (`sandbox: deno`)
 * and the hardened `docker run` arguments and network policy for its tier
 * (`sandbox: docker`). Nothing is started; no Docker engine is needed.
 *
 * @module
 */

import { parseOptions } from "./_args.ts";
import { fileURLToPath } from "node:url";
import {
  type AgentConfig,
  isDenoModule,
  loadConfig,
  type McpUpstreamSpec,
  TIER_NAMES,
} from "../config/mod.ts";
import {
  denoFlagsFor,
  dockerArgsFor,
  type DockerPlan,
  envNames,
  upstreamDenoFlags,
} from "../security/sandbox/mod.ts";
import { type HostEntry, hostEntry } from "../runtime/sandbox/mod.ts";
import { formatConfigIssue, UsageError } from "../errors.ts";
import { escapeForTerminal, isTerminalSafe } from "../_util/terminal.ts";
import type { CliIo } from "./_io.ts";

/** Help text of `loom sandbox`. */
export const SANDBOX_HELP = `Usage: loom sandbox CONFIG [--json] [--memory MB] [--source DIR]

Print the sandbox LOOM derives from an agent config, without starting it:
  - the Deno permission flags of the agent host process (sandbox: deno):
    --allow-net with exactly the bridge origins, --deny-net with every
    private and special IPv4 range the config does not name, no read, write,
    env, run, ffi, sys or import permission;
  - the hardened "docker run" arguments for the agent's trust tier
    (sandbox: docker): read-only root, noexec tmpfs, no capabilities,
    no-new-privileges, pids/memory/CPU limits, the nobody user;
  - the network policy: the only host:port destinations allowed. Docker
    cannot allow-list hosts by itself: enforce it with an egress proxy or
    firewall.

Options:
  --json           print one JSON object instead of text
  --memory MB      V8 heap cap of the agent host (default 96)
  --source DIR     where LOOM's source lives on the Docker host (default: this
                   checkout; when LOOM runs as a bundle, the bundle file itself,
                   which is its own agent host)
  -h, --help       show this help

Examples:
  loom sandbox agents/prometheus.yaml
  loom sandbox agents/prometheus.yaml --json | jq .docker.network
`;

/** What `loom sandbox --json` prints. */
export interface SandboxReport {
  agent: string;
  version: string;
  tier: number;
  sandbox: string;
  deno: { command: string; args: string[] };
  docker: DockerPlan;
  /**
   * Gateway mode: how the MCP server runs. `deno`: a module under these
   * flags; `program`: a program LOOM cannot confine (`sandbox: none`);
   * `http`: no process, a URL. `env` names the variables it gets.
   */
  upstream?: { kind: "deno" | "program" | "http"; argv: string[]; env: string[] };
}

const SAFE_ARG = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quote one argument for a POSIX shell. */
function shellQuote(arg: string): string {
  return SAFE_ARG.test(arg) ? arg : `'${arg.replaceAll("'", `'"'"'`)}'`;
}

/** Flags printed on one line with the value that follows them. */
const PAIRED = new Set(["--tmpfs", "--user"]);

/** A shell command, one flag per line; `run` stays with what precedes it. */
function command(argv: readonly string[]): string {
  const lines: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const quoted = shellQuote(argv[i]);
    const arg = isTerminalSafe(quoted) ? quoted : escapeForTerminal(quoted);
    if (lines.length > 0 && (argv[i] === "run" || PAIRED.has(argv[i - 1]))) {
      lines[lines.length - 1] += ` ${arg}`;
    } else {
      lines.push(arg);
    }
  }
  return lines.join(" \\\n    ");
}

function sourceRoot(): string {
  if (Deno.build.standalone) return "/opt/loom";
  const url = new URL("../../", import.meta.url);
  return url.protocol === "file:" ? fileURLToPath(url).replace(/\/$/, "") : "/opt/loom";
}

/**
 * The sandbox of a loaded config, as data. The agent host program is this
 * LOOM's own (`hostEntry()`): `agent_main.ts` of the checkout, or the bundle
 * file itself when LOOM runs as a bundle.
 *
 * @param config the agent config
 * @param options heap cap, the LOOM source directory for the container, and
 *   the host program (default: this LOOM's)
 * @returns the Deno command and the Docker plan
 */
export function sandboxReport(
  config: AgentConfig,
  options: { memoryMb?: number; sourceDir?: string; entry?: HostEntry } = {},
): SandboxReport {
  const entry = options.entry ?? hostEntry();
  const bundled = entry.kind === "bundle" && options.sourceDir === undefined;
  const sourceDir = options.sourceDir ?? sourceRoot();
  const program = bundled
    ? [entry.module, ...entry.args]
    : [`${sourceDir}/src/runtime/sandbox/child/agent_main.ts`];
  const upstream = config.mcpUpstream;
  return {
    agent: config.name,
    version: config.version,
    tier: config.runtime.trustTier,
    sandbox: config.runtime.sandbox,
    ...(upstream === null ? {} : { upstream: upstreamReport(config, upstream) }),
    deno: {
      command: "deno",
      args: ["run", ...denoFlagsFor(config, { memoryMb: options.memoryMb }), ...program],
    },
    docker: dockerArgsFor(config, {
      sourceDir,
      bundleFile: bundled ? entry.module : undefined,
      memoryMb: options.memoryMb,
    }),
  };
}

/** How a gateway's MCP server runs: the command and the names of its environment. */
function upstreamReport(
  config: AgentConfig,
  upstream: McpUpstreamSpec,
): NonNullable<SandboxReport["upstream"]> {
  if (upstream.url !== null) return { kind: "http", argv: [upstream.url], env: [] };
  const command = upstream.command!;
  const env = envNames(upstream);
  if (!isDenoModule(command[0])) return { kind: "program", argv: [...command], env };
  return { kind: "deno", argv: ["deno", "run", ...upstreamDenoFlags(config), ...command], env };
}

/** The lines about a gateway's MCP server. */
function formatUpstream(upstream: NonNullable<SandboxReport["upstream"]>): string[] {
  const env = upstream.env.length === 0 ? "" : ` but ${upstream.env.join(", ")}`;
  switch (upstream.kind) {
    case "http":
      return [
        `MCP upstream over streamable HTTP at ${escapeForTerminal(upstream.argv[0])}: no process`,
      ];
    case "program":
      return [
        `MCP upstream process, NOT confined (sandbox: none); environment cleared${env}:`,
        `  ${command(upstream.argv)}`,
      ];
    case "deno":
      return [
        `MCP upstream process (gateway mode), environment cleared${env} ` +
        "(and Deno's launcher variables):",
        `  ${command(upstream.argv)}`,
      ];
  }
}

function formatReport(report: SandboxReport, tierName: string): string {
  const { docker } = report;
  const { network, limits } = docker;
  const lines = [
    // Names, hosts and arguments come from the config: escaped, none of them
    // can drive the terminal.
    `agent ${
      escapeForTerminal(`${report.agent} ${report.version}`)
    }: tier ${report.tier} (${tierName}), ` +
    `sandbox ${report.sandbox}`,
    "",
    ...(report.upstream === undefined ? [] : [...formatUpstream(report.upstream), ""]),
    "Agent host process (sandbox: deno), environment cleared but NO_COLOR:",
    `  ${command([report.deno.command, ...report.deno.args])}`,
    "",
    `Container (sandbox: docker), tier ${report.tier} limits: memory ${limits.memoryMb} MiB, ` +
    `${limits.cpus} CPU, ${limits.pids} pids:`,
    `  ${command(["docker", ...docker.args])}`,
    "",
    `Network policy (${network.mode}, docker network ${network.dockerNetwork}):`,
  ];
  if (network.allow.length === 0) lines.push("  allow  nothing");
  for (const t of network.allow) {
    lines.push(`  allow  ${escapeForTerminal(`${t.scheme}://${t.host}:${t.port}`)}`);
  }
  lines.push(`  deny   IPv4 ${network.denyIpv4.join(" ")}`);
  lines.push(`  deny   IPv6 ${network.denyIpv6.join(" ")}`);
  lines.push(`  note   ${network.note}`);
  return lines.join("\n") + "\n";
}

/** `loom sandbox`. */
export async function sandboxCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean" },
      memory: { type: "string" },
      source: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(SANDBOX_HELP), 0);
  if (positionals.length !== 1) throw new UsageError("Expected one CONFIG: loom sandbox CONFIG");
  let memoryMb: number | undefined;
  if (values.memory !== undefined) {
    memoryMb = Number(values.memory);
    if (!/^[0-9]{1,5}$/.test(values.memory) || memoryMb < 16 || memoryMb > 65536) {
      throw new UsageError(
        `Invalid --memory "${values.memory.slice(0, 20)}": expected 16 to 65536`,
      );
    }
  }
  const config = await loadConfig(positionals[0], {
    onWarning: (w) => io.err(`warning: ${escapeForTerminal(formatConfigIssue(w))}\n`),
  });
  const report = sandboxReport(config, { memoryMb, sourceDir: values.source });
  if (values.json) io.out(JSON.stringify(report, null, 2) + "\n");
  else io.out(formatReport(report, TIER_NAMES[config.runtime.trustTier]));
  return 0;
}
