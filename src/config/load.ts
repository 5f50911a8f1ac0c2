/**
 * Load an agent config: read the file, parse the YAML, validate it against the
 * schema, run the load-time checks, and resolve it into an
 * {@linkcode AgentConfig} (camelCase, milliseconds, bytes, defaults applied).
 *
 * Every problem found is collected and thrown as one {@linkcode ConfigError}
 * whose issues carry `file:line:column` and a document path. Warnings (a
 * config that loads but deserves attention) go to the `onWarning` callback.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./load.ts";
 * const config = parseConfig(
 *   [
 *     "agent:",
 *     "  name: demo",
 *     "  exposes:",
 *     "    - name: ping",
 *     "      description: Check the service",
 *     "  http_bridge:",
 *     "    - tool_name: ping",
 *     "      url: https://api.example.com/ping",
 *   ].join("\n"),
 *   { path: "demo.yaml" },
 * );
 * config.runtime.trustTier; // 1
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { z } from "zod";
import { ConfigError, type ConfigIssue, NotFoundError } from "../errors.ts";
import { parseDuration, parseSize } from "../_util/units.ts";
import { checkConfig, hint, scanStrings } from "./_checks.ts";
import { type Located, parseYaml, type PathSegment, quote, type YamlSource } from "./_yaml.ts";
import { AgentConfigInput, type AgentConfigParsed } from "./schema.ts";
import { listedUpstreamName } from "./mcp_upstream.ts";
import { resolveParam } from "./param_rules.ts";
import { OUTPUT_SCHEMA_KEYWORDS, resolveOutputSchema } from "./output_schema.ts";
import { resolveTriggers } from "./triggers.ts";
import { resolveComposite } from "./composite.ts";
import { resolveAnomaly } from "./anomaly.ts";
import type {
  AgentConfig,
  BridgeSpec,
  EscalationRuleSpec,
  McpUpstreamSpec,
  ProvenanceSpec,
  RateLimitSpec,
  ToolSpec,
  TrustTier,
} from "./types.ts";

/** Largest config file accepted, in bytes (1 MiB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Called once per warning, in document order, after the config loaded. */
export type WarningHandler = (warning: ConfigIssue) => void;

/** Options of {@linkcode parseConfig}. */
export interface ParseOptions {
  /** The file the text came from, used in messages and in `source.path`. */
  path: string;
  /**
   * Receives non-fatal findings: plain `http:` to a non-loopback host, an
   * escalation rule that can never match, a timeout longer than the call limit,
   * `injection: off`, ... Without a handler, warnings are dropped.
   */
  onWarning?: WarningHandler;
}

/** Options of {@linkcode loadConfig}. */
export interface LoadOptions {
  /** See {@linkcode ParseOptions.onWarning}. */
  onWarning?: WarningHandler;
}

/**
 * Read, validate and resolve a config file.
 *
 * @param path a `.yaml` or `.yml` file of at most 1 MiB
 * @param options warning handler
 * @returns the resolved config, deeply frozen; `source.digest` is the SHA-256
 *   (hex) of the file's bytes
 * @throws {NotFoundError} when the file does not exist
 * @throws {ConfigError} with every problem found, positioned
 */
export async function loadConfig(path: string, options: LoadOptions = {}): Promise<AgentConfig> {
  const fail = (message: string): never => {
    throw new ConfigError([{ file: path, line: 0, column: 0, path: "", message }]);
  };
  if (!/\.ya?ml$/i.test(path)) fail('Config file name must end in ".yaml" or ".yml"');
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`Cannot load config ${quote(path)}: no such file`, { cause: error });
    }
    throw error;
  }
  if (!info.isFile) fail("Config path is not a regular file");
  if (info.size > MAX_CONFIG_BYTES) fail(tooLarge(info.size));
  const bytes = await readAtMost(path, MAX_CONFIG_BYTES + 1);
  if (bytes.length > MAX_CONFIG_BYTES) fail(tooLarge(bytes.length));
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    fail("Config file is not valid UTF-8");
  }
  return parseBytes(text, bytes, path, options.onWarning);
}

/**
 * Validate and resolve config text (synchronous; for tests and for callers
 * that already hold the text, such as the mesh watcher).
 *
 * The file name extension is not checked here; {@linkcode loadConfig} does.
 *
 * @param text the YAML text (at most 1 MiB as UTF-8)
 * @param options the file path for messages, warning handler
 * @returns the resolved config, deeply frozen; `source.digest` is the SHA-256
 *   (hex) of the text's UTF-8 bytes
 * @throws {ConfigError} with every problem found, positioned
 */
