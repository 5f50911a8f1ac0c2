/**
 * Terminal-safe text: what LOOM prints for people must not let text from
 * clients, upstreams, agents or configs drive the terminal.
 *
 * A client chooses its `clientInfo.name`, its tool arguments and its
 * user agent; an upstream chooses its error text; all of them end up in the
 * audit log and in `loom audit show`. Printed raw, an ESC sequence can erase
 * the line before it (`\x1b[2K\r`), open a hyperlink (`\x1b]8;;`), recolour or
 * retitle the terminal; CR, LF and U+2028/U+2029 start a new line, so one
 * record can forge another; backspace, NUL and DEL hide characters; C1
 * controls (U+0080-U+009F, `\x9b` is a one-byte CSI) act like ESC sequences
 * in some terminals; bidi overrides, embeddings, isolates and marks
 * (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) reorder what is
 * shown so text reads differently from what it is.
 *
 * {@linkcode escapeForTerminal} writes each of them as a visible escape
 * (`\x1b`, `\n`, `\u202e`) and doubles backslashes, so the escaped form is
 * unambiguous and one value stays on one line. Zero-width characters
 * (U+200B-U+200D, U+2060-U+2064, U+FEFF) and lone surrogates are escaped too:
 * they hide differences between two names. Other text, including all printable
 * Unicode, is kept. {@linkcode jsonForTerminal} does the same for JSON output
 * with JSON's own `\uXXXX` escape, so the line still parses to the exact value.
 *
 * @example
 * ```ts
 * import { escapeForTerminal } from "./terminal.ts";
 * escapeForTerminal("ok\x1b[2K\rforged"); // "ok\\x1b[2K\\rforged"
 * ```
 *
 * @module
 */

/** What {@linkcode escapeForTerminal} rewrites (besides the backslash). */
const UNSAFE =
  // deno-lint-ignore no-control-regex
  /[\x00-\x1f\x7f-\x9f\\\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** {@linkcode UNSAFE} without the backslash. */
const UNSAFE_IN_TEXT = new RegExp(UNSAFE.source.replace("\\\\", ""), "g");

/** What JSON text may still hold that a terminal acts on (JSON escapes C0 itself). */
const UNSAFE_IN_JSON =
  /[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const SHORT: Readonly<Record<string, string>> = {
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\\": "\\\\",
};

function escapeOne(ch: string): string {
  const short = SHORT[ch];
  if (short !== undefined) return short;
  const code = ch.charCodeAt(0);
  return code < 0x100
    ? "\\x" + code.toString(16).padStart(2, "0")
    : "\\u" + code.toString(16).padStart(4, "0");
}

function unicodeEscape(ch: string): string {
  return "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0");
}

/**
 * Make untrusted text safe to print on one terminal line: control, bidi,
 * line-separator and zero-width characters become visible escapes, and a
 * backslash is doubled.
 *
 * @param text any text (a client's name, an argument, an error message)
 * @returns the text with nothing a terminal acts on; unchanged when clean
 */
export function escapeForTerminal(text: string): string {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(text) ? text.replace(UNSAFE, escapeOne) : text;
}

/**
 * Whether `text` prints without escapes: it holds no control, bidi,
 * line-separator or zero-width character and no lone surrogate (a backslash
 * is fine).
 *
 * @param text any text
 * @returns true when a terminal shows it as it is
 */
export function isTerminalSafe(text: string): boolean {
  UNSAFE_IN_TEXT.lastIndex = 0;
  return !UNSAFE_IN_TEXT.test(text);
}

/**
 * Escape each line of a multi-line text of LOOM's own (a stack trace, a
 * help text with quoted values), keeping its line breaks.
 *
 * @param text text whose `\n` line breaks are meant
 * @returns each line escaped with {@linkcode escapeForTerminal}
 */
export function escapeLinesForTerminal(text: string): string {
  return text.split("\n").map(escapeForTerminal).join("\n");
}

/**
 * `JSON.stringify(value)` with every character a terminal acts on written as
 * a `\uXXXX` escape: the line parses back to exactly `value`.
 *
 * @param value a JSON value
 * @returns one line of JSON text
 */
export function jsonForTerminal(value: unknown): string {
  const json = JSON.stringify(value);
  UNSAFE_IN_JSON.lastIndex = 0;
  return UNSAFE_IN_JSON.test(json) ? json.replace(UNSAFE_IN_JSON, unicodeEscape) : json;
}
