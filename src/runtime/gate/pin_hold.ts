/**
 * Tools held because their definition changed since it was pinned (the
 * rug-pull defence; the pins are `src/store/tool_pins.ts`, their checks
 * the mesh's, `src/app/mesh_pins.ts`). While a tool is held its calls are
 * tool errors naming what changed and the commands that review and approve
 * it, recorded like any refusal (`trust_violation`, action `tool_changed`);
 * nothing reaches the upstream. The gate only keeps the holds it is given.
 *
 * @module
 */

import type { CallToolResult } from "../../mcp/mod.ts";
import type { GateCall, GateParts } from "./call.ts";
import { deny } from "./refuse.ts";

/** Why a tool is held: the definition seen, the one pinned, and what differs. */
export interface PinHold {
  /** `sha256:<hex>` of the definition served now (waiting for approval). */
  digest: string;
  /** `sha256:<hex>` of the pinned (approved) definition. */
  pinnedDigest: string;
  /** The top-level fields that differ (`description`, `inputSchema`, ...). */
  changed: readonly string[];
}

/**
 * Refuse a call of a held tool.
 *
 * @returns the tool error
 */
export function refuseChangedTool(
  parts: GateParts,
  call: GateCall,
  hold: PinHold,
): Promise<CallToolResult> {
  const agent = parts.config.name;
  return deny(parts, call, "tool_changed", {
    action: "tool_changed",
    detail: `Tool "${call.tool}" is disabled: its definition changed since it was approved ` +
      `(${hold.changed.join(", ")}). A person reviews it with "loom pin diff ${agent} ` +
      `${call.tool}" and approves it with "loom pin approve ${agent} ${call.tool}"`,
    digest: hold.digest,
    pinned_digest: hold.pinnedDigest,
    changed: [...hold.changed],
  });
}
