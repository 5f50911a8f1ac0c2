/**
 * `GET /metrics`: the process's metrics (`src/_util/loom_metrics.ts`) in the
 * Prometheus text exposition format 0.0.4, behind the same guards as `/mcp`.
 *
 * Who may read them, in order:
 * 1. The Host/Origin guard of `/mcp` (403), so a web page cannot read them
 *    through DNS rebinding.
 * 2. With `--auth oauth`, OAuth access tokens do not open `/metrics`: an
 *    access token is minted for an MCP client of one subject, while the
 *    metrics describe every agent, tool and client of the process. Only a
 *    metrics token (`--metrics-token-file`) does; without one configured the
 *    route does not exist (404). A scraper then holds a credential that can
 *    read counts and nothing else.
 * 3. With bearer tokens (`--token-file`), any `/mcp` token or the metrics
 *    token, checked exactly as `/mcp` checks them (401 with
 *    `WWW-Authenticate` otherwise, and no metric text).
 * 4. With no token at all (a loopback bind), a metrics token if one is
 *    configured, else anyone who passes the Host/Origin guard, like `/mcp`.
 *
 * The text holds only counts, durations, the version and label values from
 * bounded sets (see `loom_metrics.ts`): no argument, result, secret, client
 * name or session ever becomes a label.
 *
 * @module
 */

import type { Context } from "hono";
import { EXPOSITION_CONTENT_TYPE } from "../_util/metrics.ts";
import type { LoomMetrics } from "../_util/loom_metrics.ts";
import { RPC_ERRORS } from "../mcp/mod.ts";
import { type BearerTokens, checkOrigin, type OriginPolicy } from "./guard.ts";
import { type Env, jsonError } from "./_hono_context.ts";

/** What the `/metrics` handler needs. */
export interface MetricsRouteOptions {
  /** The process's metrics. */
  metrics: LoomMetrics;
  /** The Host/Origin policy of `/mcp`. */
  policy: OriginPolicy;
  /** The `/mcp` bearer tokens (empty without tokens). */
  bearer: BearerTokens;
  /** Tokens that open `/metrics` only (empty when none is configured). */
  metricsBearer: BearerTokens;
  /** True with `--auth oauth`: `/mcp` tokens are access tokens, which do not open `/metrics`. */
  oauth: boolean;
}

/**
 * The handler of `GET /metrics`.
 *
 * @param options metrics, guards and tokens
 * @returns a Hono handler
 */
export function metricsHandler(options: MetricsRouteOptions): (c: Context<Env>) => Response {
  const { metrics, policy, bearer, metricsBearer, oauth } = options;
  return (c) => {
    const headers = c.req.raw.headers;
    const refused = checkOrigin(headers, policy);
    if (refused) return jsonError(c, 403, RPC_ERRORS.INVALID_REQUEST, `Forbidden: ${refused}`);
    if (oauth && metricsBearer.size === 0) return c.json({ error: "Not found" }, 404);
    const needsToken = oauth || bearer.size > 0 || metricsBearer.size > 0;
    if (needsToken) {
      // Both sets are always checked: which one matched is not timed.
      const asMetrics = metricsBearer.match(headers) !== -1;
      const asMcp = !oauth && bearer.match(headers) !== -1;
      if (!asMetrics && !asMcp) {
        c.header("www-authenticate", 'Bearer realm="loom"');
        return jsonError(c, 401, RPC_ERRORS.INVALID_REQUEST, "Unauthorized: bearer token required");
      }
    }
    return c.body(metrics.render(), 200, {
      "content-type": EXPOSITION_CONTENT_TYPE,
      "cache-control": "no-store",
    });
  };
}