export function parseConfig(text: string, options: ParseOptions): AgentConfig {
  if (typeof text !== "string") throw new TypeError("Cannot parse config: text is not a string");
  return parseBytes(text, new TextEncoder().encode(text), options.path, options.onWarning);
}

function tooLarge(size: number): string {
  const mib = (size / MAX_CONFIG_BYTES).toFixed(1);
  return `Config file is too large: ${mib} MiB exceeds the 1 MiB limit`;
}

async function readAtMost(path: string, limit: number): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(limit);
  let filled = 0;
  while (filled < limit) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return buffer.subarray(0, filled);
}

function parseBytes(
  text: string,
  bytes: Uint8Array,
  file: string,
  onWarning: WarningHandler | undefined,
): AgentConfig {
  const issues = (found: readonly Located[]): ConfigIssue[] =>
    inDocumentOrder(found).map((l) => ({ file, ...l }));
  if (bytes.length > MAX_CONFIG_BYTES) {
    throw new ConfigError([{
      file,
      line: 0,
      column: 0,
      path: "",
      message: tooLarge(bytes.length),
    }]);
  }
  const parsed = parseYaml(text);
  if (!parsed.ok) throw new ConfigError(issues(parsed.problems));
  const { source, data } = parsed;

  const errors: Located[] = [];
  scanStrings(data, source, errors);
  const result = AgentConfigInput.safeParse(data);
  let warnings: Located[] = [];
  if (result.success) {
    const findings = checkConfig(result.data, source);
    errors.push(...findings.errors);
    warnings = findings.warnings;
  } else {
    for (const issue of result.error.issues) errors.push(...fromZodIssue(issue, data, source));
  }
  if (errors.length > 0) throw new ConfigError(issues(errors));

  if (onWarning) { for (const warning of issues(warnings)) onWarning(warning); }
  const digest = createHash("sha256").update(bytes).digest("hex");
  return deepFreeze(resolve(result.data!, { path: file, digest }));
}

