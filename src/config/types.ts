/**
 * Resolved config types: what every module past `config/load.ts` sees.
 * Defaults are applied, durations are milliseconds, sizes are bytes, names are
 * camelCase. What people write (snake_case YAML) is `AgentConfigInput` in
 * `schema.ts`.
 *
 * @module
 */

import type { AnomalySpec } from "./anomaly.ts";
import type { CompositeSpec } from "./composite.ts";

export type { AnomalySpec, CompositeSpec };

/** JSON types a tool parameter may declare. */
export type ParamType = "string" | "integer" | "number" | "boolean" | "array" | "object";

/** Injection categories a detector knows and a parameter may `allow`. */
export type InjectionCategory = "shell" | "path" | "sql" | "template" | "prompt";

/** Every injection category, in a stable order. */
export const INJECTION_CATEGORIES: readonly InjectionCategory[] = [
  "shell",
  "path",
  "sql",
  "template",
  "prompt",
];

/** One declared tool parameter (or a nested item/property of one). */
export interface ParamSpec {
  type: ParamType;
  /** Default true at the top level of `parameters`. */
  required: boolean;
  description?: string;
  default?: unknown;
  enum?: readonly unknown[];
  minLength?: number;
  /** For strings, `DEFAULT_STRING_MAX_LENGTH` (10,000, `param_rules.ts`) when not declared. */
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  /** A regular expression (ECMAScript, unicode mode) the whole string must match. */
  pattern?: string;
  /** Element schema of an array. */
  items?: ParamSpec;
  /** Property schemas of an object (undeclared properties are rejected). */
  properties?: Readonly<Record<string, ParamSpec>>;
  /** Injection categories this parameter legitimately carries. */
  allow: readonly InjectionCategory[];
  /**
   * `mcp_header`: listed as `x-mcp-header`, so MCP 2026-07-28 clients mirror
   * the argument into an `Mcp-Param-{name}` HTTP header (top-level primitive
   * parameters only; `mcp_header.ts`).
   */
  mcpHeader?: string;
}

/**
 * A tool's `input_schema`: a JSON Schema 2020-12 object schema, exactly as
 * written (the loader's rules are in `input_schema.ts`).
 */
export type InputSchemaSpec = Readonly<Record<string, unknown>>;

/** `read` tools observe; `write` tools change upstream state (not on tier 1). */
export type AccessMode = "read" | "write";

/** A sliding-window rate limit. */
export interface RateLimitSpec {
  /** Calls allowed in any window. */
  limit: number;
  /** Window length in milliseconds (60,000 for `per_minute`). */
  windowMs: number;
}

/** JSON types an output schema may name. */
export type OutputType = "object" | "array" | "string" | "number" | "integer" | "boolean" | "null";

/**
 * A tool's `output_schema`: a JSON Schema in the subset LOOM checks
 * (`output_schema.ts`), keys spelled as JSON Schema spells them. Listed as
 * the tool's `outputSchema`; the top level is always `type: object`.
 */
export interface OutputSchemaSpec {
  /** A type, or a list of types; absent: any JSON value. */
  type?: OutputType | readonly OutputType[];
  description?: string;
  /** The only values allowed (compared as canonical JSON). */
  enum?: readonly unknown[];
  /** Properties an object must have. */
  required?: readonly string[];
  /** Property name -> schema. */
  properties?: Readonly<Record<string, OutputSchemaSpec>>;
  /** Schema of every array element. */
  items?: OutputSchemaSpec;
  /** Other properties: allowed (true, the default), refused (false), or held to a schema. */
  additionalProperties?: boolean | OutputSchemaSpec;
}

/** One exposed MCP tool. */
export interface ToolSpec {
  name: string;
  /** A short display name for people (listed as `title`). */
  title?: string;
  description: string;
  access: AccessMode;
  /** Declared parameters; empty when the tool declares an `inputSchema` instead. */
  parameters: Readonly<Record<string, ParamSpec>>;
  /**
   * The arguments as a verbatim JSON Schema (`input_schema`), listed as
   * written and enforced by a JSON Schema 2020-12 validator; excludes `parameters`.
   */
  inputSchema?: InputSchemaSpec;
  /** Per-tool override of `runtime.rate_limit`. */
  rateLimit?: RateLimitSpec;
  /** What the result (after the bridge's `response_path`) must match; listed as `outputSchema`. */
  outputSchema?: OutputSchemaSpec;
  /** Schedules on which `loom mesh` calls the tool itself (`triggers.ts`); absent when none. */
  triggers?: readonly TriggerSpec[];
  /** A composite tool's steps and LLM step (`composite.ts`); absent for any other tool. */
  composite?: CompositeSpec;
}

/** One schedule of a tool (`triggers`): `loom mesh` calls it through its gate. */
export interface TriggerSpec {
  /** A five-field cron expression, checked at load (`src/_util/cron.ts`). */
  cron: string;
  /** An http(s) URL that receives each run's result as a JSON POST, or null. */
  webhook: string | null;
}

/** HTTP methods a bridge may use. */
export type HttpMethod = "GET" | "HEAD" | "OPTIONS" | "POST" | "PUT" | "PATCH" | "DELETE";

/** One HTTP bridge: how a tool call becomes a request. */
export interface BridgeSpec {
  toolName: string;
  method: HttpMethod;
  /** URL template; scheme, host and port are literal (checked at load). */
  url: string;
  /** Tool parameter name -> outgoing query key. */
  queryParams: Readonly<Record<string, string>>;
  /** Header name -> value template. */
  headers: Readonly<Record<string, string>>;
  /** JSON body template, or null for no body. */
  bodyTemplate: unknown;
  /** Dotted path into a JSON response, or null for the whole body. */
  responsePath: string | null;
  /** Per-request timeout; the call as a whole is still bounded by `runtime.maxExecutionTimeMs`. */
  timeoutMs: number | null;
}

