/**
 * The variants of a secret the redactor searches for: its characters as
 * written (with quoted-printable forms), hex of its UTF-8 bytes, and the
 * stable base64 cores at each byte alignment, each as a whole and as
 * near-matches. Each variant is the source of one regular expression.
 *
 * @module
 */

import { decodeView } from "./_view.ts";

/** Secrets shorter than this (in UTF-16 code units) are redacted raw only. */
export const MIN_ENCODED_SECRET_LENGTH = 4;

/**
 * Secrets of at least this many characters (code points) are also matched
 * case-insensitively, and from nine on in part (near-matches of
 * {@linkcode nearMatchLength} characters).
 */
export const NEAR_MATCH_MIN_LENGTH = 8;

/**
 * How many consecutive characters of a secret of `length` characters make a
 * near-match: `max(8, floor(length / 2))`. Wherever a copy is cut or damaged
 * at one point, one side of it keeps at least that many.
 *
 * @param length the secret's length in characters (code points)
 * @returns the run length that is redacted as a near-match
 */
export function nearMatchLength(length: number): number {
  return Math.max(NEAR_MATCH_MIN_LENGTH, Math.floor(length / 2));
}

export interface Variant {
  name: string;
  /** The regular-expression source, without a capture group. */
  source: string;
  /** The longest text it can match, in characters (of the view, for view variants). */
  maxLength: number;
  /**
   * Whether letters match in either case. A flag of the variant's own
   * expression: V8's inline `(?i:...)` modifier was seen to miss matches.
   */
  caseless: boolean;
  /** A match shorter than this is a near-match (0: never). */
  wholeLength: number;
  /** Searched only in a text with escapes (the view's variants cover it otherwise). */
  onlyWithEscapes?: boolean;
  /** The shortest text it can match (a view is never longer than its text). */
  minLength: number;
  /** For a suffix near-match: the units before it, last first. */
  lead?: Lead[];
}

/** One unit to match backwards: a sticky pattern and the lengths it can have. */
export interface Lead {
  pattern: RegExp;
  lengths: readonly number[];
}

/**
 * The variants of one value: text forms are searched in the decoded view;
 * hex (which holds no escapes) in the text; base64 in both (in the view its
 * `+` and `/` may have been escaped, in the text a character just before it
 * may have joined an escape).
 */
export function variantsOf(
  name: string,
  value: string,
  out: { raw: Variant[]; view: Variant[]; both: Variant[] },
): void {
  const chars = [...value];
  const caseless = chars.length >= NEAR_MATCH_MIN_LENGTH;
  // The view decodes escapes; a value that itself looks like one is matched
  // both decoded (a copy in the text decodes the same way) and as written
  // (a copy in the text escaped, e.g. JSON's `\\x41` for `\x41`).
  const decoded = decodeView(value)?.text ?? value;
  out.view.push(...sequenceVariants(name, [...decoded].map(textUnit), {
    separator: "",
    caseless,
    near: "both",
  }));
  if (decoded !== value) {
    out.view.push(
      ...sequenceVariants(name, chars.map(textUnit), { separator: "", caseless, near: "both" }),
    );
  }
  // A value holding percent escapes and other escapes (`\/\0%00`), copied
  // into the text percent-encoded: the view decodes that one layer, folding
  // the value's own `%00` (`%2500`) as a re-encoded `%`, and leaves the other
  // escapes as written. So it is also searched with only its percent escapes
  // decoded.
  const percentDecoded = decodeView(value, true, true)?.text ?? value;
  if (percentDecoded !== value && percentDecoded !== decoded) {
    out.view.push(...sequenceVariants(name, [...percentDecoded].map(textUnit), {
      separator: "",
      caseless,
      near: "both",
    }));
  }
  out.raw.push(...sequenceVariants(name, chars.map((ch) => hexUnit(ch, caseless)), {
    separator: "",
    caseless: false,
    near: "prefix",
  }));
  const bytes = ENCODER.encode(value);
  const cores = new Set<string>();
  for (let k = 0; k < 3; k++) {
    const core = base64Core(bytes, k);
    if (core.length >= MIN_ENCODED_SECRET_LENGTH) cores.add(core);
  }
  for (const core of cores) {
    const variants = sequenceVariants(name, [...core].map(base64Unit), {
      separator: LINE_BREAK,
      caseless: core.length >= NEAR_MATCH_MIN_LENGTH,
      near: "prefix",
    });
    out.both.push(...variants);
  }
}

/**
 * The stable base64 characters of `value` preceded by `k` bytes.
 *
 * @param bytes the secret's UTF-8 bytes
 * @param k how many bytes precede it, modulo 3
 * @returns the characters of the encoding that depend on the secret's bytes only
 * @throws {RangeError} when `k` is not 0, 1 or 2
 */
export function base64Core(bytes: Uint8Array, k: number): string {
  if (!Number.isInteger(k) || k < 0 || k > 2) throw new RangeError("Alignment must be 0, 1 or 2");
  const padded = new Uint8Array(k + bytes.length);
  padded.set(bytes, k);
  const start = Math.ceil((8 * k) / 6);
  const end = Math.floor((8 * padded.length) / 6);
  return end > start ? padded.toBase64().slice(start, end) : "";
}

/** One position of a variant: a pattern for one character (or base64 digit). */
interface Unit {
  source: string;
  maxLength: number;
  /** Every length it can match. */
  lengths: readonly number[];
}

