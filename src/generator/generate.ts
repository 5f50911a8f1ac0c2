/**
 * `loom generate`: a model writes an HTTP-bridge agent config from a
 * person's description, and LOOM checks it as it checks any config, feeding
 * the exact problems back until the answer loads or the attempts run out.
 *
 * Each answer must be one JSON object following {@linkcode generationSchema}
 * (sent as the request's schema where the API takes one: Ollama's `format`,
 * OpenAI's `response_format`), must write only the keys a model may write
 * (`keysOutsideSubset`), must load with the real loader (`parseConfig`, every
 * load-time check: templates, tiers, methods, literal credentials, poisoned
 * descriptions), and every bridge must stay on a host the person named or
 * the discovery found. The result carries `provenance: { source:
 * ai-generated }`, so it serves nothing until a person approves its bytes.
 *
 * @module
 */

import { type AgentConfig, parseConfig } from "../config/mod.ts";
import { ConfigError } from "../errors.ts";
import type { ChatMessage, LlmClient } from "../llm/mod.ts";
import { parseYamlData } from "../config/mod.ts";
import { toYaml } from "./_emit.ts";
import { firstMessages, retryMessage } from "./_gen_prompt.ts";
import { generationSchema, keysOutsideSubset } from "./_gen_schema.ts";

export { generationSchema, keysOutsideSubset };

/** Default attempts after the first. */
export const DEFAULT_RETRIES = 2;
/** Most problems sent back at once (the rest are counted). */
export const MAX_PROBLEMS_SENT = 20;
/** Default deadline of one attempt. */
export const ATTEMPT_TIMEOUT_MS = 180_000;

/** What to generate, and with what. */
export interface GenerateOptions {
  description: string;
  /** The model's endpoint; the caller closes it. */
  llm: LlmClient;
  /** `URL.host` values (host, or host:port) bridges may use; at least one. */
  hosts: readonly string[];
  /** A summary of the target's OpenAPI document, sent fenced as data. */
  discovered?: string;
  /** The agent name to use instead of the model's. */
  name?: string;
  /** Attempts after the first; default {@linkcode DEFAULT_RETRIES}. */
  retries?: number;
  /** Deadline of one attempt; default {@linkcode ATTEMPT_TIMEOUT_MS}. */
  attemptTimeoutMs?: number;
  /** An API key for OpenAI-compatible servers. */
  apiKey?: string;
  /** Cancels the whole run. */
  signal?: AbortSignal;
  /** Told about each attempt as it ends. */
  onAttempt?: (attempt: AttemptReport) => void;
}

/** How one attempt ended. */
export interface AttemptReport {
  /** 1-based. */
  attempt: number;
  of: number;
  /** The problems found; empty when the answer was valid. */
  problems: string[];
  /** The answer's token count, when the server gave it. */
  tokens?: number;
}

/** A generation that produced a valid config. */
export interface Generated {
  ok: true;
  /** The config's YAML text, with `provenance: ai-generated`. */
  text: string;
  config: AgentConfig;
  attempts: number;
  /** The model that answered, as the server names it. */
  model: string;
  /** Secret names the config's headers use. */
  secrets: string[];
}

/** A generation whose every answer had problems. */
export interface NotGenerated {
  ok: false;
  attempts: number;
  /** The last answer's problems. */
  problems: string[];
  /** The last answer's text, as the model wrote it. */
  lastAnswer: string;
}

/**
 * Ask the model for a config, and again with the problems until it is valid.
 *
 * @throws {UpstreamError} when the LLM server cannot be reached or answers an error
 * @throws {PolicyError} when the destination check refuses the LLM endpoint
 */
export async function generateConfig(
  options: GenerateOptions,
): Promise<Generated | NotGenerated> {
  const retries = options.retries ?? DEFAULT_RETRIES;
  const of = retries + 1;
  const schema = generationSchema();
  const messages: ChatMessage[] = firstMessages({
    description: options.description,
    hosts: options.hosts,
    discovered: options.discovered,
    name: options.name,
  });
  let problems: string[] = [];
  let lastAnswer = "";
  for (let attempt = 1; attempt <= of; attempt++) {
    const deadline = AbortSignal.timeout(options.attemptTimeoutMs ?? ATTEMPT_TIMEOUT_MS);
    const answer = await options.llm.chat(messages, {
      signal: options.signal ? AbortSignal.any([options.signal, deadline]) : deadline,
      jsonSchema: schema,
      strictSchema: false,
      temperature: 0.2,
      apiKey: options.apiKey,
    });
    lastAnswer = answer.text;
    const checked = checkAnswer(answer.text, {
      hosts: options.hosts,
      name: options.name,
      generator: `loom generate (${options.llm.endpoint.provider}/${answer.model})`,
    });
    problems = checked.ok ? [] : checked.problems;
    options.onAttempt?.({ attempt, of, problems, tokens: answer.completionTokens });
    if (checked.ok) {
      return {
        ok: true,
        text: checked.text,
        config: checked.config,
        attempts: attempt,
        model: answer.model,
        secrets: secretsOf(checked.config),
      };
    }
    messages.push({ role: "assistant", content: answer.text }, retryMessage(sent(problems)));
  }
  return { ok: false, attempts: of, problems, lastAnswer };
}

