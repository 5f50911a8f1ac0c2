/**
 * The agent registry: the `agents` and `agent_tools` tables of the state
 * database. Which agents this home serves or served, from which config file,
 * with what tier, signature verdict and status, and which tools each one
 * declares; `loom list` and `loom info` read it, `loom run` and the mesh keep
 * it current (through `agent_registry.ts`).
 *
 * What a row holds is derived from the loaded config by
 * {@linkcode registrationOf}: names, titles, descriptions, access modes, a
 * summary of each parameter (type, required, enum, pattern, bounds), and each
 * tool's bridge method and origin (`scheme://host:port`). Never a header, a
 * body template, a URL path or query, nor anything resolved from the vault:
 * the registry holds nothing a secret could be in.
 *
 * Registering is one `BEGIN IMMEDIATE` transaction: the agent's row is
 * upserted and its tool rows replaced together, so a reader (or another
 * process registering at the same time) never sees half of one registration.
 * Status and last-seen changes name the process (`pid`) that registered the
 * row: a server that stops marks only its own registration, never a newer one
 * of the same agent by another process.
 *
 * @module
 */

import { resolve } from "node:path";
import type { AgentConfig, ParamSpec, ToolSpec } from "../config/mod.ts";
import { checkUrlTemplate } from "../_util/template.ts";

/** Migration: the `agents` and `agent_tools` tables. */
export const REGISTRY_MIGRATION_SQL = `
  CREATE TABLE agents (
    name TEXT PRIMARY KEY,
    version INTEGER,
    declared_version TEXT NOT NULL,
    description TEXT NOT NULL,
    config_path TEXT NOT NULL,
    config_digest TEXT NOT NULL,
    tier INTEGER NOT NULL CHECK (tier BETWEEN 1 AND 4),
    sandbox TEXT NOT NULL,
    signature TEXT NOT NULL CHECK (signature IN ('ok', 'unsigned', 'failed')),
    signature_failure TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'stopped', 'failed', 'skipped')),
    transport TEXT NOT NULL,
    pid INTEGER,
    pid_start TEXT,
    registered_at TEXT NOT NULL,
    status_at TEXT NOT NULL,
    last_seen TEXT NOT NULL
  ) STRICT;
  CREATE TABLE agent_tools (
    agent TEXT NOT NULL REFERENCES agents (name) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    title TEXT,
    description TEXT NOT NULL,
    access TEXT NOT NULL,
    method TEXT,
    origin TEXT,
    parameters TEXT NOT NULL,
    PRIMARY KEY (agent, name)
  ) STRICT, WITHOUT ROWID;
`;

/** What a registered agent is doing, as its server last said. */
export type AgentStatus = "running" | "stopped" | "failed" | "skipped";

/** Every {@linkcode AgentStatus}. */
export const AGENT_STATUSES: readonly AgentStatus[] = ["running", "stopped", "failed", "skipped"];

/** The signature verdict of the config registered: `ok`, `unsigned`, or `failed` (with a kind). */
export type SignatureStatus = "ok" | "unsigned" | "failed";

/** A signature check as the servers have it (`SignatureCheck` of `src/security/signing/`). */
export interface SignatureVerdictLike {
  /** `valid`, `unsigned`, or the kind of failure (`expired`, `bad_signature`, ...). */
  verdict: string;
  /** The signed version, when the signature names one. */
  version?: number;
}

/** One parameter of a tool, summarised for people (`loom info`). */
export interface ParamSummary {
  name: string;
  /** A JSON type, `array<item type>`, several joined by `|`, or `any`. */
  type: string;
  required: boolean;
  description?: string;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
}

/** One registered tool. */
export interface RegisteredTool {
  name: string;
  title: string | null;
  description: string;
  access: string;
  /** The bridge's HTTP method, or null when the tool has no bridge. */
  method: string | null;
  /** The bridge's origin (`scheme://host:port`), never its path, query or headers. */
  origin: string | null;
  parameters: ParamSummary[];
}

/** What one registration writes. */
export interface AgentRegistration {
  name: string;
  /** The signed version when the signature is valid, else null. */
  version: number | null;
  /** `agent.version` as the config declares it. */
  declaredVersion: string;
  description: string;
  /** The config file, absolute. */
  configPath: string;
  /** Hex SHA-256 of the config's bytes as loaded. */
  configDigest: string;
  tier: number;
  sandbox: string;
  signature: SignatureStatus;
  /** The kind of failure when `signature` is `failed`, else null. */
  signatureFailure: string | null;
  status: AgentStatus;
  transport: string;
  /** The serving process, or null. */
  pid: number | null;
  /** When that process started (`/proc/PID/stat`), to tell it from a later one with its pid. */
  pidStart: string | null;
  tools: RegisteredTool[];
}

