/**
 * The stateless era of MCP (revision 2026-07-28): what a request carries in
 * its `_meta` instead of an `initialize` handshake, and the errors that
 * revision defines.
 *
 * A modern request names its protocol version, its client and the client's
 * capabilities on every call (`io.modelcontextprotocol/protocolVersion`,
 * `.../clientInfo`, `.../clientCapabilities`, optionally `.../logLevel`). The
 * server keeps no state between such requests. A request that lacks a
 * required field is malformed (-32602); one that names a version this server
 * does not serve statelessly gets -32022 with the versions it does; a header
 * that disagrees with the body gets -32020 (see `src/web/mcp_headers.ts`).
 *
 * Which era a message belongs to is decided per message: `_meta` carrying a
 * protocol version selects this one, `initialize` (and a session opened by
 * it) the earlier one. Both can be served at once on one endpoint.
 *
 * @module
 */

import { type JsonRpcErrorResponse, type JsonRpcId, RPC_ERRORS, rpcError } from "./jsonrpc.ts";
import { LOG_LEVELS, type LogLevel } from "./session.ts";

/** The stateless revision this server speaks. */
export const MODERN_PROTOCOL_VERSION = "2026-07-28";

/** Versions served statelessly (per-request `_meta`), newest first. */
export const MODERN_PROTOCOL_VERSIONS: readonly string[] = Object.freeze([
  MODERN_PROTOCOL_VERSION,
]);

/** The `_meta` keys of the per-request protocol fields and of the answer. */
export const META = Object.freeze({
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  logLevel: "io.modelcontextprotocol/logLevel",
  serverInfo: "io.modelcontextprotocol/serverInfo",
  subscriptionId: "io.modelcontextprotocol/subscriptionId",
});

/** Error codes the 2026-07-28 revision reserves (-32020 to -32099). */
export const MODERN_ERRORS = Object.freeze({
  /** An HTTP header does not match the body, or a required one is missing or malformed. */
  HEADER_MISMATCH: -32020,
  /** The request needs a client capability the client did not declare. */
  MISSING_CLIENT_CAPABILITY: -32021,
  /** The requested protocol version is not served. */
  UNSUPPORTED_PROTOCOL_VERSION: -32022,
});

/** Client capability names kept per request, and their length. */
const MAX_CLIENT_CAPABILITIES = 32;
const MAX_CAPABILITY_NAME = 64;

/** What one modern request says about itself. */
export interface RequestMeta {
  protocolVersion: string;
  client: { name: string; version: string } | null;
  /** The capability names the client declared for this request. */
  clientCapabilities: ReadonlySet<string>;
  /** Least severe log level to send for this request; null: send none. */
  logLevel: LogLevel | null;
}

/**
 * Whether a request's params select the stateless era: `_meta` holds a
 * protocol version key (whatever its value; a wrong value is an error of
 * that era, not a reason to fall back to the other).
 *
 * @param params the request's params
 * @returns true for a 2026-07-28-style request
 */
export function hasModernMeta(params: Record<string, unknown> | undefined): boolean {
  const meta = params?._meta;
  return meta !== null && typeof meta === "object" && !Array.isArray(meta) &&
    Object.hasOwn(meta, META.protocolVersion);
}

/**
 * Read and check the per-request protocol fields.
 *
 * @param id the request's id, for the error
 * @param params the request's params
 * @returns the fields, or the error response (-32602 for a missing or
 *   malformed field, -32022 for a version not served statelessly)
 */
export function readRequestMeta(
  id: JsonRpcId,
  params: Record<string, unknown>,
): RequestMeta | JsonRpcErrorResponse {
  const meta = params._meta;
  if (meta === null || typeof meta !== "object" || Array.isArray(meta)) {
    return invalid(id, `Missing "_meta" with "${META.protocolVersion}"`);
  }
  const fields = meta as Record<string, unknown>;
  const version = fields[META.protocolVersion];
  if (typeof version !== "string" || version.length === 0 || version.length > 64) {
    return invalid(id, `"_meta.${META.protocolVersion}" must be a protocol version string`);
  }
  const capabilities = fields[META.clientCapabilities];
  if (capabilities === null || typeof capabilities !== "object" || Array.isArray(capabilities)) {
    return invalid(id, `"_meta.${META.clientCapabilities}" must be an object`);
  }
  let logLevel: LogLevel | null = null;
  if (fields[META.logLevel] !== undefined) {
    const level = fields[META.logLevel];
    if (typeof level !== "string" || !(LOG_LEVELS as readonly string[]).includes(level)) {
      return invalid(
        id,
        `"_meta.${META.logLevel}" must be one of ${LOG_LEVELS.join(", ")}`,
      );
    }
    logLevel = level as LogLevel;
  }
  if (!MODERN_PROTOCOL_VERSIONS.includes(version)) return unsupportedVersion(id, version);
  return {
    protocolVersion: version,
    client: clientInfo(fields[META.clientInfo]),
    clientCapabilities: capabilityNames(capabilities),
    logLevel,
  };
}

/**
 * The error for a version not served statelessly: it lists the versions that
 * are and echoes the one asked for. A version of the initialize era is
 * reachable through `initialize`, which the message says.
 *
 * @param id the request's id
 * @param requested the version the request named
 * @returns a -32022 error response
 */
export function unsupportedVersion(id: JsonRpcId | null, requested: string): JsonRpcErrorResponse {
  return rpcError(
    id,
    MODERN_ERRORS.UNSUPPORTED_PROTOCOL_VERSION,
    `Unsupported protocol version; versions before ${MODERN_PROTOCOL_VERSION} begin with initialize`,
    { supported: [...MODERN_PROTOCOL_VERSIONS], requested: requested.slice(0, 64) },
  );
}

/** The client's self-description, bounded; null when absent or malformed. */
export function clientInfo(info: unknown): { name: string; version: string } | null {
  if (info === null || typeof info !== "object") return null;
  const { name, version } = info as Record<string, unknown>;
  return typeof name === "string"
    ? { name: name.slice(0, 128), version: String(version ?? "").slice(0, 64) }
    : null;
}

/** The names of the capabilities a client declared (object keys), bounded. */
export function capabilityNames(declared: unknown): ReadonlySet<string> {
  const names = new Set<string>();
  if (declared === null || typeof declared !== "object" || Array.isArray(declared)) return names;
  for (const [name, value] of Object.entries(declared)) {
    if (names.size >= MAX_CLIENT_CAPABILITIES) break;
    if (name.length <= MAX_CAPABILITY_NAME && value !== null && typeof value === "object") {
      names.add(name);
    }
  }
  return names;
}

function invalid(id: JsonRpcId, message: string): JsonRpcErrorResponse {
  return rpcError(id, RPC_ERRORS.INVALID_PARAMS, message);
}
