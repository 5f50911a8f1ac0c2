/**
 * Trust tiers (`docs/security-controls.md` §1): which HTTP methods and tool access modes an
 * agent's tier permits. Checked at load and again on every call; a violation
 * is always a refusal, never a warning.
 *
 * | tier | name       | HTTP methods            | write tools | method override |
 * |------|------------|-------------------------|-------------|-----------------|
 * | 1    | observer   | GET HEAD OPTIONS        | no          | no              |
 * | 2    | worker     | + POST PUT PATCH        | yes         | no              |
 * | 3    | operator   | + DELETE                | yes         | to an allowed method |
 * | 4    | privileged | all                     | yes (held for approval) | to an allowed method |
 *
 * Method-override headers matter because Deno's permissions cannot express
 * methods: a T1 `GET` carrying `X-HTTP-Method-Override: DELETE` deletes on
 * many frameworks (`docs/security-requirements.md`, TIER-3), so below T3 their presence
 * alone is refused.
 *
 * @module
 */

import {
  type AccessMode,
  type HttpMethod,
  METHOD_OVERRIDE_HEADERS,
  TIER_METHODS,
  TIER_NAMES,
  type TrustTier,
} from "../../config/mod.ts";

// The table lives in config/ (the loader checks configs against it); the gate
// checks calls against the same table. Frozen copies, so no caller can widen it.
const METHODS: Readonly<Record<TrustTier, readonly HttpMethod[]>> = Object.freeze({
  1: Object.freeze([...TIER_METHODS[1]]),
  2: Object.freeze([...TIER_METHODS[2]]),
  3: Object.freeze([...TIER_METHODS[3]]),
  4: Object.freeze([...TIER_METHODS[4]]),
});

const NONE: readonly HttpMethod[] = Object.freeze([]);

/** Override header names, lower case (refused below tier 3). */
const OVERRIDES: ReadonlySet<string> = new Set(METHOD_OVERRIDE_HEADERS);

/** Human names of the tiers (re-exported from config/). */
export { METHOD_OVERRIDE_HEADERS, TIER_NAMES };

/** What {@linkcode decideTier} is asked about. */
export interface TierRequest {
  /** The agent's trust tier. */
  tier: TrustTier;
  /** The tool's access mode. */
  access: AccessMode;
  /** The bridge's HTTP method. */
  method: HttpMethod;
  /** The outgoing request headers (rendered), if already known. */
  headers?: Iterable<[string, string]> | Headers | Readonly<Record<string, string>>;
}

/** The decision; `action` is the audit action name (`http_DELETE`, `write_tool`, `method_override`). */
export type TierDecision =
  | { allow: true }
  | { allow: false; reason: string; action: string };

/**
 * The HTTP methods a tier may use. An unknown tier gets none.
 *
 * @param tier a trust tier
 * @returns the allowed methods, in a stable order (frozen)
 */
export function allowedMethods(tier: TrustTier): readonly HttpMethod[] {
  return Object.hasOwn(METHODS, tier) ? METHODS[tier] : NONE;
}

/**
 * Whether a tier may call tools of other agents (composite tools, not built yet).
 *
 * @param tier a trust tier
 * @returns true for tiers 3 and 4
 */
export function allowsAgentCalls(tier: TrustTier): boolean {
  return tier === 3 || tier === 4;
}

/**
 * Whether a call needs human approval before it runs: every write call of a
 * tier 4 (privileged) agent.
 *
 * @param tier the agent's trust tier
 * @param access the tool's access mode
 * @returns true when the call must be held for review
 */
export function requiresApproval(tier: TrustTier, access: AccessMode): boolean {
  return tier === 4 && access !== "read";
}

const METHOD_TOKEN = /^[A-Z]{1,16}$/;

/** A method name safe to put in a message or an action, or "UNKNOWN". */
function shownMethod(method: string): string {
  return METHOD_TOKEN.test(method) ? method : "UNKNOWN";
}

function label(tier: TrustTier): string {
  return `Tier ${tier} (${TIER_NAMES[tier]})`;
}

function headerEntries(
  headers: NonNullable<TierRequest["headers"]>,
): Iterable<[string, string]> {
  if (headers instanceof Headers) return headers;
  if (Symbol.iterator in headers) return headers as Iterable<[string, string]>;
  return Object.entries(headers);
}

/**
 * Decide whether a tier permits a call: the tool's access mode, the bridge's
 * HTTP method, and any method-override header.
 *
 * @param request the tier, access mode, method and (optionally) headers
 * @returns `{ allow: true }`, or `{ allow: false, reason, action }` where
 * `action` is `write_tool`, `http_<METHOD>` or `method_override`
 *
 * @example
 * ```ts
 * import { decideTier } from "./decide_tier.ts";
 * decideTier({ tier: 1, access: "read", method: "GET" }); // { allow: true }
 * decideTier({ tier: 1, access: "read", method: "POST" });
 * // { allow: false, reason: "Tier 1 (observer) cannot use POST: allowed methods are GET, HEAD, OPTIONS", action: "http_POST" }
 * ```
 */
export function decideTier(request: TierRequest): TierDecision {
  const { tier, access, method } = request;
  if (!Object.hasOwn(METHODS, tier)) {
    return {
      allow: false,
      reason: "Cannot decide for an unknown trust tier",
      action: `http_${shownMethod(String(method))}`,
    };
  }
  const allowed = METHODS[tier];
  if (access !== "read" && tier < 2) {
    return {
      allow: false,
      reason: `${label(tier)} cannot call a write tool`,
      action: "write_tool",
    };
  }
  if (!allowed.includes(method)) {
    const shown = shownMethod(String(method));
    return {
      allow: false,
      reason: `${label(tier)} cannot use ${shown}: allowed methods are ${allowed.join(", ")}`,
      action: `http_${shown}`,
    };
  }
  if (request.headers === undefined) return { allow: true };
  for (const [rawName, rawValue] of headerEntries(request.headers)) {
    const name = String(rawName).toLowerCase();
    if (!OVERRIDES.has(name)) continue;
    if (tier < 3) {
      return {
        allow: false,
        reason: `${label(tier)} cannot send the "${name}" header: method overrides need tier 3`,
        action: "method_override",
      };
    }
    // A list ("DELETE, GET") is checked item by item; an empty value is refused
    // because servers disagree on what it means.
    const targets = String(rawValue).split(",").map((v) => v.trim().toUpperCase());
    for (const target of targets) {
      if (!allowed.includes(target as HttpMethod)) {
        const shown = target === "" ? "an empty method" : shownMethod(target);
        return {
          allow: false,
          reason: `${label(tier)} cannot override the method to ${shown}: allowed methods are ${
            allowed.join(", ")
          }`,
          action: "method_override",
        };
      }
    }
  }
  return { allow: true };
}
