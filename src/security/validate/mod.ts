/**
 * Tool input validation and injection screening: gate step 2 (`docs/security-controls.md` §1);
 * and the output scan of upstream responses for injected instructions ({@linkcode OutputScan}).
 *
 * - {@linkcode toolInputSchema} publishes a tool's parameters as its MCP
 *   `inputSchema` (JSON Schema 2020-12, closed objects).
 * - {@linkcode validateArguments} enforces that schema on a call's arguments
 *   (coercing numeric and boolean strings, applying defaults) and screens
 *   every string with {@linkcode detectInjection}. It returns a value, never
 *   throws, for anything a caller can send.
 * - A tool may declare a verbatim JSON Schema (`input_schema`) instead:
 *   {@linkcode listedInputSchema} lists it as written, and
 *   {@linkcode validateSchemaArguments} enforces it with the JSON Schema
 *   2020-12 validator compiled by {@linkcode compileToolInputSchema}, after
 *   the same bounds and injection screening.
 *
 * Whole-string `pattern` semantics: LOOM matches a parameter's pattern against
 * the whole value (`^(?:pattern)$`, unicode mode) and publishes it anchored,
 * so authors need not anchor it.
 *
 * @example
 * ```ts
 * import { toolInputSchema, validateArguments } from "./mod.ts";
 *
 * const tool = {
 *   name: "query_prometheus",
 *   description: "Run a PromQL query",
 *   access: "read" as const,
 *   parameters: {
 *     query: { type: "string" as const, required: true, maxLength: 2000, allow: [] },
 *     limit: { type: "integer" as const, required: false, default: 10, allow: [] },
 *   },
 * };
 *
 * toolInputSchema(tool).required; // ["query"]
 *
 * const ok = validateArguments(tool, { query: "sum by (job) (up)" }, { injection: "block" });
 * if (!ok.ok || ok.value.limit !== 10) throw new Error("expected the default to apply");
 *
 * const bad = validateArguments(tool, { query: "up; rm -rf /" }, { injection: "block" });
 * if (bad.ok || bad.error.field !== "query") throw new Error("expected a refusal");
 * ```
 *
 * @module
 */

export {
  type JsonSchema,
  type JsonSchemaObject,
  listedInputSchema,
  toolInputSchema,
} from "./input_schema.ts";
export {
  type PendingPatterns,
  settlePatterns,
  validateArguments,
  type ValidateArgumentsOptions,
  type ValidationOutcome,
} from "./validate_arguments.ts";
export {
  type CompiledInputSchema,
  compileToolInputSchema,
  validateSchemaArguments,
} from "./schema_arguments.ts";
export {
  PATTERN_DEADLINE_MS,
  type PatternCheck,
  type PatternVerdict,
  PatternWorker,
} from "./pattern_worker.ts";
export {
  detectInjection,
  type DetectInjectionOptions,
  INJECTION_RULES,
  type InjectionFinding,
} from "./injection.ts";
export { OUTPUT_SCAN_RULES, OutputScan, scanOutputText } from "./output_scan.ts";
export * from "./_limits.ts";
