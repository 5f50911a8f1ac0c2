/**
 * One client for LLM chat endpoints: a local Ollama server (`/api/chat`) or
 * any OpenAI-compatible server (`/v1/chat/completions`). It sends requests
 * through LOOM's own HTTP client (`src/net/http1/`) after the same
 * destination check a bridge gets (`checkDestination()`): an address in a
 * loopback, private or special range is refused unless `allowNetworks`
 * names it, and the connected socket's address must be one the check
 * approved before a byte is written. Unlike a bridge, naming a loopback host
 * in the URL is not enough: the endpoint is not an agent's declared
 * upstream, so the network must be allowed on purpose.
 *
 * Errors are LOOM's own words: no server answering, a non-2xx status with a
 * short excerpt of the server's text, a body that is not JSON, an answer
 * without text. An API key never appears in one (it is removed from any
 * excerpt).
 *
 * @example
 * ```ts
 * import { LlmClient } from "./mod.ts";
 *
 * const llm = new LlmClient({
 *   provider: "ollama",
 *   baseUrl: "http://127.0.0.1:11434",
 *   model: "llama3.2",
 *   allowNetworks: ["127.0.0.0/8"],
 * });
 * try {
 *   const answer = await llm.chat([{ role: "user", content: "Hello" }], {
 *     signal: AbortSignal.timeout(60_000),
 *   });
 *   console.log(answer.text);
 * } finally {
 *   llm.close();
 * }
 * ```
 *
 * @module
 */

import { LoomError, PolicyError, UpstreamError } from "../errors.ts";
import {
  BodyLimitError,
  checkDestination,
  type ClientResponse,
  type ConnectionPin,
  destinationPin,
  type HostLookup,
  HttpClient,
} from "../net/mod.ts";
import {
  CHAT_PATHS,
  type ChatAnswer,
  chatBody,
  type ChatMessage,
  type LlmProvider,
  readAnswer,
} from "./_wire.ts";

export type { ChatAnswer, ChatMessage, LlmProvider };

/** Where a chat goes. */
export interface LlmEndpoint {
  provider: LlmProvider;
  /** `http(s)://host[:port][/prefix]`, without credentials, query or fragment. */
  baseUrl: string;
  model: string;
  /** Private or special networks (CIDR) the endpoint may be in; none by default. */
  allowNetworks?: readonly string[];
  /** Resolver seam for the destination check; the system resolver by default. */
  lookup?: HostLookup;
}

/** One chat's options. */
export interface ChatOptions {
  /** Cancellation and deadline: a `TimeoutError` reason ends the chat as a timeout. */
  signal: AbortSignal;
  /** A JSON Schema the answer must follow (Ollama `format`, OpenAI `response_format`). */
  jsonSchema?: Record<string, unknown>;
  /**
   * OpenAI's `strict` for the schema (default true): strict mode needs every
   * property required and no optional keys, which a config schema is not.
   */
  strictSchema?: boolean;
  temperature?: number;
  /** Cap on the decompressed answer body; default 1 MiB. */
  maxResponseBytes?: number;
  /** Sent as `Authorization: Bearer` (OpenAI-compatible servers only); never in errors. */
  apiKey?: string;
}

/** Default cap on an answer's body. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
/** Characters of a server's own text an error message shows at most. */
export const ERROR_EXCERPT_CHARS = 200;

const DECODER = new TextDecoder("utf-8", { fatal: false });
const REFUSED = /refused|unreachable|reset|closed|eof|broken pipe|timed out|not connected/i;

/** A chat client of one endpoint; close it when done (it keeps connections alive). */
export class LlmClient {
  readonly endpoint: Readonly<LlmEndpoint>;
  readonly #url: URL;
  readonly #origin: string;
  readonly #client = new HttpClient({ maxIdlePerOrigin: 4 });

  /**
   * @param endpoint provider, base URL, model and allowed networks
   * @throws {TypeError} for a base URL that is not http(s), or carries credentials, query or fragment
   */
  constructor(endpoint: LlmEndpoint) {
    this.endpoint = Object.freeze({ ...endpoint });
    this.#url = chatUrl(endpoint);
    this.#origin = this.#url.origin;
  }

  /** The server's origin, as messages name it. */
  get origin(): string {
    return this.#origin;
  }

