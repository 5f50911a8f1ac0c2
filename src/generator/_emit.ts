/**
 * A plain value as block YAML, deterministic and compact: identifiers plain,
 * every other string double-quoted in JSON's escapes (valid YAML 1.2),
 * numbers, booleans and null as written, and collections of scalars (empty
 * ones too) in single-line flow style.
 *
 * @module
 */

const PLAIN = /^[A-Za-z_][A-Za-z0-9_.\/-]*$/;
const KEYWORD = /^(true|false|null|y|n|yes|no|on|off|~)$/i;
/** Longest single-line flow collection, in characters. */
const FLOW_WIDTH = 120;

/** `value` (an object at the top) as YAML text ending in a newline. */
export function toYaml(value: Record<string, unknown>): string {
  const lines: string[] = [];
  emitMap(value, 0, lines);
  return lines.join("\n") + "\n";
}

function plain(text: string): string {
  return PLAIN.test(text) && !KEYWORD.test(text) ? text : JSON.stringify(text);
}

function scalar(value: unknown): string {
  if (typeof value === "string") return plain(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value) && value.length === 0) return "[]";
  return "{}";
}

/** A collection of scalars on one line, or undefined. */
function flow(value: unknown): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const entries = Array.isArray(value)
    ? value.map((item) => [undefined, item] as const)
    : Object.entries(value).filter(([, item]) => item !== undefined);
  const parts: string[] = [];
  for (const [name, item] of entries) {
    if (isBlock(item)) return undefined;
    parts.push(name === undefined ? scalar(item) : `${plain(name)}: ${scalar(item)}`);
  }
  const text = Array.isArray(value) ? `[${parts.join(", ")}]` : `{ ${parts.join(", ")} }`;
  return text.length <= FLOW_WIDTH ? text : undefined;
}

function isBlock(value: unknown): value is Record<string, unknown> | unknown[] {
  if (Array.isArray(value)) return value.length > 0;
  return value !== null && typeof value === "object" && Object.keys(value).length > 0;
}

function key(name: string): string {
  return plain(name);
}

function emitMap(map: Record<string, unknown>, indent: number, lines: string[]): void {
  const pad = " ".repeat(indent);
  for (const [name, item] of Object.entries(map)) {
    if (item === undefined) continue;
    const line = isBlock(item) ? flow(item) : undefined;
    if (line !== undefined) {
      lines.push(`${pad}${key(name)}: ${line}`);
    } else if (isBlock(item)) {
      lines.push(`${pad}${key(name)}:`);
      emitBlock(item, indent + 2, lines);
    } else {
      lines.push(`${pad}${key(name)}: ${scalar(item)}`);
    }
  }
}

function emitBlock(value: Record<string, unknown> | unknown[], indent: number, lines: string[]) {
  if (!Array.isArray(value)) return emitMap(value, indent, lines);
  const pad = " ".repeat(indent);
  for (const item of value) {
    const line = isBlock(item) ? flow(item) : scalar(item);
    if (line !== undefined) {
      lines.push(`${pad}- ${line}`);
      continue;
    }
    const inner: string[] = [];
    emitBlock(item as Record<string, unknown> | unknown[], indent + 2, inner);
    lines.push(`${pad}- ${inner[0].slice(indent + 2)}`, ...inner.slice(1));
  }
}
