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

/** Look-alike characters NFKC does not fold, and the ASCII character each imitates. */
const CONFUSABLES: Readonly<Record<string, string>> = {
  // Cyrillic lower case
  "\u0430": "a", // а
  "\u0435": "e", // е
  "\u043e": "o", // о
  "\u0440": "p", // р
  "\u0441": "c", // с
  "\u0443": "y", // у
  "\u0445": "x", // х
  "\u043a": "k", // к
  "\u0456": "i", // і
  "\u0458": "j", // ј
  "\u0455": "s", // ѕ
  "\u04bb": "h", // һ
  "\u0501": "d", // ԁ
  "\u051b": "q", // ԛ
  "\u051d": "w", // ԝ
  "\u04cf": "l", // ӏ
  // Cyrillic upper case
  "\u0410": "A",
  "\u0412": "B",
  "\u0421": "C",
  "\u0415": "E",
  "\u041d": "H",
  "\u0406": "I",
  "\u04c0": "I",
  "\u0408": "J",
  "\u041a": "K",
  "\u041c": "M",
  "\u041e": "O",
  "\u0420": "P",
  "\u0405": "S",
  "\u0422": "T",
  "\u0425": "X",
  "\u0423": "Y",
  "\u04ae": "Y",
  "\u051a": "Q",
  "\u051c": "W",
  // Greek lower case
  "\u03b1": "a", // α
  "\u03b5": "e", // ε
  "\u03b9": "i", // ι
  "\u03ba": "k", // κ
  "\u03bd": "v", // ν
  "\u03bf": "o", // ο
  "\u03c1": "p", // ρ
  "\u03c4": "t", // τ
  "\u03c5": "u", // υ
  "\u03c7": "x", // χ
  "\u03b3": "y", // γ
  "\u03f2": "c", // ϲ
  "\u03f3": "j", // ϳ
  // Greek upper case
  "\u0391": "A",
  "\u0392": "B",
  "\u0395": "E",
  "\u0396": "Z",
  "\u0397": "H",
  "\u0399": "I",
  "\u039a": "K",
  "\u039c": "M",
  "\u039d": "N",
  "\u039f": "O",
  "\u03a1": "P",
  "\u03a4": "T",
  "\u03a5": "Y",
  "\u03a7": "X",
  "\u03f9": "C",
  // Latin and Armenian look-alikes
  "\u0131": "i", // dotless i
  "\u0237": "j", // dotless j
  "\u0261": "g", // script g
  "\u0269": "i", // iota
  "\u0585": "o", // Armenian oh
  "\u057d": "u", // Armenian seh
  // quotes, primes, dashes, slashes, bars
  "\u2018": "'",
  "\u2019": "'",
  "\u201a": "'",
  "\u201b": "'",
  "\u02bc": "'",
  "\u02b9": "'",
  "\u2032": "'",
  "\u201c": '"',
  "\u201d": '"',
  "\u201e": '"',
  "\u201f": '"',
  "\u2033": '"',
  "\u2010": "-",
  "\u2011": "-",
  "\u2012": "-",
  "\u2013": "-",
  "\u2014": "-",
  "\u2015": "-",
  "\u2212": "-",
  "\u2215": "/", // division slash
  "\u2044": "/", // fraction slash
  "\u29f8": "/", // big solidus
  "\u2216": "\\", // set minus
  "\u29f5": "\\", // reverse solidus operator
  "\u29f9": "\\", // big reverse solidus
  "\u01c0": "|", // dental click
  "\u2223": "|", // divides
};

const CONFUSABLE = new RegExp(`[${Object.keys(CONFUSABLES).join("")}]`);
/** The same map by UTF-16 code unit (every key is one BMP character). */
const FOLD = new Map<number, string>(
  Object.entries(CONFUSABLES).map(([from, to]) => [from.charCodeAt(0), to]),
);
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
