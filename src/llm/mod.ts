/**
 * LLM chat endpoints: one client ({@linkcode LlmClient}) for a local Ollama
 * server and OpenAI-compatible servers, over LOOM's own HTTP client and
 * destination check. Above the network layer, below the config; used by
 * composite tools (`src/runtime/composite/`) and, later, the generator.
 *
 * @module
 */

export {
  type ChatAnswer,
  type ChatMessage,
  type ChatOptions,
  DEFAULT_MAX_RESPONSE_BYTES,
  ERROR_EXCERPT_CHARS,
  LlmClient,
  type LlmEndpoint,
  type LlmProvider,
} from "./client.ts";
