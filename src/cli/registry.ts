/**
 * `loom list` and `loom info NAME`: the agent registry (`src/store/registry.ts`)
 * that `loom run` and the mesh keep current. `list` prints one line per agent
 * (tier, tools, status, signature, last seen, config path); `info` prints one
 * agent: its tools with their parameters, bridge hosts (origins only: no
 * header, path or secret is ever in the registry), tier, the sandbox flags
 * `loom sandbox` derives from its config file, signature and status.
 *
 * A row that says `running` but whose process is gone (killed, crashed) is
 * shown as `stopped (not running)`: the process is looked up without being
 * touched (`processAlive()` in `src/store/registry.ts`: signal 0 on Linux and
 * macOS; on Windows the recorded status is shown). Everything
 * printed that came from a config is escaped for the terminal; `--json` is
 * exact.
 *
 * @module
 */

import { parseOptions } from "./_args.ts";
import { NotFoundError, UsageError } from "../errors.ts";
import { type AgentConfig, loadConfig, TIER_NAMES, type TrustTier } from "../config/mod.ts";
import {
  ensureHome,
  type LoomStore,
  observedStatus,
  openStore,
  type ParamSummary,
  type RegisteredAgent,
  type RegisteredTool,
  resolveHome,
} from "../store/mod.ts";
import { denoFlagsFor } from "../security/sandbox/mod.ts";
import { suggest } from "../_util/suggest.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import { type CliIo, table } from "./_io.ts";

/** Help text of `loom list`. */
export const LIST_HELP = `Usage: loom list [--json]

List the agents of this LOOM home: every agent "loom run" or "loom mesh"
served, with its trust tier, number of tools, status (running, stopped,
failed, skipped), signature (ok with its signed version, unsigned, or failed
and why), when its server last reported it, and its config file.

A row whose server is gone without saying so (killed, crashed) shows as
"stopped (not running)": LOOM checks that the serving process still exists
(signal 0, which delivers nothing; on Windows the recorded status is shown).
A process that ended and whose id was taken by another still shows running.

Options:
  --json      print a JSON array instead of a table
  -h, --help  show this help

Examples:
  loom list
  loom list --json | jq '.[] | select(.status == "running") | .name'
`;

/** Help text of `loom info`. */
export const INFO_HELP = `Usage: loom info NAME [--json]

Show one registered agent: its tools with their parameters (type, required,
enum, pattern, bounds), the bridge hosts it may reach (origins only: never a
header or a secret), trust tier, the sandbox flags of its agent host (as
"loom sandbox" derives them from the config file; when the file changed since
the agent was registered, info says so), signature verdict and status.

Options:
  --json      print one JSON object instead of text
  -h, --help  show this help

Exit status: 0 shown, 64 usage, 66 no agent of that name.

Examples:
  loom info weather
  loom info weather --json | jq '.tools[].name'
`;

