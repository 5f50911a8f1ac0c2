/**
 * Redaction of secret values (SPEC §9, security-requirements §3.2 item 6):
 * one {@linkcode Redactor} per set of resolved secrets, applied to every sink
 * (tool results, error messages, audit fields). It matches each value raw,
 * percent-encoded (either hex case, `+` for space), JSON-escaped, as base64 and
 * base64url in all three byte alignments, and as hex, and replaces it with
 * `«redacted:NAME»`. See `redactor.ts` for the exact rules, the minimum length
 * for encoded forms, and streaming.
 *
 * @example
 * ```ts
 * import { Redactor } from "./mod.ts";
 *
 * const secret = "tok_9f8e7d6c5b4a";
 * const redactor = new Redactor([["api-token", secret]]);
 * const header = "Authorization: Basic " + btoa("bob:" + secret);
 * console.log(redactor.redact(header).includes("«redacted:api-token»")); // true
 * console.log(redactor.redactJson({ echo: `key=${encodeURIComponent(secret)}` }));
 * // { echo: "key=«redacted:api-token»" }
 * ```
 *
 * @module
 */

export { base64Core, MIN_ENCODED_SECRET_LENGTH, redactionToken, Redactor } from "./redactor.ts";