/** One escalation rule (`docs/design.md`, Escalation and approvals); first match wins. */
export interface EscalationRuleSpec {
  name: string;
  reason: string;
  /** Glob over tool names (`*`, `?`), or null for any tool. */
  tool: string | null;
  access: AccessMode | null;
  paramGt: Readonly<Record<string, number>>;
  paramEq: Readonly<Record<string, string>>;
  paramContains: Readonly<Record<string, string>>;
}

/** What happens when an injection pattern matches. */
export type InjectionMode = "block" | "audit" | "off";

/** Where an agent's network code runs. */
export type SandboxMode = "deno" | "docker" | "none";

/**
 * What a tier 1 call does while the audit log cannot be written: `refuse`
 * (the default) or `allow` it to run unrecorded. Calls of tier 2 and above
 * never run without a durable intent record, whatever this says.
 */
export type AuditFailureMode = "refuse" | "allow";

/**
 * What the output scan does with an upstream response that contains text that
 * looks like instructions to the model: `flag` answers it fenced as data with
 * a notice (the default), `block` answers a tool error instead, `off` does not
 * scan. Threat: `off` hands such text to the model as if it were plain data.
 */
export type OutputScanMode = "flag" | "block" | "off";

/** Trust tier: 1 observer, 2 worker, 3 operator, 4 privileged. */
export type TrustTier = 1 | 2 | 3 | 4;

/** Runtime limits and policies, defaults applied. */
export interface RuntimeSpec {
  trustTier: TrustTier;
  /** Bounds the whole call, upstream included. Default 30 s. */
  maxExecutionTimeMs: number;
  /** Cap on decompressed response bytes. Default 1 MiB. */
  maxResponseBytes: number;
  /** Default per-tool limit. Default 120 per minute. */
  rateLimit: RateLimitSpec;
  injection: InjectionMode;
  sandbox: SandboxMode;
  /**
   * Private or special networks (IPv4 or IPv6 CIDR) this config names on purpose.
   * Threat: without this list, a bridge host that resolves (or redirects) into
   * a private range is refused, which blocks SSRF into the operator's network.
   */
  allowNetworks: readonly string[];
  /**
   * Tier 1 calls while the audit log fails. Threat: `allow` lets reads run
   * with no record of each (only a count, written once the log is back).
   */
  auditFailure: AuditFailureMode;
  /** Whether held calls may be approved inline by the client's user (`inline_approval`). */
  inlineApproval: boolean;
  /**
   * What text in an upstream response that looks like instructions to the
   * model does (`output_scan`). Default `flag`.
   */
  outputScan: OutputScanMode;
  /** Anomaly detection's thresholds and alerts (`anomaly`; defaults when absent). */
  anomaly: AnomalySpec;
}

/** Who produced a config: a person (the default), an importer, or a model. */
export type ProvenanceSource = "human" | "imported" | "ai-generated";

/**
 * A config's `provenance`. An `ai-generated` config serves no tool until a
 * person other than its submitter approved its exact bytes
 * (`src/store/config_approvals.ts`, `src/runtime/gate/quarantine.ts`).
 */
export interface ProvenanceSpec {
  source: ProvenanceSource;
  /** What produced it (`ollama/llama3.1`), when the config says; null otherwise. */
  generator: string | null;
}

/** A loaded, validated agent config. */
export interface AgentConfig {
  name: string;
  version: string;
  description: string;
  tools: readonly ToolSpec[];
  bridges: readonly BridgeSpec[];
  escalationRules: readonly EscalationRuleSpec[];
  /** Gateway mode: the MCP server behind this agent's gate; null for HTTP bridges. */
  mcpUpstream: McpUpstreamSpec | null;
  runtime: RuntimeSpec;
  /** Who produced it; `{ source: "human", generator: null }` when the config does not say. */
  provenance: ProvenanceSpec;
  /** Where it came from: the file path and the SHA-256 (hex) of its bytes. */
  source: { path: string; digest: string };
}

/** One upstream tool a gateway config chose (`mcp_upstream.tools`). */
export interface UpstreamToolChoice {
  /** The upstream's own name. */
  name: string;
  /** The name LOOM lists; the upstream's own when the config did not rename it. */
  as: string;
  /** Null: read only when the upstream marks the tool `readOnlyHint`. */
  access: AccessMode | null;
  rateLimit?: RateLimitSpec;
}

/** Deno permissions of a module upstream (`mcp_upstream.permissions`). */
export interface UpstreamPermissionsSpec {
  read: readonly string[];
  write: readonly string[];
  net: readonly string[];
  /** The names of `env` and `envSecrets` are added when the flags are made. */
  env: readonly string[];
  sys: readonly string[];
}

/** `agent.mcp_upstream`, resolved: exactly one of `command` and `url`. */
export interface McpUpstreamSpec {
  /** stdio: argv, never a shell line. */
  command: readonly string[] | null;
  /** Streamable HTTP endpoint. */
  url: string | null;
  era: "auto" | "2025" | "2026-07-28";
  /** HTTP: header templates (`{{secret:NAME}}` placeholders). */
  headers: Readonly<Record<string, string>>;
  /** stdio: literal, non-secret environment. */
  env: Readonly<Record<string, string>>;
  /** stdio: environment variable -> secret name. */
  envSecrets: Readonly<Record<string, string>>;
  cwd: string | null;
  permissions: UpstreamPermissionsSpec;
  /** Null: every upstream tool (write tools only from tier 2). */
  tools: readonly UpstreamToolChoice[] | null;
  allowSampling: boolean;
  allowElicitation: boolean;
  startTimeoutMs: number;
}
