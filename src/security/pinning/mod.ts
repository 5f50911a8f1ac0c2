/**
 * Tool-definition pinning, the defence against a "rug pull": a tool whose
 * description, schemas, annotations or upstream change after it was trusted.
 * The first definition seen of each tool is pinned in the state database
 * (`src/store/tool_pins.ts`); a later definition with another digest is kept
 * as pending, and the tool stays disabled until a person approves it with
 * `loom pin approve AGENT TOOL` (see `docs/security-controls.md`,
 * tool-definition pinning).
 *
 * - {@linkcode toolDefinition}: the canonical definition of a listed tool and
 *   its upstream; {@linkcode definitionDigest}, {@linkcode changedFields} and
 *   {@linkcode definitionText} to compare and show two of them.
 * - {@linkcode pinRecord}: the `tool_pin` audit record of a check's verdict.
 * - {@linkcode approveToolPin}: a person's approval, recorded, then applied.
 *
 * @example
 * ```ts
 * import { definitionDigest, toolDefinition } from "./mod.ts";
 * const tool = { name: "get_item", description: "Read an item", inputSchema: { type: "object" } };
 * definitionDigest(toolDefinition(tool, { method: "GET", url: "https://api.example/items" }));
 * // "sha256:..."
 * ```
 *
 * @module
 */

export {
  canonicalText,
  changedFields,
  definitionDigest,
  definitionText,
  type ListedTool,
  type ToolDefinition,
  toolDefinition,
} from "./definition.ts";
export { approveToolPin, type PinApproval, type PinApproved, pinRecord } from "./approve.ts";
