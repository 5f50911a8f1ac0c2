/**
 * OAuth scopes of a tool call (`docs/security-controls.md`, OAuth): the
 * policy the gate applies at step 3 to a caller the HTTP transport
 * authenticated by an access token (`--auth oauth`). A read tool needs
 * `loom:read` or `loom:write` (write implies read); a write tool needs
 * `loom:write`. The tool's `access` from the config is the only input on the
 * tool's side, as for the tier check beside it.
 *
 * Pure decisions, returned as values: `src/web/oauth.ts` uses the same
 * names for its metadata and its 403 `insufficient_scope`, and the gate
 * audits a refusal as `trust_violation` with action `insufficient_scope`.
 *
 * @module
 */

import type { AccessMode } from "../../config/mod.ts";

/** The scopes LOOM defines. */
export const LOOM_SCOPES = Object.freeze({ read: "loom:read", write: "loom:write" } as const);

/** The decision; `scope` is the scope the caller lacks. */
export type ScopeDecision =
  | { allow: true }
  | { allow: false; reason: string; action: "insufficient_scope"; scope: string };

/**
 * The scope policy of a tool call: a read tool needs `loom:read` or
 * `loom:write` (write implies read); a write tool needs `loom:write`.
 *
 * @param access the tool's access (`read` or `write`, from its config)
 * @param scopes the caller's scopes
 * @returns true when the call may proceed
 */
export function scopeAllows(access: AccessMode, scopes: ReadonlySet<string>): boolean {
  if (scopes.has(LOOM_SCOPES.write)) return true;
  return access === "read" && scopes.has(LOOM_SCOPES.read);
}

/**
 * The scope a tool's access needs at least.
 *
 * @param access the tool's access
 * @returns `loom:read` for a read tool, else `loom:write`
 */
export function requiredScope(access: AccessMode): string {
  return access === "read" ? LOOM_SCOPES.read : LOOM_SCOPES.write;
}

/**
 * Decide whether a caller's scopes allow a call to a tool.
 *
 * @param tool the tool's name, for the reason
 * @param access the tool's access
 * @param scopes the caller's scopes
 * @returns `{ allow: true }`, or the refusal naming the missing scope
 *
 * @example
 * ```ts
 * import { decideScope } from "./scopes.ts";
 * decideScope("delete_item", "write", new Set(["loom:read"]));
 * // { allow: false, action: "insufficient_scope", scope: "loom:write",
 * //   reason: 'Insufficient scope: the write tool "delete_item" needs the loom:write scope' }
 * ```
 */
export function decideScope(
  tool: string,
  access: AccessMode,
  scopes: ReadonlySet<string>,
): ScopeDecision {
  if (scopeAllows(access, scopes)) return { allow: true };
  const scope = requiredScope(access);
  const kind = access === "read" ? "read" : "write";
  return {
    allow: false,
    reason: `Insufficient scope: the ${kind} tool "${tool}" needs the ${scope} scope`,
    action: "insufficient_scope",
    scope,
  };
}
