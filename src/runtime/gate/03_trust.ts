/**
 * Step 3, trust: the caller's scopes, then the agent's tier against the
 * tool's access mode, the bridge's HTTP method and any method-override
 * header.
 *
 * - Scopes: a caller the HTTP transport authenticated by an OAuth access
 *   token (`ctx.principal`, `--auth oauth`) needs `loom:write` for a write
 *   tool and `loom:read` or `loom:write` for a read tool (`decideScope()`,
 *   `src/security/trust/scopes.ts`). The transport admits any token with
 *   either scope; this is where a `loom:read` token meets a write tool. A
 *   call without a principal (stdio, static bearer tokens, no auth) has no
 *   scopes to check.
 * - Tier: the loader refuses a config that breaks these rules; the gate
 *   checks them again on every call, so a config that reached the gate some
 *   other way still cannot exceed its tier.
 *
 * Both read the tool's `access` from the config, the one source of
 * read/write. A refusal is a `trust_violation` of kind `tier` (action
 * `insufficient_scope` for scopes), and the upstream sees nothing.
 *
 * @module
 */

import type { HttpMethod } from "../../config/mod.ts";
import { decideScope, decideTier } from "../../security/trust/mod.ts";
import type { CallToolResult } from "../../mcp/mod.ts";
import type { GateCall, GateParts } from "./call.ts";
import type { ToolEntry } from "./01_resolve.ts";
import { deny } from "./refuse.ts";

/**
 * Check the caller's scopes (when the transport authenticated one) and the
 * call's tier.
 *
 * @returns null when both allow it, else the refusal
 */
export function checkTier(
  parts: GateParts,
  call: GateCall,
  entry: ToolEntry,
): Promise<CallToolResult> | null {
  const principal = call.ctx.principal;
  if (principal !== undefined && principal !== null) {
    const scoped = decideScope(call.tool, entry.tool.access, principal.scopes);
    if (!scoped.allow) {
      return deny(parts, call, "tier", {
        action: scoped.action,
        detail: scoped.reason,
        scope: scoped.scope,
      });
    }
  }
  const tier = parts.config.runtime.trustTier;
  const decision = decideTier({
    tier,
    access: entry.tool.access,
    ...tierTarget(entry),
  });
  if (decision.allow) return null;
  return deny(parts, call, "tier", { action: decision.action, detail: decision.reason, tier });
}

/**
 * What the tier decision weighs besides access: a bridge's method and
 * headers; for an upstream tool, which has neither, the method its access
 * stands for (a read as GET, a write as POST), so access alone decides.
 */
function tierTarget(entry: ToolEntry): { method: HttpMethod; headers?: [string, string][] } {
  if (entry.target.kind === "bridge") {
    const bridge = entry.target.bridge;
    return { method: bridge.method, headers: Object.entries(bridge.headers) };
  }
  return { method: entry.tool.access === "read" ? "GET" : "POST" };
}
