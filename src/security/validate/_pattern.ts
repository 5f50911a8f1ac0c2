/**
 * Parameter `pattern` handling (private to validate/).
 *
 * A pattern must match the whole string: LOOM anchors it as `^(?:pattern)$`
 * and compiles it in unicode mode. Authors may anchor it themselves; the
 * result is the same. The anchored form is what `inputSchema` publishes, so a
 * client-side JSON Schema validator and LOOM agree (JSON Schema's `pattern`
 * is otherwise unanchored).
 *
 * @module
 */

import type { ParamSpec } from "../../config/mod.ts";

const COMPILED = new WeakMap<ParamSpec, RegExp>();

/** The whole-string form of a parameter pattern. */
export function anchorPattern(pattern: string): string {
  return `^(?:${pattern})$`;
}

/**
 * The compiled, anchored pattern of a parameter, compiled once per ParamSpec.
 *
 * @throws {TypeError} when there is no pattern, or it is not a valid unicode-mode regular
 * expression (the config loader should have refused it)
 */
export function compiledPattern(spec: ParamSpec): RegExp {
  let re = COMPILED.get(spec);
  if (re === undefined) {
    if (spec.pattern === undefined) throw new TypeError("Cannot compile a missing pattern");
    try {
      re = new RegExp(anchorPattern(spec.pattern), "u");
    } catch (cause) {
      throw new TypeError(`Cannot compile pattern ${JSON.stringify(spec.pattern)}`, { cause });
    }
    COMPILED.set(spec, re);
  }
  return re;
}
