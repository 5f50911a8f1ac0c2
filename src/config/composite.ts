/**
 * Composite tools: an `exposes` entry with `steps` (and no bridge) whose
 * steps call other tools, and an optional `llm` step that summarises their
 * results. Under `loom run` a step calls a tool of the same agent; under
 * `loom mesh`, a tool of any agent of the mesh. Only at trust tier 3 and
 * above. The runner is `src/runtime/gate/composite.ts`.
 *
 * A step's `arguments` are JSON; in a string value, `{{name}}` is the
 * composite's own argument `name` and `{{steps.ID.text}}` the text of step
 * `ID`'s result. A string that is exactly one placeholder takes the
 * argument's typed value; elsewhere placeholders are replaced by text. A
 * step that names another step's text waits for it (and is skipped when it
 * failed); the others run in parallel.
 *
 * @example
 * ```yaml
 * - name: daily_briefing
 *   description: What changed overnight
 *   steps:
 *     - id: up
 *       tool: prom_query
 *       arguments: { query: "up" }
 *       timeout: 10s
 *   llm:
 *     provider: ollama
 *     url: http://127.0.0.1:11434
 *     model: llama3.2
 *     prompt: Summarise for an operator
 * ```
 *
 * @module
 */

import { z } from "zod";
import { parseDuration } from "../_util/units.ts";
import type { Located, PathSegment, YamlSource } from "./_yaml.ts";
import { quote } from "./_path.ts";
import { inputSchemaParams } from "./input_schema.ts";
import { TOOL_NAME, toolNameError } from "./tool_limits.ts";
import type { AgentConfigParsed } from "./schema.ts";

/** Step ids: lower-case letters, digits and `_`, starting with a letter, 1-32 characters. */
export const STEP_ID: RegExp = /^[a-z][a-z0-9_]{0,31}$/;
/** Steps a composite may have at most. */
export const MAX_STEPS = 16;
/** The lowest trust tier that may declare a composite tool. */
export const COMPOSITE_MIN_TIER = 3;
/** A placeholder in a step's argument: `{{name}}` or `{{steps.ID.text}}`. */
export const STEP_PLACEHOLDER: RegExp =
  /\{\{\s*(?:steps\.([a-z][a-z0-9_]{0,31})\.text|([A-Za-z_][A-Za-z0-9_]{0,63}))\s*\}\}/g;

const DURATION_HINT = 'Expected a duration such as "500ms", "10s", "1m" or a number of seconds';

/** A duration of 1 ms to 1 h; kept apart from `schema.ts`'s, which imports this module. */
const StepDuration = z.union([z.number().positive(), z.string().max(32)], {
  error: DURATION_HINT,
}).refine((value) => {
  const ms = parseDuration(value);
  return ms !== undefined && ms >= 1 && ms <= 3_600_000;
}, { error: `${DURATION_HINT}, between 1ms and 1h` });

/** One step of a composite: a call of another tool. */
export const CompositeStep = z.strictObject({
  id: z.string().regex(STEP_ID, {
    error: "Step id must be 1-32 characters of a-z, 0-9 and _, starting with a letter",
  }).meta({ description: "Names the step for later steps ({{steps.ID.text}}) and the summary" }),
  tool: z.string().regex(TOOL_NAME, { error: toolNameError }).meta({
    description: "The tool the step calls: of this agent, or under loom mesh of the mesh",
  }),
  arguments: z.record(z.string().max(64), z.unknown()).default({}).meta({
    description: "Its arguments; strings may hold {{arg}} and {{steps.ID.text}}",
  }),
  timeout: StepDuration.optional().meta({
    description: "Bounds this step; runtime.max_execution_time still bounds the composite",
  }),
});

/** The LLM step of a composite: summarises the steps' results. */
export const CompositeLlm = z.strictObject({
  provider: z.enum(["ollama", "openai"]).default("ollama"),
  url: z.string().min(1).max(2048).meta({
    description: "Base URL of the server; checked like a bridge's host, with allow_networks",
  }),
  model: z.string().min(1).max(256),
  prompt: z.string().min(1).max(16_384).meta({
    description: "What to do with the results (which are given to it as fenced, untrusted data)",
  }),
  timeout: StepDuration.default("60s"),
  temperature: z.number().min(0).max(2).optional(),
});

