/**
 * The zod schema of the YAML a person writes (`AgentConfigInput`) and the JSON
 * Schema generated from it for editors.
 *
 * Every object is strict: an unknown key is an error, never silently dropped
 * (the original LOOM dropped them, so a typo such as `trust_teir` removed a
 * control without a word). The schema is built once, at module load.
 *
 * This schema checks the shape of each field. Rules that relate fields to each
 * other (a bridge names an exposed tool, methods allowed by the tier, literal
 * credentials, ...) are load-time checks in `_checks.ts`, run by `load.ts`.
 *
 * @example
 * ```ts
 * import { AgentConfigInput } from "./schema.ts";
 * const result = AgentConfigInput.safeParse({ agent: { name: "demo" } });
 * result.success; // true: every other field has a default
 * ```
 *
 * @module
 */

import { z } from "zod";
import { HEADER_NAME, PARAM_NAME } from "../_util/template.ts";
import { INJECTION_CATEGORIES, type InjectionCategory } from "./types.ts";
import { DEFAULT_STRING_MAX_LENGTH } from "./param_rules.ts";
import { ToolOutputSchema } from "./output_schema.ts";
import { ToolInputSchema } from "./input_schema.ts";
import { MCP_HEADER_DESCRIPTION } from "./mcp_header.ts";
import { RuntimeAnomaly } from "./anomaly.ts";
import { ToolTitle } from "./title.ts";
import { Provenance } from "./provenance.ts";
import { IPV4_CIDR, isIpv6Cidr } from "./_cidr_text.ts";
import * as limits from "./tool_limits.ts";
import { ToolTriggers } from "./triggers.ts";
import { McpUpstream } from "./mcp_upstream.ts";
import { ToolLlm, ToolSteps } from "./composite.ts";
import { Duration, RateLimit, Size } from "./units_schema.ts";

export { Duration, RateLimit, Size };

/** Agent names: kebab-case, 1-64 characters. */
export const AGENT_NAME: RegExp = /^[a-z0-9]+(-[a-z0-9]+)*$/;
/** Tool names: lower-case letters, digits and `_`, 1-64 characters (`tool_limits.ts`). */
export const TOOL_NAME: RegExp = limits.TOOL_NAME;
/** Header names: an RFC 9110 section 5.6.2 `token` (the bridge's own rule). */
export { HEADER_NAME };
/** Semantic version 2.0.0 (the regular expression suggested by semver.org). */
export const SEMVER: RegExp =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
/** CIDR texts of `allow_networks`. */
export { IPV4_CIDR, isIpv6Cidr };

/** HTTP methods a bridge may use, in tier order. */
export const HTTP_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"] as const;

const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const TOOL_GLOB = /^[a-z0-9_*?]{1,64}$/;

/**
 * The anchored expression of an escalation rule's tool glob: `*` matches any
 * run of characters, `?` one character. The schema limits globs to
 * `[a-z0-9_*?]`, so nothing else needs escaping. The loader's checks and the
 * gate's escalation decision both match through this one function.
 *
 * @param glob a glob the schema accepted
 * @returns a regular expression matching whole tool names
 */
