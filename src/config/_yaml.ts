/**
 * YAML parsing for configs, and positions of document paths for messages.
 *
 * The document is parsed as YAML 1.2 with the core schema only: no custom or
 * language-specific tags (`!!binary`, `!!timestamp`, `!js/...` are errors), unique
 * keys, plain scalar keys, at most {@linkcode MAX_ALIASES} aliases (a
 * "billion laughs" document is refused) and no alias inside the node it names
 * (which would make a cyclic value).
 *
 * @module
 */

import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
} from "yaml";
import { parseFastYaml } from "./_fast_yaml.ts";
import {
  formatPath,
  type Located,
  type PathSegment,
  type Position,
  quote,
  type YamlSource,
} from "./_path.ts";

export { formatPath, type Located, type PathSegment, type Position, quote, type YamlSource };

/** Most aliases a config may use. */
export const MAX_ALIASES = 100;
/** Deepest nesting of collections a config may use. */
export const MAX_DEPTH = 64;

/** Positions from the `yaml` package's document tree. */
class AstSource implements YamlSource {
  #doc: Document;
  #lines: LineCounter;

  constructor(doc: Document, lines: LineCounter) {
    this.#doc = doc;
    this.#lines = lines;
  }

  locate(path: readonly PathSegment[], key = false): Position {
    let node: unknown = this.#doc.contents;
    let offset = rangeStart(node) ?? 0;
    for (let i = 0; i < path.length; i++) {
      node = this.#deref(node);
      const segment = path[i];
      if (isMap(node)) {
        const pair = node.items.find((p) =>
          isScalar(p.key) && String(p.key.value) === String(segment)
        );
        if (!pair) break;
        const keyStart = rangeStart(pair.key);
        if (keyStart !== undefined) offset = keyStart;
        if (key && i === path.length - 1) break;
        node = pair.value;
        const valueStart = rangeStart(node);
        // `name:` with nothing after it: point at the key.
        if (valueStart === undefined || (isScalar(node) && node.value === null)) break;
        offset = valueStart;
      } else if (isSeq(node) && typeof segment === "number" && segment < node.items.length) {
        node = node.items[segment];
        const start = rangeStart(node);
        if (start === undefined) break;
        offset = start;
      } else {
        break;
      }
    }
    const pos = this.#lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  }

  at(path: readonly PathSegment[], message: string, key = false): Located {
    return { ...this.locate(path, key), path: formatPath(path), message };
  }

  #deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.#doc) : node;
  }
}

/**
 * Parse with the `yaml` package only (no fast path). Exposed for the
 * differential tests of the fast path.
 */
export function parseYamlFull(text: string): ParsedYaml {
  return parseWithLibrary(text);
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range ? range[0] : undefined;
}

/** The outcome of {@linkcode parseYaml}. */
export type ParsedYaml =
  | { ok: true; source: YamlSource; data: unknown }
  | { ok: false; problems: Located[] };

/**
 * Parse config text.
 *
 * Plain documents (block and single-line flow collections, plain and simple
 * quoted scalars, comments) take a fast path (`_fast_yaml.ts`) that gives the
 * same values and positions; anything else goes through the `yaml` package.
 *
 * @param text the YAML text
 * @returns the source (for positions) and its plain value, or the problems found
 */
export function parseYaml(text: string): ParsedYaml {
  const fast = parseFastYaml(text);
  return fast ? { ok: true, ...fast } : parseWithLibrary(text);
}

function parseWithLibrary(text: string): ParsedYaml {
  const lines = new LineCounter();
  let doc: Document;
  try {
    doc = parseDocument(text, {
      lineCounter: lines,
      version: "1.2",
      schema: "core",
      customTags: [],
      resolveKnownTags: false,
      uniqueKeys: (a, b) => keyText(a) === keyText(b),
      prettyErrors: false,
      strict: true,
    });
  } catch (error) {
    // The parser is recursive; a pathological nesting may exhaust the stack.
    return { ok: false, problems: [{ ...unknownPosition(), message: parserFailure(error) }] };
  }
  const problems: Located[] = [];
  const position = (offset: number) => {
    const pos = lines.linePos(offset);
    return { line: pos.line, column: pos.col, path: "" };
  };
  for (const error of doc.errors) {
    problems.push({ ...position(error.pos[0]), message: yamlMessage(error.code, error.message) });
  }
  for (const warning of doc.warnings) {
    const message = warning.code === "TAG_RESOLVE_FAILED"
      ? "Unsupported tag: only plain YAML 1.2 core values (strings, numbers, booleans, null, lists, mappings) are allowed"
      : yamlMessage(warning.code, warning.message);
    problems.push({ ...position(warning.pos[0]), message });
  }
  if (problems.length > 0) return { ok: false, problems };

  const source = new AstSource(doc, lines);
  inspect(doc, position, problems);
  if (problems.length > 0) return { ok: false, problems };
  try {
    return { ok: true, source, data: doc.toJS({ maxAliasCount: MAX_ALIASES }) };
  } catch (error) {
    return { ok: false, problems: [{ ...unknownPosition(), message: parserFailure(error) }] };
  }
}

function unknownPosition(): { line: number; column: number; path: string } {
  return { line: 0, column: 0, path: "" };
}

function parserFailure(error: unknown): string {
  if (error instanceof RangeError) return "Cannot parse YAML: nesting is too deep";
  if (error instanceof ReferenceError && /alias/i.test(error.message)) {
    return `Cannot parse YAML: too many aliases (at most ${MAX_ALIASES})`;
  }
  return "Cannot parse YAML: the document is malformed";
}

function yamlMessage(code: string, message: string): string {
  if (code === "DUPLICATE_KEY") return "Duplicate key: each key may appear once in a mapping";
  // The parser's own messages are plain sentences without source text when
  // prettyErrors is off; keep only the first line, without a trailing period.
  const first = message.split("\n")[0].replace(/\.$/, "");
  return `Invalid YAML: ${first.charAt(0).toLowerCase()}${first.slice(1)}`;
}

function keyText(node: unknown): unknown {
  return isScalar(node) ? String(node.value) : node;
}

/**
 * Walk the document before converting it: bound nesting and aliases, require
 * plain scalar keys, refuse aliases inside the node they name.
 */
function inspect(
  doc: Document,
  position: (offset: number) => { line: number; column: number; path: string },
  problems: Located[],
): void {
  let aliases = 0;
  const ancestors: Node[] = [];
  const at = (node: unknown, message: string) => {
    problems.push({ ...position(rangeStart(node) ?? 0), message });
  };
  const visit = (node: unknown): void => {
    if (problems.length > 20) return;
    if (isAlias(node)) {
      aliases++;
      if (aliases === MAX_ALIASES + 1) at(node, `Too many aliases: at most ${MAX_ALIASES}`);
      const target = node.resolve(doc);
      if (target === undefined) at(node, "Unknown alias: define the anchor before using it");
      else if (ancestors.includes(target)) at(node, "Alias refers to a node that contains it");
      return;
    }
    if (!isCollection(node)) return;
    if (ancestors.length >= MAX_DEPTH) {
      at(node, `Nesting is too deep: at most ${MAX_DEPTH} levels`);
      return;
    }
    ancestors.push(node);
    for (const item of node.items) {
      if (isPair(item)) {
        if (!isScalar(item.key) || item.key.value === null || typeof item.key.value === "object") {
          at(item.key ?? item.value ?? node, "Map keys must be plain strings");
        }
        visit(item.value);
      } else {
        visit(item);
      }
    }
    ancestors.pop();
  };
  visit(doc.contents);
}
