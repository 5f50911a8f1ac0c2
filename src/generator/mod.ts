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
export { isUrl, MAX_REF_FILES, MAX_SPEC_BYTES, readSpecFiles, type SpecFiles } from "./_refs.ts";
