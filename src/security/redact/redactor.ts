/**
 * The redactor: removes secret values from text in every form a value takes
 * on its way through HTTP, JSON and logs (security-requirements §3.2 item 6).
 *
 * For each secret `s` (at least {@linkcode MIN_ENCODED_SECRET_LENGTH} characters)
 * it matches:
 *
 * - `s` itself, and every mix of per-character encodings of it: percent-encoding
 *   of the UTF-8 bytes in either hex case (covers `encodeURIComponent`,
 *   `URLSearchParams`/form encoding with `+` for space, `encodeURI`, and fully
 *   escaped forms), and JSON escapes (`\"`, `\\`, `\n`, `\/`, `\u00e9` in either
 *   hex case, surrogate pairs): so `JSON.stringify(s).slice(1, -1)` and the
 *   ASCII-only output of other JSON encoders are caught;
 * - base64 and base64url in all three byte alignments. A secret inside a longer
 *   encoded value (`Basic base64("bob:" + s)`) is not a substring of
 *   `base64(s)`: its encoding depends on how many bytes precede it modulo 3.
 *   For alignment `k` (0, 1, 2) the redactor encodes `k` filler bytes followed
 *   by `s` and keeps only the characters that depend on the secret's bytes
 *   alone: it drops the first `ceil(8k / 6)` characters (they mix filler bits)
 *   and everything from `floor(8(k + n) / 6)` on, `n` being the UTF-8 length
 *   (the last partial group mixes the bits of whatever follows). This stable
 *   core is what is replaced; at most three characters at each end of it stay
 *   visible, which carry fewer than two bytes of the secret;
 * - hex of the UTF-8 bytes, in either case.
 *
 * A secret shorter than {@linkcode MIN_ENCODED_SECRET_LENGTH} characters is
 * redacted in its raw form only: its encodings would be two or three characters
 * long and would match unrelated text everywhere, while a core of at least four
 * base64 characters is what a 4-byte secret yields in its worst alignment.
 * Short secrets are still redacted, conservatively, wherever they occur raw.
 *
 * Matching is one pass of one regular expression built once per redactor:
 * an alternation with one capture group per variant, longest variants first so
 * a secret that contains another is replaced as a whole. Each match becomes
 * `«redacted:NAME»`.
 *
 * Whole texts versus streams: the gate redacts whole texts (the bridge returns
 * a whole, size-capped body), so {@linkcode Redactor.redact} suffices there.
 * For a chunked stream, {@linkcode Redactor.stream} holds back the last
 * `maxMatchLength - 1` characters of each chunk so a secret split across
 * chunks is still caught.
 *
 * @module
 */

/** Secrets shorter than this (in UTF-16 code units) are redacted raw only. */
export const MIN_ENCODED_SECRET_LENGTH = 4;

/** The replacement for a secret's value. */
export function redactionToken(name: string): string {
  return `«redacted:${name}»`;
}

interface Variant {
  name: string;
  /** The regular-expression source, without a capture group. */
  source: string;
  /** The longest text it can match. */
  maxLength: number;
  /** The shortest text it can match (used to order longest first). */
  minLength: number;
}

const MAX_JSON_DEPTH = 512;

/**
 * Replaces secret values, in any of their common encodings, by
 * `«redacted:NAME»`.
 *
 * @example
 * ```ts
 * import { Redactor } from "./redactor.ts";
 * const r = new Redactor([["api-key", "s3cr3t/+value"]]);
 * r.redact("key=s3cr3t%2F%2Bvalue"); // "key=«redacted:api-key»"
 * r.redact("Authorization: Basic " + btoa("bob:s3cr3t/+value")); // core replaced
 * ```
 */
export class Redactor {
  #pattern: RegExp | null;
  #names: string[];
  #size: number;
  /** The longest text one match can span (0 without secrets). */
  readonly maxMatchLength: number;

