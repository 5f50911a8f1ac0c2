/**
 * `loom evolve`'s matching and its suggested commands: which config or
 * starter pack already covers a service (the same `host:port` in a bridge or
 * MCP upstream URL, or the same name), and the shell lines that suggest the
 * next step for one that is not covered, quoted so that no name or URL from
 * outside can break out of its argument.
 *
 * @module
 */

import type { AgentConfig } from "../config/mod.ts";
import type { Service } from "./evolve.ts";

/** Something that covers services: a config in the agents directory, or a starter pack. */
export interface Coverer {
  kind: "config" | "pack";
  /** The config's `name`, or the pack's name. */
  name: string;
  /** Its file. */
  path: string;
  /** `host:port` of every bridge URL and of the MCP upstream's URL. */
  hostPorts: readonly string[];
}

/** What covers a service, and why; null when nothing does. */
export type Match = { by: Coverer; reason: "address" | "name" } | null;

/**
 * Service names that mean a pack of another name (lower case): Gitea and
 * Forgejo share `git-forge`.
 */
export const PACK_ALIASES: Readonly<Record<string, string>> = {
  gitea: "git-forge",
  forgejo: "git-forge",
  "prometheus-alertmanager": "alertmanager",
};

/**
 * `host:port` of a URL or URL template (scheme, host and port are literal in
 * configs), port explicit, host lowercase; null when it does not parse.
 */
export function hostPortOf(url: string): string | null {
  try {
    const parsed = new URL(url.split("{{")[0]);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
    const port = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
    return `${parsed.hostname.toLowerCase()}:${port}`;
  } catch {
    return null;
  }
}

/** A coverer of a loaded config or pack. */
export function coverersOf(config: AgentConfig, kind: Coverer["kind"], path: string): Coverer {
  const urls = config.bridges.map((b) => b.url);
  if (config.mcpUpstream?.url) urls.push(config.mcpUpstream.url);
  const hostPorts = [...new Set(urls.map(hostPortOf).filter((h): h is string => h !== null))];
  return { kind, name: config.name, path, hostPorts };
}

function namesOf(service: Service): string[] {
  const name = service.name.toLowerCase();
  const alias = PACK_ALIASES[name] ?? PACK_ALIASES[service.agentName];
  return [name, service.agentName, ...(alias ? [alias] : [])];
}

/**
 * What covers a service. A config covers it by address (a bridge on the same
 * `host:port`) before one by name; a pack covers it by name, or by address
 * when exactly one pack's default URL has that `host:port` (several packs
 * share default ports, such as 3000).
 *
 * @param service the service
 * @param configs the agents directory's configs
 * @param packs the starter packs
 */
export function matchService(
  service: Service,
  configs: readonly Coverer[],
  packs: readonly Coverer[],
): Match {
  const names = namesOf(service);
  const byAddress = configs.find((c) => c.hostPorts.includes(service.hostPort));
  if (byAddress) return { by: byAddress, reason: "address" };
  const byName = configs.find((c) => names.includes(c.name));
  if (byName) return { by: byName, reason: "name" };
  const pack = packs.find((p) => names.includes(p.name));
  if (pack) return { by: pack, reason: "name" };
  const onPort = packs.filter((p) => p.hostPorts.includes(service.hostPort));
  return onPort.length === 1 ? { by: onPort[0], reason: "address" } : null;
}

const UNSAFE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

const PLAIN_WORD = /^[A-Za-z0-9_.\/:=@%+,-]+$/;

/**
 * One shell word: control, format (bidi, zero-width) and line separator
 * characters are removed; a word of only letters, digits and `_./:=@%+,-`
 * stays as it is; anything else is single-quoted, each `'` becoming `'\''`,
 * so the result is exactly one argument whatever the text holds.
 */
export function shellQuote(text: string): string {
  const clean = text.replace(UNSAFE, "");
  return PLAIN_WORD.test(clean) ? clean : `'${clean.replaceAll("'", `'\\''`)}'`;
}

/** Text from outside, made safe for a comment line or a message: one line, no controls. */
export function oneLine(text: string, max = 200): string {
  const clean = text.replace(UNSAFE, "");
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

/**
 * `loom import openapi URL --name NAME [--allow-network CIDR]...`.
 *
 * @param url the OpenAPI document found
 * @param name the agent name
 * @param allowNetworks networks the import needs to reach the document
 */
export function importCommandLine(
  url: URL,
  name: string,
  allowNetworks: readonly string[] = [],
): string {
  const allow = allowNetworks.map((cidr) => ` --allow-network ${shellQuote(cidr)}`).join("");
  return `loom import openapi ${shellQuote(url.href)} --name ${shellQuote(name)}${allow}`;
}

/**
 * `loom generate 'BRIEF' --name NAME`: a brief naming the service, its URL
 * (so the bridges may use its host), and that read-only tools are wanted.
 */
export function generateCommandLine(service: Service): string {
  const about = service.description ? ` (${oneLine(service.description)})` : "";
  const brief = `An agent named ${service.agentName} for the service "${oneLine(service.name)}"` +
    `${about} at ${service.baseUrl.href}: read-only tools for its HTTP API ` +
    `(GET requests only), each with the parameters it needs.`;
  return `loom generate ${shellQuote(brief)} --name ${shellQuote(service.agentName)}`;
}
