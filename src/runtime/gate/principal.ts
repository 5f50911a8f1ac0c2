/**
 * Who a call comes from, as approvals record it (`requested_by`, and the
 * `inline:` decisions answered through the caller's client): a principal
 * string derived from what the transport established, never from what the
 * client says about itself.
 *
 * - `oauth:<issuer>#<sub>` when the HTTP transport authenticated an OAuth
 *   subject (a long subject as `recordedSubject()` bounds it);
 * - otherwise the transport's caller: `stdio`, `http` (no authentication),
 *   `http-token:<n>` (the nth static bearer token);
 * - `unknown` when the gate is driven directly (tests, benches).
 *
 * The client's declared name (`initialize` `clientInfo`) is not part of it:
 * any client can claim any name.
 *
 * @module
 */

import type { ToolCallContext } from "../../mcp/mod.ts";
import { UNKNOWN_PRINCIPAL } from "../../store/mod.ts";
import { recordedSubject } from "./call.ts";

/** A transport caller as the engine passes it: short, lower-case, no spaces. */
const CALLER = /^[a-z][a-z0-9:._-]{0,63}$/;

/**
 * The principal of a call.
 *
 * @param ctx the call's context, from the engine
 * @returns `oauth:<issuer>#<sub>`, the transport's caller, or `unknown`
 */
export function callerPrincipal(ctx: ToolCallContext): string {
  const subject = recordedSubject(ctx);
  if (subject !== null) {
    const issuer = ctx.principal?.issuer;
    return `oauth:${
      typeof issuer === "string" && issuer !== "" ? issuer : "unknown-issuer"
    }#${subject}`;
  }
  const caller = ctx.caller;
  return typeof caller === "string" && CALLER.test(caller) ? caller : UNKNOWN_PRINCIPAL;
}

/**
 * The typed principal of an answer that came back through the caller's own
 * client (elicitation, `input_required`): `inline:<principal>`.
 *
 * @param ctx the context of the call that carried the answer
 */
export function inlineDecider(ctx: ToolCallContext): string {
  return `inline:${callerPrincipal(ctx)}`;
}
