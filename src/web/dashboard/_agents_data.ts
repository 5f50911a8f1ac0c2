/**
 * What the Overview, Topology and Agents pages know of the agents: the
 * configs of the agents directory (loaded as `loom mesh` and `loom sign
 * verify` load them: `*.yaml` and `*.yml` directly in it, symlinks skipped),
 * each with its load errors when it fails (`file:line:column` lines), and
 * the agent registry's rows (`loom list`), with the status observed as
 * `loom list` shows it.
 *
 * Nothing here resolves a secret: hosts come from the bridges' URL templates
 * and the MCP upstream's URL, never from headers.
 *
 * @module
 */

import { join } from "node:path";
import { type AgentConfig, loadConfig } from "../../config/mod.ts";
import { ConfigError, formatConfigIssue } from "../../errors.ts";
import { type LoomHome, observedStatus, openStore, type RegisteredAgent } from "../../store/mod.ts";

/** One config file of the agents directory: loaded, or its errors. */
export type AgentFile =
  | { file: string; config: AgentConfig; errors: null }
  | { file: string; config: null; errors: string[] };

/** How many config files are read at most (a page must stay bounded). */
export const MAX_AGENT_FILES = 500;

/**
 * Load every config of the agents directory, in file-name order.
 *
 * @param agentsDir the directory `loom mesh` serves
 * @returns one entry per `*.yaml`/`*.yml` file; a missing directory is empty
 */
export async function loadAgentFiles(agentsDir: string): Promise<AgentFile[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(agentsDir)) {
      if (entry.isFile && /\.ya?ml$/.test(entry.name)) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  names.sort();
  return await Promise.all(
    names.slice(0, MAX_AGENT_FILES).map((name) => loadOne(join(agentsDir, name))),
  );
}

async function loadOne(file: string): Promise<AgentFile> {
  try {
    return { file, config: await loadConfig(file), errors: null };
  } catch (error) {
    return { file, config: null, errors: errorLines(file, error) };
  }
}

/** A load failure as lines: each config issue as `file:line:column: path: message`. */
export function errorLines(file: string, error: unknown): string[] {
  if (error instanceof ConfigError) return error.issues.map(formatConfigIssue);
  const message = error instanceof Error ? error.message : String(error);
  return [`${file}: ${message.split("\n")[0].slice(0, 500)}`];
}

/** The number of tools a config serves (its own, and the upstream tools it lists). */
export function toolCountOf(config: AgentConfig): number {
  return config.tools.length + (config.mcpUpstream?.tools?.length ?? 0);
}

/**
 * `host:port` of a URL template (`https://api.example.com/{{x}}`): the
 * scheme's default port when none is written; null when no host is literal.
 */
export function hostOfTemplate(template: string): string | null {
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]+)/i.exec(template);
  if (match === null) return null;
  const authority = match[2].replace(/^.*@/, "");
  if (authority.includes("{{")) return authority;
  if (/:[0-9]+$/.test(authority)) return authority.toLowerCase();
  const scheme = match[1].toLowerCase();
  const port = scheme === "https" ? "443" : scheme === "http" ? "80" : "";
  return port === "" ? authority.toLowerCase() : `${authority.toLowerCase()}:${port}`;
}

/**
 * The upstream hosts of an agent: `host:port` of each bridge, or of the MCP
 * upstream server's URL, or `stdio: COMMAND` of a gateway to a local server.
 */
export function upstreamHostsOf(config: AgentConfig): string[] {
  const hosts = new Set<string>();
  for (const bridge of config.bridges) {
    const host = hostOfTemplate(bridge.url);
    if (host !== null) hosts.add(host);
  }
  const upstream = config.mcpUpstream;
  if (upstream !== null) {
    const host = upstream.url === null ? null : hostOfTemplate(upstream.url);
    if (host !== null) hosts.add(host);
    else if (upstream.command !== null && upstream.command.length > 0) {
      hosts.add(`stdio: ${upstream.command[0]}`);
    }
  }
  return [...hosts].sort();
}

/** Tool name to upstream host, for attributing audit outcomes to hosts. */
export function toolHostsOf(config: AgentConfig): Map<string, string> {
  const map = new Map<string, string>();
  for (const bridge of config.bridges) {
    const host = hostOfTemplate(bridge.url);
    if (host !== null) map.set(bridge.toolName, host);
  }
  return map;
}

/** A registry row with the status `loom list` shows. */
export interface RegistryView {
  agent: RegisteredAgent;
  /** `running`, `stopped`, ..., or `stopped (not running)` when its process is gone. */
  status: string;
  /** `ok vN`, `unsigned` or `failed: why`, as `loom list` says it. */
  signature: string;
}

/**
 * The agent registry's rows, by agent name (`loom list`).
 *
 * @param home the LOOM home
 */
export async function registryRows(home: LoomHome): Promise<Map<string, RegistryView>> {
  await using store = await openStore(home);
  const rows = new Map<string, RegistryView>();
  for (const agent of store.registry.list()) {
    const seen = observedStatus(agent);
    rows.set(agent.name, {
      agent,
      status: seen.stale ? "stopped (not running)" : seen.status,
      signature: registrySignature(agent),
    });
  }
  return rows;
}

function registrySignature(a: RegisteredAgent): string {
  if (a.signature === "ok") return a.version === null ? "ok" : `ok v${a.version}`;
  if (a.signature === "failed") return `failed: ${a.signatureFailure ?? "unknown"}`;
  return a.signature;
}

/** The status class of the stylesheet for a status text. */
export function statusClass(status: string): string {
  if (status === "running" || status === "ok" || status.startsWith("ok ")) return "status-ok";
  if (status.startsWith("failed") || status === "error") return "status-bad";
  return "status-warn";
}
