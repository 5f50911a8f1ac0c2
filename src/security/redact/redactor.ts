/**
 * The redactor: removes secret values from text in every form a value takes
 * on its way through HTTP, HTML, JSON, mail bodies and logs, before the text
 * reaches a client or the audit log. It defends against an upstream (or an
 * error message) echoing a credential back in an encoding a plain search
 * would miss.
 *
 * It searches each text in two forms:
 *
 * 1. **The text itself**, for each secret `s`: `s` as written (also
 *    near-matches, below), and hex of its UTF-8 bytes (either digit case,
 *    also of its case-changed characters).
 * 2. **A decoded view**: when the text holds escapes, one scan decodes each of
 *    them in place, keeping a map from view offsets to text offsets: percent
 *    escapes (`%41`, and the `%` itself re-encoded up to
 *    {@linkcode MAX_PERCENT_FOLDS} times over: `%2541`, `%252541`), runs of
 *    them as UTF-8 (a byte that is not UTF-8 reads as Latin-1); backslash
 *    escapes (`\"`, `\\`, `\/`, `\n` and the other JSON and C ones,
 *    `\uXXXX` and surrogate pairs, `\u{...}`, `\UXXXXXXXX`, `\xNN` and
 *    octal `\NNN` bytes); HTML character references (named `&amp;` `&lt;`
 *    `&gt;` `&quot;` `&apos;` and the other ASCII ones, decimal `&#65;` and
 *    hex `&#x41;`, any leading zeros, `;` optional where browsers accept it);
 *    quoted-printable soft line breaks (`=` at a line end). Every character
 *    may be written in a different way: the view is the same. In the view,
 *    `s` is searched with `+`, `_` and space interchangeable (form and RFC
 *    2047 encoding) and any character also as quoted-printable `=XX` (decoding
 *    that would be ambiguous: `=` starts URL parameters); when `s` itself
 *    looks like an escape, also `s` decoded the same way.
 *
 * Base64 and base64url are searched in both forms (in the view `+` and `/`
 * may have been escaped; in the text, a character just before the value may
 * have joined an escape), in all three byte alignments, with line breaks
 * anywhere (MIME's 76 and PEM's 64 columns, LF or CRLF). A secret inside a
 * longer encoded value (`Basic base64("bob:" + s)`) is not a substring of
 * `base64(s)`: for alignment `k` the redactor encodes `k` filler bytes
 * followed by `s` and keeps the stable core, the characters that depend on
 * the secret's bytes alone (it drops the first `ceil(8k / 6)` and everything
 * from `floor(8(k + n) / 6)` on, `n` being the UTF-8 length); at most three
 * characters at each end stay visible, fewer than two bytes of the secret.
 *
 * **Case.** Secrets of at least {@linkcode NEAR_MATCH_MIN_LENGTH} characters
 * match in any case, raw and in every form (an upper- or lower-cased copy;
 * Unicode simple case folding, one character to one). Base64 cores of at
 * least eight characters match case-insensitively too: base64 is
 * case-sensitive, so a case-folded copy no longer decodes to the secret, but
 * it leaves only two candidates per letter to try. Base64 of a case-changed
 * secret is a different value and is not searched.
 *
 * **Fail closed on near-matches.** For a secret of `L >= 9` characters, a
 * near-match is a run that equals its first `n` or its last `n` characters,
 * `n = max(8, floor(L / 2))` ({@linkcode nearMatchLength}), raw in the text
 * or in any of the forms above in the view; the run is extended as far as the
 * secret continues. A copy cut short (a truncated text) or damaged at one
 * point (a broken or unknown escape) is therefore redacted rather than left
 * because it could not be decided: what stays visible is never a run of `n`
 * characters of the secret (for `L >= 16`, one side of the damage always has
 * `n`, so something is always redacted). Base64 and hex copies are redacted
 * from their first `n` digits on (a truncated encoding). Runs from the middle
 * of a secret, with both ends missing, are not near-matches.
 *
 * What it does not catch: encodings stacked in other orders than repeated
 * percent-encoding (a percent-encoded HTML reference, base64 of a
 * JSON-escaped value), case changes that change the length (`ß` to `SS`),
 * HTML named references outside ASCII (`&eacute;`), and encodings not listed
 * here (punycode, compression, encryption, a secret split in two fields).
 *
 * A secret shorter than {@linkcode MIN_ENCODED_SECRET_LENGTH} characters is
 * redacted in its raw form only, with its exact case: its encodings would be
 * two or three characters long and would match unrelated text everywhere.
 *
 * Cost: every variant is its own regular expression, built once per
 * redactor, that starts with a literal the engine skips to (one alternation
 * of all of them tried every branch at every position, four times slower);
 * the view is built only from the escapes the text holds, and a text without
 * any is searched as is; adjacent escapes share one entry of the offset map
 * while it spans at most 16 characters, so a match may take in that many
 * characters of neighbouring escapes. Overlapping matches are merged; each merged span
 * becomes `«redacted:NAME»`, named by the match that starts first (at the
 * same start, the longer, then a whole value over a near-match).
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

/**
 * Secrets of at least this many characters (code points) are also matched
 * case-insensitively, and from nine on in part (near-matches of
 * {@linkcode nearMatchLength} characters).
 */
