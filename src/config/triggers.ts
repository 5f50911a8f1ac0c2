/**
 * A tool's `triggers`: cron schedules on which `loom mesh` calls the tool by
 * itself, through the owning agent's gate like any client call
 * (`src/app/mesh_schedule.ts`), and where it may POST the result.
 *
 * ```yaml
 * exposes:
 *   - name: nightly_report
 *     description: Build the report
 *     triggers:
 *       - cron: "0 9 * * 1-5"
 *         webhook: "https://hooks.example.com/loom"
 * ```
 *
 * The shape is here ({@linkcode ToolTriggers}); the rules that relate it to
 * the rest of the config are {@linkcode triggerProblems}, run by the loader's
 * checks: the cron expression parses (`src/_util/cron.ts`), the tool has no
 * required parameter without a default (a scheduled call sends each
 * parameter's default, {@linkcode triggerArguments}, and nothing else), a webhook needs trust tier 2 (it sends data out of LOOM on
 * LOOM's own initiative) and an `http:` or `https:` URL without credentials.
 *
 * @module
 */

import { z } from "zod";
import { CronError, parseCron } from "../_util/cron.ts";
import type { Located, PathSegment, YamlSource } from "./_yaml.ts";
import { inputSchemaParams } from "./input_schema.ts";
import type { ToolSpec, TriggerSpec } from "./types.ts";

/** Most triggers one tool may have. */
export const MAX_TRIGGERS_PER_TOOL = 4;

/** Longest cron expression accepted, in characters. */
const MAX_CRON_LENGTH = 256;
/** Longest webhook URL accepted, in characters. */
const MAX_WEBHOOK_LENGTH = 2048;

/** One trigger as written. */
export const Trigger = z.strictObject({
  cron: z.string().min(1).max(MAX_CRON_LENGTH).meta({
    description:
      'Five-field cron expression (minute hour day-of-month month day-of-week), e.g. "0 9 * * 1-5", ' +
      "in the time zone of `loom mesh` (--time-zone)",
  }),
  webhook: z.string().min(1).max(MAX_WEBHOOK_LENGTH).optional().meta({
    description:
      "http(s) URL that receives each scheduled run's result as a JSON POST (trust tier 2+). " +
      "Threat: sends the tool's (redacted) answer out of LOOM",
  }),
});

/** A tool's `triggers` (optional; at most {@linkcode MAX_TRIGGERS_PER_TOOL}). */
export const ToolTriggers = z.array(Trigger).min(1).max(MAX_TRIGGERS_PER_TOOL).optional().meta({
  description:
    "Schedules on which `loom mesh` calls this tool itself, through its gate; the tool must " +
    "have no required parameter without a default",
});

/** What the checks need of a tool (as parsed). */
export interface TriggeredTool {
  name: string;
  parameters?: Readonly<Record<string, { required: boolean; default?: unknown }>>;
  input_schema?: Readonly<Record<string, unknown>>;
  triggers?: readonly { cron: string; webhook?: string }[];
}

/**
 * The load-time problems of a tool's triggers, positioned.
 *
 * @param tool the tool as parsed
 * @param tier the agent's trust tier
 * @param path where the tool's `triggers` are in the document
 * @param source positions
 * @returns the problems (none without triggers)
 */
export function triggerProblems(
  tool: TriggeredTool,
  tier: number,
  path: readonly PathSegment[],
  source: YamlSource,
): Located[] {
  const triggers = tool.triggers ?? [];
  if (triggers.length === 0) return [];
  const out: Located[] = [];
  const required = requiredWithoutDefault(tool);
  if (required.length > 0) {
    out.push(source.at(
      path,
      `Tool ${JSON.stringify(tool.name)} has triggers but requires ${
        required.map((n) => JSON.stringify(n)).join(", ")
      } with no default: a scheduled call sends only defaults; give each a default or ` +
        "make it optional",
      true,
    ));
  }
  triggers.forEach((trigger, i) => {
    try {
      parseCron(trigger.cron);
    } catch (error) {
      if (!(error instanceof CronError)) throw error;
      out.push(source.at([...path, i, "cron"], error.message));
    }
    if (trigger.webhook !== undefined) {
      const at = [...path, i, "webhook"];
      if (tier < 2) {
        out.push(source.at(
          at,
          "A trigger's webhook sends results out of LOOM, which trust tier 1 (observer) does " +
            "not allow: remove it or raise runtime.trust_tier to 2",
        ));
      }
      const problem = webhookUrlProblem(trigger.webhook);
      if (problem !== null) out.push(source.at(at, problem));
    }
  });
  return out;
}

/**
 * What is wrong with a webhook URL, or null: it must parse, use `http:` or
 * `https:`, and carry no user name or password (secrets are never literal).
 *
 * @param text the URL as written
 */
export function webhookUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "Webhook must be an absolute http(s) URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `Webhook URL scheme ${JSON.stringify(url.protocol)} is not allowed: use http or https`;
  }
  if (url.username !== "" || url.password !== "") {
    return "Webhook URL must not carry a user name or password";
  }
  return null;
}

function requiredWithoutDefault(tool: TriggeredTool): string[] {
  if (tool.input_schema !== undefined) {
    const defaults = schemaDefaults(tool.input_schema);
    return [...inputSchemaParams(tool.input_schema)]
      .filter(([name, p]) => p.required && !Object.hasOwn(defaults, name))
      .map(([name]) => name);
  }
  return Object.entries(tool.parameters ?? {})
    .filter(([, p]) => p.required && p.default === undefined).map(([name]) => name);
}

/** The `default` of each top-level property of an input schema that has one. */
function schemaDefaults(schema: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const properties = schema.properties;
  if (properties === null || typeof properties !== "object" || Array.isArray(properties)) return {};
  const out: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(properties)) {
    if (property !== null && typeof property === "object" && Object.hasOwn(property, "default")) {
      out[name] = (property as { default: unknown }).default;
    }
  }
  return out;
}

/**
 * The arguments of a scheduled call: each top-level parameter's default
 * (of `parameters`, or of the `input_schema`'s properties), so a required
 * parameter with a default gets it as a client would send it.
 *
 * @param tool the resolved tool
 * @returns the arguments (empty when no parameter has a default)
 */
export function triggerArguments(tool: ToolSpec): Record<string, unknown> {
  if (tool.inputSchema !== undefined) return structuredClone(schemaDefaults(tool.inputSchema));
  const out: Record<string, unknown> = {};
  for (const [name, param] of Object.entries(tool.parameters)) {
    if (param.default !== undefined) out[name] = structuredClone(param.default);
  }
  return out;
}

/**
 * The resolved triggers of a tool as written (the cron already checked).
 *
 * @param written the tool's `triggers`
 */
export function resolveTriggers(
  written: readonly { cron: string; webhook?: string }[],
): TriggerSpec[] {
  return written.map((t) => ({ cron: t.cron.trim(), webhook: t.webhook ?? null }));
}
