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

import { ConfigError } from "../errors.ts";
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