/**
 * The variants of a sequence of units: the whole sequence and, when it is
 * longer than {@linkcode nearMatchLength} units, near-matches: at least the
 * first `n` units then as many further ones as follow (`prefix`, `both`), and
 * at least the last `n` with as many earlier ones as precede (`both`). Nested
 * optional groups make the longest run win. A prefix near-match also matches
 * the whole sequence, so `prefix` adds no separate whole variant.
 */
export function sequenceVariants(
  name: string,
  units: Unit[],
  options: { separator: string; caseless: boolean; near: "none" | "prefix" | "both" },
): Variant[] {
  const { separator, caseless, near } = options;
  const count = units.length;
  const separatorLength = separator === "" ? 0 : 2;
  const maxLength = units.reduce((sum, u) => sum + u.maxLength, 0) +
    Math.max(0, count - 1) * separatorLength;
  const join = (from: number, to: number) =>
    units.slice(from, to).map((u) => u.source).join(separator);
  const least = (from: number, to: number) =>
    units.slice(from, to).reduce((sum, u) => sum + Math.min(...u.lengths), 0);
  const n = nearMatchLength(count);
  if (near === "none" || n >= count) {
    return [{
      name,
      source: join(0, count),
      caseless,
      minLength: least(0, count),
      maxLength,
      wholeLength: 0,
    }];
  }
  // A match shorter than the shortest whole value is a near-match.
  const wholeLength = least(0, count);
  // At least the first n units, then as many more as follow: this also
  // matches the whole value, so there is no separate variant for it.
  let rest = "";
  for (let i = count - 1; i >= n; i--) rest = `(?:${separator}${units[i].source}${rest})?`;
  const out: Variant[] = [
    { name, source: join(0, n) + rest, caseless, minLength: least(0, n), maxLength, wholeLength },
  ];
  if (near === "prefix") return out;
  // The last n units; the run is extended to the left after a match (see
  // `extendLeft`): as nested optional groups in front, every position of the
  // text would try every earlier unit.
  const lead: Lead[] = [];
  for (let i = count - n - 1; i >= 0; i--) {
    lead.push({
      pattern: new RegExp(units[i].source, flags(units[i].source, caseless, "y")),
      lengths: units[i].lengths,
    });
  }
  out.push({
    name,
    source: join(count - n, count),
    caseless,
    minLength: least(count - n, count),
    maxLength,
    wholeLength,
    lead,
  });
  return out;
}

/** A line break inside wrapped base64 (MIME, PEM; JSON's `\n` is decoded by the view). */
const LINE_BREAK = String.raw`(?:\r?\n)?`;
const ENCODER = new TextEncoder();

/**
 * One character of a secret in the view: itself (`+`, `_` and space
 * interchangeable) or quoted-printable `=XX` of its UTF-8 bytes. The longer
 * `=XX` form is tried first: for the last character of a secret, `=` would
 * otherwise match the start of `=3D` and leave `3D` visible.
 */
function textUnit(ch: string): Unit {
  const self = ch === " " || ch === "+" || ch === "_" ? "[ +_]" : escapeRegExp(ch);
  const bytes = ENCODER.encode(ch);
  const qp = Array.from(bytes, (b) => "=" + hexByte(b)).join("");
  return {
    source: `(?:${qp}|${self})`,
    maxLength: Math.max(ch.length, 3 * bytes.length),
    lengths: [ch.length, 3 * bytes.length],
  };
}

/** One character of a secret as written. */
export function rawUnit(ch: string): Unit {
  return { source: escapeRegExp(ch), maxLength: ch.length, lengths: [ch.length] };
}

/** Hex of the UTF-8 bytes of a character or of its case-changed forms. */
function hexUnit(ch: string, caseless: boolean): Unit {
  const forms = caseless ? new Set([ch, ch.toLowerCase(), ch.toUpperCase()]) : new Set([ch]);
  const alts = new Set<string>();
  const lengths: number[] = [];
  let maxLength = 0;
  for (const form of forms) {
    const bytes = ENCODER.encode(form);
    alts.add(Array.from(bytes, hexByte).join(""));
    lengths.push(2 * bytes.length);
    maxLength = Math.max(maxLength, 2 * bytes.length);
  }
  return { source: `(?:${[...alts].join("|")})`, maxLength, lengths };
}

/** One base64 digit: `+` and `/` also as base64url (`-`, `_`), `+` as a form-decoded space. */
function base64Unit(digit: string): Unit {
  const source = digit === "+" ? String.raw`[+\- ]` : digit === "/" ? "[/_]" : digit;
  return { source, maxLength: 1, lengths: [1] };
}

/** Two hex digits of a byte as a pattern matching either case. */
function hexByte(n: number): string {
  let out = "";
  for (const d of n.toString(16).padStart(2, "0")) {
    out += d >= "a" && d <= "f" ? `[${d}${d.toUpperCase()}]` : d;
  }
  return out;
}

/**
 * Regular-expression flags: `i` for a caseless variant, and `u` with it when
 * the source holds non-ASCII characters, so that letters outside ASCII (also
 * astral ones) fold by Unicode's simple case folding.
 */
export function flags(source: string, caseless: boolean, base: string): string {
  if (!caseless) return base;
  // deno-lint-ignore no-control-regex
  return /[^\x00-\x7f]/.test(source) ? base + "iu" : base + "i";
}

/** Escape for a pattern that may run with the `u` flag (so `-` is left alone). */
function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}