/** A row of the registry, as `loom list` reads it. */
export interface RegisteredAgent extends Omit<AgentRegistration, "tools"> {
  /** When it was registered: ISO-8601 UTC. */
  registeredAt: string;
  /** When its status last changed. */
  statusAt: string;
  /** When its server last reported it (registration, a call; at most once a minute). */
  lastSeen: string;
  /** How many tools it declares. */
  toolCount: number;
}

/** The two tables, as the store exposes them. */
export interface RegistryTable {
  /** Upsert the agent and replace its tools, in one transaction. */
  register(registration: AgentRegistration, at: Date): void;
  /** {@linkcode RegistryTable.register} for several agents, all in one transaction. */
  registerAll(registrations: readonly AgentRegistration[], at: Date): void;
  /**
   * Set the status of the registration made by process `pid`; false when
   * there is none (another process registered the agent since).
   */
  mark(name: string, status: AgentStatus, pid: number | null, at: Date): boolean;
  /** Set `last_seen` of the registration made by process `pid`; false when there is none. */
  touch(name: string, pid: number | null, at: Date): boolean;
  /** Every agent, by name. */
  list(): RegisteredAgent[];
  /** One agent, if registered. */
  get(name: string): RegisteredAgent | undefined;
  /** The tools of an agent, in the config's order. */
  tools(name: string): RegisteredTool[];
}

/** How a server describes the agent it registers. */
export interface RegistrationInput {
  /** The config file as given; made absolute against `cwd`. */
  path: string;
  /** The signature check of the bytes loaded. */
  signature: SignatureVerdictLike;
  /** `stdio`, `http`, or what the server calls its transport. */
  transport: string;
  /** Default `running`. */
  status?: AgentStatus;
  /** The serving process (default this one). */
  pid?: number | null;
  /** When the serving process started (default: read for this process where possible). */
  pidStart?: string | null;
  /** The working directory `path` is relative to (default `Deno.cwd()`). */
  cwd?: string;
}

/**
 * The registration of a loaded config: what the registry stores about it.
 * Reads nothing but the config (and, for the default `pidStart`, `/proc`).
 *
 * @param config the loaded config
 * @param input its path, signature verdict, transport, status and process
 * @returns the rows to write
 */
export function registrationOf(config: AgentConfig, input: RegistrationInput): AgentRegistration {
  const path = resolve(input.cwd ?? Deno.cwd(), input.path);
  const verdict = input.signature.verdict;
  const signature: SignatureStatus = verdict === "valid"
    ? "ok"
    : verdict === "unsigned"
    ? "unsigned"
    : "failed";
  const pid = input.pid === undefined ? Deno.pid : input.pid;
  return {
    name: config.name,
    version: signature === "ok" && Number.isSafeInteger(input.signature.version)
      ? input.signature.version!
      : null,
    declaredVersion: config.version,
    description: config.description,
    configPath: path,
    configDigest: config.source.digest,
    tier: config.runtime.trustTier,
    sandbox: config.runtime.sandbox,
    signature,
    signatureFailure: signature === "failed" ? verdict.slice(0, 64) : null,
    status: input.status ?? "running",
    transport: input.transport,
    pid,
    pidStart: input.pidStart !== undefined
      ? input.pidStart
      : pid === null
      ? null
      : processStartToken(pid),
    tools: config.tools.map((tool) => toolOf(config, tool)),
  };
}

function toolOf(config: AgentConfig, tool: ToolSpec): RegisteredTool {
  const bridge = config.bridges.find((b) => b.toolName === tool.name);
  const target = bridge === undefined ? undefined : checkUrlTemplate(bridge.url).template?.target;
  return {
    name: tool.name,
    title: tool.title ?? null,
    description: tool.description,
    access: tool.access,
    method: bridge?.method ?? null,
    origin: target === undefined ? null : `${target.scheme}://${target.hostname}:${target.port}`,
    parameters: tool.inputSchema === undefined
      ? Object.entries(tool.parameters).map(([name, spec]) => paramOf(name, spec))
      : schemaParams(tool.inputSchema),
  };
}

function paramOf(name: string, spec: ParamSpec): ParamSummary {
  const type = spec.type === "array" && spec.items !== undefined
    ? `array<${spec.items.type}>`
    : spec.type;
  return {
    name,
    type,
    required: spec.required,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    ...(spec.enum === undefined ? {} : { enum: [...spec.enum] }),
    ...(spec.pattern === undefined ? {} : { pattern: spec.pattern }),
    ...(spec.minimum === undefined ? {} : { minimum: spec.minimum }),
    ...(spec.maximum === undefined ? {} : { maximum: spec.maximum }),
  };
}

