/**
 * The decoded view the redactor searches: one scan that decodes every escape
 * of a text in place (percent, backslash, HTML references, quoted-printable
 * soft breaks) and maps each offset of the view back to the text, so a
 * match in the view replaces the right span of the original.
 *
 * @module
 */

/** Percent-encoding is recognised up to this many times over (`%41`, `%2541`, ...). */
export const MAX_PERCENT_FOLDS = 8;

/**
 * The decoded view of a text and the map from its offsets to the text's:
 * each decoded escape is a segment; between segments the two are equal.
 */
export class View {
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
export const MERGE = 16;
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
export function decodeView(text: string, softBreaks = true, percentOnly = false): View | null {
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