export const NEAR_MATCH_MIN_LENGTH = 8;

/** Percent-encoding is recognised up to this many times over (`%41`, `%2541`, ...). */
export const MAX_PERCENT_FOLDS = 8;

/** The replacement for a secret's value. */
export function redactionToken(name: string): string {
  return `«redacted:${name}»`;
}

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

interface Variant {
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
interface Lead {
  pattern: RegExp;
  lengths: readonly number[];
}

/** One compiled variant. */
interface Pass {
  pattern: RegExp;
  name: string;
  wholeLength: number;
  onlyWithEscapes: boolean;
  lead: Lead[] | undefined;
}

/** A span of the original text to replace. */
interface Span {
  start: number;
  end: number;
  name: string;
  near: boolean;
}

const MAX_JSON_DEPTH = 512;
/** The longest original text one view character comes from (a 4-byte character, 8-fold). */
const MAX_SOURCE_PER_VIEW_CHAR = 4 * (3 + 2 * (MAX_PERCENT_FOLDS - 1)) + 5;

/**
 * Replaces secret values, in any of their common encodings, by
 * `«redacted:NAME»`.
 *
 * @example
 * ```ts
 * import { Redactor } from "./redactor.ts";
 * const r = new Redactor([["api-key", "s3cr3t/+value"]]);
 * r.redact("key=s3cr3t%2F%2Bvalue"); // "key=«redacted:api-key»"
 * r.redact("<td>s3cr3t&#x2F;&plus;value</td>"); // "<td>«redacted:api-key»</td>"
 * r.redact("Authorization: Basic " + btoa("bob:s3cr3t/+value")); // core replaced
 * ```
 */
export class Redactor {
  /** Searched in the text. */
  #raw: Pass[];
  /** Searched in the decoded view. */
  #view: Pass[];
  /** Searched in both. */
  #both: Pass[];
  #size: number;
  /** The longest text one match can span (0 without secrets). */
  readonly maxMatchLength: number;
  /** The shortest text any match can span: shorter texts are returned as they are. */
  #minMatchLength: number;

