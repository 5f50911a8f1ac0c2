/**
 * The HTTP bridge: how a tool call becomes an HTTP request and its response a
 * tool result (templates as in README.md, "A config"; the gate's steps 7-9 in
 * `docs/architecture.md`).
 *
 * - {@linkcode renderRequest} encodes each argument for where it stands and
 *   keeps the URL on the configured origin and path prefix;
 * - `checkDestination()` (`src/net/`) refuses private and special addresses
 *   the config does not name;
 * - {@linkcode executeRequest} sends the request to an address the check
 *   approved, with a deadline, a cap on decompressed bytes and re-checked
 *   redirects held to the configured origin and path prefix;
 * - {@linkcode shapeResponse} applies `response_path`;
 * - {@linkcode runBridge} does all four.
 *
 * Redacting secrets from the result (step 9) is the caller's job:
 * `secretNames` says which secrets went into the request.
 *
 * @example
 * ```ts
 * import { runBridge } from "./mod.ts";
 *
 * await using server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   (req) => Response.json({ data: { user: new URL(req.url).pathname } }),
 * );
 * const result = await runBridge({
 *   toolName: "get_user",
 *   method: "GET",
 *   url: `http://127.0.0.1:${server.addr.port}/api/users/{{id}}`,
 *   queryParams: {},
 *   headers: {},
 *   bodyTemplate: null,
 *   responsePath: "data.user",
 *   timeoutMs: 2000,
 * }, { id: "ada lovelace" }, {
 *   signal: AbortSignal.timeout(5000),
 *   maxResponseBytes: 1024 * 1024,
 *   allowNetworks: [],
 * });
 * console.log(result.text); // "/api/users/ada%20lovelace"
 * ```
 *
 * @module
 */

import type { BridgeSpec, HttpMethod } from "../../config/mod.ts";
import type { HostLookup } from "../../net/mod.ts";
import { bridgeTarget, renderRequest } from "./render.ts";
import { executeRequest } from "./execute.ts";
import type { HttpClient } from "../../net/mod.ts";
import { shapeResponse } from "./shape.ts";

export {
  bridgeSecretNames,
  type BridgeTarget,
  bridgeTarget,
  leavesTarget,
  type RenderedRequest,
  type RenderOptions,
  renderRequest,
} from "./render.ts";
export {
  type BridgeResponse,
  decideRedirect,
  type ExecuteOptions,
  executeRequest,
  type RedirectVerdict,
  sandboxDenial,
} from "./execute.ts";
export { type ShapedResult, shapeResponse, UpstreamStatusError } from "./shape.ts";

/** Options of {@linkcode runBridge}. */
export interface RunBridgeOptions {
  /** The call deadline (`runtime.maxExecutionTimeMs`), e.g. `AbortSignal.timeout(ms)`. */
  signal: AbortSignal;
  /** Cap on decompressed response bytes (`runtime.maxResponseBytes`). */
  maxResponseBytes: number;
  /** Private networks the config names (`runtime.allowNetworks`). */
  allowNetworks: readonly string[];
  /** Resolves `{{secret:key}}`; may throw to refuse. */
  resolveSecret?: (name: string) => string;
  /** Resolver seam for the destination check; defaults to the system resolver. */
  lookup?: HostLookup;
  /** Redirects to follow at most. Default 5. */
  maxRedirects?: number;
  /**
   * Kept-alive connections to reuse: one client per agent, closed with it.
   * Without one, each call opens and closes its own connection.
   */
  client?: HttpClient;
  /** Called with the status when the final response's headers arrive (see `executeRequest`). */
  onResponseHead?: (status: number) => void;
}

/** The result of one bridge call. */
export interface BridgeRunResult {
  /** Text for the model (JSON text for JSON responses). */
  text: string;
  /** The JSON value selected by `response_path`, for JSON responses. */
  structured?: unknown;
  status: number;
  /** Decompressed body bytes read. */
  bytes: number;
  /** The final URL; may hold secrets in its query, redact before showing. */
  url: string;
  method: HttpMethod;
  redirects: number;
  /** Names of the secrets sent, for redaction. */
  secretNames: string[];
}

/**
 * Run one bridge call: render, check the destination, execute, shape.
 *
 * The destination check runs inside `executeRequest`, once per hop.
 *
 * @param bridge the bridge
 * @param args the validated tool arguments
 * @param options deadline, limits, secrets and resolver
 * @returns the shaped result and facts for the audit record
 * @throws {InputError} when an argument cannot be placed in the request
 * @throws {PolicyError} when the URL, a redirect or a destination is refused
 * @throws {UpstreamError} on timeout, oversized response, connection failure,
 *   error status ({@linkcode UpstreamStatusError}) or unusable body
 */
export async function runBridge(
  bridge: BridgeSpec,
  args: Record<string, unknown>,
  options: RunBridgeOptions,
): Promise<BridgeRunResult> {
  const target = bridgeTarget(bridge);
  const req = renderRequest(bridge, args, { resolveSecret: options.resolveSecret });
  const res = await executeRequest(req, {
    signal: options.signal,
    maxResponseBytes: options.maxResponseBytes,
    timeoutMs: bridge.timeoutMs,
    allowNetworks: options.allowNetworks,
    configuredOrigin: target.origin,
    pathPrefix: target.pathPrefix,
    pathIsLiteral: target.pathIsLiteral,
    configuredHost: target.hostname,
    maxRedirects: options.maxRedirects,
    lookup: options.lookup,
    client: options.client,
    onResponseHead: options.onResponseHead,
  });
  const shaped = shapeResponse(res, bridge);
  const result: BridgeRunResult = {
    text: shaped.text,
    status: res.status,
    bytes: res.bytes,
    url: res.url,
    method: req.method,
    redirects: res.redirects,
    secretNames: req.secretNames,
  };
  if ("structured" in shaped) result.structured = shaped.structured;
  return result;
}