  /**
   * @param secrets `[name, value]` pairs; empty values are ignored, and when two
   *   names share a value the first one names it
   */
  constructor(secrets: Iterable<readonly [string, string]>) {
    const variants: Variant[] = [];
    const seen = new Set<string>();
    for (const [name, value] of secrets) {
      if (typeof name !== "string" || typeof value !== "string") {
        throw new TypeError("Cannot build redactor: names and values must be strings");
      }
      if (value.length === 0 || seen.has(value)) continue;
      seen.add(value);
      variants.push(...variantsOf(name, value));
    }
    this.#size = seen.size;
    // Longest first: where two variants match at the same position, the
    // alternation takes the first, so a secret containing another wins.
    variants.sort((a, b) => b.minLength - a.minLength || b.maxLength - a.maxLength);
    this.#names = variants.map((v) => v.name);
    this.#pattern = variants.length === 0
      ? null
      : new RegExp(variants.map((v) => `(${v.source})`).join("|"), "g");
    this.maxMatchLength = variants.reduce((max, v) => Math.max(max, v.maxLength), 0);
  }

  /** How many distinct secret values this redactor removes. */
  get size(): number {
    return this.#size;
  }

  /**
   * Replace every secret value in `text`.
   *
   * @param text any text
   * @returns the text with each occurrence replaced by `«redacted:NAME»`
   */
  redact(text: string): string {
    const pattern = this.#pattern;
    if (pattern === null || text.length === 0) return text;
    pattern.lastIndex = 0;
    return text.replace(pattern, (...args) => this.#token(args));
  }

  /**
   * Redact every string in a JSON value, object keys included.
   *
   * @param value a JSON value (plain objects, arrays, primitives)
   * @returns a redacted copy (the input is not modified); the same value when
   *   there is nothing to redact
   * @throws {RangeError} when nested deeper than 512 levels
   */
  redactJson<T>(value: T): T {
    if (this.#pattern === null) return value;
    return this.#walk(value, 0) as T;
  }

  /**
   * A stream that redacts text split into chunks: a secret spanning two
   * chunks is caught because the last `maxMatchLength - 1` characters are held
   * back until the next chunk (or the end).
   *
   * @returns a transform from text chunks to redacted text chunks
   */
  stream(): TransformStream<string, string> {
    const pattern = this.#pattern === null ? null : new RegExp(this.#pattern.source, "g");
    const hold = Math.max(0, this.maxMatchLength - 1);
    let carry = "";
    return new TransformStream<string, string>({
      transform: (chunk, controller) => {
        if (pattern === null) {
          if (chunk) controller.enqueue(chunk);
          return;
        }
        const buf = carry + chunk;
        // A match that starts before `safe` ends within `buf` (no match is
        // longer than maxMatchLength), so later chunks cannot change it.
        const safe = buf.length - hold;
        if (safe <= 0) {
          carry = buf;
          return;
        }
        let out = "";
        let last = 0;
        pattern.lastIndex = 0;
        for (let m = pattern.exec(buf); m !== null && m.index < safe; m = pattern.exec(buf)) {
          out += buf.slice(last, m.index) + this.#token([m[0], ...m.slice(1)]);
          last = m.index + m[0].length;
        }
        const cut = Math.max(safe, last);
        out += buf.slice(last, cut);
        carry = buf.slice(cut);
        if (out) controller.enqueue(out);
      },
      flush: (controller) => {
        const rest = this.redact(carry);
        carry = "";
        if (rest) controller.enqueue(rest);
      },
    });
  }

  #token(args: unknown[]): string {
    // args: match, group 1..n, offset, input (no named groups are used)
    for (let i = 0; i < this.#names.length; i++) {
      if (args[i + 1] !== undefined) return redactionToken(this.#names[i]);
    }
    /* c8 ignore next */
    throw new Error("Redactor matched no variant");
  }

  #walk(value: unknown, depth: number): unknown {
    if (typeof value === "string") return this.redact(value);
    if (value === null || typeof value !== "object") return value;
    if (depth >= MAX_JSON_DEPTH) {
      throw new RangeError(`Cannot redact value: nested deeper than ${MAX_JSON_DEPTH}`);
    }
    if (Array.isArray(value)) return value.map((v) => this.#walk(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // defineProperty: a key such as "__proto__" stays an ordinary key.
      Object.defineProperty(out, this.redact(k), {
        value: this.#walk(v, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
}

function variantsOf(name: string, value: string): Variant[] {
  if (value.length < MIN_ENCODED_SECRET_LENGTH) {
    return [{
      name,
      source: escapeRegExp(value),
      maxLength: value.length,
      minLength: value.length,
    }];
  }
  const out: Variant[] = [textVariant(name, value)];
  const bytes = new TextEncoder().encode(value);
  const literals = new Set<string>();
  for (let k = 0; k < 3; k++) {
    const core = base64Core(bytes, k);
    if (core.length < MIN_ENCODED_SECRET_LENGTH) continue;
    literals.add(core);
    literals.add(core.replaceAll("+", "-").replaceAll("/", "_"));
  }
  literals.delete(value); // already covered by the text variant
  for (const lit of literals) {
    out.push({ name, source: escapeRegExp(lit), maxLength: lit.length, minLength: lit.length });
  }
  const hex = Array.from(bytes, (b) => hexCaseless(b)).join("");
  out.push({ name, source: hex, maxLength: bytes.length * 2, minLength: bytes.length * 2 });
  return out;
}

/**
 * The stable base64 characters of `value` preceded by `k` bytes.
 *
 * @param bytes the secret's UTF-8 bytes
 * @param k how many bytes precede it, modulo 3
 */
export function base64Core(bytes: Uint8Array, k: number): string {
  if (!Number.isInteger(k) || k < 0 || k > 2) throw new RangeError("Alignment must be 0, 1 or 2");
  const padded = new Uint8Array(k + bytes.length);
  padded.set(bytes, k);
  const start = Math.ceil((8 * k) / 6);
  const end = Math.floor((8 * padded.length) / 6);
  return end > start ? padded.toBase64().slice(start, end) : "";
}

/** One pattern for the raw value and its URL and JSON encodings, mixed freely. */
function textVariant(name: string, value: string): Variant {
  let source = "";
  let maxLength = 0;
  const encoder = new TextEncoder();
  for (const ch of value) {
    const alts = [escapeRegExp(ch)];
    let longest = ch.length;
    const code = ch.codePointAt(0)!;
    const lone = ch.length === 1 && code >= 0xd800 && code <= 0xdfff;
    if (ch === " ") alts.push("\\+");
    if (!lone) {
      const bytes = encoder.encode(ch);
      alts.push(Array.from(bytes, (b) => "%" + hexCaseless(b)).join(""));
      longest = Math.max(longest, bytes.length * 3);
    }
    const json = JSON.stringify(ch).slice(1, -1);
    if (json !== ch) alts.push(escapeRegExp(json));
    if (ch === "/") alts.push("\\\\\\/");
    // Any character may be written as \uXXXX (a surrogate pair for astral ones).
    let unicode = "";
    for (let i = 0; i < ch.length; i++) unicode += "\\\\u" + hexCaseless(ch.charCodeAt(i), 4);
    alts.push(unicode);
    longest = Math.max(longest, 6 * ch.length);
    source += `(?:${alts.join("|")})`;
    maxLength += longest;
  }
  return { name, source, maxLength, minLength: value.length };
}

/** Hex digits of `n` as a pattern matching either case, e.g. `2[fF]`. */
function hexCaseless(n: number, width = 2): string {
  let out = "";
  for (const d of n.toString(16).padStart(width, "0")) {
    out += d >= "a" && d <= "f" ? `[${d}${d.toUpperCase()}]` : d;
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
}