  /**
   * @param secrets `[name, value]` pairs; empty values are ignored, and when two
   *   names share a value the first one names it
   * @throws {TypeError} when a name or value is not a string
   */
  constructor(secrets: Iterable<readonly [string, string]>) {
    const raw: Variant[] = [];
    const view: Variant[] = [];
    const both: Variant[] = [];
    const seen = new Set<string>();
    for (const [name, value] of secrets) {
      if (typeof name !== "string" || typeof value !== "string") {
        throw new TypeError("Cannot build redactor: names and values must be strings");
      }
      if (value.length === 0 || seen.has(value)) continue;
      seen.add(value);
      const caseless = [...value].length >= NEAR_MATCH_MIN_LENGTH;
      // Raw, in the text: also near-matches, which no escape nearby can hide.
      // The view's text variants match all this in a text without escapes.
      const encoded = value.length >= MIN_ENCODED_SECRET_LENGTH;
      raw.push(
        ...sequenceVariants(name, [...value].map(rawUnit), {
          separator: "",
          caseless,
          near: encoded ? "both" : "none",
        }).map((v) => ({ ...v, onlyWithEscapes: encoded })),
      );
      // The JSON-escaped copy as it stands: after a stray backslash the view
      // reads `\\` as one escaped backslash and the rest of the copy as plain
      // text, so it does not see the secret; the copy is still there to read
      // (fail closed).
      const json = JSON.stringify(value).slice(1, -1);
      if (encoded && json !== value) {
        raw.push(
          ...sequenceVariants(name, [...json].map(rawUnit), {
            separator: "",
            caseless: false,
            near: "none",
          }).map((v) => ({ ...v, onlyWithEscapes: true })),
        );
      }
      if (value.length >= MIN_ENCODED_SECRET_LENGTH) variantsOf(name, value, { raw, view, both });
    }
    this.#size = seen.size;
    this.#raw = compile(raw);
    this.#view = compile(view);
    this.#both = compile(both);
    this.#minMatchLength = raw.concat(view, both).reduce(
      (min, v) => Math.min(min, v.minLength),
      Infinity,
    );
    const longest = (list: Variant[]) => list.reduce((max, v) => Math.max(max, v.maxLength), 0);
    const encoded = longest(view.concat(both));
    // In the text, a view character comes from at most MAX_SOURCE_PER_VIEW_CHAR
    // characters, and a match may take in MERGE more at each end.
    this.maxMatchLength = Math.max(
      longest(raw),
      encoded === 0 ? 0 : encoded * MAX_SOURCE_PER_VIEW_CHAR + 2 * MERGE,
    );
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
    if (text.length < this.#minMatchLength) return text;
    return this.#apply(text, this.#spans(text), text.length);
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
    if (this.#raw.length === 0) return value;
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
    const hold = Math.max(0, this.maxMatchLength - 1);
    let carry = "";
    return new TransformStream<string, string>({
      transform: (chunk, controller) => {
        if (this.#raw.length === 0) {
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
        const spans = this.#spans(buf).filter((s) => s.start < safe);
        const cut = Math.max(safe, spans.length > 0 ? spans[spans.length - 1].end : 0);
        const out = this.#apply(buf, spans, cut);
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

  /** The spans to replace, sorted and without overlaps. */
  #spans(text: string): Span[] {
    const spans: Span[] = [];
    const view = this.#view.length > 0 ? decodeView(text) : null;
    for (const pass of this.#raw) {
      if (view !== null || !pass.onlyWithEscapes) collect(pass, text, null, spans);
    }
    for (const pass of this.#both) collect(pass, text, null, spans);
    if (this.#view.length > 0) {
      const source = view === null ? text : view.text;
      for (const pass of this.#view) collect(pass, source, view, spans);
      if (view !== null) { for (const pass of this.#both) collect(pass, source, view, spans); }
      // `=` at a line end read both ways: as a soft line break and as text.
      const literal = view?.softBreaks ? decodeView(text, false) : null;
      if (literal) {
        for (const pass of this.#view) collect(pass, literal.text, literal, spans);
        for (const pass of this.#both) collect(pass, literal.text, literal, spans);
      }
    }
    if (spans.length < 2) return spans;
    // Where spans overlap, the one starting first names the union; at the same
    // start the longer, then a whole value over a near-match.
    spans.sort((a, b) => a.start - b.start || b.end - a.end || Number(a.near) - Number(b.near));
    const merged: Span[] = [spans[0]];
    for (let i = 1; i < spans.length; i++) {
      const last = merged[merged.length - 1];
      const span = spans[i];
      if (span.start < last.end) last.end = Math.max(last.end, span.end);
      else merged.push(span);
    }
    return merged;
  }

  /** `text` up to `end` with each span replaced by its token. */
  #apply(text: string, spans: Span[], end: number): string {
    if (spans.length === 0) return end === text.length ? text : text.slice(0, end);
    let out = "";
    let last = 0;
    for (const span of spans) {
      out += text.slice(last, span.start) + redactionToken(span.name);
      last = span.end;
    }
    return out + text.slice(last, end);
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

/**
 * One regular expression per variant: each keeps its literal prefix, which
 * the engine skips to; one alternation of all of them would try every branch
 * at every position (about four times slower on a 64 KiB body).
 */
function compile(variants: Variant[]): Pass[] {
  return variants.map((v) => ({
    pattern: new RegExp(v.source, flags(v.source, v.caseless, "g")),
    name: v.name,
    wholeLength: v.wholeLength,
    onlyWithEscapes: v.onlyWithEscapes === true,
    lead: v.lead,
  }));
}

/** Add the spans `pass` finds in `text` (a view mapped back through `map`). */
function collect(pass: Pass, text: string, map: View | null, out: Span[]): void {
  const { pattern, name, wholeLength, lead } = pass;
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const start = lead === undefined ? m.index : extendLeft(text, m.index, lead);
    const end = m.index + m[0].length;
    const near = end - start < wholeLength;
    out.push(
      map === null
        ? { start, end, name, near }
        : { start: map.sourceStart(start), end: map.sourceEnd(end), name, near },
    );
    if (m[0].length === 0) pattern.lastIndex++;
  }
}

/** Walk back from `at` over as many of the `lead` units as `text` holds there. */
function extendLeft(text: string, at: number, lead: Lead[]): number {
  let pos = at;
  for (const unit of lead) {
    let matched = 0;
    for (const length of unit.lengths) {
      if (length > pos) continue;
      unit.pattern.lastIndex = pos - length;
      const m = unit.pattern.exec(text);
      if (m !== null && m[0].length === length) {
        matched = length;
        break;
      }
    }
    if (matched === 0) break;
    pos -= matched;
  }
  return pos;
}

/**
 * The variants of one value: text forms are searched in the decoded view;
 * hex (which holds no escapes) in the text; base64 in both (in the view its
 * `+` and `/` may have been escaped, in the text a character just before it
 * may have joined an escape).
 */
function variantsOf(
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
function sequenceVariants(
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
function rawUnit(ch: string): Unit {
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

/**
 * The decoded view of a text and the map from its offsets to the text's:
 * each decoded escape is a segment; between segments the two are equal.
 */
class View {
  readonly text: string;
  /** Whether a quoted-printable soft line break was decoded (dropped). */
  readonly softBreaks: boolean;
  /** Per segment: view start, view end, source start, source end. */
  readonly #segments: number[];

  constructor(text: string, segments: number[], softBreaks: boolean) {
    this.text = text;
    this.softBreaks = softBreaks;
    this.#segments = segments;
  }

  /** The source offset where a match starting at view offset `v` starts. */
  sourceStart(v: number): number {
    const k = this.#last(v, true);
    if (k < 0) return v;
    const s = this.#segments;
    return v < s[k + 1] ? s[k + 2] : s[k + 3] + (v - s[k + 1]);
  }

  /** The source offset where a match ending at view offset `v` ends. */
  sourceEnd(v: number): number {
    const k = this.#last(v, false);
    if (k < 0) return v;
    const s = this.#segments;
    return v <= s[k + 1] ? s[k + 3] : s[k + 3] + (v - s[k + 1]);
  }

  /** Index of the last segment starting at or before (`inclusive`) or before `v`, or -1. */
  #last(v: number, inclusive: boolean): number {
    const s = this.#segments;
    let lo = 0;
    let hi = s.length / 4 - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const start = s[mid * 4];
      if (start < v || (inclusive && start === v)) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found * 4;
  }
}

const FOLDS = MAX_PERCENT_FOLDS - 1;
/**
 * The escapes the view decodes. Runs of byte escapes are taken whole so that
 * multi-byte UTF-8 characters decode; `\\` is one escape, so the character
 * after it is never read as the start of another.
 */
const ESCAPE = new RegExp(
  [
    `(?:%(?:25){0,${FOLDS}}[0-9A-Fa-f]{2})+`,
    String.raw`(?:\\[xX][0-9A-Fa-f]{2})+`,
    String.raw`(?:\\(?:[0-3][0-7]{2}|[0-7]{1,2}))+`,
    String.raw`\\(?:u\{[0-9A-Fa-f]{1,8}\}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8})`,
    String.raw`(?:\\["\\/'bfnrtv])+`,
    "&#(?:[xX][0-9A-Fa-f]{1,8}|[0-9]{1,10});?",
    "&[A-Za-z]{2,24};?",
    String.raw`=(?:\r?\n|\\r\\n|\\n)`,
  ].join("|"),
  "g",
);
/** Source characters adjacent escapes may share one segment over. */
const MERGE = 16;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  "'": "'",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};

/**
 * Decode every escape in `text` into a view, or return null when there is
 * none (the text is its own view). With `softBreaks` false, `=` at a line
 * end stays text: outside quoted-printable it is a character (base64 padding,
 * a secret ending in `=` before a newline), so a view that dropped it would
 * hide a secret that the other view shows.
 */
function decodeView(text: string, softBreaks = true, percentOnly = false): View | null {
  ESCAPE.lastIndex = 0;
  let m = ESCAPE.exec(text);
  if (m === null) return null;
  const parts: string[] = [];
  const segments: number[] = [];
  let length = 0;
  let copied = 0;
  let dropped = false;
  const emit = (decoded: string, start: number, end: number) => {
    const last = segments.length - 4;
    if (start > copied) {
      parts.push(text.slice(copied, start));
      length += start - copied;
    } else if (last >= 0 && start === segments[last + 3] && end - segments[last + 2] <= MERGE) {
      // Adjacent escapes share one segment while it is short: a run of many
      // (an upstream's megabyte of `\\`) costs a few numbers per segment,
      // and a match ends at most MERGE characters beyond its escape.
      segments[last + 1] += decoded.length;
      segments[last + 3] = end;
      parts.push(decoded);
      length += decoded.length;
      copied = end;
      return;
    }
    segments.push(length, length + decoded.length, start, end);
    parts.push(decoded);
    length += decoded.length;
    copied = end;
  };
  for (; m !== null; m = ESCAPE.exec(text)) {
    if (percentOnly && m[0][0] !== "%") continue;
    if (m[0][0] === "=") {
      if (!softBreaks) continue;
      dropped = true;
    }
    decodeEscape(m[0], m.index, emit);
  }
  if (copied === 0 && segments.length === 0) return null;
  if (copied < text.length) parts.push(text.slice(copied));
  return new View(parts.join(""), segments, dropped);
}

type Emit = (decoded: string, start: number, end: number) => void;

function decodeEscape(token: string, at: number, emit: Emit): void {
  const first = token[0];
  const second = token[1];
  if (first === "%") {
    // Units `%` (25)* XX, each starting with the run's next "%".
    const bytes: number[] = [];
    const bounds: number[] = [];
    for (let i = 0; i < token.length;) {
      let next = token.indexOf("%", i + 3);
      if (next < 0) next = token.length;
      bytes.push(parseInt(token.slice(next - 2, next), 16));
      bounds.push(at + i, at + next);
      i = next;
    }
    decodeBytes(bytes, bounds, emit);
  } else if (first === "\\" && (second === "x" || second === "X")) {
    const bytes: number[] = [];
    const bounds: number[] = [];
    for (let i = 0; i < token.length; i += 4) {
      bytes.push(parseInt(token.slice(i + 2, i + 4), 16));
      bounds.push(at + i, at + i + 4);
    }
    decodeBytes(bytes, bounds, emit);
  } else if (first === "\\" && second >= "0" && second <= "7") {
    const bytes: number[] = [];
    const bounds: number[] = [];
    for (let i = 0; i < token.length;) {
      let next = token.indexOf("\\", i + 1);
      if (next < 0) next = token.length;
      bytes.push(parseInt(token.slice(i + 1, next), 8));
      bounds.push(at + i, at + next);
      i = next;
    }
    decodeBytes(bytes, bounds, emit);
  } else if (first === "\\") {
    if (second === "u" && token[2] === "{") {
      emitCodePoint(parseInt(token.slice(3, -1), 16), at, token.length, emit);
    } else if (second === "u") {
      emit(String.fromCharCode(parseInt(token.slice(2), 16)), at, at + token.length);
    } else if (second === "U") {
      emitCodePoint(parseInt(token.slice(2), 16), at, token.length, emit);
    } else {
      for (let i = 0; i < token.length; i += 2) {
        emit(SIMPLE_ESCAPES[token[i + 1]], at + i, at + i + 2);
      }
    }
  } else if (first === "&" && second === "#") {
    const semi = token.endsWith(";") ? 1 : 0;
    const hex = token[2] === "x" || token[2] === "X";
    const digits = token.slice(hex ? 3 : 2, token.length - semi);
    emitCodePoint(parseInt(digits, hex ? 16 : 10), at, token.length, emit);
  } else if (first === "&") {
    const semi = token.endsWith(";");
    const name = semi ? token.slice(1, -1) : token.slice(1);
    const ref = HTML_REFERENCES.get(name);
    if (ref !== undefined && (semi || ref.legacy)) emit(ref.char, at, at + token.length);
    else if (!semi || ref === undefined) {
      // Browsers read a legacy reference at the start of a longer name
      // (`&ltb` is "<b"); the rest of the name stays text.
      for (const legacy of LEGACY_REFERENCES) {
        if (name.startsWith(legacy) && name.length > legacy.length) {
          emit(HTML_REFERENCES.get(legacy)!.char, at, at + 1 + legacy.length);
          break;
        }
      }
    }
  } else {
    emit("", at, at + token.length); // a quoted-printable soft line break
  }
}

function emitCodePoint(code: number, at: number, length: number, emit: Emit): void {
  if (code <= 0x10ffff) emit(String.fromCodePoint(code), at, at + length);
}

/** UTF-8 bytes to characters; a byte that starts no valid sequence reads as Latin-1. */
function decodeBytes(bytes: number[], bounds: number[], emit: Emit): void {
  for (let i = 0; i < bytes.length;) {
    const b0 = bytes[i];
    let size = b0 < 0x80 ? 1 : b0 < 0xc2 ? 0 : b0 < 0xe0 ? 2 : b0 < 0xf0 ? 3 : b0 < 0xf5 ? 4 : 0;
    let code = size === 2 ? b0 & 0x1f : size === 3 ? b0 & 0x0f : b0 & 0x07;
    if (size === 1) code = b0;
    if (size > 1 && i + size > bytes.length) size = 0;
    for (let k = 1; k < size; k++) {
      const b = bytes[i + k];
      if ((b & 0xc0) !== 0x80) {
        size = 0;
        break;
      }
      code = (code << 6) | (b & 0x3f);
    }
    if (size === 0) {
      emit(String.fromCharCode(b0), bounds[2 * i], bounds[2 * i + 1]);
      i++;
    } else {
      emit(String.fromCodePoint(code), bounds[2 * i], bounds[2 * (i + size - 1) + 1]);
      i += size;
    }
  }
}

/**
 * HTML named character references for the characters that have one in the
 * ASCII range (and U+00A0), as HTML encoders emit them. A name marked with a
 * trailing `?` may also appear without its `;` (the legacy references).
 */
const HTML_NAMES: Readonly<Record<string, readonly string[]>> = {
  "\t": ["Tab"],
  "\n": ["NewLine"],
  "!": ["excl"],
  '"': ["quot?", "QUOT?"],
  "#": ["num"],
  "$": ["dollar"],
  "%": ["percnt"],
  "&": ["amp?", "AMP?"],
  "'": ["apos"],
  "(": ["lpar"],
  ")": ["rpar"],
  "*": ["ast", "midast"],
  "+": ["plus"],
  ",": ["comma"],
  ".": ["period"],
  "/": ["sol"],
  ":": ["colon"],
  ";": ["semi"],
  "<": ["lt?", "LT?"],
  "=": ["equals"],
  ">": ["gt?", "GT?"],
  "?": ["quest"],
  "@": ["commat"],
  "[": ["lsqb", "lbrack"],
  "\\": ["bsol"],
  "]": ["rsqb", "rbrack"],
  "^": ["Hat"],
  "_": ["lowbar", "UnderBar"],
  "`": ["grave", "DiacriticalGrave"],
  "{": ["lcub", "lbrace"],
  "|": ["verbar", "vert", "VerticalLine"],
  "}": ["rcub", "rbrace"],
  "\u00a0": ["nbsp?", "NonBreakingSpace"],
};

/** Reference name to character; `legacy` ones may appear without `;`. */
const HTML_REFERENCES: ReadonlyMap<string, { char: string; legacy: boolean }> = new Map();
for (const [char, refs] of Object.entries(HTML_NAMES)) {
  for (const ref of refs) {
    const legacy = ref.endsWith("?");
    (HTML_REFERENCES as Map<string, { char: string; legacy: boolean }>)
      .set(legacy ? ref.slice(0, -1) : ref, { char, legacy });
  }
}

/** The legacy reference names, longest first. */
const LEGACY_REFERENCES: readonly string[] = [...HTML_REFERENCES]
  .filter(([, ref]) => ref.legacy)
  .map(([name]) => name)
  .sort((a, b) => b.length - a.length);

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
function flags(source: string, caseless: boolean, base: string): string {
  if (!caseless) return base;
  // deno-lint-ignore no-control-regex
  return /[^\x00-\x7f]/.test(source) ? base + "iu" : base + "i";
}

/** Escape for a pattern that may run with the `u` flag (so `-` is left alone). */
function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}
