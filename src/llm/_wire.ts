/**
 * The two chat wire formats LOOM speaks: Ollama's `/api/chat` and the
 * OpenAI-compatible `/v1/chat/completions`. Each provider has a request body
 * builder and an answer reader; the reader trusts nothing of the answer's
 * shape and says what is missing in LOOM's own words (never the answer's
 * text, which is the model's and may be long or hostile).
 *
 * @module
 */

import { UpstreamError } from "../errors.ts";

/** Which wire format an endpoint speaks. */
export type LlmProvider = "ollama" | "openai";

/** One message of a chat. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** What a chat answered. */
export interface ChatAnswer {
  /** The assistant message's text. */
  text: string;
  /** The model that answered (as the server names it, else the configured one). */
  model: string;
  /** Tokens of the prompt, when the server counted them. */
  promptTokens?: number;
  /** Tokens of the answer, when the server counted them. */
  completionTokens?: number;
}

/** What a request body needs besides the messages. */
export interface WireOptions {
  model: string;
  jsonSchema?: Record<string, unknown>;
  /** OpenAI's `strict` flag of the schema; default true. */
  strictSchema?: boolean;
  temperature?: number;
}

/** The path each provider's chat lives under, after the base URL. */
export const CHAT_PATHS: Readonly<Record<LlmProvider, string>> = {
  ollama: "/api/chat",
  openai: "/v1/chat/completions",
};

/**
 * The JSON body of one chat request.
 *
 * @param provider the wire format
 * @param messages the chat so far
 * @param options model, optional JSON schema of the answer, temperature
 * @returns the body text
 */
export function chatBody(
  provider: LlmProvider,
  messages: readonly ChatMessage[],
  options: WireOptions,
): string {
  const plain = messages.map((m) => ({ role: m.role, content: m.content }));
  if (provider === "ollama") {
    const body: Record<string, unknown> = { model: options.model, messages: plain, stream: false };
    if (options.jsonSchema !== undefined) body.format = options.jsonSchema;
    if (options.temperature !== undefined) body.options = { temperature: options.temperature };
    return JSON.stringify(body);
  }
  const body: Record<string, unknown> = { model: options.model, messages: plain };
  if (options.temperature !== undefined) body.temperature = options.temperature;
  if (options.jsonSchema !== undefined) {
    body.response_format = {
      type: "json_schema",
      json_schema: {
        name: "answer",
        schema: options.jsonSchema,
        strict: options.strictSchema ?? true,
      },
    };
  }
  return JSON.stringify(body);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

function malformed(origin: string, what: string): UpstreamError {
  return new UpstreamError("UPSTREAM_FAILED", `LLM server at ${origin} sent ${what}`);
}

/**
 * Read a chat answer's body.
 *
 * @param provider the wire format
 * @param text the response body
 * @param origin the server's origin, for messages
 * @param model the configured model, when the answer names none
 * @returns the answer
 * @throws {UpstreamError} `UPSTREAM_FAILED` for a body that is not JSON, or
 *   has no assistant text where the format puts it
 */
export function readAnswer(
  provider: LlmProvider,
  text: string,
  origin: string,
  model: string,
): ChatAnswer {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw malformed(origin, "a body that is not JSON");
  }
  if (!isRecord(body)) throw malformed(origin, "a JSON body that is not an object");
  const answered = typeof body.model === "string" && body.model !== "" ? body.model : model;
  if (provider === "ollama") {
    const message = body.message;
    if (!isRecord(message) || typeof message.content !== "string") {
      throw malformed(origin, "no message.content in its answer");
    }
    return withCounts(
      message.content,
      answered,
      count(body.prompt_eval_count),
      count(body.eval_count),
    );
  }
  const choices = body.choices;
  const first = Array.isArray(choices) ? choices[0] : undefined;
  const message = isRecord(first) ? first.message : undefined;
  if (!isRecord(message) || typeof message.content !== "string") {
    throw malformed(origin, "no choices[0].message.content in its answer");
  }
  const usage = isRecord(body.usage) ? body.usage : {};
  return withCounts(
    message.content,
    answered,
    count(usage.prompt_tokens),
    count(usage.completion_tokens),
  );
}

function withCounts(
  text: string,
  model: string,
  promptTokens: number | undefined,
  completionTokens: number | undefined,
): ChatAnswer {
  const answer: ChatAnswer = { text, model };
  if (promptTokens !== undefined) answer.promptTokens = promptTokens;
  if (completionTokens !== undefined) answer.completionTokens = completionTokens;
  return answer;
}