/** `loom list`. */
export async function listCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions({
    args,
    allowPositionals: true,
    options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return (io.out(LIST_HELP), 0);
  if (positionals.length !== 0) throw new UsageError("Expected no arguments: loom list [--json]");
  return await withStore(io, (store) => {
    const agents = store.registry.list();
    if (values.json) {
      io.out(JSON.stringify(agents.map(agentJson), null, 2) + "\n");
    } else if (agents.length === 0) {
      io.err(`${EMPTY}\n`);
    } else {
      io.out(table([
        ["NAME", "TIER", "TOOLS", "STATUS", "SIGNATURE", "LAST-SEEN", "CONFIG"],
        ...agents.map((a) => [
          a.name,
          String(a.tier),
          String(a.toolCount),
          statusText(a),
          signatureText(a),
          seconds(a.lastSeen),
          a.configPath,
        ]),
      ]));
    }
    return 0;
  });
}

/** `loom info`. */
export async function infoCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions({
    args,
    allowPositionals: true,
    options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return (io.out(INFO_HELP), 0);
  if (positionals.length !== 1) throw new UsageError("Expected one NAME: loom info NAME [--json]");
  const name = positionals[0];
  const found = await withStore(io, (store) => {
    const agent = store.registry.get(name);
    if (agent === undefined) throw new NotFoundError(notFound(name, store));
    return { agent, tools: store.registry.tools(name) };
  });
  const sandbox = await sandboxNow(found.agent);
  if (values.json) {
    io.out(JSON.stringify(infoJson(found.agent, found.tools, sandbox), null, 2) + "\n");
  } else {
    io.out(describe(found.agent, found.tools, sandbox));
  }
  return 0;
}

const EMPTY = 'No agents registered yet: "loom run CONFIG" and "loom mesh DIR" add the ' +
  "agents they serve";

async function withStore<T>(io: CliIo, fn: (store: LoomStore) => T): Promise<T> {
  const home = await ensureHome(resolveHome(io.env));
  await using store = await openStore(home);
  return fn(store);
}

function notFound(name: string, store: LoomStore): string {
  const shown = name.length > 64 ? `${name.slice(0, 64)}...` : name;
  const names = store.registry.list().map((a) => a.name);
  if (names.length === 0) return `No agent "${shown}": ${EMPTY.replace(/^No/, "no")}`;
  const best = suggest(name, names);
  return `No agent "${shown}" in the registry` +
    (best === undefined ? `; "loom list" shows the ${names.length}` : `: did you mean "${best}"?`);
}

/** The sandbox of the config file as it is now, compared with the registered bytes. */
interface SandboxNow {
  mode: string;
  /** The agent host's Deno flags; null for `sandbox: none` or an unreadable file. */
  denoFlags: string[] | null;
  /** True when the file's digest differs from the registered one; null when unreadable. */
  configChanged: boolean | null;
  /** Hex SHA-256 of the file now, when it loads. */
  configDigestNow: string | null;
  /** Why the file could not be loaded, when it could not. */
  configError: string | null;
}

async function sandboxNow(agent: RegisteredAgent): Promise<SandboxNow> {
  let config: AgentConfig;
  try {
    config = await loadConfig(agent.configPath);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "the file no longer exists"
      : String((error as Error)?.message ?? error).split("\n")[0].slice(0, 300);
    return {
      mode: agent.sandbox,
      denoFlags: null,
      configChanged: null,
      configDigestNow: null,
      configError: why,
    };
  }
  const mode = config.runtime.sandbox;
  return {
    mode,
    // The same derivation as "loom sandbox" (docker runs LOOM's Deno sandbox here too).
    denoFlags: mode === "none" ? null : denoFlagsFor(config),
    configChanged: config.source.digest !== agent.configDigest,
    configDigestNow: config.source.digest,
    configError: null,
  };
}

function agentJson(a: RegisteredAgent): Record<string, unknown> {
  const seen = observedStatus(a);
  return {
    name: a.name,
    version: a.version,
    declared_version: a.declaredVersion,
    tier: a.tier,
    tool_count: a.toolCount,
    status: seen.status,
    stale: seen.stale,
    recorded_status: a.status,
    signature: a.signature,
    signature_failure: a.signatureFailure,
    transport: a.transport,
    pid: a.pid,
    config_path: a.configPath,
    config_digest: a.configDigest,
    registered_at: a.registeredAt,
    status_at: a.statusAt,
    last_seen: a.lastSeen,
  };
}

function infoJson(
  a: RegisteredAgent,
  tools: RegisteredTool[],
  sandbox: SandboxNow,
): Record<string, unknown> {
  return {
    ...agentJson(a),
    description: a.description,
    tier_name: tierName(a.tier),
    bridge_hosts: bridgeHosts(tools),
    sandbox: {
      mode: sandbox.mode,
      deno_flags: sandbox.denoFlags,
      config_changed: sandbox.configChanged,
      config_digest_now: sandbox.configDigestNow,
      config_error: sandbox.configError,
    },
    tools: tools.map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description,
      access: t.access,
      method: t.method,
      origin: t.origin,
      parameters: t.parameters,
    })),
  };
}

