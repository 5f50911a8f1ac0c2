/**
 * Deno permission flags for an MCP upstream that is a Deno module (gateway
 * mode, `mcp_upstream.command` starting with `npm:`, `jsr:` or a script
 * file). The module gets what `mcp_upstream.permissions` lists and nothing
 * else: no subprocesses, no FFI, no imports from the network at run time
 * beyond the module graph Deno resolves for it, and reads of only the
 * environment variables the config gives it.
 *
 * `--allow-net` is never derived here: an upstream reaches only the hosts
 * the config names, and private or special addresses stay denied the way
 * bridge hosts are (`netDenyList()`), unless `runtime.allow_networks`
 * opens them.
 *
 * @module
 */

import type { AgentConfig, McpUpstreamSpec } from "../../config/mod.ts";
import { netDenyList } from "./flags.ts";

/** Memory cap of an upstream module's V8 heap, in MiB. */
export const UPSTREAM_MEMORY_MB = 512;

/** Characters a permission list entry may not hold: `,` would split it into two. */
const LIST_SEPARATOR = /,/;

/**
 * The flags to put between `deno run` and the upstream's module.
 *
 * @param config the agent config (its `mcpUpstream` is a stdio module)
 * @returns the flags
 * @throws {TypeError} when the config has no stdio upstream, or a permission entry holds a comma
 */
export function upstreamDenoFlags(config: AgentConfig): string[] {
  const upstream = config.mcpUpstream;
  if (upstream === null || upstream.command === null) {
    throw new TypeError(`Agent "${config.name}" has no stdio MCP upstream`);
  }
  const p = upstream.permissions;
  const flags = ["--no-prompt", "--no-config"];
  push(flags, "--allow-read", p.read);
  push(flags, "--allow-write", p.write);
  if (p.net.length > 0) {
    push(flags, "--allow-net", p.net);
    flags.push(`--deny-net=${netDenyList(config).join(",")}`);
  }
  push(flags, "--allow-env", envNames(upstream));
  push(flags, "--allow-sys", p.sys);
  flags.push(`--v8-flags=--max-old-space-size=${UPSTREAM_MEMORY_MB}`);
  return flags;
}

/** The variables the module may read: those it is given, and those the config allows. */
export function envNames(upstream: McpUpstreamSpec): string[] {
  return [
    ...new Set([
      ...Object.keys(upstream.env),
      ...Object.keys(upstream.envSecrets),
      ...upstream.permissions.env,
    ]),
  ].sort();
}

function push(flags: string[], flag: string, values: readonly string[]): void {
  if (values.length === 0) return;
  for (const value of values) {
    if (LIST_SEPARATOR.test(value)) {
      throw new TypeError(`A ${flag} entry may not contain a comma: ${JSON.stringify(value)}`);
    }
  }
  flags.push(`${flag}=${values.join(",")}`);
}
