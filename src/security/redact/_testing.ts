/**
 * Generators shared by the redactor's property tests (private to redact/):
 * secrets and the text around them, drawn from the characters that stress
 * the encoders.
 *
 * @module
 */

import fc, { type Arbitrary } from "fast-check";

/** What a redaction property draws. */
export interface RedactionArbitraries {
  /** A secret of 8 to 64 UTF-16 code units that is not blank. */
  readonly secret: Arbitrary<string>;
  /** Up to 40 characters of text to put around a secret. */
  readonly text: Arbitrary<string>;
}

/** Which secrets {@linkcode redactionArbitraries} draws besides the default ones. */
export interface RedactionArbitrariesOptions {
  /** Also draw secrets of arbitrary UTF-16 code units, lone surrogates included. */
  readonly binary?: boolean;
  /** Keep only the secrets this accepts. */
  readonly accept?: (secret: string) => boolean;
}

/**
 * Secrets and text drawn from ASCII and the characters of `special`;
 * secrets also as runs of graphemes.
 */
export function redactionArbitraries(
  special: string,
  options: RedactionArbitrariesOptions = {},
): RedactionArbitraries {
  const { binary = false, accept = () => true } = options;
  const specialChar = fc.constantFrom(...special);
  const asciiChar = fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 1 });
  const secrets = [
    fc.string({ unit: fc.oneof(specialChar, asciiChar), minLength: 8, maxLength: 64 }),
    ...(binary ? [fc.string({ unit: "binary", minLength: 8, maxLength: 64 })] : []),
    fc.string({ unit: "grapheme", minLength: 8, maxLength: 64 }),
  ];
  return {
    secret: fc.oneof(...secrets).filter((s) =>
      s.length >= 8 && s.length <= 64 && s.trim().length > 0 && accept(s)
    ),
    text: fc.string({ unit: fc.oneof(asciiChar, specialChar), maxLength: 40 }),
  };
}
