/**
 * Load-time checks of `agent.mcp_upstream` (gateway mode), each reported at
 * the position of the field it is about. The upstream's tools are not known
 * until it runs, so what can be checked here is the shape of the connection
 * and of the choices: the rest (poisoned descriptions, schemas LOOM cannot
 * check, write tools at tier 1) is decided when the agent starts and lists
 * them (`src/app/upstream_tools.ts`).
 *
 * @module
 */

import { checkHeaderTemplate } from "../_util/template.ts";
import { type PathSegment, quote } from "./_yaml.ts";
import { isDenoModule, listedUpstreamName } from "./mcp_upstream.ts";
import type { AgentConfigParsed } from "./schema.ts";

type ParsedAgent = AgentConfigParsed["agent"];
type Upstream = NonNullable<ParsedAgent["mcp_upstream"]>;

/** Where a check reports: an error or a warning at a path. */
export interface Report {
  error(path: PathSegment[], message: string, key?: boolean): void;
  warn(path: PathSegment[], message: string, key?: boolean): void;
}

const AT: PathSegment[] = ["agent", "mcp_upstream"];

/**
 * Check `mcp_upstream`, when the config has one.
 *
 * @param agent the parsed agent block
 * @param report where problems go
 */
export function checkUpstream(agent: ParsedAgent, report: Report): void {
  const upstream = agent.mcp_upstream;
  if (upstream === undefined) return;
  if (agent.exposes.length > 0 || agent.http_bridge.length > 0) {
    const field = agent.exposes.length > 0 ? "exposes" : "http_bridge";
    report.error(
      ["agent", field],
      `An agent with mcp_upstream serves the upstream's tools: remove ${field}, or put the ` +
        "HTTP bridges in a config of their own",
      true,
    );
  }
  if ((upstream.command === undefined) === (upstream.url === undefined)) {
    report.error(
      AT,
      "mcp_upstream needs exactly one of command (a program LOOM starts, over stdio) and url " +
        "(a streamable HTTP endpoint)",
      true,
    );
    return;
  }
  if (upstream.command !== undefined) checkStdio(agent, upstream, report);
  else checkHttp(upstream, report);
  checkChoices(agent, upstream, report);
}

function checkStdio(agent: ParsedAgent, upstream: Upstream, report: Report): void {
  if (Object.keys(upstream.headers).length > 0) {
    report.error([...AT, "headers"], "headers apply to a url upstream only", true);
  }
  const program = upstream.command![0];
  const sandbox = agent.runtime.sandbox;
  const permissions = upstream.permissions;
  const granted = Object.values(permissions).some((list) => list.length > 0);
  if (isDenoModule(program)) {
    if (sandbox === "docker") {
      report.error(
        ["agent", "runtime", "sandbox"],
        'A module upstream runs under Deno\'s permission flags: use sandbox "deno"',
      );
    }
  } else {
    if (sandbox !== "none") {
      report.error(
        [...AT, "command", 0],
        `${quote(program)} is not a Deno module (npm:, jsr:, .ts, .js), so LOOM cannot ` +
          "confine it with permission flags: run a module instead, or set runtime.sandbox: " +
          "none to run it unconfined (tiers 1 and 2 only)",
      );
    }
    if (granted) {
      report.error(
        [...AT, "permissions"],
        "permissions apply to a Deno module upstream only (npm:, jsr:, .ts, .js)",
        true,
      );
    }
  }
  for (const name of Object.keys(upstream.env_secrets)) {
    if (Object.hasOwn(upstream.env, name)) {
      report.error(
        [...AT, "env_secrets", name],
        `${quote(name)} is set in both env and env_secrets: keep it in env_secrets`,
        true,
      );
    }
  }
  for (const [name, value] of Object.entries(upstream.env)) {
    if (/(?:TOKEN|SECRET|PASSWORD|API_?KEY|CREDENTIAL)/i.test(name) && value.length > 0) {
      report.error(
        [...AT, "env", name],
        `${quote(name)} looks like a credential: store it with "loom secrets set" and name it ` +
          "in env_secrets instead of writing it in the config",
      );
    }
  }
}

function checkHttp(upstream: Upstream, report: Report): void {
  const url = upstream.url!;
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    report.error([...AT, "url"], `${quote(url)} is not a URL`);
  }
  if (parsed !== null && parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    report.error([...AT, "url"], "The url of an MCP upstream must be http: or https:");
  }
  if (parsed !== null && (parsed.username !== "" || parsed.password !== "")) {
    report.error(
      [...AT, "url"],
      "Credentials in the url are not allowed: send them in a header as {{secret:NAME}}",
    );
  }
  for (const field of ["env", "env_secrets", "cwd"] as const) {
    const value = upstream[field];
    if (value !== undefined && (typeof value === "string" || Object.keys(value).length > 0)) {
      report.error([...AT, field], `${field} applies to a command upstream only`, true);
    }
  }
  if (Object.values(upstream.permissions).some((list) => list.length > 0)) {
    report.error([...AT, "permissions"], "permissions apply to a command upstream only", true);
  }
  for (const [name, value] of Object.entries(upstream.headers)) {
    const at = [...AT, "headers", name];
    for (const problem of checkHeaderTemplate(value).problems) report.error(at, problem);
  }
}

function checkChoices(agent: ParsedAgent, upstream: Upstream, report: Report): void {
  const tier = agent.runtime.trust_tier;
  const listed = new Map<string, number>();
  const own = new Set<string>();
  (upstream.tools ?? []).forEach((choice, i) => {
    const at: PathSegment[] = [...AT, "tools", i];
    if (own.has(choice.name)) {
      report.error([...at, "name"], `Upstream tool ${quote(choice.name)} is chosen twice`);
    }
    own.add(choice.name);
    const name = choice.as ?? listedUpstreamName(choice.name);
    if (name === null) {
      report.error(
        [...at, "name"],
        `${quote(choice.name)} cannot be listed under its own name (1-64 of a-z 0-9 _): ` +
          'rename it with "as"',
      );
      return;
    }
    const first = listed.get(name);
    if (first !== undefined) {
      report.error(
        [...at, choice.as === undefined ? "name" : "as"],
        `Two chosen tools would both be listed as ${quote(name)} (see tools[${first}])`,
      );
    } else listed.set(name, i);
    if (choice.access === "write" && tier === 1) {
      report.error(
        [...at, "access"],
        `Tool ${quote(name)} has access "write", which trust tier 1 does not allow: ` +
          "set access: read or raise runtime.trust_tier to 2",
      );
    }
  });
}