/** `steps` of a tool, in the schema. */
export const ToolSteps = z.array(CompositeStep).min(1).max(MAX_STEPS).optional().meta({
  description: "Composite tool (tier 3+): calls of other tools, in parallel where independent",
});
/** `llm` of a tool, in the schema. */
export const ToolLlm = CompositeLlm.optional().meta({
  description: "Composite tool: an LLM summarises the steps' results",
});

/** One resolved step. */
export interface CompositeStepSpec {
  id: string;
  tool: string;
  arguments: Readonly<Record<string, unknown>>;
  /** Null: only the composite's own deadline bounds it. */
  timeoutMs: number | null;
  /** The steps whose text it names, so it waits for them. */
  after: readonly string[];
}

/** The resolved LLM step. */
export interface CompositeLlmSpec {
  provider: "ollama" | "openai";
  url: string;
  model: string;
  prompt: string;
  timeoutMs: number;
  temperature?: number;
}

/** A resolved composite tool. */
export interface CompositeSpec {
  steps: readonly CompositeStepSpec[];
  llm: CompositeLlmSpec | null;
}

type ParsedAgent = AgentConfigParsed["agent"];
type ParsedTool = ParsedAgent["exposes"][number];
type ParsedStep = NonNullable<ParsedTool["steps"]>[number];

