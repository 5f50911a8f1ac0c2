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

import { decodeView, MAX_PERCENT_FOLDS, MERGE, View } from "./_view.ts";
import {
  flags,
  type Lead,
  MIN_ENCODED_SECRET_LENGTH,
  NEAR_MATCH_MIN_LENGTH,
  rawUnit,
  sequenceVariants,
  type Variant,
  variantsOf,
} from "./_variants.ts";

export { MAX_PERCENT_FOLDS } from "./_view.ts";
export {
  base64Core,
  MIN_ENCODED_SECRET_LENGTH,
  NEAR_MATCH_MIN_LENGTH,
  nearMatchLength,
} from "./_variants.ts";

/** The replacement for a secret's value. */
export function redactionToken(name: string): string {
  return `«redacted:${name}»`;
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
