/**
 * Parse a YAML (or JSON) document that is not an agent config, such as an
 * OpenAPI document for `loom import openapi`, with the same safe rules as
 * configs (`_yaml.ts`: YAML 1.2 core schema, no custom tags, unique keys,
 * bounded aliases and nesting). The `yaml` package stays owned by this folder.
 *
 * @example
 * ```ts
 * import { parseYamlData } from "./yaml_data.ts";
 * parseYamlData("openapi: 3.1.0\n", "spec.yaml"); // { openapi: "3.1.0" }
 * ```
 *
 * @module
 */

import { ConfigError, type ConfigIssue } from "../errors.ts";
import { parseYaml } from "./_yaml.ts";

/**
 * The plain value of a YAML document.
 *
 * @param text the document's text
 * @param file the file it came from, for messages
 * @returns the parsed value (objects, arrays, strings, numbers, booleans, null)
 * @throws {ConfigError} with every parse problem, positioned
 */
export function parseYamlData(text: string, file: string): unknown {
  const parsed = parseYaml(text);
  if (parsed.ok) return parsed.data;
  throw new ConfigError(parsed.problems.map((p) => ({ file, ...p })));
}

/** A parsed YAML document whose paths can be positioned, for files other than configs. */
export interface LocatedYamlData {
  /** The document's plain value. */
  data: unknown;
  /**
   * A problem at a document path (`["services", 0, "url"]`), positioned at
   * its value (or its key with `key: true`; the nearest ancestor when missing).
   */
  issue(path: readonly (string | number)[], message: string, key?: boolean): ConfigIssue;
}

/**
 * Like {@linkcode parseYamlData}, keeping the positions, so a caller that
 * checks the value's shape (an inventory of `loom evolve`) can report
 * `file:line:column` problems through {@linkcode ConfigError}.
 *
 * @param text the document's text
 * @param file the file it came from, for messages
 * @throws {ConfigError} with every parse problem, positioned
 */
export function parseYamlDataLocated(text: string, file: string): LocatedYamlData {
  const parsed = parseYaml(text);
  if (!parsed.ok) throw new ConfigError(parsed.problems.map((p) => ({ file, ...p })));
  const source = parsed.source;
  return {
    data: parsed.data,
    issue: (path, message, key) => ({ file, ...source.at(path, message, key) }),
  };
}
