/**
 * What the loader still refuses in an imported config, removed: a rule of a
 * parameter (a costly `pattern`, an `enum` value, a `default`, ...) or a
 * description is dropped; any other problem drops the tool, reported.
 *
 * @module
 */

import { ConfigError, type ConfigIssue } from "../errors.ts";
import type { Draft } from "./_operation.ts";
import type { ImportSkip } from "./openapi.ts";

const REMOVABLE = new Set([
  "pattern",
  "enum",
  "default",
  "min_length",
  "max_length",
  "minimum",
  "maximum",
  "description",
  "items",
  "properties",
]);

type Segment = string | number;

/** A formatted issue path (`agent.exposes[3].parameters.id.pattern`) as segments. */
export function pathSegments(path: string): Segment[] {
  const out: Segment[] = [];
  const token = /\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([A-Za-z0-9_-]+)/y;
  let match;
  while ((match = token.exec(path)) !== null) {
    if (match[1] !== undefined) out.push(Number(match[1]));
    else if (match[2] !== undefined) out.push(JSON.parse(match[2]) as string);
    else out.push(match[3]);
    if (token.lastIndex >= path.length) break;
  }
  return out;
}

/**
 * Drafts with the issues fixed (a new array when anything changed, the same
 * one when there was nothing to fix).
 *
 * @throws {ConfigError} when an issue is outside every tool
 */
export function fixIssues(
  drafts: Draft[],
  issues: readonly Pick<ConfigIssue, "path" | "message">[],
  skipped: ImportSkip[],
): Draft[] {
  if (issues.length === 0) return drafts;
  const next = drafts.map((d) => structuredClone(d));
  const dropped = new Set<number>();
  for (const issue of issues) {
    const path = pathSegments(issue.path);
    const index = path[2];
    if (path[0] !== "agent" || typeof index !== "number" || next[index] === undefined) {
      throw new ConfigError([{ file: "imported.yaml", line: 0, column: 0, ...issue }]);
    }
    const draft = next[index];
    if (dropped.has(index)) continue;
    if (path[1] === "exposes" && path[3] === "parameters" && removeRule(draft, path.slice(4))) {
      skipped.push({
        operation: draft.operation.label,
        reason: `${issue.path.replace(/^agent\.exposes\[\d+\]\./, "")} left out: ${issue.message}`,
      });
      continue;
    }
    if (path[1] === "exposes" && path[3] === "description") {
      draft.tool.description = `${draft.operation.method} ${draft.operation.path}`;
      skipped.push({
        operation: draft.operation.label,
        reason: `description replaced: ${issue.message}`,
      });
      continue;
    }
    dropped.add(index);
    skipped.push({ operation: draft.operation.label, reason: `not imported: ${issue.message}` });
  }
  return next.filter((_, i) => !dropped.has(i));
}

/** Remove the rule a path inside `parameters` names; false when it names none. */
function removeRule(draft: Draft, path: Segment[]): boolean {
  let node: Record<string, unknown> = draft.tool.parameters;
  for (let i = 0; i < path.length; i++) {
    const key = path[i];
    if (typeof key !== "string") return false;
    if (i > 0 && REMOVABLE.has(key) && (key !== "properties" || i === path.length - 1)) {
      if (key === "items" && i < path.length - 1) {
        node = node[key] as Record<string, unknown>;
        continue;
      }
      delete node[key];
      return true;
    }
    const child = node[key];
    if (child === null || typeof child !== "object") return false;
    node = child as Record<string, unknown>;
  }
  return false;
}
