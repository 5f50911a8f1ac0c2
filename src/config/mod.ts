/**
 * Agent configs: the YAML schema people write, the loader that validates and
 * resolves it (with `file:line:column` errors and "did you mean" hints), the
 * load-time security checks, the template syntax shared with the bridge, the
 * value rules of a tool parameter shared with the gate (`param_rules.ts`), the
 * trust-tier table, the rules and validator of a tool's verbatim JSON Schema
 * `input_schema` (`input_schema.ts`, `input_check.ts`, the owner of
 * `@cfworker/json-schema`), and the starter config of `loom init`.
 *
 * Everything past this module sees only the resolved {@linkcode AgentConfig}:
 * camelCase, durations in milliseconds, sizes in bytes, defaults applied.
 *
 * @example
 * ```ts
 * import { parseConfig, starterConfig } from "./mod.ts";
 *
 * const warnings: string[] = [];
 * const config = parseConfig(starterConfig("weather-bridge"), {
 *   path: "weather-bridge.yaml",
 *   onWarning: (w) => warnings.push(w.message),
 * });
 * console.log(config.tools[0].name, config.runtime.maxExecutionTimeMs); // "search_items" 30000
 * ```
 *
 * @module
 */

export {
  loadConfig,
  type LoadOptions,
  MAX_CONFIG_BYTES,
  parseConfig,
  type ParseOptions,
  type WarningHandler,
} from "./load.ts";
export {
  AGENT_NAME,
  AgentConfigInput,
  CONFIG_SCHEMA_ID,
  configJsonSchema,
  HEADER_NAME,
  HTTP_METHODS,
  TOOL_NAME,
  toolGlobRegExp,
} from "./schema.ts";
export { starterConfig } from "./init_template.ts";
export { type LocatedYamlData, parseYamlData, parseYamlDataLocated } from "./yaml_data.ts";
export {
  loadMeshFile,
  MAX_TOOL_PATTERNS,
  MESH_FILE_NAMES,
  type MeshFile,
  type MeshProfile,
  parseMeshFile,
  PROFILE_NAME,
  TOOL_PATTERN,
  toolPatternProblem,
} from "./mesh_file.ts";
export {
  compileOutputSchema,
  OUTPUT_SCHEMA_KEYWORDS,
  OUTPUT_TYPES,
  type OutputValidator,
} from "./output_schema.ts";
export {
  INPUT_SCHEMA_KEYWORDS,
  inputSchemaStringCap,
  JSON_SCHEMA_2020_12,
  MAX_INPUT_SCHEMA_DEPTH,
  MAX_INPUT_SCHEMA_NODES,
} from "./input_schema.ts";
export {
  compileInputSchema,
  type InputSchemaFailure,
  type InputSchemaValidator,
} from "./input_check.ts";
export { MCP_HEADER_KEYWORD, MCP_HEADER_TYPES } from "./mcp_header.ts";
export {
  anchorPattern,
  arrayLengthProblem,
  arrayMaxItems,
  codePointsExceed,
  DEFAULT_STRING_MAX_LENGTH,
  enumProblem,
  MAX_ARRAY_ITEMS,
  numberProblem,
  paramValueProblem,
  patternProblem,
  stringMaxLength,
  stringProblem,
  TYPE_PROBLEM,
} from "./param_rules.ts";
export {
  hasPlaceholder,
  PARAM_NAME,
  parseTemplate,
  SECRET_NAME,
  type TemplatePart,
} from "../_util/template.ts";
export {
  METHOD_OVERRIDE_HEADERS,
  methodAllowed,
  minimumTier,
  TIER_METHODS,
  TIER_NAMES,
} from "./tiers.ts";
export {
  findCredential,
  findHeaderCredential,
  findPoisoning,
  type OwnNames,
  ownNames,
} from "./_lint.ts";
export { INJECTION_CATEGORIES } from "./types.ts";
export { MAX_TRIGGERS_PER_TOOL, triggerArguments } from "./triggers.ts";
export { type AnomalySpec, DEFAULT_ANOMALY } from "./anomaly.ts";
export {
  COMPOSITE_MIN_TIER,
  type CompositeLlmSpec,
  type CompositeSpec,
  type CompositeStepSpec,
  STEP_PLACEHOLDER,
} from "./composite.ts";
export type {
  AccessMode,
  AgentConfig,
  AuditFailureMode,
  BridgeSpec,
  EscalationRuleSpec,
  HttpMethod,
  InjectionCategory,
  InjectionMode,
  InputSchemaSpec,
  McpUpstreamSpec,
  OutputScanMode,
  OutputSchemaSpec,
  OutputType,
  ParamSpec,
  ParamType,
  ProvenanceSource,
  ProvenanceSpec,
  RateLimitSpec,
  RuntimeSpec,
  SandboxMode,
  ToolSpec,
  TriggerSpec,
  TrustTier,
  UpstreamPermissionsSpec,
  UpstreamToolChoice,
} from "./types.ts";
export { isDenoModule, listedUpstreamName, upstreamInputSchema } from "./mcp_upstream.ts";
