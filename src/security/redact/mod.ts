/**
 * Redaction of secret values:
 * one {@linkcode Redactor} per set of resolved secrets, applied to every sink
 * (tool results, error messages, audit fields). It matches each value raw,
 * percent-encoded (also repeatedly), JSON- and backslash-escaped (`\xNN`,
 * `\uNNNN`, `\u{...}`, octal), as HTML character references, quoted-printable,
 * upper- or lower-cased, as base64 and base64url in all three byte alignments
 * (also wrapped across lines), and as hex, and replaces it with
 * `«redacted:NAME»`; a truncated or damaged copy is redacted from a
 * near-match on (fail closed). See `redactor.ts` for the exact rules, the
 * minimum lengths, and streaming.
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

export {
  base64Core,
  MAX_PERCENT_FOLDS,
  MIN_ENCODED_SECRET_LENGTH,
  NEAR_MATCH_MIN_LENGTH,
  nearMatchLength,
  redactionToken,
  Redactor,
} from "./redactor.ts";
