/**
 * A fast path for the plain YAML that configs are made of.
 *
 * The `yaml` package parses about 1 MB/s (its lexer and parser are built on
 * generators), so a 4 KB pack config costs milliseconds and a mesh of 50 costs
 * a large share of the start-up budget. This parser handles only a strict
 * subset and gives up (returns `undefined`) on anything else, which then goes
 * through the `yaml` package:
 *
 * - block mappings and sequences indented with spaces, compact sequences
 *   (`key:` followed by `- item` at the same indentation), mappings inside
 *   sequence items (`- name: x`);
 * - single-line flow collections (`{ a: 1, b: [x, "y"] }`) without trailing
 *   commas or implicit entries;
 * - single-line plain scalars (resolved with the YAML 1.2 core schema exactly
 *   as the `yaml` package resolves them), single-quoted scalars, double-quoted
 *   scalars without escapes;
 * - full-line and trailing comments, blank lines.
 *
 * Anything else (anchors, aliases, tags, block scalars, multi-line scalars,
 * escapes, document markers, directives, tabs, CR, control or astral
 * characters, duplicate or non-string keys, `__proto__` and `<<` keys, nesting
 * of 64 levels or more) gives up, so that every error is still reported by the
 * `yaml` package. Differential tests check that accepted documents produce the
 * same value and the same positions as the `yaml` package.
 *
 * @module
 */

import {
  formatPath,
  type Located,
  type PathSegment,
  type Position,
  type YamlSource,
} from "./_path.ts";

/** Thrown internally to give up; never escapes this module. */
class GiveUp {}
const GIVE_UP = new GiveUp();

function giveUp(): never {
  throw GIVE_UP;
}

interface Line {
  indent: number;
  /** Offset of the first content character in the text. */
  start: number;
  /** The content from `start` to the end of the line. */
  text: string;
}

interface Entry {
  key?: number;
  /** Offset of the value; absent for a null mapping value. */
  value?: number;
}

/** Collections deeper than this are left to the full parser (which refuses them). */
const MAX_DEPTH = 63;