/** What an answer is checked against. */
export interface AnswerRules {
  hosts: readonly string[];
  name?: string;
  /** The provenance generator written into the config. */
  generator: string;
}

/**
 * Check one answer: parse it, keep it to the subset, load it, check its hosts.
 *
 * @returns the config text and config, or the problems, each one line
 */
export function checkAnswer(
  text: string,
  rules: AnswerRules,
): { ok: true; text: string; config: AgentConfig } | { ok: false; problems: string[] } {
  const parsed = parseAnswer(text);
  if (!parsed.ok) return parsed;
  const value = parsed.value;
  const outside = keysOutsideSubset(value);
  if (outside.length > 0) {
    return {
      ok: false,
      problems: outside.map((key) => `${key}: not allowed in a generated config; leave it out`),
    };
  }
  const agent = value.agent as Record<string, unknown>;
  if (rules.name !== undefined) agent.name = rules.name;
  const yaml = toYaml({ agent: withProvenance(agent, rules.generator) });
  let config: AgentConfig;
  try {
    config = parseConfig(yaml, { path: "generated.yaml" });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return {
      ok: false,
      problems: error.issues.map((i) => i.path ? `${i.path}: ${i.message}` : i.message),
    };
  }
  const offHost = config.bridges.flatMap((bridge, i) => {
    const host = hostOf(bridge.url);
    return rules.hosts.includes(host) ? [] : [
      `agent.http_bridge[${i}].url: host "${host}" is not one this config may use ` +
      `(${rules.hosts.join(", ")})`,
    ];
  });
  if (offHost.length > 0) return { ok: false, problems: offHost };
  return { ok: true, text: yaml, config };
}

/** The parsed answer, `{ agent: {...} }`, or why it is not one. */
function parseAnswer(
  text: string,
): { ok: true; value: Record<string, unknown> } | { ok: false; problems: string[] } {
  const body = text.replace(/<think>[\s\S]*?<\/think>/g, "").replace(/```[a-z]*\n?/gi, "").trim();
  let value: unknown;
  const start = body.indexOf("{");
  const end = body.lastIndexOf("}");
  if (start >= 0 && end > start) {
    try {
      value = JSON.parse(body.slice(start, end + 1));
    } catch (error) {
      value = undefined;
      if (!/^agent:/m.test(body)) {
        return {
          ok: false,
          problems: [`The answer is not valid JSON: ${(error as Error).message.slice(0, 200)}`],
        };
      }
    }
  }
  if (value === undefined) {
    // A server that ignores the schema may answer YAML, as a person would write it.
    const at = body.search(/^agent:/m);
    if (at < 0) return { ok: false, problems: ["The answer is not a JSON object"] };
    try {
      value = parseYamlData(body.slice(at), "answer");
    } catch (error) {
      const message = error instanceof ConfigError ? error.message : String(error);
      return { ok: false, problems: [message.slice(0, 400)] };
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, problems: ["The answer is not a JSON object"] };
  }
  const record = value as Record<string, unknown>;
  const agent = record.agent;
  if (typeof agent !== "object" || agent === null || Array.isArray(agent)) {
    return { ok: false, problems: ['The answer has no "agent" object at the top'] };
  }
  return { ok: true, value: record };
}

/** The agent with `provenance` after its description (replacing any the model wrote). */
function withProvenance(agent: Record<string, unknown>, generator: string) {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(agent)) {
    if (key === "provenance") continue;
    out[key] = value;
    if (key === "description") {
      out.provenance = { source: "ai-generated", generator: generator.slice(0, 120) };
    }
  }
  out.provenance ??= { source: "ai-generated", generator: generator.slice(0, 120) };
  return out;
}

/** `host` or `host:port` of a bridge URL template (its host is literal). */
export function hostOf(url: string): string {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return "";
  }
}

/** The hosts the URLs in a text name (`URL.host`, lower case, in order, once each). */
export function hostsNamedIn(text: string): string[] {
  const hosts: string[] = [];
  for (const match of text.matchAll(/\bhttps?:\/\/[^\s"'<>()\]]+/gi)) {
    const host = hostOf(match[0].replace(/[.,;:!?]+$/, ""));
    if (host !== "" && !hosts.includes(host)) hosts.push(host);
  }
  return hosts;
}

function sent(problems: readonly string[]): string[] {
  if (problems.length <= MAX_PROBLEMS_SENT) return [...problems];
  return [
    ...problems.slice(0, MAX_PROBLEMS_SENT),
    `(${problems.length - MAX_PROBLEMS_SENT} more problems not shown)`,
  ];
}

function secretsOf(config: AgentConfig): string[] {
  const names = new Set<string>();
  for (const bridge of config.bridges) {
    for (const value of Object.values(bridge.headers)) {
      for (const match of value.matchAll(/\{\{\s*secret:([^}\s]+)\s*\}\}/g)) names.add(match[1]);
    }
  }
  return [...names].sort();
}
