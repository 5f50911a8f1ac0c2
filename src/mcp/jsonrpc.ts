/**
 * JSON-RPC 2.0 message shapes and strict classification, as MCP uses them
 * (2025-06-18 removed batching; ids are strings or integers, never null).
 *
 * @module
 */

/** A request or notification id. */
export type JsonRpcId = string | number;

/** A request: has an id and expects a response. */
export interface JsonRpcRequest {
  jsonrpc: "2.0";
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}

/** A notification: no id, no response. */
export interface JsonRpcNotification {
  jsonrpc: "2.0";
  method: string;
  params?: Record<string, unknown>;
}

/** A successful response. */
export interface JsonRpcResult {
  jsonrpc: "2.0";
  id: JsonRpcId;
  result: Record<string, unknown>;
}

/** An error response (id null only when the request id could not be read). */
export interface JsonRpcErrorResponse {
  jsonrpc: "2.0";
  id: JsonRpcId | null;
  error: { code: number; message: string; data?: unknown };
}

/** Any response. */
export type JsonRpcResponse = JsonRpcResult | JsonRpcErrorResponse;

/** Any message one side sends the other. */
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** Standard JSON-RPC error codes. */
export const RPC_ERRORS = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
} as const;

/** The result of classifying one decoded JSON value. */
export type Classified =
  | { kind: "request"; message: JsonRpcRequest }
  | { kind: "notification"; message: JsonRpcNotification }
  | { kind: "response"; message: JsonRpcResponse }
  | { kind: "invalid"; id: JsonRpcId | null; reason: string };

const MAX_ID_LENGTH = 256;

function isValidId(id: unknown): id is JsonRpcId {
  return (typeof id === "string" && id.length <= MAX_ID_LENGTH) ||
    (typeof id === "number" && Number.isSafeInteger(id));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Classify a decoded JSON value as a request, notification, response, or an
 * invalid message (with the reason, and the id when one could be read).
 *
 * @param value the parsed JSON body or line
 * @returns the classification; never throws
 */
export function classifyMessage(value: unknown): Classified {
  if (Array.isArray(value)) {
    return { kind: "invalid", id: null, reason: "Batch requests are not supported" };
  }
  if (value === null || typeof value !== "object") {
    return { kind: "invalid", id: null, reason: "Message must be a JSON object" };
  }
  const msg = value as Record<string, unknown>;
  const id = isValidId(msg.id) ? msg.id : null;
  if (msg.jsonrpc !== "2.0") {
    return { kind: "invalid", id, reason: 'Field "jsonrpc" must be "2.0"' };
  }
  if ("method" in msg) {
    if (typeof msg.method !== "string" || msg.method.length === 0 || msg.method.length > 256) {
      return { kind: "invalid", id, reason: 'Field "method" must be a non-empty string' };
    }
    if (
      msg.params !== undefined && (msg.params === null || typeof msg.params !== "object" ||
        Array.isArray(msg.params))
    ) {
      return { kind: "invalid", id, reason: 'Field "params" must be an object' };
    }
    if (!("id" in msg)) {
      return {
        kind: "notification",
        message: msg as unknown as JsonRpcNotification,
      };
    }
    if (!isValidId(msg.id)) {
      return {
        kind: "invalid",
        id: null,
        reason: 'Field "id" must be a string or an integer (null is not allowed)',
      };
    }
    return { kind: "request", message: msg as unknown as JsonRpcRequest };
  }
  if (("result" in msg || "error" in msg) && isValidId(msg.id)) {
    if ("result" in msg && "error" in msg) {
      return { kind: "invalid", id, reason: 'A response has "result" or "error", not both' };
    }
    if ("result" in msg) {
      if (!isPlainObject(msg.result)) {
        return { kind: "invalid", id, reason: 'Field "result" must be an object' };
      }
      return { kind: "response", message: msg as unknown as JsonRpcResult };
    }
    const error = msg.error as Record<string, unknown> | null;
    if (
      !isPlainObject(error) || !Number.isSafeInteger(error.code) ||
      typeof error.message !== "string"
    ) {
      return {
        kind: "invalid",
        id,
        reason: 'Field "error" must have an integer "code" and a string "message"',
      };
    }
    return { kind: "response", message: msg as unknown as JsonRpcErrorResponse };
  }
  return {
    kind: "invalid",
    id,
    reason: "Message is neither a request, a notification nor a response",
  };
}

/** Build an error response. */
export function rpcError(
  id: JsonRpcId | null,
  code: number,
  message: string,
  data?: unknown,
): JsonRpcErrorResponse {
  return data === undefined
    ? { jsonrpc: "2.0", id, error: { code, message } }
    : { jsonrpc: "2.0", id, error: { code, message, data } };
}
