/**
 * The request headers of MCP 2026-07-28 over HTTP, checked against the body
 * they mirror.
 *
 * A 2026-07-28 POST repeats parts of its body in headers so that proxies and
 * gateways can route on them without parsing JSON: `MCP-Protocol-Version`
 * (the `_meta` version), `Mcp-Method` (the method), `Mcp-Name` (the tool,
 * prompt or resource named in `tools/call`, `prompts/get`, `resources/read`),
 * and `Mcp-Param-{Name}` for each tool argument whose schema carries
 * `x-mcp-header: Name`. If a header and the body disagree, two components
 * could act on two different requests (a gateway routes on the header, LOOM
 * executes the body), so any disagreement, a missing required header, or a
 * malformed value is refused with -32020 (HTTP 400) before anything runs.
 *
 * Values are compared after trimming surrounding whitespace (RFC 9110 §5.5).
 * `Mcp-Name` and `Mcp-Param-*` may carry `=?base64?...?=`: strict base64 of
 * UTF-8, decoded before comparison; anything else in those delimiters is
 * refused. A value without both delimiters is literal. Integers compare
 * numerically, booleans as `true` / `false`.
 *
 * @module
 */

import { type McpTool, META } from "../mcp/mod.ts";

/** The methods whose `Mcp-Name` header is required, and the param it mirrors. */
const NAMED: Readonly<Record<string, string>> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
};

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const UTF8 = new TextDecoder("utf-8", { fatal: true });
/** Visible ASCII, space and tab: what a plain header value may hold. */
const PLAIN = /^[\t\x20-\x7e]*$/;

/**
 * Check a 2026-07-28 request's headers against its body.
 *
 * @param headers the HTTP request headers
 * @param method the body's method
 * @param params the body's params (with `_meta`)
 * @param findTool the tool a `tools/call` names, for its `x-mcp-header` arguments
 * @returns null when they agree, else what disagrees (for a -32020 error)
 */
export function checkMirroredHeaders(
  headers: Headers,
  method: string,
  params: Record<string, unknown>,
  findTool: (name: string) => McpTool | undefined,
): string | null {
  const meta = params._meta as Record<string, unknown>;
  const version = headers.get("mcp-protocol-version");
  if (version === null) return "MCP-Protocol-Version header required";
  if (version.trim() !== meta[META.protocolVersion]) {
    return "MCP-Protocol-Version header does not match _meta";
  }
  const sentMethod = headers.get("mcp-method");
  if (sentMethod === null) return "Mcp-Method header required";
  if (sentMethod.trim() !== method) return "Mcp-Method header does not match the body's method";
  const nameParam = Object.hasOwn(NAMED, method) ? NAMED[method] : undefined;
  if (nameParam === undefined) return null;
  const bodyName = params[nameParam];
  if (typeof bodyName !== "string") return null; // the method itself refuses it
  const sentName = headers.get("mcp-name");
  if (sentName === null) return "Mcp-Name header required";
  const name = decodeValue(sentName);
  if (name === null) return "Mcp-Name header is malformed";
  if (name !== bodyName) return "Mcp-Name header does not match the body";
  if (method !== "tools/call") return null;
  const tool = findTool(bodyName);
  return tool === undefined ? null : checkParamHeaders(headers, tool, params.arguments);
}

/** `Mcp-Param-*` of a tool's `x-mcp-header` arguments (top-level properties). */
function checkParamHeaders(headers: Headers, tool: McpTool, args: unknown): string | null {
  const properties = tool.inputSchema.properties;
  if (properties === null || typeof properties !== "object") return null;
  const values = args !== null && typeof args === "object" ? args as Record<string, unknown> : {};
  for (const [param, schema] of Object.entries(properties as Record<string, unknown>)) {
    const mirror = (schema as Record<string, unknown> | null)?.["x-mcp-header"];
    if (typeof mirror !== "string") continue;
    const header = `Mcp-Param-${mirror}`;
    const sent = headers.get(header);
    const value = Object.hasOwn(values, param) ? values[param] : undefined;
    if (value === undefined || value === null) continue; // the client omits it; nothing to check
    if (sent === null) return `${header} header required`;
    const decoded = decodeValue(sent);
    if (decoded === null) return `${header} header is malformed`;
    if (!sameValue(decoded, value)) return `${header} header does not match the body`;
  }
  return null;
}

/**
 * A header value as sent: trimmed, and decoded when it is a base64
 * sentinel; null when the sentinel holds no valid base64 of UTF-8, or a
 * plain value holds a character a header may not.
 *
 * @param raw the header value
 * @returns the value, or null when malformed
 */
export function decodeValue(raw: string): string | null {
  const value = raw.trim();
  if (value.startsWith("=?base64?") && value.endsWith("?=") && value.length >= 11) {
    const encoded = value.slice(9, -2);
    if (!BASE64.test(encoded)) return null;
    try {
      return UTF8.decode(Uint8Array.fromBase64(encoded));
    } catch {
      return null;
    }
  }
  return PLAIN.test(value) ? value : null;
}

/** Whether a header's text stands for a body value (numbers numerically). */
function sameValue(text: string, value: unknown): boolean {
  switch (typeof value) {
    case "string":
      return text === value;
    case "number":
      return text.trim() !== "" && Number(text) === value;
    case "boolean":
      return text === String(value);
    default:
      return false; // x-mcp-header applies to primitive values only
  }
}
