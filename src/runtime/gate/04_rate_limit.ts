/**
 * Step 4, rate limit: an exact sliding window per agent and tool (the tool's
 * own `rate_limit`, else the agent's). A mesh shares one limiter among its
 * agents, so the key names both.
 *
 * @module
 */

import { formatDuration } from "../../_util/units.ts";
import type { CallToolResult } from "../../mcp/mod.ts";
import type { GateCall, GateParts } from "./call.ts";
import type { ToolEntry } from "./01_resolve.ts";
import { deny } from "./refuse.ts";

/**
 * Take one call from the tool's budget.
 *
 * @returns null when the budget allows it, else the refusal (with when to retry)
 */
export function takeRate(
  parts: GateParts,
  call: GateCall,
  entry: ToolEntry,
): Promise<CallToolResult> | null {
  const limit = entry.tool.rateLimit ?? parts.config.runtime.rateLimit;
  const taken = parts.limiter.take(`${parts.config.name}\u0000${call.tool}`, limit);
  if (taken.allow) return null;
  const retryAfterMs = Math.ceil(taken.retryAfterMs);
  return deny(parts, call, "rate_limit", {
    action: "rate_limit",
    detail: `Rate limit of ${limit.limit} calls per ${formatDuration(limit.windowMs)} ` +
      `exceeded: retry in ${formatDuration(retryAfterMs)}`,
    limit: limit.limit,
    window_ms: limit.windowMs,
    retry_after_ms: retryAfterMs,
  });
}
