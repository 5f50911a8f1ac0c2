/**
 * What each trust tier allows (`docs/security-controls.md` §1). The loader checks configs
 * against this table; the gate checks calls against the same table.
 *
 * @example
 * ```ts
 * import { methodAllowed, minimumTier } from "./tiers.ts";
 * methodAllowed(1, "POST"); // false
 * minimumTier("DELETE"); // 3
 * ```
 *
 * @module
 */

import type { HttpMethod, TrustTier } from "./types.ts";

/** HTTP methods each tier may use. Tier 4 may use every method LOOM knows. */
export const TIER_METHODS: Readonly<Record<TrustTier, readonly HttpMethod[]>> = {
  1: ["GET", "HEAD", "OPTIONS"],
  2: ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"],
  3: ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"],
  4: ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"],
};

/** Names of the tiers, for messages. */
export const TIER_NAMES: Readonly<Record<TrustTier, string>> = {
  1: "observer",
  2: "worker",
  3: "operator",
  4: "privileged",
};

/**
 * Headers that ask a server to treat a request as another method. Refused
 * below tier 3: they would turn an allowed GET or POST into a DELETE at
 * servers that honour them (OWASP LLM06 Excessive Agency). Lower case.
 */
export const METHOD_OVERRIDE_HEADERS: readonly string[] = [
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
];

/**
 * Whether a tier may use an HTTP method.
 *
 * @param tier the agent's trust tier
 * @param method the bridge's method
 * @returns true when the tier allows the method
 */
export function methodAllowed(tier: TrustTier, method: HttpMethod): boolean {
  return TIER_METHODS[tier].includes(method);
}

/**
 * The lowest tier that may use an HTTP method.
 *
 * @param method an HTTP method
 * @returns the tier (1-4)
 */
export function minimumTier(method: HttpMethod): TrustTier {
  for (const tier of [1, 2, 3, 4] as const) {
    if (TIER_METHODS[tier].includes(method)) return tier;
  }
  return 4;
}
