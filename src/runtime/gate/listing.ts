/**
 * A tool as `tools/list` shows it: its name, `title`, description, input
 * schema, `outputSchema` and annotations, every one derived from the config
 * and none contradicting it. Built once per tool when the gate is built.
 *
 * The input schema is the tool's `input_schema` exactly as written (the same
 * frozen object, so `$schema`, `$defs`, `$anchor`, composition, conditionals
 * and `x-mcp-header` survive), or the schema of its `parameters`, with
 * `x-mcp-header` on each parameter that declares `mcp_header`
 * (`listedInputSchema()`, `src/security/validate/input_schema.ts`).
 *
 * Annotations are hints a client may show or act on (the MCP specification,
 * "Tool annotations"); a config cannot write them, because a hint that
 * disagreed with what the gate enforces would be a lie told to the user. They
 * come from the same fields the gate decides with: the tool's `access` (the
 * one source of read versus write: the tier check, escalation rules and tier
 * 4 approvals all read it) and the bridge's HTTP method.
 *
 * | hint              | true when                                               |
 * |-------------------|---------------------------------------------------------|
 * | `readOnlyHint`    | `access: read`                                          |
 * | `destructiveHint` | `access: write` (a read tool is never destructive)      |
 * | `idempotentHint`  | method GET, HEAD, OPTIONS, PUT or DELETE (RFC 9110 9.2.2) |
 * | `openWorldHint`   | always: every tool calls an HTTP upstream               |
 *
 * A write tool is never read-only, whatever its method (a GET that changes
 * state exists); a read tool whose bridge uses PUT, PATCH or DELETE loads
 * with a warning (`src/config/_checks.ts`).
 *
 * @module
 */

import type { BridgeSpec, HttpMethod, ToolSpec } from "../../config/mod.ts";
import { listedInputSchema } from "../../security/validate/mod.ts";
import type { McpTool } from "../../mcp/mod.ts";

/** The MCP tool annotations LOOM derives. */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/** Methods RFC 9110 (section 9.2.2) defines as idempotent. */
const IDEMPOTENT_METHODS: ReadonlySet<HttpMethod> = new Set([
  "GET",
  "HEAD",
  "OPTIONS",
  "PUT",
  "DELETE",
]);

/**
 * A tool's annotations, from its access mode and its bridge's method.
 *
 * @param tool the tool (its `access`)
 * @param bridge its bridge (its `method`)
 * @returns the four hints, all booleans
 */
export function toolAnnotations(
  tool: Pick<ToolSpec, "access">,
  bridge: Pick<BridgeSpec, "method">,
): ToolAnnotations {
  const readOnly = tool.access === "read";
  return {
    readOnlyHint: readOnly,
    destructiveHint: !readOnly,
    idempotentHint: IDEMPOTENT_METHODS.has(bridge.method),
    openWorldHint: true,
  };
}

/**
 * The `tools/list` entry of a tool: `title` and `outputSchema` only when the
 * config declares them.
 *
 * @param tool the tool
 * @param bridge its bridge
 * @returns the listing (its objects are the config's own, frozen)
 */
export function listedTool(tool: ToolSpec, bridge: BridgeSpec): McpTool {
  const listed: McpTool = {
    name: tool.name,
    ...(tool.title !== undefined ? { title: tool.title } : {}),
    description: tool.description,
    inputSchema: listedInputSchema(tool) as unknown as Record<string, unknown>,
    annotations: { ...toolAnnotations(tool, bridge) },
  };
  if (tool.outputSchema !== undefined) {
    listed.outputSchema = tool.outputSchema as unknown as Record<string, unknown>;
  }
  return listed;
}
