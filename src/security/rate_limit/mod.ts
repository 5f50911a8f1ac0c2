/**
 * Exact sliding-window rate limiting per agent and tool (`docs/security-controls.md` §1, gate
 * step 4). In any window of the configured length, allowed calls never exceed
 * the limit, and a call is refused only when its window is really full.
 *
 * Idle keys are evicted; a key whose window still holds a call never is, so
 * churning through keys cannot reset a limit. When the key cap (default
 * 10,000) is reached and every held key is active, calls on new keys are
 * refused until one goes idle (fail closed).
 *
 * @example
 * ```ts
 * import { RateLimiter, rateLimitKey } from "./mod.ts";
 *
 * let now = 0;
 * const limiter = new RateLimiter({ now: () => now });
 * const spec = { limit: 2, windowMs: 60_000 };
 * const key = rateLimitKey("prometheus-bridge", "query_prometheus");
 *
 * limiter.take(key, spec); // { allow: true }
 * limiter.take(key, spec); // { allow: true }
 * const third = limiter.take(key, spec);
 * if (third.allow || third.retryAfterMs !== 60_000) throw new Error("expected a refusal");
 *
 * now = 60_000;
 * limiter.take(key, spec); // { allow: true }
 * ```
 *
 * @module
 */

export {
  DEFAULT_MAX_KEYS,
  type RateDecision,
  RateLimiter,
  type RateLimiterOptions,
  rateLimitKey,
} from "./rate_limiter.ts";