function describe(a: RegisteredAgent, tools: RegisteredTool[], sandbox: SandboxNow): string {
  const e = escapeForTerminal;
  const hosts = bridgeHosts(tools);
  const lines: [string, string][] = [
    ["agent", `${e(a.name)} ${e(a.declaredVersion)}`],
    ["description", e(a.description)],
    ["status", statusText(a) + (a.pid === null ? "" : ` (pid ${a.pid}, ${e(a.transport)})`)],
    ["signature", e(signatureText(a))],
    ["tier", `${a.tier} (${tierName(a.tier)})`],
    ["config", e(a.configPath)],
    ["digest", `sha256:${a.configDigest}`],
    ["registered", seconds(a.registeredAt)],
    ["last seen", seconds(a.lastSeen)],
    ["bridge hosts", hosts.length === 0 ? "none" : hosts.map(e).join(" ")],
    ["sandbox", e(sandbox.mode)],
  ];
  if (sandbox.denoFlags !== null) lines.push(["deno flags", sandbox.denoFlags.map(e).join(" ")]);
  if (sandbox.configError !== null) {
    lines.push(["note", `sandbox flags unknown: ${e(sandbox.configError)}`]);
  } else if (sandbox.configChanged) {
    lines.push([
      "note",
      `the config file changed since it was registered (now sha256:${sandbox.configDigestNow}): ` +
      "the flags above are the file's now, not the served agent's",
    ]);
  }
  const out = lines.map(([k, v]) => `${k.padEnd(13)} ${v}`);
  out.push("", `tools (${tools.length}):`);
  for (const t of tools) {
    const via = t.origin === null ? "" : `  ${e(t.method ?? "")} ${e(t.origin)}`;
    out.push(`  ${e(t.name)}  ${e(t.access)}${via}`);
    out.push(`      ${e(t.title === null ? t.description : `${t.title}: ${t.description}`)}`);
    for (const p of t.parameters) out.push(`      - ${paramText(p)}`);
  }
  return out.join("\n") + "\n";
}

/** One parameter on one line: name, type, required, enum/pattern/bounds, description. */
function paramText(p: ParamSummary): string {
  const e = escapeForTerminal;
  const parts = [e(p.name), e(p.type), p.required ? "required" : "optional"];
  if (p.enum !== undefined) {
    const shown = p.enum.slice(0, 8).map((v) => JSON.stringify(v) ?? String(v));
    const more = p.enum.length > 8 ? `, ... ${p.enum.length - 8} more` : "";
    parts.push(`one of ${e(shown.join(", ") + more)}`);
  }
  if (p.pattern !== undefined) {
    parts.push(`pattern ${e(p.pattern.length > 80 ? `${p.pattern.slice(0, 80)}...` : p.pattern)}`);
  }
  if (p.minimum !== undefined && p.maximum !== undefined) parts.push(`${p.minimum}..${p.maximum}`);
  else if (p.minimum !== undefined) parts.push(`>= ${p.minimum}`);
  else if (p.maximum !== undefined) parts.push(`<= ${p.maximum}`);
  const text = parts.join("  ");
  return p.description === undefined ? text : `${text}  (${e(p.description)})`;
}

function bridgeHosts(tools: RegisteredTool[]): string[] {
  return [...new Set(tools.flatMap((t) => (t.origin === null ? [] : [t.origin])))].sort();
}

function statusText(a: RegisteredAgent): string {
  const seen = observedStatus(a);
  return seen.stale ? "stopped (not running)" : seen.status;
}

function signatureText(a: RegisteredAgent): string {
  if (a.signature === "ok") return a.version === null ? "ok" : `ok v${a.version}`;
  if (a.signature === "failed") return `failed: ${a.signatureFailure ?? "unknown"}`;
  return a.signature;
}

function tierName(tier: number): string {
  return TIER_NAMES[tier as TrustTier] ?? "unknown";
}

/** An ISO-8601 time to the second. */
function seconds(iso: string): string {
  return iso.replace(/\.[0-9]+Z$/, "Z");
}
