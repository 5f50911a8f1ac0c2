/**
 * The references of an `input_schema` (private to config/): every `$ref`
 * resolved as the validator will resolve it (on a copy, through the
 * validator's own `dereference`, so the loader and the gate cannot
 * disagree), and loops refused. A `$ref` loop through in-place applicators
 * only (`allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else`,
 * `dependentSchemas`, `$ref`) applies the same schema to the same value
 * forever, so the validator would recurse until the stack overflows; a loop
 * through `properties` or `items` consumes a level of the value each time,
 * and the gate bounds values at 8 levels.
 *
 * @module
 */

import { dereference, type Schema } from "@cfworker/json-schema";
import type { PathSegment } from "./_yaml.ts";
import {
  IN_PLACE,
  isMapping,
  SCHEMA_ARRAYS,
  SCHEMA_MAPS,
  SCHEMA_VALUED,
} from "./_input_keywords.ts";

/** Reports a problem at a path (`key`: at the key rather than the value). */
export type ErrorAt = (at: readonly PathSegment[], message: string, key?: boolean) => void;

interface Located$Ref {
  node: Record<string, unknown>;
  path: PathSegment[];
}

/**
 * Check the references of a schema whose shape is valid: resolve every
 * `$ref` as the validator will (on a copy, through the validator's own
 * `dereference`), and refuse a loop of references through in-place
 * applicators only.
 *
 * @param schema the input schema
 * @param path where it is in the document
 * @param error reports a problem
 */
export function checkReferences(
  schema: Record<string, unknown>,
  path: readonly PathSegment[],
  error: ErrorAt,
): void {
  const copy = structuredClone(schema);
  let lookup: Record<string, Schema | boolean>;
  try {
    lookup = dereference(copy as Schema);
  } catch (e) {
    error(path, `Input schema cannot be indexed: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  const refs: Located$Ref[] = [];
  const paths = new Map<object, PathSegment[]>();
  const visit = (node: unknown, at: PathSegment[]): void => {
    if (!isMapping(node)) return;
    paths.set(node, at);
    if (typeof node.$ref === "string") refs.push({ node, path: at });
    for (const [key, value] of Object.entries(node)) {
      if (SCHEMA_VALUED.has(key)) visit(value, [...at, key]);
      else if (SCHEMA_ARRAYS.has(key)) {
        (value as unknown[]).forEach((item, i) => visit(item, [...at, key, i]));
      } else if (SCHEMA_MAPS.has(key)) {
        for (const [name, item] of Object.entries(value as object)) visit(item, [...at, key, name]);
      }
    }
  };
  visit(copy, [...path]);
  const targets = new Map<object, Record<string, unknown>>();
  for (const ref of refs) {
    const absolute = (ref.node as { __absolute_ref__?: string }).__absolute_ref__;
    const target = absolute === undefined ? undefined : lookup[absolute];
    if (target === undefined) {
      error(
        [...ref.path, "$ref"],
        `Reference ${JSON.stringify(ref.node.$ref)} resolves to nothing in this schema`,
      );
    } else if (isMapping(target)) {
      targets.set(ref.node, target);
    }
  }
  // A loop through $ref and in-place applicators only: validation would recurse forever.
  const state = new Map<object, "open" | "done">();
  const reported = new Set<object>();
  const inPlace = (node: Record<string, unknown>): Record<string, unknown>[] => {
    const next: Record<string, unknown>[] = [];
    const target = targets.get(node);
    if (target !== undefined) next.push(target);
    for (const key of IN_PLACE) {
      const value = node[key];
      if (Array.isArray(value)) next.push(...value.filter(isMapping));
      else if (isMapping(value)) next.push(value);
    }
    if (isMapping(node.dependentSchemas)) {
      next.push(...Object.values(node.dependentSchemas).filter(isMapping));
    }
    return next;
  };
  const dfs = (node: Record<string, unknown>, via: Record<string, unknown> | null): void => {
    const seen = state.get(node);
    if (seen === "done") return;
    if (seen === "open") {
      if (via !== null && !reported.has(via)) {
        reported.add(via);
        error(
          [...(paths.get(via) ?? [...path]), "$ref"],
          `Reference ${JSON.stringify(via.$ref)} loops back without going into a property ` +
            "or an item: validating it would never end",
        );
      }
      return;
    }
    state.set(node, "open");
    const target = targets.get(node);
    for (const next of inPlace(node)) dfs(next, next === target ? node : via);
    state.set(node, "done");
  };
  for (const node of paths.keys()) dfs(node as Record<string, unknown>, null);
}
