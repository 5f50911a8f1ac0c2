/**
 * Configs generated from other descriptions of an API. Today: OpenAPI 3.0,
 * 3.1 and Swagger 2.0 documents (`loom import openapi`), read with their
 * relative `$ref` files, one tool per chosen operation, validated with the
 * config loader before anything is written.
 *
 * This folder may import only `src/config/`, `src/llm/`, `src/net/`,
 * `errors.ts` and `_util/` (`scripts/lint_plugin.ts`).
 *
 * @example
 * ```ts
 * import { importOpenApi, readSpecFiles } from "./mod.ts";
 * const spec = await readSpecFiles("petstore.yaml");
 * const result = importOpenApi(spec, { tags: ["pets"] });
 * console.log(result.text, result.skipped, result.secrets);
 * ```
 *
 * @module
 */

export {
  documentBaseUrl,
  importOpenApi,
  type ImportSkip,
  neededTier,
  type OpenApiImport,
  type OpenApiImportOptions,
} from "./openapi.ts";
export {
  isUrl,
  MAX_REF_FILES,
  MAX_SPEC_BYTES,
  readSpecFiles,
  type ReadSpecOptions,
  type SpecFiles,
} from "./_refs.ts";
export {
  FETCH_TIMEOUT_MS,
  fetchDocument,
  type FetchedText,
  fetchText,
  type FetchTextOptions,
  MAX_FETCH_BYTES,
  MAX_REDIRECTS,
  parseFetchUrl,
  shownUrl,
} from "./fetch.ts";
export {
  type AnswerRules,
  ATTEMPT_TIMEOUT_MS,
  type AttemptReport,
  checkAnswer,
  DEFAULT_RETRIES,
  generateConfig,
  type Generated,
  type GenerateOptions,
  generationSchema,
  hostOf,
  hostsNamedIn,
  keysOutsideSubset,
  MAX_PROBLEMS_SENT,
  type NotGenerated,
} from "./generate.ts";
export {
  agentSlug,
  type Coverer,
  coverersOf,
  generateCommandLine,
  hostPortOf,
  importCommandLine,
  type Match,
  matchService,
  MAX_SERVICES,
  oneLine,
  OPENAPI_PATHS,
  PACK_ALIASES,
  parseInventory,
  parseTargets,
  type Probe,
  PROBE_PARALLEL,
  PROBE_TIMEOUT_MS,
  type ProbeOptions,
  probeServices,
  type Service,
  type ServiceList,
  shellQuote,
} from "./evolve.ts";
export {
  type ApiSummary,
  findOpenApi,
  type FindOpenApiOptions,
  type FoundOpenApi,
  summarizeOpenApi,
} from "./discover.ts";