/** The top-level properties of a verbatim `input_schema`. */
function schemaParams(schema: Readonly<Record<string, unknown>>): ParamSummary[] {
  const properties = isRecord(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required : [];
  return Object.entries(properties).map(([name, value]) => {
    const prop = isRecord(value) ? value : {};
    const types = Array.isArray(prop.type) ? prop.type : [prop.type];
    const named = types.filter((t): t is string => typeof t === "string");
    return {
      name,
      type: named.length === 0 ? "any" : named.join("|"),
      required: required.includes(name),
      ...(typeof prop.description === "string" ? { description: prop.description } : {}),
      ...(Array.isArray(prop.enum) ? { enum: [...prop.enum] } : {}),
      ...(typeof prop.pattern === "string" ? { pattern: prop.pattern } : {}),
      ...(typeof prop.minimum === "number" ? { minimum: prop.minimum } : {}),
      ...(typeof prop.maximum === "number" ? { maximum: prop.maximum } : {}),
    };
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A row's status as `loom list` shows it. */
export interface ObservedStatus {
  /** The recorded status, or `stopped` when a `running` row's process is gone. */
  status: AgentStatus;
  /** True when the row says `running` but its process is gone (killed, crashed). */
  stale: boolean;
}

/**
 * The status to show for a row: a `running` row whose process no longer
 * runs ({@linkcode processAlive}) is `stopped`, marked stale (shown as
 * `stopped (not running)`). Where liveness cannot be checked, the recorded
 * status stands.
 *
 * @param agent the row's status and process
 * @param alive the liveness check (default {@linkcode processAlive})
 * @returns the status to show
 */
export function observedStatus(
  agent: Pick<RegisteredAgent, "status" | "pid" | "pidStart">,
  alive: (pid: number, pidStart: string | null) => boolean | null = processAlive,
): ObservedStatus {
  if (agent.status !== "running" || agent.pid === null) {
    return { status: agent.status, stale: false };
  }
  return alive(agent.pid, agent.pidStart) === false
    ? { status: "stopped", stale: true }
    : { status: "running", stale: false };
}

/**
 * When process `pid` started, as `/proc/PID/stat` says (clock ticks since
 * boot): with the pid, it names one process, so a later process that reuses
 * the pid is not mistaken for it. Null where `/proc` cannot be read: not
 * Linux, or Deno without `--allow-all` (Deno reads `/proc` only with it, so
 * an installed `loom` records null here).
 *
 * @param pid a process id
 * @returns the start time as text, or null
 */
export function processStartToken(pid: number): string | null {
  const stat = readStat(pid);
  return stat === "gone" || stat === "unreadable" ? null : stat.start;
}

/**
 * Whether the process that registered a row still runs, checked without
 * touching it:
 *
 * 1. where `/proc/PID/stat` can be read (Linux, Deno with `--allow-all`):
 *    false when it is gone, a zombie, or another process with the same pid
 *    (a start time other than the one recorded);
 * 2. else with signal 0 (`kill(pid, 0)`: nothing is sent, the kernel only
 *    says whether the pid exists; needs `--allow-run`, which `loom` has):
 *    false when no process has that pid. A pid reused by another process
 *    counts as alive here;
 * 3. else (Windows, no permission) null: unknown.
 *
 * @param pid the registering process
 * @param pidStart its start time as recorded, or null when unknown
 * @returns true, false, or null for unknown
 */
export function processAlive(pid: number, pidStart: string | null): boolean | null {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  const stat = readStat(pid);
  if (stat === "gone") return false;
  if (stat !== "unreadable") {
    if (stat.state === "Z" || stat.state === "X") return false;
    return pidStart === null || stat.start === pidStart;
  }
  if (Deno.build.os === "windows") return null; // Deno.kill there terminates; never call it
  try {
    // Signal 0: an existence check that delivers nothing.
    Deno.kill(pid, 0 as unknown as Deno.Signal);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false; // ESRCH
    if (error instanceof Deno.errors.PermissionDenied) return true; // EPERM: another user's
    return null; // no --allow-run, or a Deno that refuses signal 0
  }
}

/** State and start time of `/proc/PID/stat`; `gone` when it does not exist. */
function readStat(pid: number): { state: string; start: string } | "gone" | "unreadable" {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch (error) {
    // Only a readable /proc tells "gone": Deno refuses /proc without --allow-all.
    return error instanceof Deno.errors.NotFound && procReadable() ? "gone" : "unreadable";
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const start = fields[19];
  return fields[0] && start && /^[0-9]+$/.test(start) ? { state: fields[0], start } : "unreadable";
}

let procChecked: boolean | undefined;

/** Whether `/proc/self/stat` can be read (Linux, with the permission Deno asks for it). */
function procReadable(): boolean {
  if (procChecked === undefined) {
    try {
      Deno.readTextFileSync("/proc/self/stat");
      procChecked = true;
    } catch {
      procChecked = false;
    }
  }
  return procChecked;
}
