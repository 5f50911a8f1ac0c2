/**
 * The text the injection rules see (private to validate/).
 *
 * An attacker who knows the rules hides a payload from them with characters a
 * shell, a database or a model reads past but a regular expression does not:
 *
 * - invisible characters inside a word (`ig<U+200B>nore`): every format
 *   character (Unicode general category Cf: zero-width space, joiners, word
 *   joiner, byte order mark, soft hyphen, bidi controls, tag characters) and
 *   every other default-ignorable code point (variation selectors, the
 *   combining grapheme joiner, Hangul fillers) is removed;
 * - compatibility forms (fullwidth `ｒｍ`, `‥/`, ligatures, mathematical
 *   letters) are folded by NFKC;
 * - Cyrillic and Greek letters that look Latin (`іgnore` with a Cyrillic
 *   `і`), curly quotes and prime marks, Unicode dashes and slash-like symbols
 *   that NFKC leaves alone are mapped to the ASCII character they imitate;
 * - percent-encoding (`%27`, `%0A`, `%ef%bc%8f`): {@linkcode percentDecoded}
 *   gives a second view with escapes decoded once, so an encoded quote,
 *   newline or fullwidth slash is seen; the path rules also match the
 *   encoded and double-encoded forms themselves.
 *
 * ASCII-only strings (almost every argument) skip the Unicode steps: one
 * precompiled test decides.
 *
 * @module
 */

/**
 * Look-alike characters NFKC does not fold, a group a line: each character of
 * the first string imitates the ASCII character at the same place in the
 * second. Every look-alike is a single BMP character (one UTF-16 code unit).
 */
const LOOK_ALIKES: readonly (readonly [from: string, to: string])[] = [
  // Cyrillic lower case: а е о р с у х к і ј ѕ һ ԁ ԛ ԝ ӏ
  ["\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u043a", "aeopcyxk"],
  ["\u0456\u0458\u0455\u04bb\u0501\u051b\u051d\u04cf", "ijshdqwl"],
  // Cyrillic upper case: А В С Е Н І Ӏ Ј К М О Р Ѕ Т Х У Ү Ԛ Ԝ
  ["\u0410\u0412\u0421\u0415\u041d\u0406\u04c0\u0408\u041a\u041c", "ABCEHIIJKM"],
  ["\u041e\u0420\u0405\u0422\u0425\u0423\u04ae\u051a\u051c", "OPSTXYYQW"],
  // Greek lower case: α ε ι κ ν ο ρ τ υ χ γ ϲ ϳ
  ["\u03b1\u03b5\u03b9\u03ba\u03bd\u03bf\u03c1", "aeikvop"],
  ["\u03c4\u03c5\u03c7\u03b3\u03f2\u03f3", "tuxycj"],
  // Greek upper case: Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ Ϲ
  ["\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c", "ABEZHIKM"],
  ["\u039d\u039f\u03a1\u03a4\u03a5\u03a7\u03f9", "NOPTYXC"],
  // Latin and Armenian: dotless ı and ȷ, script ɡ, iota ɩ, Armenian օ and ս
  ["\u0131\u0237\u0261\u0269\u0585\u057d", "ijgiou"],
  // single quotes, modifier apostrophes, prime: ‘ ’ ‚ ‛ ʼ ʹ ′
  ["\u2018\u2019\u201a\u201b\u02bc\u02b9\u2032", "'''''''"],
  // double quotes, double prime: “ ” „ ‟ ″
  ["\u201c\u201d\u201e\u201f\u2033", '"""""'],
  // hyphens, dashes, minus sign: ‐ ‑ ‒ – — ― −
  ["\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-------"],
  // slashes (division, fraction, big solidus) ∕ ⁄ ⧸ and backslashes (set minus,
  // reverse solidus operator, big reverse solidus) ∖ ⧵ ⧹
  ["\u2215\u2044\u29f8\u2216\u29f5\u29f9", "///\\\\\\"],
  // dental click, divides: ǀ ∣
  ["\u01c0\u2223", "||"],
];

/** The table by UTF-16 code unit, built once at load. */
function foldTable(): Map<number, string> {
  const table = new Map<number, string>();
  for (const [from, to] of LOOK_ALIKES) {
    if (from.length !== to.length) {
      throw new TypeError(`Cannot fold look-alikes "${to}": lengths differ`);
    }
    for (let i = 0; i < from.length; i++) table.set(from.charCodeAt(i), to[i]);
  }
  return table;
}

const FOLD = foldTable();
const CONFUSABLE = new RegExp(`[${LOOK_ALIKES.map(([from]) => from).join("")}]`);
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;
const NON_ASCII = /[\u0080-\uffff]/;
const PERCENT = /%(?:u[0-9a-f]{4}|[0-9a-f]{2})/i;
const PERCENT_U = /%u([0-9a-f]{4})/gi;
const PERCENT_RUN = /(?:%[0-9a-f]{2})+/gi;
const PERCENT_ASCII = /%([0-7][0-9a-f])/gi;

/** Map look-alikes to ASCII in one pass (a replace callback per character is slower). */
function foldConfusables(value: string): string {
  if (!CONFUSABLE.test(value)) return value;
  let out = "";
  let last = 0;
  for (let i = 0; i < value.length; i++) {
    const to = FOLD.get(value.charCodeAt(i));
    if (to !== undefined) {
      out += value.slice(last, i) + to;
      last = i + 1;
    }
  }
  return out + value.slice(last);
}

/**
 * The form of `value` the rules match: invisible characters removed, NFKC
 * applied, look-alikes mapped to ASCII. ASCII input is returned as is.
 */
export function foldForScreening(value: string): string {
  if (!NON_ASCII.test(value)) return value;
  return foldConfusables(value.replace(INVISIBLE, "").normalize("NFKC"));
}

/**
 * `value` with its percent-encoded runs decoded once, or `null` when it has
 * none. IIS-style `%uXXXX` escapes are decoded too. A run that is valid UTF-8 is decoded whole (`%ef%bc%8f` becomes `／`,
 * which folding then turns into `/`); in a run that is not (overlong forms
 * such as `%c0%af`, stray `%ff`), only the escapes of ASCII characters are
 * decoded and the rest is left as written for the rules that match it.
 */
export function percentDecoded(value: string): string | null {
  if (!value.includes("%") || !PERCENT.test(value)) return null;
  const decoded = value.replace(PERCENT_RUN, decodeRun);
  return decoded.includes("%u") ? decoded.replace(PERCENT_U, decodeUnit) : decoded;
}

function decodeUnit(_match: string, hex: string): string {
  return String.fromCharCode(parseInt(hex, 16));
}

function decodeRun(run: string): string {
  try {
    return decodeURIComponent(run);
  } catch {
    return run.replace(PERCENT_ASCII, decodeByte);
  }
}

function decodeByte(_match: string, hex: string): string {
  return String.fromCharCode(parseInt(hex, 16));
}
