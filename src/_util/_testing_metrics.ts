/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests:
 * every line must be a `# HELP`, a `# TYPE` or a sample of a family typed
 * before it, label values may use only the three escapes of the format, no
 * sample repeats, and each histogram's buckets are cumulative and end at
 * `+Inf` with its `_count`. Anything else throws, naming the line.
 *
 * @module
 */

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed exposition. */
export interface Exposition {
  /** Family name -> type. */
  types: Map<string, string>;
  /** Family name -> help text (unescaped). */
  help: Map<string, string>;
  samples: Sample[];
}

function parseValue(text: string, where: string): number {
  if (!VALUE.test(text)) throw new SyntaxError(`${where}: bad value "${text}"`);
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

/** Parse `{a="x",b="y"}` starting at `text[0] === "{"`; returns labels and the rest. */
function parseLabels(
  text: string,
  where: string,
): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    if (text[i] === "}") return { labels, rest: text.slice(i + 1) };
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new SyntaxError(`${where}: label without "="`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) throw new SyntaxError(`${where}: bad label name "${name}"`);
    if (name in labels) throw new SyntaxError(`${where}: label "${name}" repeated`);
    if (text[eq + 1] !== '"') throw new SyntaxError(`${where}: label value not quoted`);
    let value = "";
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new SyntaxError(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === "\\") {
        const next = text[j + 1];
        if (next === "\\" || next === '"') value += next;
        else if (next === "n") value += "\n";
        else throw new SyntaxError(`${where}: bad escape "\\${next ?? ""}" in a label value`);
        j += 2;
        continue;
      }
      value += c;
      j++;
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ",") i++;
    else if (text[i] !== "}") throw new SyntaxError(`${where}: expected "," or "}" after a label`);
  }
}

function familyOf(name: string, types: Map<string, string>): { family: string; type: string } {
  const direct = types.get(name);
  if (direct !== undefined) return { family: name, type: direct };
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const type = types.get(base);
    if (type === "histogram" || (type === "summary" && suffix !== "_bucket")) {
      return { family: base, type };
    }
  }
  throw new SyntaxError(`sample "${name}" has no # TYPE line before it`);
}

/**
 * Parse an exposition strictly.
 *
 * @throws {SyntaxError} naming the first line that breaks the format
 */
export function parseExposition(text: string): Exposition {
  if (text !== "" && !text.endsWith("\n")) {
    throw new SyntaxError("text does not end with a newline");
  }
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  const lines = text === "" ? [] : text.slice(0, -1).split("\n");
  lines.forEach((line, n) => {
    const where = `line ${n + 1}`;
    if (line.startsWith("# HELP ")) {
      const m = /^# HELP (\S+) (.*)$/.exec(line);
      if (!m || !NAME.test(m[1])) throw new SyntaxError(`${where}: bad HELP line`);
      if (!/^(?:[^\\]|\\[\\n])*$/.test(m[2])) throw new SyntaxError(`${where}: bad escape in HELP`);
      if (help.has(m[1])) throw new SyntaxError(`${where}: second HELP for ${m[1]}`);
      help.set(m[1], m[2].replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c));
      return;
    }
    if (line.startsWith("# TYPE ")) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (!m || !NAME.test(m[1]) || !TYPES.has(m[2])) {
        throw new SyntaxError(`${where}: bad TYPE line`);
      }
      if (types.has(m[1])) throw new SyntaxError(`${where}: second TYPE for ${m[1]}`);
      types.set(m[1], m[2]);
      return;
    }
    if (line.startsWith("#") || line === "") {
      throw new SyntaxError(`${where}: unexpected "${line}"`);
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$/.exec(line);
    if (!m) throw new SyntaxError(`${where}: bad sample name`);
    let labels: Record<string, string> = {};
    let rest = m[2];
    if (rest.startsWith("{")) ({ labels, rest } = parseLabels(rest, where));
    const v = /^ (\S+)$/.exec(rest);
    if (!v) throw new SyntaxError(`${where}: expected one space and a value (no timestamp)`);
    const { type } = familyOf(m[1], types);
    if (m[1].endsWith("_bucket") && type === "histogram" && !("le" in labels)) {
      throw new SyntaxError(`${where}: bucket without "le"`);
    }
    const key = m[1] + JSON.stringify(Object.entries(labels).sort());
    if (seen.has(key)) throw new SyntaxError(`${where}: sample repeated`);
    seen.add(key);
    samples.push({ name: m[1], labels, value: parseValue(v[1], where) });
  });
  checkHistograms(types, samples);
  return { types, help, samples };
}

function checkHistograms(types: Map<string, string>, samples: Sample[]): void {
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const groups = new Map<string, { le: number; value: number }[]>();
    for (const s of samples.filter((s) => s.name === `${family}_bucket`)) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      const list = groups.get(key) ?? [];
      list.push({ le: parseValue(le, `${family} le`), value: s.value });
      groups.set(key, list);
    }
    for (const [key, buckets] of groups) {
      for (let i = 1; i < buckets.length; i++) {
        if (!(buckets[i].le > buckets[i - 1].le) || buckets[i].value < buckets[i - 1].value) {
          throw new SyntaxError(`${family}${key}: buckets not increasing and cumulative`);
        }
      }
      const last = buckets[buckets.length - 1];
      const count = samples.find((s) =>
        s.name === `${family}_count` &&
        JSON.stringify(Object.entries(s.labels).sort()) === key
      );
      if (last.le !== Infinity || count === undefined || count.value !== last.value) {
        throw new SyntaxError(`${family}${key}: no +Inf bucket equal to _count`);
      }
    }
  }
}

/**
 * The value of the sample with exactly these labels, or undefined.
 *
 * @param name the sample's name (with `_bucket`, `_sum` or `_count` for a histogram)
 */
export function sampleValue(
  exposition: Exposition,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  return exposition.samples.find((s) =>
    s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want
  )?.value;
}