/** Every placeholder in a JSON value's strings. */
export function placeholders(value: unknown): { steps: string[]; args: string[] } {
  const found = { steps: [] as string[], args: [] as string[] };
  const visit = (v: unknown): void => {
    if (typeof v === "string") {
      for (const m of v.matchAll(STEP_PLACEHOLDER)) {
        if (m[1] !== undefined) found.steps.push(m[1]);
        else found.args.push(m[2]);
      }
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (typeof v === "object" && v !== null) Object.values(v).forEach(visit);
  };
  visit(value);
  return found;
}

/**
 * A tool's composite, resolved; undefined for a tool without `steps`.
 *
 * @param tool the tool as the schema parsed it
 */
export function resolveComposite(tool: ParsedTool): CompositeSpec | undefined {
  if (tool.steps === undefined) return undefined;
  const llm = tool.llm;
  return {
    steps: tool.steps.map((step) => ({
      id: step.id,
      tool: step.tool,
      arguments: structuredClone(step.arguments),
      timeoutMs: step.timeout === undefined ? null : Math.round(parseDuration(step.timeout)!),
      after: [...new Set(placeholders(step.arguments).steps)],
    })),
    llm: llm === undefined ? null : {
      provider: llm.provider,
      url: llm.url,
      model: llm.model,
      prompt: llm.prompt,
      timeoutMs: Math.round(parseDuration(llm.timeout)!),
      ...(llm.temperature === undefined ? {} : { temperature: llm.temperature }),
    },
  };
}

/**
 * The load-time problems of every composite tool of an agent: tier, step
 * ids, references (unknown, cyclic), calls of itself or of another
 * composite, arguments the composite does not declare, the LLM's URL, and a
 * bridge for a composite. Each is positioned at its YAML node.
 *
 * @param agent the agent as the schema parsed it
 * @param tier its trust tier
 * @param source positions
 * @returns errors and warnings
 */
export function compositeProblems(
  agent: ParsedAgent,
  tier: number,
  source: YamlSource,
): { errors: Located[]; warnings: Located[] } {
  const errors: Located[] = [];
  const warnings: Located[] = [];
  const composites = new Set(agent.exposes.filter((t) => t.steps !== undefined).map((t) => t.name));
  const names = new Set(agent.exposes.map((t) => t.name));
  const limit = parseDuration(agent.runtime.max_execution_time);
  agent.exposes.forEach((tool, i) => {
    const path: PathSegment[] = ["agent", "exposes", i];
    if (tool.steps === undefined) {
      if (tool.llm !== undefined) {
        errors.push(source.at([...path, "llm"], "An llm step needs steps to summarise", true));
      }
      return;
    }
    if (tier < COMPOSITE_MIN_TIER) {
      errors.push(source.at(
        [...path, "steps"],
        `Composite tool ${quote(tool.name)} needs runtime.trust_tier ${COMPOSITE_MIN_TIER} ` +
          `or higher (it is ${tier})`,
        true,
      ));
    }
    const declared = declaredNames(tool);
    const ids = new Map<string, number>();
    tool.steps.forEach((step, s) => {
      const at: PathSegment[] = [...path, "steps", s];
      if (ids.has(step.id)) {
        errors.push(source.at([...at, "id"], `Duplicate step id ${quote(step.id)}`));
      } else ids.set(step.id, s);
      if (step.tool === tool.name) {
        errors.push(source.at([...at, "tool"], `Step calls its own composite ${quote(tool.name)}`));
      } else if (composites.has(step.tool)) {
        errors.push(source.at(
          [...at, "tool"],
          `Step calls composite tool ${quote(step.tool)}: a composite may not call another`,
        ));
      } else if (!names.has(step.tool)) {
        warnings.push(source.at(
          [...at, "tool"],
          `Step calls ${quote(step.tool)}, which this agent does not have: it works only ` +
            "under loom mesh, when another agent serves it",
        ));
      }
      for (const arg of placeholders(step.arguments).args) {
        if (!declared.has(arg)) {
          errors.push(source.at(
            [...at, "arguments"],
            `Placeholder {{${arg}}} names no argument of ${quote(tool.name)}`,
          ));
        }
      }
      const ms = step.timeout === undefined ? undefined : parseDuration(step.timeout);
      if (ms !== undefined && limit !== undefined && ms > limit) {
        warnings.push(source.at(
          [...at, "timeout"],
          "Timeout is longer than runtime.max_execution_time, which bounds the whole composite",
        ));
      }
    });
    errors.push(...referenceProblems(tool.steps, ids, path, source));
    if (tool.llm !== undefined) {
      const problem = llmUrlProblem(tool.llm.url);
      if (problem !== null) errors.push(source.at([...path, "llm", "url"], problem));
    }
  });
  agent.http_bridge.forEach((bridge, b) => {
    if (composites.has(bridge.tool_name)) {
      errors.push(source.at(
        ["agent", "http_bridge", b, "tool_name"],
        `Tool ${quote(bridge.tool_name)} is a composite (it has steps): it takes no bridge`,
      ));
    }
  });
  return { errors, warnings };
}

/** The composite's own argument names. */
function declaredNames(tool: ParsedTool): Set<string> {
  if (tool.input_schema !== undefined) return new Set(inputSchemaParams(tool.input_schema).keys());
  return new Set(Object.keys(tool.parameters ?? {}));
}

/** Unknown step references, and cycles (each reported once, at a step on it). */
function referenceProblems(
  steps: readonly ParsedStep[],
  ids: ReadonlyMap<string, number>,
  path: PathSegment[],
  source: YamlSource,
): Located[] {
  const out: Located[] = [];
  const after = steps.map((step) => [...new Set(placeholders(step.arguments).steps)]);
  steps.forEach((_, s) => {
    for (const ref of after[s]) {
      if (!ids.has(ref)) {
        const known = [...ids.keys()].map(quote).join(", ");
        out.push(source.at(
          [...path, "steps", s, "arguments"],
          `Placeholder {{steps.${ref}.text}} names no step: steps are ${known}`,
        ));
      }
    }
  });
  // Depth-first search; 1 = on the current path, 2 = done.
  const state = new Array<number>(steps.length).fill(0);
  const visit = (s: number, trail: string[]): void => {
    state[s] = 1;
    for (const ref of after[s]) {
      const next = ids.get(ref);
      if (next === undefined) continue;
      if (state[next] === 1) {
        const cycle = [...trail.slice(trail.indexOf(ref)), steps[s].id, ref];
        out.push(source.at(
          [...path, "steps", s, "arguments"],
          `Steps wait for each other in a cycle: ${cycle.join(" -> ")}`,
        ));
      } else if (state[next] === 0) visit(next, [...trail, steps[s].id]);
    }
    state[s] = 2;
  };
  steps.forEach((_, s) => {
    if (state[s] === 0) visit(s, []);
  });
  return out;
}

/**
 * Why an LLM base URL cannot be used, or null.
 *
 * @param text the configured `llm.url`
 */
export function llmUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "LLM url is not a URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `LLM url must be http or https, not ${url.protocol}`;
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    return "LLM url may not carry credentials, a query or a fragment";
  }
  return null;
}