/** Sort by position (unknown positions last) and drop exact duplicates. */
function inDocumentOrder(found: readonly Located[]): Located[] {
  const seen = new Set<string>();
  const unique = found.filter((l) => {
    const key = `${l.line}:${l.column}:${l.path}:${l.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const rank = (l: Located) => (l.line === 0 ? Number.MAX_SAFE_INTEGER : l.line);
  return unique.sort((a, b) => rank(a) - rank(b) || a.column - b.column);
}

// --- zod issues -> positioned messages ------------------------------------

type Issue = z.core.$ZodIssue;

function fromZodIssue(issue: Issue, data: unknown, source: YamlSource): Located[] {
  const path = issue.path.filter((p): p is PathSegment => typeof p !== "symbol");
  switch (issue.code) {
    case "unrecognized_keys": {
      const valid = keysAt(path);
      return issue.keys.map((key) =>
        source.at(
          [...path, key],
          `Unknown key ${quote(key)}${unknownKeyAdvice(key, path, valid)}`,
          true,
        )
      );
    }
    case "invalid_key": {
      const message = issue.issues[0]?.message ?? "Invalid key";
      return [source.at(path, message, true)];
    }
    case "invalid_type": {
      const value = valueAt(data, path);
      if (path.length === 0) {
        return [source.at(path, 'Config must be a mapping with the top-level key "agent"')];
      }
      if (value === undefined) {
        return [source.at(path, `Missing required key ${quote(String(path[path.length - 1]))}`)];
      }
      const quoteHint = issue.expected === "string" &&
          (typeof value === "number" || typeof value === "boolean")
        ? ": quote it to make it a string"
        : "";
      return [
        source.at(
          path,
          `Expected ${expectedName(issue.expected)}, got ${kindOf(value)}${quoteHint}`,
        ),
      ];
    }
    case "too_small":
    case "too_big":
      return [source.at(path, sizeMessage(issue))];
    case "invalid_value": {
      const value = valueAt(data, path);
      const options = issue.values.map((v) => (typeof v === "string" ? quote(v) : String(v)));
      const close = typeof value === "string"
        ? hint(value, issue.values.filter((v): v is string => typeof v === "string"), ": ")
        : "";
      return [source.at(path, `Expected one of ${options.join(", ")}${close}`)];
    }
    case "invalid_union": {
      // In an output schema (a boolean-or-schema, a type-or-list), the branch
      // of the value's own kind says what is wrong, and where.
      const branch = path.includes("output_schema") || path.includes("provenance")
        ? branchOfKind(issue.errors)
        : undefined;
      if (branch !== undefined) {
        return branch.flatMap((inner) =>
          fromZodIssue({ ...inner, path: [...path, ...inner.path] } as Issue, data, source)
        );
      }
      return [source.at(path, issue.message === "Invalid input" ? "Invalid value" : issue.message)];
    }
    default:
      return [source.at(path, issue.message)];
  }
}

/**
 * What follows `Unknown key "x"`: the output schema's keyword list, why a
 * tool has no `annotations` key, or a "did you mean".
 */
function unknownKeyAdvice(key: string, path: readonly PathSegment[], valid: string[]): string {
  if (path.includes("output_schema")) {
    return `: output_schema supports only the JSON Schema keywords ${
      OUTPUT_SCHEMA_KEYWORDS.join(", ")
    }${hint(key, [...OUTPUT_SCHEMA_KEYWORDS], "; ")}`;
  }
  if (key === "annotations" && path.length === 3 && path[1] === "exposes") {
    return ": tool annotations are derived from access and the bridge's method, " +
      "never written (see README.md, Tool metadata)";
  }
  return hint(key, valid, ": ");
}

/**
 * The issues of the one union branch that failed inside the value rather
 * than on the value as a whole (its kind, or not one of an enum's values),
 * or undefined when there is not exactly one.
 */
function branchOfKind(branches: readonly (readonly Issue[])[]): readonly Issue[] | undefined {
  const ofKind = branches.filter((issues) =>
    !(issues.length === 1 && issues[0].path.length === 0 &&
      (issues[0].code === "invalid_type" || issues[0].code === "invalid_value"))
  );
  return ofKind.length === 1 ? ofKind[0] : undefined;
}

function sizeMessage(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const small = issue.code === "too_small";
  const bound = Number(small ? issue.minimum : issue.maximum);
  const inclusive = issue.inclusive !== false;
  switch (issue.origin) {
    case "string":
      if (small && bound === 1) return "Must not be empty";
      return `Must be ${small ? "at least" : "at most"} ${bound} characters long`;
    case "array":
    case "set":
      if (small && bound === 1) return "Must have at least one item";
      return `Must have ${small ? "at least" : "at most"} ${bound} items`;
    default: {
      const relation = small
        ? (inclusive ? "at least" : "greater than")
        : (inclusive ? "at most" : "less than");
      return `Must be ${relation} ${bound}`;
    }
  }
}

function expectedName(expected: string): string {
  switch (expected) {
    case "int":
      return "an integer";
    case "array":
      return "a list";
    case "object":
    case "record":
    case "map":
      return "a mapping";
    case "null":
    case "undefined":
      return "null";
    default:
      return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
  }
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  switch (typeof value) {
    case "object":
      return "a mapping";
    case "number":
      return "a number";
    default:
      return expectedName(typeof value);
  }
}

function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let value = data;
  for (const segment of path) {
    if (value === null || typeof value !== "object") return undefined;
    if (!Object.hasOwn(value, segment)) return undefined;
    value = (value as Record<PathSegment, unknown>)[segment];
  }
  return value;
}

interface LooseDef {
  type: string;
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
  shape?: Record<string, z.core.$ZodType>;
  element?: z.core.$ZodType;
  valueType?: z.core.$ZodType;
}

function defOf(schema: z.core.$ZodType): LooseDef {
  return schema._zod.def as unknown as LooseDef;
}

function unwrapSchema(schema: z.core.$ZodType): z.core.$ZodType {
  for (let i = 0; i < 16; i++) {
    const def = defOf(schema);
    if (def.innerType) schema = def.innerType;
    else if (def.type === "pipe" && def.in) schema = def.in;
    else break;
  }
  return schema;
}

/** The keys a strict object at `path` accepts (for "did you mean"). */
function keysAt(path: readonly PathSegment[]): string[] {
  let schema: z.core.$ZodType | undefined = AgentConfigInput;
  for (const segment of path) {
    const def = defOf(unwrapSchema(schema));
    if (def.type === "object" && def.shape) schema = def.shape[String(segment)];
    else if (def.type === "array") schema = def.element;
    else if (def.type === "record") schema = def.valueType;
    else schema = undefined;
    if (!schema) return [];
  }
  const def = defOf(unwrapSchema(schema));
  return def.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

// --- resolve --------------------------------------------------------------

function perMinute(limit: number): RateLimitSpec {
  return { limit, windowMs: 60_000 };
}

function mapValues<T, U>(record: Record<string, T>, fn: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, fn(value)]));
}

function resolve(config: AgentConfigParsed, source: AgentConfig["source"]): AgentConfig {
  const agent = config.agent;
  const runtime = agent.runtime;
  const tools = agent.exposes.map((tool): ToolSpec => ({
    name: tool.name,
    ...(tool.title !== undefined ? { title: tool.title } : {}),
    description: tool.description,
    access: tool.access,
    parameters: mapValues(tool.parameters ?? {}, resolveParam),
    ...(tool.input_schema ? { inputSchema: resolveInputSchema(tool.input_schema) } : {}),
    ...(tool.rate_limit ? { rateLimit: perMinute(tool.rate_limit.per_minute) } : {}),
    ...(tool.output_schema ? { outputSchema: resolveOutputSchema(tool.output_schema) } : {}),
    ...(tool.triggers ? { triggers: resolveTriggers(tool.triggers) } : {}),
    ...(tool.steps ? { composite: resolveComposite(tool) } : {}),
  }));
  const bridges = agent.http_bridge.map((bridge): BridgeSpec => ({
    toolName: bridge.tool_name,
    method: bridge.method,
    url: bridge.url,
    queryParams: { ...bridge.query_params },
    headers: { ...bridge.headers },
    bodyTemplate: bridge.body_template ?? null,
    responsePath: bridge.response_path,
    timeoutMs: bridge.timeout === null ? null : Math.round(parseDuration(bridge.timeout)!),
  }));
  const escalationRules = agent.escalation_rules.map((rule): EscalationRuleSpec => ({
    name: rule.name,
    reason: rule.reason,
    tool: rule.tool,
    access: rule.access,
    paramGt: { ...rule.param_gt },
    paramEq: { ...rule.param_eq },
    paramContains: { ...rule.param_contains },
  }));
  return {
    name: agent.name,
    version: agent.version,
    description: agent.description,
    tools,
    bridges,
    escalationRules,
    mcpUpstream: agent.mcp_upstream === undefined ? null : resolveUpstream(agent.mcp_upstream),
    runtime: {
      trustTier: runtime.trust_tier as TrustTier,
      maxExecutionTimeMs: Math.round(parseDuration(runtime.max_execution_time)!),
      maxResponseBytes: parseSize(runtime.max_response_bytes)!,
      rateLimit: perMinute(runtime.rate_limit.per_minute),
      injection: runtime.injection,
      sandbox: runtime.sandbox,
      allowNetworks: [...runtime.allow_networks],
      auditFailure: runtime.audit_failure,
      inlineApproval: runtime.inline_approval,
      outputScan: runtime.output_scan,
      anomaly: resolveAnomaly(runtime.anomaly),
    },
    provenance: resolveProvenance(agent.provenance),
    source,
  };
}

/** `mcp_upstream` as written, resolved. */
function resolveUpstream(
  written: NonNullable<AgentConfigParsed["agent"]["mcp_upstream"]>,
): McpUpstreamSpec {
  const p = written.permissions;
  return {
    command: written.command === undefined ? null : [...written.command],
    url: written.url ?? null,
    era: written.era,
    headers: { ...written.headers },
    env: { ...written.env },
    envSecrets: { ...written.env_secrets },
    cwd: written.cwd ?? null,
    permissions: {
      read: [...p.read],
      write: [...p.write],
      net: [...p.net],
      env: [...p.env],
      sys: [...p.sys],
    },
    tools: written.tools === undefined ? null : written.tools.map((tool) => ({
      name: tool.name,
      as: tool.as ?? listedUpstreamName(tool.name)!,
      access: tool.access ?? null,
      ...(tool.rate_limit ? { rateLimit: perMinute(tool.rate_limit.per_minute) } : {}),
    })),
    allowSampling: written.allow_sampling,
    allowElicitation: written.allow_elicitation,
    startTimeoutMs: Math.round(parseDuration(written.start_timeout)!),
  };
}

/** `provenance` as written (a source, or `{ source, generator }`), or absent: a person wrote it. */
function resolveProvenance(written: AgentConfigParsed["agent"]["provenance"]): ProvenanceSpec {
  if (written === undefined) return { source: "human", generator: null };
  if (typeof written === "string") return { source: written, generator: null };
  return { source: written.source, generator: written.generator ?? null };
}

/**
 * An input schema as `tools/list` shows it: a copy of what was written, key
 * order kept, every map an own-property object.
 */
function resolveInputSchema(schema: Record<string, unknown>): Record<string, unknown> {
  return structuredClone(schema);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
