/**
 * Input checks of the credential broker's parts, run before anything is read,
 * written or recorded. They defend against a malformed name reaching the
 * vault file, the grant table or an audit record (a name is plain text in all
 * three), against a value that would split an HTTP header when a bridge sends
 * it (NUL, CR, LF), against an oversized value, and against a caller bug that
 * passes a non-string where the gate expects one. A refused value is never
 * quoted in the error.
 *
 * @module
 */

import { LoomError } from "../../errors.ts";
import { SECRET_NAME } from "../../_util/template.ts";

/** Largest secret value, in UTF-8 bytes. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** Agent names, as in configs: kebab-case, 1-64 characters. */
const AGENT_NAME = /^(?=.{1,64}$)[a-z0-9]+(-[a-z0-9]+)*$/;
const DIGEST = /^[0-9a-f]{64}$/;

/**
 * Refuse a malformed secret name.
 *
 * @throws {LoomError} `INPUT_INVALID`
 */
export function checkName(name: string): void {
  if (typeof name !== "string" || !SECRET_NAME.test(name)) {
    throw new LoomError(
      "INPUT_INVALID",
      "Invalid secret name: use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit",
    );
  }
}

/**
 * Refuse a malformed agent name.
 *
 * @throws {LoomError} `INPUT_INVALID`
 */
export function checkAgent(agent: string): void {
  if (typeof agent !== "string" || !AGENT_NAME.test(agent)) {
    throw new LoomError("INPUT_INVALID", "Invalid agent name: use kebab-case, 1-64 characters");
  }
}

/**
 * Refuse anything but a hex SHA-256 digest (64 lowercase hex digits).
 *
 * @throws {LoomError} `INPUT_INVALID`
 */
export function checkDigest(configDigest: string): void {
  if (typeof configDigest !== "string" || !DIGEST.test(configDigest)) {
    throw new LoomError(
      "INPUT_INVALID",
      "Invalid config digest: expected 64 lowercase hex digits",
    );
  }
}

/**
 * Refuse a value that is empty, holds NUL, CR or LF, or exceeds
 * {@linkcode MAX_SECRET_BYTES}; the message names the secret, never the value.
 *
 * @throws {TypeError} when `value` is not a string
 * @throws {LoomError} `INPUT_INVALID`
 */
export function checkValue(name: string, value: string): void {
  if (typeof value !== "string") throw new TypeError("Secret value must be a string");
  if (value.length === 0) {
    throw new LoomError("INPUT_INVALID", `Cannot store secret "${name}": the value is empty`);
  }
  if (/[\0\r\n]/.test(value)) {
    throw new LoomError(
      "INPUT_INVALID",
      `Cannot store secret "${name}": the value contains NUL, CR or LF ` +
        `(secrets are sent in HTTP headers)`,
    );
  }
  if (new TextEncoder().encode(value).length > MAX_SECRET_BYTES) {
    throw new LoomError(
      "INPUT_INVALID",
      `Cannot store secret "${name}": the value is larger than ${MAX_SECRET_BYTES} bytes`,
    );
  }
}

/** The fields of a resolve request that {@linkcode checkRequest} checks. */
export interface RequestShape {
  agent: string;
  configDigest: string;
  origin: string;
  tool: string;
  call: string;
  names: readonly string[];
}

/**
 * Refuse a resolve request whose fields are not strings (a caller bug).
 *
 * @throws {TypeError}
 */
export function checkRequest(request: RequestShape): void {
  for (const field of ["agent", "configDigest", "origin", "tool", "call"] as const) {
    if (typeof request[field] !== "string") {
      throw new TypeError(`Cannot resolve secrets: request.${field} must be a string`);
    }
  }
  if (!Array.isArray(request.names) || request.names.some((n) => typeof n !== "string")) {
    throw new TypeError("Cannot resolve secrets: request.names must be an array of strings");
  }
}

/**
 * Refuse a cache lifetime that is not a non-negative number.
 *
 * @throws {RangeError}
 */
export function checkCacheTtl(ttl: number): void {
  if (!Number.isFinite(ttl) || ttl < 0) {
    throw new RangeError("Cannot open broker: cacheTtlMs must be a non-negative number");
  }
}

/**
 * Refuse a data key rotation threshold outside 1..2^32.
 *
 * @throws {RangeError}
 */
export function checkRotationLimit(rotateAfter: number): void {
  if (!Number.isSafeInteger(rotateAfter) || rotateAfter < 1 || rotateAfter > 2 ** 32) {
    throw new RangeError(
      "Cannot open broker: rotateDataKeyAfter must be a whole number from 1 to 2^32",
    );
  }
}
