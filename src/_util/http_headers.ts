/**
 * HTTP header names LOOM manages itself.
 *
 * @module
 */

/**
 * Headers LOOM computes itself (framing, connection management, the target
 * host): a config may not set them, and the bridge's HTTP client never sends
 * a request's own value. Lower case.
 */
export const MANAGED_HEADERS: ReadonlySet<string> = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
]);
