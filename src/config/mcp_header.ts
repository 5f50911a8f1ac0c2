/**
 * `x-mcp-header`: the annotation of a tool argument that MCP 2026-07-28
 * clients mirror into an `Mcp-Param-{Name}` HTTP header, so that proxies and
 * gateways can route on it without parsing the JSON body. A config writes it
 * as `mcp_header: Name` on a parameter, or as `x-mcp-header: Name` inside an
 * `input_schema` property; either way `tools/list` shows the property with
 * `"x-mcp-header": "Name"`, and the HTTP transport (`src/web/mcp_headers.ts`)
 * refuses a call whose header disagrees with its body.
 *
 * A client must drop a tool whose annotation is malformed (the MCP
 * specification, SEP-2243), so a malformed one must never load: the name is
 * non-empty, an RFC 9110 `token` (visible ASCII without separators, so no
 * space, colon or control character), unique case-insensitively within the
 * tool, and it sits on a top-level property of a primitive type: `string`,
 * `integer` or `boolean`. `number` is refused as the specification refuses
 * it (a float has no single canonical text), and so are `array`, `object` and
 * `null`. Only top-level properties are mirrored: the transport checks those
 * against the body, and a header it did not check would let a gateway and
 * LOOM act on two different values.
 *
 * @module
 */

import { HEADER_NAME } from "../_util/template.ts";
import { quote } from "./_path.ts";

/** The JSON Schema extension keyword, as `tools/list` shows it. */
export const MCP_HEADER_KEYWORD = "x-mcp-header";

/** What editors show for a parameter's `mcp_header`. */
export const MCP_HEADER_DESCRIPTION = "Header name: listed as x-mcp-header, so MCP 2026-07-28 " +
  "clients mirror this argument into an Mcp-Param-{name} HTTP header, checked against the " +
  "body (top-level string, integer or boolean parameters only)";

/** Longest header name suffix accepted. */
export const MAX_MCP_HEADER_LENGTH = 64;

/** The argument types a header may mirror. */
export const MCP_HEADER_TYPES: readonly string[] = ["string", "integer", "boolean"];

/**
 * Why a header name is not acceptable, or undefined.
 *
 * @param name the value written
 * @returns the end of a sentence, or undefined when it is a valid name
 */
export function mcpHeaderNameProblem(name: unknown): string | undefined {
  if (typeof name !== "string") return "must be a string";
  if (name.length === 0) return "must not be empty";
  if (name.length > MAX_MCP_HEADER_LENGTH) {
    return `must be at most ${MAX_MCP_HEADER_LENGTH} characters long`;
  }
  if (!HEADER_NAME.test(name)) {
    return "must be an RFC 9110 token: ASCII letters, digits and !#$%&'*+-.^_`|~ only " +
      "(no space, colon, control or non-ASCII character)";
  }
  return undefined;
}

/**
 * Why a property of type `type` cannot carry a header, or undefined.
 *
 * @param type the property's declared `type` (a name, a list, or absent)
 * @returns the end of a sentence, or undefined when it may
 */
export function mcpHeaderTypeProblem(type: unknown): string | undefined {
  if (typeof type === "string" && MCP_HEADER_TYPES.includes(type)) return undefined;
  const shown = type === undefined
    ? "a property that declares no single type"
    : `type ${JSON.stringify(type)}`;
  return `applies only to a property of type string, integer or boolean, not ${shown}` +
    (type === "number" ? " (a number has no single text form; use integer or string)" : "");
}

/**
 * Track header names within one tool, case-insensitively.
 *
 * @returns `seen(name)`: undefined the first time a name is seen, else the
 *   message of a duplicate
 */
export function mcpHeaderNames(): (name: string) => string | undefined {
  const seen = new Map<string, string>();
  return (name) => {
    const lower = name.toLowerCase();
    const first = seen.get(lower);
    if (first !== undefined) {
      return `Duplicate MCP header name ${quote(name)}: ${quote(first)} already uses it ` +
        "(header names are case-insensitive)";
    }
    seen.set(lower, name);
    return undefined;
  };
}
