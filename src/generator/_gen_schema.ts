/**
 * What `loom generate` lets a model write: a subset of the config's own JSON
 * Schema (`configJsonSchema()`), cut down to an HTTP-bridge agent: the
 * agent's name, version and description, its tools (name, title,
 * description, access, parameters), their bridges, and four runtime limits.
 * Everything else (gateway servers, composite steps, triggers, escalation
 * rules, sandbox and network allowances, provenance) is for a person to add
 * after review; an answer that writes it is refused, whether or not the
 * server honoured the schema.
 *
 * @module
 */

import { configJsonSchema } from "../config/mod.ts";

/** Keys of `agent` a model may write. */
export const AGENT_KEYS = ["name", "version", "description", "exposes", "http_bridge", "runtime"];
/** Keys of a tool a model may write. */
export const TOOL_KEYS = ["name", "title", "description", "access", "parameters"];
/**
 * Keys of a parameter a model may not write: `allow` switches injection
 * detectors off, `mcp_header` mirrors an argument into a header.
 */
export const PARAMETER_KEYS_REFUSED = ["allow", "mcp_header"];
/** Keys of `runtime` a model may write. */
export const RUNTIME_KEYS = [
  "trust_tier",
  "max_execution_time",
  "max_response_bytes",
  "rate_limit",
];

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function pick(properties: Node, keys: readonly string[]): Node {
  return Object.fromEntries(keys.filter((k) => k in properties).map((k) => [k, properties[k]]));
}

let cached: Node | undefined;

/**
 * The JSON Schema a generated answer must follow: `{ agent: {...} }` with
 * only {@linkcode AGENT_KEYS}, {@linkcode TOOL_KEYS} and
 * {@linkcode RUNTIME_KEYS}, taken from the config's JSON Schema so the two
 * never disagree.
 *
 * @returns a fresh copy
 */
export function generationSchema(): Node {
  if (cached === undefined) {
    const full = configJsonSchema();
    const agent = (full.properties as Node).agent as Node;
    const props = agent.properties as Node;
    const exposes = props.exposes as Node;
    const tool = exposes.items as Node;
    const runtime = props.runtime as Node;
    cached = {
      $schema: full.$schema,
      title: "LOOM agent config (HTTP bridges only)",
      type: "object",
      properties: {
        agent: {
          ...agent,
          properties: {
            ...pick(props, AGENT_KEYS),
            exposes: {
              ...exposes,
              minItems: 1,
              items: {
                ...tool,
                properties: pick(tool.properties as Node, TOOL_KEYS),
                required: ["name", "description", "access"],
              },
            },
            runtime: {
              ...runtime,
              properties: pick(runtime.properties as Node, RUNTIME_KEYS),
              required: ["trust_tier"],
            },
          },
          required: ["name", "description", "exposes", "http_bridge", "runtime"],
        },
      },
      required: ["agent"],
      additionalProperties: false,
      $defs: withoutRefusedParameterKeys(full.$defs as Node),
    };
  }
  return structuredClone(cached);
}

function withoutRefusedParameterKeys(defs: Node): Node {
  const parameter = defs.Parameter as Node;
  const properties = { ...(parameter.properties as Node) };
  for (const key of PARAMETER_KEYS_REFUSED) delete properties[key];
  return { ...defs, Parameter: { ...parameter, properties } };
}

/** Refused parameter keys in `params` (a `parameters` or `properties` map), recursively. */
function parameterKeys(params: unknown, at: string, found: string[], depth = 0): void {
  if (!isNode(params) || depth > 16) return;
  for (const [name, param] of Object.entries(params)) {
    if (!isNode(param)) continue;
    const here = `${at}.${name}`;
    for (const key of PARAMETER_KEYS_REFUSED) if (key in param) found.push(`${here}.${key}`);
    parameterKeys(param.properties, `${here}.properties`, found, depth + 1);
    if (isNode(param.items)) parameterKeys({ items: param.items }, here, found, depth + 1);
  }
}

/**
 * The keys of an answer outside what a model may write, as dotted paths.
 *
 * @param answer the parsed answer
 * @returns such as `agent.mcp_upstream` or `agent.exposes[1].steps`; empty when none
 */
export function keysOutsideSubset(answer: unknown): string[] {
  const found: string[] = [];
  if (!isNode(answer)) return found;
  for (const key of Object.keys(answer)) if (key !== "agent") found.push(key);
  const agent = answer.agent;
  if (!isNode(agent)) return found;
  for (const key of Object.keys(agent)) {
    if (!AGENT_KEYS.includes(key)) found.push(`agent.${key}`);
  }
  if (Array.isArray(agent.exposes)) {
    agent.exposes.forEach((tool, i) => {
      if (!isNode(tool)) return;
      for (const key of Object.keys(tool)) {
        if (!TOOL_KEYS.includes(key)) found.push(`agent.exposes[${i}].${key}`);
      }
      parameterKeys(tool.parameters, `agent.exposes[${i}].parameters`, found);
    });
  }
  if (isNode(agent.runtime)) {
    for (const key of Object.keys(agent.runtime)) {
      if (!RUNTIME_KEYS.includes(key)) found.push(`agent.runtime.${key}`);
    }
  }
  return found;
}