  /**
   * Send one chat and read the whole answer.
   *
   * @param messages the chat so far
   * @param options signal, optional schema, temperature, cap and key
   * @returns the assistant's text, the model and the token counts
   * @throws {PolicyError} when the destination check refuses the endpoint
   * @throws {UpstreamError} when no server answers, at the deadline, past the
   *   cap, for a non-2xx status and for an answer that cannot be read
   */
  async chat(messages: readonly ChatMessage[], options: ChatOptions): Promise<ChatAnswer> {
    const { provider, model } = this.endpoint;
    const body = chatBody(provider, messages, {
      model,
      jsonSchema: options.jsonSchema,
      strictSchema: options.strictSchema,
      temperature: options.temperature,
    });
    const headers = new Headers({ "content-type": "application/json", accept: "application/json" });
    if (options.apiKey !== undefined && options.apiKey !== "") {
      headers.set("authorization", `Bearer ${options.apiKey}`);
    }
    const max = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const pin = await this.#check(options.signal);
    let res: ClientResponse;
    try {
      res = await this.#client.request({
        method: "POST",
        url: this.#url,
        headers,
        body,
        signal: options.signal,
        pin,
      });
    } catch (error) {
      throw this.#failure(error, options.signal, "connect");
    }
    let text: string;
    try {
      text = DECODER.decode(await res.read(max));
    } catch (error) {
      if (error instanceof BodyLimitError) {
        throw new UpstreamError(
          "RESPONSE_TOO_LARGE",
          `LLM server at ${this.#origin} sent more than ${max} bytes`,
        );
      }
      throw this.#failure(error, options.signal, "body");
    }
    if (res.status < 200 || res.status > 299) {
      throw new UpstreamError(
        "UPSTREAM_FAILED",
        `LLM server at ${this.#origin} answered ${res.status}` +
          excerptOf(text, options.apiKey),
      );
    }
    return readAnswer(provider, text, this.#origin, model);
  }

  /** Close the kept-alive connections; later chats throw. */
  close(): void {
    this.#client.close();
  }

  /** The destination check, and the pin that holds the connection to what it approved. */
  async #check(signal: AbortSignal): Promise<ConnectionPin> {
    signal.throwIfAborted();
    // An empty configured host: loopback is allowed only through allowNetworks.
    const policy = {
      allowNetworks: this.endpoint.allowNetworks ?? [],
      configuredHost: "",
      lookup: this.endpoint.lookup,
    };
    const verdict = await checkDestination(this.#url, policy);
    if (!verdict.allow) {
      throw new PolicyError(`LLM endpoint refused: ${verdict.reason}`);
    }
    return destinationPin(
      this.#url.hostname,
      verdict.addresses,
      policy,
      (reason) => new PolicyError(`LLM endpoint refused: ${reason}`),
    );
  }

  /** An error of the exchange, in LOOM's words (the runtime's messages may quote the URL). */
  #failure(error: unknown, signal: AbortSignal, phase: "connect" | "body"): LoomError {
    if (signal.aborted) {
      const reason = signal.reason;
      if (reason instanceof LoomError) return reason;
      if (reason instanceof DOMException && reason.name === "AbortError") {
        return new UpstreamError("UPSTREAM_FAILED", "LLM request was cancelled");
      }
      return new UpstreamError(
        "UPSTREAM_TIMEOUT",
        `LLM server at ${this.#origin} did not answer in time`,
      );
    }
    if (error instanceof LoomError) return error;
    if (phase === "connect" && REFUSED.test(messagesOf(error))) {
      return new UpstreamError("UPSTREAM_FAILED", `No LLM server answered at ${this.#origin}`);
    }
    return new UpstreamError(
      "UPSTREAM_FAILED",
      phase === "connect"
        ? `Request to the LLM server at ${this.#origin} failed`
        : `Cannot read the answer of the LLM server at ${this.#origin}`,
    );
  }
}

/** The chat URL of an endpoint. */
function chatUrl(endpoint: LlmEndpoint): URL {
  let base: URL;
  try {
    base = new URL(endpoint.baseUrl);
  } catch {
    throw new TypeError("LLM base URL is not a URL");
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new TypeError(`LLM base URL must be http or https, not ${base.protocol}`);
  }
  if (base.username !== "" || base.password !== "" || base.search !== "" || base.hash !== "") {
    throw new TypeError("LLM base URL may not carry credentials, a query or a fragment");
  }
  const prefix = base.pathname.replace(/\/+$/, "");
  return new URL(`${base.origin}${prefix}${CHAT_PATHS[endpoint.provider]}`);
}

/** The messages of an error and its causes, only to be matched. */
function messagesOf(error: unknown): string {
  let text = "";
  for (let e: unknown = error, i = 0; e instanceof Error && i < 4; e = e.cause, i++) {
    text += `${e.name} ${e.message}\n`;
    if ("code" in e && typeof e.code === "string") text += `${e.code}\n`;
  }
  return text;
}

/**
 * `: <excerpt>` of a server's error text: one line, control characters out,
 * the key (if any) removed, at most {@linkcode ERROR_EXCERPT_CHARS}.
 */
function excerptOf(text: string, apiKey: string | undefined): string {
  let shown = text;
  if (apiKey !== undefined && apiKey !== "") shown = shown.replaceAll(apiKey, "[redacted]");
  // deno-lint-ignore no-control-regex
  shown = shown.replace(/[\u0000-\u001f\u007f\s]+/g, " ").trim();
  if (shown === "") return "";
  if (shown.length > ERROR_EXCERPT_CHARS) shown = `${shown.slice(0, ERROR_EXCERPT_CHARS)}…`;
  return `: ${shown}`;
}