// Characters the fast path accepts: printable BMP characters except line and
// paragraph separators, BOM, and NEL/C1 controls. Anything else gives up.
const UNSUPPORTED = /[^\n\x20-\x7E\u00A0-\u2027\u202A-\uD7FF\uE000-\uFEFE\uFF00-\uFFFD]/;
// First characters of plain scalars that are indicators (YAML 1.2 section 7.3.3),
// plus `-`, `?` and `:` which the fast path leaves to the full parser.
const PLAIN_FIRST_BAD = /^[-?:,[\]{}#&*!|>'"%@`]/;

/** Resolve a plain scalar as the `yaml` package's core schema does. */
export function resolvePlain(text: string): unknown {
  // Most scalars are words: only these first characters can start a non-string.
  if (text !== "" && !/^[-+.0-9~nNtTfF]/.test(text)) return text;
  if (/^(?:~|[Nn]ull|NULL)?$/.test(text)) return null;
  if (/^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(text)) return text[0] === "t" || text[0] === "T";
  if (/^0o[0-7]+$/.test(text)) return parseInt(text.substring(2), 8);
  if (/^[-+]?[0-9]+$/.test(text)) return parseInt(text, 10);
  if (/^0x[0-9a-fA-F]+$/.test(text)) return parseInt(text.substring(2), 16);
  if (/^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(text)) {
    if (text.slice(-3).toLowerCase() === "nan") return NaN;
    return text[0] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(text)) return parseFloat(text);
  if (/^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(text)) return parseFloat(text);
  return text;
}

/** Positions from the table the fast parser fills. */
class TableSource implements YamlSource {
  #entries: Map<string, Entry>;
  #root: number;
  #lineStarts: number[];

  constructor(entries: Map<string, Entry>, root: number, lineStarts: number[]) {
    this.#entries = entries;
    this.#root = root;
    this.#lineStarts = lineStarts;
  }

  locate(path: readonly PathSegment[], key = false): Position {
    let offset = this.#root;
    let id = "";
    for (let i = 0; i < path.length; i++) {
      id += `\u0000${path[i]}`;
      const entry = this.#entries.get(id);
      if (!entry) break;
      if (entry.key !== undefined) {
        offset = entry.key;
        if (key && i === path.length - 1) break;
      }
      if (entry.value === undefined) break;
      offset = entry.value;
    }
    // Binary search for the line holding `offset`.
    let lo = 0;
    let hi = this.#lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.#lineStarts[lo] + 1 };
  }

  at(path: readonly PathSegment[], message: string, key = false): Located {
    return { ...this.locate(path, key), path: formatPath(path), message };
  }
}

/**
 * Parse a document in the fast subset.
 *
 * @returns the value and its positions, or undefined when the document is
 *   outside the subset (the caller then uses the full parser)
 */
export function parseFastYaml(text: string): { data: unknown; source: YamlSource } | undefined {
  if (UNSUPPORTED.test(text)) return undefined;
  try {
    return new FastParser(text).run();
  } catch (error) {
    if (error === GIVE_UP) return undefined;
    throw error;
  }
}

class FastParser {
  #lines: Line[] = [];
  #lineStarts: number[] = [];
  #i = 0;
  #entries = new Map<string, Entry>();

  constructor(text: string) {
    let offset = 0;
    for (const raw of text.split("\n")) {
      this.#lineStarts.push(offset);
      let indent = 0;
      while (raw.charCodeAt(indent) === 32) indent++;
      const content = raw.slice(indent);
      if (content !== "" && content[0] !== "#") {
        if (indent === 0 && (content.startsWith("---") || content.startsWith("..."))) giveUp();
        this.#lines.push({ indent, start: offset + indent, text: content });
      }
      offset += raw.length + 1;
    }
  }

  run(): { data: unknown; source: YamlSource } {
    if (this.#lines.length === 0) giveUp();
    const first = this.#lines[0];
    if (isSeqLine(first.text)) giveUp();
    const data = this.#node(first.indent, "", 0);
    if (this.#i !== this.#lines.length) giveUp();
    return { data, source: new TableSource(this.#entries, first.start, this.#lineStarts) };
  }

  /** A block node whose first line is the current line, at `indent`. */
  #node(indent: number, id: string, depth: number): unknown {
    if (depth > MAX_DEPTH) giveUp();
    const line = this.#lines[this.#i];
    if (isSeqLine(line.text)) return this.#sequence(indent, id, depth);
    if (keyEnd(line.text) !== undefined) return this.#mapping(indent, id, depth);
    return giveUp();
  }

  #mapping(indent: number, id: string, depth: number): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    const seen = new Set<string>();
    while (this.#i < this.#lines.length && this.#lines[this.#i].indent === indent) {
      const line = this.#lines[this.#i];
      if (isSeqLine(line.text)) giveUp();
      const { key, end } = readKey(line.text);
      if (seen.has(key) || key === "__proto__" || key === "<<") giveUp();
      seen.add(key);
      const childId = `${id}\u0000${key}`;
      const entry: Entry = { key: line.start };
      const p = skipSpaces(line.text, end + 1);
      let value: unknown;
      if (p >= line.text.length || line.text[p] === "#") {
        this.#i++;
        const next = this.#lines[this.#i];
        if (next && next.indent > indent) {
          entry.value = next.start;
          value = this.#node(next.indent, childId, depth + 1);
        } else if (next && next.indent === indent && isSeqLine(next.text)) {
          entry.value = next.start;
          value = this.#sequence(indent, childId, depth + 1);
        } else {
          value = null;
        }
      } else {
        const inline = new Inline(line.text, line.start, this.#entries, depth);
        value = inline.value(p, childId);
        inline.end();
        if (value !== null) entry.value = line.start + p;
        this.#i++;
        this.#noContinuation(indent);
      }
      this.#entries.set(childId, entry);
      map[key] = value;
    }
    this.#noStrayIndent(indent);
    return map;
  }

  #sequence(indent: number, id: string, depth: number): unknown[] {
    const list: unknown[] = [];
    while (
      this.#i < this.#lines.length && this.#lines[this.#i].indent === indent &&
      isSeqLine(this.#lines[this.#i].text)
    ) {
      const line = this.#lines[this.#i];
      const childId = `${id}\u0000${list.length}`;
      const p = skipSpaces(line.text, 1);
      const entry: Entry = { value: line.start + p };
      const rest = line.text.slice(p);
      let value: unknown;
      if (p >= line.text.length || line.text[p] === "#") {
        // `-` (perhaps with a comment) and the item on the following lines.
        this.#i++;
        const next = this.#lines[this.#i];
        if (!next || next.indent <= indent) giveUp(); // an empty item
        entry.value = next.start;
        value = this.#node(next.indent, childId, depth + 1);
      } else if (isSeqLine(rest) || keyEnd(rest) !== undefined) {
        // The rest of the line starts a nested block node at its own column.
        this.#lines[this.#i] = { indent: indent + p, start: line.start + p, text: rest };
        value = this.#node(indent + p, childId, depth + 1);
      } else {
        const inline = new Inline(line.text, line.start, this.#entries, depth);
        value = inline.value(p, childId);
        inline.end();
        this.#i++;
        this.#noContinuation(indent);
      }
      this.#entries.set(childId, entry);
      list.push(value);
    }
    this.#noStrayIndent(indent);
    return list;
  }

  /** After an inline value, a more indented line would continue it: give up. */
  #noContinuation(indent: number): void {
    const next = this.#lines[this.#i];
    if (next && next.indent > indent) giveUp();
  }

  /** A line indented more than the node that just ended belongs to nothing. */
  #noStrayIndent(indent: number): void {
    const next = this.#lines[this.#i];
    if (next && next.indent > indent) giveUp();
  }
}

function isSeqLine(text: string): boolean {
  return text[0] === "-" && (text.length === 1 || text[1] === " ");
}

function skipSpaces(text: string, p: number): number {
  while (text.charCodeAt(p) === 32) p++;
  return p;
}

/** Index of the `:` ending an implicit key at the start of `text`, or undefined. */
function keyEnd(text: string): number | undefined {
  try {
    return readKey(text).end;
  } catch (error) {
    if (error === GIVE_UP) return undefined;
    throw error;
  }
}

/** Read an implicit key at the start of `text`: `key: ...` or `key:` at the end of the line. */
function readKey(text: string): { key: string; end: number } {
  let key: string;
  let p: number;
  if (text[0] === '"' || text[0] === "'") {
    const quoted = readQuoted(text, 0);
    key = quoted.value;
    p = quoted.end;
  } else {
    if (PLAIN_FIRST_BAD.test(text)) giveUp();
    const colon = text.indexOf(":");
    if (colon <= 0) giveUp();
    const raw = text.slice(0, colon);
    if (raw.includes("#") || raw.endsWith(" ")) giveUp();
    const resolved = resolvePlain(raw);
    if (typeof resolved !== "string") giveUp();
    key = resolved;
    p = colon;
  }
  if (text[p] !== ":" || (p + 1 < text.length && text[p + 1] !== " ")) giveUp();
  return { key, end: p };
}

/** A quoted scalar starting at `p`; double quotes without escapes only. */
function readQuoted(text: string, p: number): { value: string; end: number } {
  const quote = text[p];
  if (quote === '"') {
    const close = text.indexOf('"', p + 1);
    if (close < 0) giveUp();
    const value = text.slice(p + 1, close);
    if (value.includes("\\")) giveUp();
    return { value, end: close + 1 };
  }
  let value = "";
  let i = p + 1;
  for (;;) {
    const close = text.indexOf("'", i);
    if (close < 0) giveUp();
    value += text.slice(i, close);
    if (text[close + 1] === "'") {
      value += "'";
      i = close + 2;
    } else {
      return { value, end: close + 1 };
    }
  }
}

/** An inline value (scalar or single-line flow collection) and its positions. */
class Inline {
  #text: string;
  #start: number;
  #entries: Map<string, Entry>;
  #depth: number;
  #p = 0;

  constructor(text: string, start: number, entries: Map<string, Entry>, depth: number) {
    this.#text = text;
    this.#start = start;
    this.#entries = entries;
    this.#depth = depth;
  }

  /** Parse the value at `p`, in block context. */
  value(p: number, id: string): unknown {
    this.#p = p;
    const ch = this.#text[p];
    if (ch === "[" || ch === "{") return this.#flow(id, this.#depth + 1);
    if (ch === '"' || ch === "'") {
      const quoted = readQuoted(this.#text, p);
      this.#p = quoted.end;
      return quoted.value;
    }
    return this.#plainBlock();
  }

  /** Check that only spaces or a comment follow; returns the end of the value. */
  end(): number {
    const valueEnd = this.#p;
    const p = skipSpaces(this.#text, this.#p);
    if (p < this.#text.length && !(this.#text[p] === "#" && p > valueEnd)) giveUp();
    return valueEnd;
  }

  #plainBlock(): unknown {
    const text = this.#text;
    const p = this.#p;
    if (PLAIN_FIRST_BAD.test(text.slice(p, p + 1))) giveUp();
    let end = text.indexOf(" #", p);
    if (end < 0) end = text.length;
    let raw = text.slice(p, end);
    raw = raw.replace(/ +$/, "");
    if (raw.includes(": ") || raw.endsWith(":")) giveUp();
    this.#p = p + raw.length;
    return resolvePlain(raw);
  }

  #flow(id: string, depth: number): unknown {
    if (depth > MAX_DEPTH) giveUp();
    const text = this.#text;
    const open = text[this.#p];
    const close = open === "[" ? "]" : "}";
    this.#p = skipSpaces(text, this.#p + 1);
    if (open === "[") {
      const list: unknown[] = [];
      if (text[this.#p] === close) {
        this.#p++;
        return list;
      }
      for (;;) {
        const childId = `${id}\u0000${list.length}`;
        this.#entries.set(childId, { value: this.#start + this.#p });
        list.push(this.#flowValue(childId, depth));
        if (this.#separator(close)) return list;
      }
    }
    const map: Record<string, unknown> = {};
    if (text[this.#p] === close) {
      this.#p++;
      return map;
    }
    for (;;) {
      const keyStart = this.#p;
      const key = this.#flowKey();
      if (Object.hasOwn(map, key) || key === "__proto__" || key === "<<") giveUp();
      this.#p = skipSpaces(text, this.#p);
      const childId = `${id}\u0000${key}`;
      const valueStart = this.#p;
      const value = this.#flowValue(childId, depth);
      const entry: Entry = { key: this.#start + keyStart };
      if (value !== null) entry.value = this.#start + valueStart;
      this.#entries.set(childId, entry);
      map[key] = value;
      if (this.#separator(close)) return map;
    }
  }

  /** After an item: `,` then more, or the closing bracket (returns true). */
  #separator(close: string): boolean {
    const text = this.#text;
    this.#p = skipSpaces(text, this.#p);
    if (text[this.#p] === close) {
      this.#p++;
      return true;
    }
    if (text[this.#p] !== ",") giveUp();
    this.#p = skipSpaces(text, this.#p + 1);
    if (text[this.#p] === close || text[this.#p] === ",") giveUp(); // trailing comma
    return false;
  }

  #flowKey(): string {
    const text = this.#text;
    let key: string;
    if (text[this.#p] === '"' || text[this.#p] === "'") {
      const quoted = readQuoted(text, this.#p);
      key = quoted.value;
      this.#p = quoted.end;
    } else {
      const raw = this.#flowPlainText();
      const resolved = resolvePlain(raw);
      if (typeof resolved !== "string") giveUp();
      key = resolved;
    }
    if (text[this.#p] !== ":" || text[this.#p + 1] !== " ") giveUp();
    this.#p += 2;
    return key;
  }

  #flowValue(id: string, depth: number): unknown {
    const text = this.#text;
    const ch = text[this.#p];
    if (ch === "[" || ch === "{") return this.#flow(id, depth + 1);
    if (ch === '"' || ch === "'") {
      const quoted = readQuoted(text, this.#p);
      this.#p = quoted.end;
      return quoted.value;
    }
    return resolvePlain(this.#flowPlainText());
  }

  /** A plain scalar in flow context: up to `,`, `]` or `}`; no `:` or `#` inside. */
  #flowPlainText(): string {
    const text = this.#text;
    const start = this.#p;
    if (PLAIN_FIRST_BAD.test(text.slice(start, start + 1))) giveUp();
    let p = start;
    while (p < text.length) {
      const ch = text[p];
      if (ch === "," || ch === "]" || ch === "}") break;
      if (ch === ":") {
        // `key: value` ends the key here; any other `:` is left to the full parser.
        if (text[p + 1] === " ") break;
        giveUp();
      }
      if (ch === "#" || ch === "[" || ch === "{") giveUp();
      p++;
    }
    const raw = text.slice(start, p).replace(/ +$/, "");
    if (raw === "") giveUp();
    this.#p = start + raw.length;
    return raw;
  }
}
