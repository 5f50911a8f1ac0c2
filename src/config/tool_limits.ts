/**
 * What a config may call a tool, and how much it may tell the model about it.
 *
 * - A tool name is 1-64 characters of `a-z`, `0-9` and `_` (the MCP
 *   specification allows 128 and more characters; LOOM keeps to 64 everywhere,
 *   namespaced mesh names included). A refusal names the tool and says what is
 *   wrong: empty, too long, or the first character not allowed.
 * - Names starting with `loom_` are LOOM's own (the mesh's discovery tools,
 *   `loom_search_tools` and `loom_call_tool`): a config that declares one could
 *   shadow them, so it is refused at load.
 * - A tool description is at most 4 KiB and a parameter description 1 KiB, in
 *   UTF-8 bytes: a longer text is where tool-poisoning instructions hide from
 *   a reviewer. The load-time scan (`_checks.ts`) checks both sizes, with the
 *   tool-poisoning lint, and names the field and the size.
 *
 * @module
 */

import { z } from "zod";
import { quote } from "./_path.ts";

/** Tool names: lower-case letters, digits and `_`, 1-64 characters. */
export const TOOL_NAME: RegExp = /^[a-z0-9_]{1,64}$/;
/** Tool names starting with this are LOOM's own: a config may not declare one. */
export const RESERVED_TOOL_PREFIX = "loom_";
/** Longest tool description, in UTF-8 bytes (4 KiB). */
export const MAX_TOOL_DESCRIPTION_BYTES = 4096;
/**
 * Longest parameter description (of `parameters` at any depth, and in an
 * `input_schema`), in UTF-8 bytes (1 KiB).
 */
export const MAX_PARAMETER_DESCRIPTION_BYTES = 1024;

const TOOL_NAME_RULE = "use 1-64 characters of a-z, 0-9 and _";

/**
 * A tool name for a message, quoted and shortened when long, then a space; ""
 * unless it is printable ASCII (the issue's path still says which tool it is).
 */
function shownName(name: string): string {
  return /^[\x20-\x7e]*$/.test(name) ? `${quote(name)} ` : "";
}

/**
 * Why `issue.input` is not a tool name, naming it.
 *
 * @param issue the schema issue of a value {@linkcode TOOL_NAME} refused
 */
export function toolNameError(issue: { input?: unknown }): string {
  const name = typeof issue.input === "string" ? issue.input : "";
  if (name === "") return `Tool name must not be empty: ${TOOL_NAME_RULE}`;
  const length = [...name].length;
  const shown = shownName(name);
  if (length > 64) return `Tool name ${shown}is ${length} characters long: ${TOOL_NAME_RULE}`;
  const bad = [...name].find((ch) => !/[a-z0-9_]/.test(ch)) ?? "";
  const what = bad === " "
    ? "a space"
    : /[A-Z]/.test(bad)
    ? "upper case"
    : /^[\x21-\x7e]$/.test(bad)
    ? JSON.stringify(bad)
    : `U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
  return `Tool name ${shown}contains ${what}: ${TOOL_NAME_RULE}`;
}

/** A tool name: {@linkcode TOOL_NAME}, and not one of LOOM's own (`loom_...`). */
export const ToolName = z.string().regex(TOOL_NAME, { error: toolNameError }).refine(
  (name) => !name.startsWith(RESERVED_TOOL_PREFIX),
  {
    error: (issue) =>
      `Tool name ${shownName(String(issue.input))}is reserved for LOOM's own tools ` +
      `(names starting with "${RESERVED_TOOL_PREFIX}"): rename it`,
  },
).meta({
  description: "MCP tool name, unique within the agent; names starting with " +
    `"${RESERVED_TOOL_PREFIX}" are LOOM's own`,
});

/** A tool's `description` (required; at most {@linkcode MAX_TOOL_DESCRIPTION_BYTES}). */
export const ToolDescription = z.string().min(1).meta({
  description: `What the tool does, for the model; at most ${MAX_TOOL_DESCRIPTION_BYTES} bytes ` +
    "(UTF-8). Threat: scanned at load for tool-poisoning text",
  maxLength: MAX_TOOL_DESCRIPTION_BYTES,
});

/** A parameter's `description` (at most {@linkcode MAX_PARAMETER_DESCRIPTION_BYTES}). */
export const ParameterDescription = z.string().meta({
  description: "Shown to the model in the tool's input schema; at most " +
    `${MAX_PARAMETER_DESCRIPTION_BYTES} bytes (UTF-8). Threat: scanned at load for ` +
    "tool-poisoning text",
  maxLength: MAX_PARAMETER_DESCRIPTION_BYTES,
});
