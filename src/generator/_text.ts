/**
 * Text from an OpenAPI document made fit for a config: control and invisible
 * characters dropped, whitespace runs of a line kept, trimmed to a byte cap on
 * a character boundary.
 *
 * @module
 */

const utf8 = new TextEncoder();
const UNWANTED =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/g;

/**
 * `value` as clean text of at most `maxBytes` UTF-8 bytes, or "" when it is
 * not a string or empty.
 */
export function cleanText(value: unknown, maxBytes: number): string {
  if (typeof value !== "string") return "";
  const text = value.replace(UNWANTED, "").replace(/\r\n?/g, "\n").replace(/\n{3,}/g, "\n\n")
    .trim();
  return trimBytes(text, maxBytes);
}

/** `text` cut to at most `maxBytes` UTF-8 bytes, ending in "..." when cut. */
export function trimBytes(text: string, maxBytes: number): string {
  if (utf8.encode(text).length <= maxBytes) return text;
  let out = "";
  let size = 0;
  for (const ch of text) {
    const n = utf8.encode(ch).length;
    if (size + n > maxBytes - 3) break;
    out += ch;
    size += n;
  }
  return out.trimEnd() + "...";
}
