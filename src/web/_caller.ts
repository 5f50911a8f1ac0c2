/**
 * The caller of an HTTP request as the gate records it when nobody
 * authenticated a subject: which kind of credential admitted the request.
 * An OAuth caller is named by its principal (`oauth:<issuer>#<sub>`, built by
 * the gate from `ToolCallContext.principal`), so it is not repeated here.
 *
 * @module
 */

/**
 * `http-token:<n>` for the nth static bearer token, `http` for a request no
 * credential admitted (loopback without authentication), `http-oauth` for an
 * OAuth subject (the gate names it by its principal).
 *
 * @param label the request's credential label: `tok:N`, `sub:SUBJECT` or `-`
 */
export function httpCaller(label: string): string {
  if (label.startsWith("tok:")) return `http-token:${label.slice(4)}`;
  if (label.startsWith("sub:")) return "http-oauth";
  return "http";
}
