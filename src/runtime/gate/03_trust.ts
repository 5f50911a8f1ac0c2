/**
 * Step 3, trust: the agent's tier against the tool's access mode, the
 * bridge's HTTP method and any method-override header. The loader refuses a
 * config that breaks these rules; the gate checks them again on every call,
 * so a config that reached the gate some other way still cannot exceed its
 * tier.
 *
 * @module
 */

import { decideTier } from "../../security/trust/mod.ts";
import type { CallToolResult } from "../../mcp/mod.ts";
import type { GateCall, GateParts } from "./call.ts";
import type { ToolEntry } from "./01_resolve.ts";
import { deny } from "./refuse.ts";

/**
 * Check the call's tier.
 *
 * @returns null when the tier allows it, else the refusal
 */
export function checkTier(
  parts: GateParts,
  call: GateCall,
  entry: ToolEntry,
): Promise<CallToolResult> | null {
  const tier = parts.config.runtime.trustTier;
  const decision = decideTier({
    tier,
    access: entry.tool.access,
    method: entry.bridge.method,
    headers: Object.entries(entry.bridge.headers),
  });
  if (decision.allow) return null;
  return deny(parts, call, "tier", { action: decision.action, detail: decision.reason, tier });
}
