/**
 * What a tool host is handed for one `tools/call`: the call's signal, who
 * asked, and the ways back to the client (log messages, progress, requests),
 * each bound to the era and the options of that request.
 *
 * @module
 */

import type { JsonRpcNotification } from "./jsonrpc.ts";
import type { RequestMeta } from "./modern.ts";
import { LOG_LEVELS, type McpSession } from "./session.ts";
import type { HandleOptions, ToolCallContext } from "./types.ts";

/**
 * Build the context of one call.
 *
 * - Log messages go out at or above the level the client asked for: the
 *   session's (`logging/setLevel`), or the request's `_meta` (none when it
 *   asked for none).
 * - Progress goes out only when the request carries `_meta.progressToken`,
 *   only increasing, and never after the call was cancelled.
 * - Requests to the client exist only in a session: a 2026-07-28 request
 *   asks through an `input_required` result instead (`acceptsInputRequired`),
 *   and its retry carries `inputResponses` and `requestState` (checked for
 *   shape by the engine; their content is the host's to verify).
 *
 * @param session the session the call runs in (made for the request on HTTP)
 * @param controller the call's controller, from `session.begin`
 * @param facts the client, the request's `_meta` (null in a session), the options
 * @param params the request's params
 * @returns the context for `ToolHost.callTool`
 */
export function callContext(
  session: McpSession,
  controller: AbortController,
  facts: {
    client: { name: string; version: string } | null;
    meta: RequestMeta | null;
    options: HandleOptions;
  },
  params: Record<string, unknown>,
): ToolCallContext {
  const { meta, options } = facts;
  const signal = controller.signal;
  const send = options.notify ??
    ((n: JsonRpcNotification) => session.notify(n.method, n.params));
  const token = progressToken(params);
  let last = -Infinity;
  return {
    signal,
    sessionId: session.id,
    client: facts.client,
    principal: options.principal ?? null,
    caller: options.caller,
    clientCapabilities: meta === null ? session.clientCapabilities : meta.clientCapabilities,
    log: (level, data) => {
      const least = meta === null ? session.logLevel : meta.logLevel;
      if (least === null || LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(least)) return;
      if (signal.aborted) return;
      send({
        jsonrpc: "2.0",
        method: "notifications/message",
        params: { level, logger: "loom", data },
      });
    },
    // Absent without a token, so a host need not prepare reports no one asked for.
    progress: token === undefined ? undefined : (progress, total, message) => {
      if (signal.aborted || !(progress > last)) return;
      last = progress;
      const p: Record<string, unknown> = { progressToken: token, progress };
      if (total !== undefined) p.total = total;
      if (message !== undefined) p.message = message;
      send({ jsonrpc: "2.0", method: "notifications/progress", params: p });
    },
    request: meta === null
      ? (method, params) => session.request(method, params, { signal })
      : undefined,
    acceptsInputRequired: meta !== null,
    inputResponses: meta === null
      ? undefined
      : params.inputResponses as Readonly<Record<string, unknown>> | undefined,
    requestState: meta === null ? undefined : params.requestState as string | undefined,
  };
}

/** The request's `_meta.progressToken`, when it is a string or an integer. */
function progressToken(params: Record<string, unknown>): string | number | undefined {
  const meta = params._meta;
  if (meta === null || typeof meta !== "object") return undefined;
  const token = (meta as Record<string, unknown>).progressToken;
  return typeof token === "string" || (typeof token === "number" && Number.isSafeInteger(token))
    ? token
    : undefined;
}