export function toolGlobRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replaceAll("*", ".*").replaceAll("?", ".")}$`);
}

const RESPONSE_PATH = /^[A-Za-z0-9_$@-]+(?:\.[A-Za-z0-9_$@-]+)*$/;

/**
 * Names an object inherits (`__proto__`, `constructor`, `toString`, ...): refused
 * as parameter, property and header names so that no lookup of a name in a
 * resolved map can reach `Object.prototype`.
 */
const RESERVED_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

function notReserved(name: string): boolean {
  return !RESERVED_NAMES.has(name);
}

const RESERVED_ERROR = "Name is reserved: it is a property of every JavaScript object";

/** Is `text` a regular expression that compiles in unicode mode? */
function isUnicodeRegExp(text: string): boolean {
  try {
    new RegExp(text, "u");
    return true;
  } catch {
    return false;
  }
}

const Scalar = z.union([z.string(), z.number(), z.boolean()], {
  error: "Expected a string, a number or a boolean",
});

/** One declared tool parameter; `items` and `properties` nest the same shape. */
export const Parameter = z.strictObject({
  type: z.enum(["string", "integer", "number", "boolean", "array", "object"]).meta({
    description: "JSON type of the argument",
  }),
  required: z.boolean().default(true).meta({
    description: "Whether the caller must send it (default true)",
  }),
  default: z.unknown().optional().meta({ description: "Value used when the caller omits it" }),
  enum: z.array(Scalar).min(1).max(1000).optional().meta({
    description: "The only values allowed",
  }),
  min_length: z.int().min(0).max(1_000_000).optional().meta({
    description: "Minimum string length, in characters",
  }),
  max_length: z.int().min(0).max(1_000_000).optional().meta({
    description:
      `Maximum string length, in characters (default ${DEFAULT_STRING_MAX_LENGTH} for strings)`,
  }),
  minimum: z.number().optional().meta({ description: "Smallest number allowed" }),
  maximum: z.number().optional().meta({ description: "Largest number allowed" }),
  pattern: z.string().max(1024).refine(isUnicodeRegExp, {
    error: "Pattern is not a valid regular expression (ECMAScript, unicode mode)",
  }).optional().meta({
    description: "ECMAScript regular expression (unicode mode) the whole string must match",
  }),
  description: limits.ParameterDescription.optional(),
  get items() {
    return Parameter.optional().meta({ description: "Element schema of an array" });
  },
  get properties() {
    return z.record(
      z.string().regex(PROPERTY_NAME, {
        error: "Property name must match ^[A-Za-z_][A-Za-z0-9_-]{0,63}$",
      }).refine(notReserved, { error: RESERVED_ERROR }),
      Parameter,
    ).optional().meta({ description: "Property schemas of an object (no others allowed)" });
  },
  mcp_header: z.string().optional().meta({ description: MCP_HEADER_DESCRIPTION }),
  allow: z.array(z.enum(INJECTION_CATEGORIES as [InjectionCategory, ...InjectionCategory[]]))
    .default([]).meta({
      description:
        "Injection categories this parameter legitimately carries (shell, path, sql, template, prompt). " +
        "Threat: each entry switches off a detector for this argument",
    }),
}).meta({ id: "Parameter", title: "Tool parameter" });
/** What people write for a parameter. */
export type Parameter = z.input<typeof Parameter>;

const ParameterKey = z.string().regex(PARAM_NAME, {
  error: "Parameter name must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$",
}).refine(notReserved, { error: RESERVED_ERROR });

/** One exposed MCP tool. */
export const Tool = z.strictObject({
  name: limits.ToolName,
  title: ToolTitle,
  description: limits.ToolDescription,
  access: z.enum(["read", "write"]).default("read").meta({
    description: "read observes; write changes upstream state (not allowed on tier 1)",
  }),
  parameters: z.record(ParameterKey, Parameter).optional().meta({
    description: "Parameter name -> schema (none when absent); excludes input_schema",
  }),
  input_schema: ToolInputSchema,
  rate_limit: RateLimit.optional().meta({
    description: "Per-tool override of runtime.rate_limit",
  }),
  output_schema: ToolOutputSchema,
  triggers: ToolTriggers,
  steps: ToolSteps,
  llm: ToolLlm,
});
/** What people write for a tool. */
export type Tool = z.input<typeof Tool>;

/** One HTTP bridge: how a call of `tool_name` becomes a request. */
export const Bridge = z.strictObject({
  tool_name: z.string().regex(TOOL_NAME, { error: limits.toolNameError }).meta({
    description: "The exposed tool this bridge serves",
  }),
  method: z.enum(HTTP_METHODS).default("GET").meta({
    description: "HTTP method, upper case; limited by runtime.trust_tier",
  }),
  url: z.string().min(1).max(4096).meta({
    description: "URL template. Scheme, host and port are literal; {{param}} only in the path",
  }),
  query_params: z.record(ParameterKey, z.string().min(1).max(256)).default({}).meta({
    description: "Tool parameter name -> outgoing query key",
  }),
  headers: z.record(
    z.string().regex(HEADER_NAME, { error: "Header name must be an RFC 9110 token" })
      .refine(notReserved, { error: RESERVED_ERROR }),
    z.string().max(8192),
  ).default({}).meta({
    description: "Header name -> value template; credentials only as {{secret:NAME}}",
  }),
  body_template: z.unknown().default(null).meta({
    description: 'JSON body template; a string "{{name}}" takes the typed value. null: no body',
  }),
  response_path: z.string().max(512).regex(RESPONSE_PATH, {
    error: 'Response path must be dot-separated keys such as "data.result"',
  }).nullable().default(null).meta({
    description: "Dotted path into a JSON response; null returns the whole body",
  }),
  timeout: Duration.nullable().default(null).meta({
    description: "Per-request timeout; runtime.max_execution_time still bounds the call",
  }),
});
/** What people write for a bridge. */
export type Bridge = z.input<typeof Bridge>;

/** One escalation rule: a match holds the call for human approval. */
export const EscalationRule = z.strictObject({
  name: z.string().regex(RULE_NAME, {
    error: "Rule name must be 1-64 characters of letters, digits, _, . and -",
  }),
  reason: z.string().max(1024).default("").meta({ description: "Shown to the reviewer" }),
  tool: z.string().regex(TOOL_GLOB, {
    error: "Tool glob must be 1-64 characters of a-z, 0-9, _, * and ?",
  }).nullable().default(null).meta({ description: "Glob over tool names; null matches any" }),
  access: z.enum(["read", "write"]).nullable().default(null),
  param_gt: z.record(ParameterKey, z.number()).default({}).meta({
    description: "Matches when the numeric argument is greater than the value",
  }),
  param_eq: z.record(ParameterKey, z.string()).default({}).meta({
    description: "Matches when the argument equals the string",
  }),
  param_contains: z.record(ParameterKey, z.string().min(1)).default({}).meta({
    description: "Matches when the argument contains the string",
  }),
});
/** What people write for an escalation rule. */
export type EscalationRule = z.input<typeof EscalationRule>;

/** Runtime limits and policies. */
export const Runtime = z.strictObject({
  trust_tier: z.int().min(1).max(4).default(1).meta({
    description:
      "1 observer (GET HEAD OPTIONS), 2 worker (+ POST PUT PATCH, write tools), 3 operator (+ DELETE), 4 privileged",
  }),
  max_execution_time: Duration.default("30s").meta({
    description: "Bounds the whole call, upstream included (default 30s)",
  }),
  max_response_bytes: Size.default("1MiB").meta({
    description: "Cap on decompressed response bytes (default 1MiB)",
  }),
  rate_limit: RateLimit.default({ per_minute: 120 }).meta({
    description: "Default per-tool limit (default 120 per minute)",
  }),
  injection: z.enum(["block", "audit", "off"]).default("block").meta({
    description: "What an injection match does: block refuses, audit records, off ignores",
  }),
  sandbox: z.enum(["deno", "docker", "none"]).default("deno").meta({
    description: "Where network code runs; none is allowed on tiers 1 and 2 only",
  }),
  allow_networks: z.array(
    z.string().refine((text) => IPV4_CIDR.test(text) || isIpv6Cidr(text), {
      error: 'Expected a CIDR block such as "10.0.0.0/8" or "fd00::/8"',
    }),
  ).max(64).default([]).meta({
    description:
      "Private or special networks (IPv4 or IPv6 CIDR) this agent may reach; an IPv6 address " +
      "embedding an IPv4 one (mapped, NAT64, 6to4) counts as that IPv4 address. Threat: each " +
      "entry opens a hole in the SSRF wall around the operator's network",
  }),
  audit_failure: z.enum(["refuse", "allow"]).default("refuse").meta({
    description:
      "Tier 1 calls while the audit log cannot be written: refuse (default) or allow them to " +
      "run unrecorded (counted in a record once the log is back). Tier 2+ never run then. " +
      "Threat: allow lets reads happen with no record of each one",
  }),
  inline_approval: z.boolean().default(true).meta({
    description:
      "Whether a held call's approval may be asked of the client's user inline (an MCP " +
      "elicitation, or an input_required result) when the client can ask; false leaves every " +
      "approval to `loom approvals`. Threat: a client that answers its own questions can " +
      "approve its own held calls",
  }),
  output_scan: z.enum(["flag", "block", "off"]).default("flag").meta({
    description:
      "What an upstream response with text that looks like instructions to the model does: " +
      "flag answers it fenced as data with a notice (default), block answers a tool error " +
      "instead, off does not scan. Threat: off hands injected instructions to the model " +
      "as plain data",
  }),
  anomaly: RuntimeAnomaly.optional(),
});
/** What people write for the runtime block. */
export type Runtime = z.input<typeof Runtime>;

/** The `agent` block. */
export const Agent = z.strictObject({
  name: z.string().min(1).max(64).regex(AGENT_NAME, {
    error: 'Agent name must be kebab-case (a-z, 0-9, single "-" between words)',
  }).meta({ description: "kebab-case, 1-64 characters" }),
  version: z.string().max(256).regex(SEMVER, {
    error: 'Version must be a semantic version such as "1.0.0"',
  }).default("1.0.0"),
  description: z.string().max(4096).default(""),
  exposes: z.array(Tool).max(2000).default([]).meta({ description: "MCP tools" }),
  http_bridge: z.array(Bridge).max(2000).default([]).meta({
    description: "One bridge per exposed tool",
  }),
  escalation_rules: z.array(EscalationRule).max(1000).default([]).meta({
    description: "First matching rule holds the call for approval",
  }),
  mcp_upstream: McpUpstream.optional().meta({
    description:
      "Gateway mode: an existing MCP server behind this agent's gate, instead of bridges",
  }),
  runtime: Runtime.prefault({}),
  provenance: Provenance.optional(),
});
/** What people write for the agent block. */
export type Agent = z.input<typeof Agent>;

/** The whole config file as a person writes it. */
export const AgentConfigInput = z.strictObject({ agent: Agent });
/** The whole config file as a person writes it (defaults not yet applied). */
export type AgentConfigInput = z.input<typeof AgentConfigInput>;
/** The config file after schema validation: still snake_case, defaults applied. */
export type AgentConfigParsed = z.output<typeof AgentConfigInput>;

/** `$id` of the generated JSON Schema. */
export const CONFIG_SCHEMA_ID = "urn:loom:schema:agent-config:v1";

let cachedJsonSchema: Record<string, unknown> | undefined;

/**
 * The JSON Schema (draft 2020-12) of the config a person writes, generated
 * from {@linkcode AgentConfigInput}. Point the yaml-language-server at it
 * (`# yaml-language-server: $schema=./loom.schema.json`) for completion and
 * validation in editors. Cross-field rules (tiers, templates, credentials) are
 * only checked by the loader.
 *
 * @returns a fresh copy of the schema object
 */
export function configJsonSchema(): Record<string, unknown> {
  cachedJsonSchema ??= {
    $id: CONFIG_SCHEMA_ID,
    title: "LOOM agent config",
    description: "One agent: the MCP tools it exposes and the HTTP bridges that serve them",
    ...z.toJSONSchema(AgentConfigInput, {
      target: "draft-2020-12",
      io: "input",
      unrepresentable: "any",
    }),
  };
  return structuredClone(cachedJsonSchema);
}
