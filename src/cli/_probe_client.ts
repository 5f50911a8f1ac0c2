/**
 * What `loom probe` asks an MCP server, in either protocol era, and the
 * bounded report it makes of the answers.
 *
 * Era negotiation follows what the 2026-07-28 revision recommends to a
 * client that also speaks the earlier one: send `server/discover` first,
 * with the per-request `_meta` envelope. A result listing 2026-07-28 in
 * `supportedVersions` selects the stateless era (then `tools/list` with the
 * same `_meta`, no session). Anything else a server of the earlier era
 * would answer (a JSON-RPC error, an HTTP 4xx other than 401/403, a result
 * without that version; over stdio also an exit or silence, as some servers
 * stop or wait on a request before `initialize`) selects the 2025-11-25
 * era: `initialize`, `notifications/initialized`, `tools/list`. A stdio
 * server that exited or stayed silent is started again for it. `--era`
 * forces one era, without fallback.
 *
 * Everything the server sends is untrusted: the number of tools, pages and
 * the length of names, titles, descriptions and instructions are capped,
 * and each cut is named in `notes`.
 *
 * @module
 */

import { UpstreamError } from "../errors.ts";
import {
  LATEST_PROTOCOL_VERSION,
  META,
  MODERN_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "../mcp/mod.ts";
import {
  ClosedError,
  HttpStatusError,
  type ProbeTransport,
  quote,
  type RpcAnswer,
} from "./_probe_transport.ts";
import { VERSION } from "./version.ts";

/** Which era to speak: negotiate, or force one. */
export type EraChoice = "auto" | "2025" | "2026";

/** Most tools reported; more are counted in a note. */
export const MAX_TOOLS = 500;
/** Most `tools/list` pages read. */
const MAX_PAGES = 50;
/** Longest description or instructions kept, in characters. */
export const MAX_TEXT = 2_000;
/** Longest name, title or version kept. */
const MAX_NAME = 200;

/** One tool as the probe reports it. */
export interface ProbedTool {
  name: string;
  title: string | null;
  description: string | null;
  annotations: Record<string, unknown> | null;
  inputSchema: unknown;
}

/** Everything `loom probe` learned about a server. */
export interface ProbeReport {
  /** The negotiated protocol version (2026-07-28, or one of the initialize era). */
  protocolVersion: string;
  /** "2026-07-28" (stateless) or "2025-11-25" (initialize and sessions). */
  era: "2026-07-28" | "2025-11-25";
  /** What `server/discover` listed; null in the initialize era. */
  supportedVersions: string[] | null;
  server: { name: string; version: string; title: string | null };
  capabilities: Record<string, unknown>;
  instructions: string | null;
  tools: ProbedTool[];
  /** What was cut or skipped, one sentence each. */
  notes: string[];
}

/** Where and how long the probe may talk. */
export interface ProbePlan {
  /** Opens a connection to the target (called again for a stdio fallback). */
  open: () => ProbeTransport;
  era: EraChoice;
  /** Aborted with the timeout error when the probe's time is up. */
  signal: AbortSignal;
  /** The whole probe's budget, for the stdio negotiation window. */
  timeoutMs: number;
}

const CLIENT_INFO = { name: "loom-probe", version: VERSION };

/**
 * Probe a server: negotiate the era, read its info and list its tools.
 *
 * @param plan the target and the limits
 * @returns the bounded report
 * @throws {LoomError} one line per failure kind (see `_probe_transport.ts`)
 */
export async function probeServer(plan: ProbePlan): Promise<ProbeReport> {
  let transport = plan.open();
  try {
    if (plan.era !== "2025") {
      const modern = await tryModern(transport, plan);
      if (modern.kind === "report") return modern.report;
      if (modern.kind === "restart") {
        await transport.close();
        transport = plan.open();
      }
    }
    return await legacy(transport, plan.signal);
  } finally {
    await transport.close();
  }
}

type ModernOutcome = { kind: "report"; report: ProbeReport } | { kind: "legacy" | "restart" };

async function tryModern(transport: ProbeTransport, plan: ProbePlan): Promise<ModernOutcome> {
  const forced = plan.era === "2026";
  // Over stdio a server of the earlier era may wait for initialize without
  // answering: the discovery gets half the budget before the fallback.
  const silence = new AbortController();
  const timer = transport.kind === "stdio" && !forced
    ? setTimeout(() => silence.abort(new Error("silent")), Math.max(1_000, plan.timeoutMs / 2))
    : undefined;
  const window = AbortSignal.any([plan.signal, silence.signal]);
  let answer: RpcAnswer;
  try {
    answer = await transport.request("server/discover", { _meta: envelope() }, window);
  } catch (error) {
    if (forced || plan.signal.aborted) throw error;
    if (error instanceof HttpStatusError && error.status < 500) return { kind: "legacy" };
    if (transport.kind === "stdio" && (error instanceof ClosedError || window.aborted)) {
      return { kind: "restart" };
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
  if (answer.error !== undefined) {
    if (!forced) return { kind: "legacy" };
    throw rpcFailure("server/discover", answer.error);
  }
  const discovered = answer.result!;
  const supported = Array.isArray(discovered.supportedVersions)
    ? discovered.supportedVersions.filter((v): v is string => typeof v === "string").slice(0, 32)
    : [];
  if (!supported.includes(MODERN_PROTOCOL_VERSION)) {
    if (!forced) return { kind: "legacy" };
    throw new UpstreamError(
      "UPSTREAM_FAILED",
      `The server does not offer ${MODERN_PROTOCOL_VERSION} (server/discover listed ` +
        `${quote(supported.map((v) => v.slice(0, 32)).join(", "))}); try --era 2025`,
    );
  }
  const notes: string[] = [];
  const capabilities = objectOr(discovered.capabilities);
  const tools = "tools" in capabilities
    ? await listTools(transport, () => ({ _meta: envelope() }), plan.signal, notes)
    : (notes.push("The server announces no tools capability"), []);
  const info = objectOr(objectOr(discovered._meta)[META.serverInfo]);
  return {
    kind: "report",
    report: {
      protocolVersion: MODERN_PROTOCOL_VERSION,
      era: "2026-07-28",
      supportedVersions: supported.map((v) => clip(v, 32, "supported version", notes)),
      server: serverInfo(info, notes),
      capabilities,
      instructions: optionalText(discovered.instructions, MAX_TEXT, "instructions", notes),
      tools,
      notes,
    },
  };
}

async function legacy(transport: ProbeTransport, signal: AbortSignal): Promise<ProbeReport> {
  const answer = await transport.request("initialize", {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: CLIENT_INFO,
  }, signal);
  if (answer.error !== undefined) throw rpcFailure("initialize", answer.error);
  const result = answer.result!;
  const version = result.protocolVersion;
  if (typeof version !== "string" || !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
    throw new UpstreamError(
      "UPSTREAM_FAILED",
      `The server answered initialize with protocol version ${quote(String(version))}, ` +
        `not one the probe speaks (${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`,
    );
  }
  transport.legacyVersion = version;
  await transport.notify("notifications/initialized", {}, signal);
  const notes: string[] = [];
  const capabilities = objectOr(result.capabilities);
  const tools = "tools" in capabilities
    ? await listTools(transport, () => ({}), signal, notes)
    : (notes.push("The server announces no tools capability"), []);
  return {
    protocolVersion: version,
    era: "2025-11-25",
    supportedVersions: null,
    server: serverInfo(objectOr(result.serverInfo), notes),
    capabilities,
    instructions: optionalText(result.instructions, MAX_TEXT, "instructions", notes),
    tools,
    notes,
  };
}

/** The 2026-07-28 per-request fields: version, client and (no) capabilities. */
function envelope(): Record<string, unknown> {
  return {
    [META.protocolVersion]: MODERN_PROTOCOL_VERSION,
    [META.clientInfo]: CLIENT_INFO,
    [META.clientCapabilities]: {},
  };
}

async function listTools(
  transport: ProbeTransport,
  base: () => Record<string, unknown>,
  signal: AbortSignal,
  notes: string[],
): Promise<ProbedTool[]> {
  const tools: ProbedTool[] = [];
  let cursor: string | undefined;
  let seen = 0;
  let malformed = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const params = cursor === undefined ? base() : { ...base(), cursor };
    const answer = await transport.request("tools/list", params, signal);
    if (answer.error !== undefined) throw rpcFailure("tools/list", answer.error);
    const listed = answer.result!.tools;
    if (!Array.isArray(listed)) {
      throw new UpstreamError(
        "UPSTREAM_FAILED",
        'The server\'s tools/list result has no "tools" array',
      );
    }
    for (const entry of listed) {
      seen++;
      if (tools.length >= MAX_TOOLS) continue;
      const tool = probedTool(entry, notes);
      if (tool === null) malformed++;
      else tools.push(tool);
    }
    const next = answer.result!.nextCursor;
    if (typeof next !== "string" || next === "" || tools.length >= MAX_TOOLS) {
      cursor = undefined;
      break;
    }
    cursor = next;
  }
  if (cursor !== undefined) notes.push(`Stopped after ${MAX_PAGES} pages of tools/list`);
  if (seen - malformed > tools.length) {
    notes.push(
      `Showing the first ${MAX_TOOLS} tools; ${seen - malformed - tools.length} more were listed`,
    );
  }
  if (malformed > 0) notes.push(`Skipped ${malformed} tool entries without a string name`);
  return tools;
}

function probedTool(entry: unknown, notes: string[]): ProbedTool | null {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) return null;
  const tool = entry as Record<string, unknown>;
  if (typeof tool.name !== "string") return null;
  const name = clip(tool.name, MAX_NAME, "tool name", notes);
  const annotations = tool.annotations;
  return {
    name,
    title: optionalText(tool.title, MAX_NAME, `title of ${name}`, notes),
    description: optionalText(tool.description, MAX_TEXT, `description of ${name}`, notes),
    annotations:
      annotations !== null && typeof annotations === "object" && !Array.isArray(annotations)
        ? annotations as Record<string, unknown>
        : null,
    inputSchema: tool.inputSchema ?? null,
  };
}

function serverInfo(info: Record<string, unknown>, notes: string[]): ProbeReport["server"] {
  return {
    name: typeof info.name === "string" ? clip(info.name, MAX_NAME, "server name", notes) : "",
    version: typeof info.version === "string"
      ? clip(info.version, MAX_NAME, "server version", notes)
      : "",
    title: optionalText(info.title, MAX_NAME, "server title", notes),
  };
}

function optionalText(value: unknown, max: number, what: string, notes: string[]): string | null {
  return typeof value === "string" ? clip(value, max, what, notes) : null;
}

/** Cut `text` to `max` characters, noting the cut. */
function clip(text: string, max: number, what: string, notes: string[]): string {
  if (text.length <= max) return text;
  notes.push(`Cut the ${what.slice(0, MAX_NAME)} from ${text.length} to ${max} characters`);
  return text.slice(0, max);
}

function objectOr(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

function rpcFailure(method: string, error: NonNullable<RpcAnswer["error"]>): UpstreamError {
  return new UpstreamError(
    "UPSTREAM_FAILED",
    `The server answered ${method} with JSON-RPC error ${error.code}: ${quote(error.message)}`,
  );
}
