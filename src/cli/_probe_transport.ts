/**
 * The two ways `loom probe` reaches an MCP server: streamable HTTP (a POST
 * per message, answered with JSON or an SSE stream) and stdio (a child
 * process speaking newline-delimited JSON-RPC). Both are small and strict:
 * everything the target sends is untrusted, so every answer is size-capped,
 * every wait ends at the probe's deadline, and every failure becomes one
 * {@linkcode LoomError} line with the exit code of its kind (69 unreachable
 * or not MCP, 75 timed out, 77 refused by the server's authentication, 66 a
 * command that does not exist).
 *
 * No shell is ever run: a stdio target is an argv. Its environment is cleared
 * except `PATH`, `HOME` and the names the user passes on, and the process is
 * stopped (stdin closed, then SIGTERM, then SIGKILL) when the probe ends.
 *
 * @module
 */

import { LoomError, NotFoundError, PolicyError, UpstreamError } from "../errors.ts";
import type { JsonRpcId } from "../mcp/mod.ts";

/** Most bytes one answer (a JSON body, an SSE stream, a stdout line) may take. */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;
/** Longest piece of untrusted text quoted in an error. */
const QUOTE_CHARS = 120;

/** A JSON-RPC answer: exactly one of result and error. */
export interface RpcAnswer {
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

/** A transport-level refusal an era negotiation may fall back on (HTTP 4xx). */
export class HttpStatusError extends UpstreamError {
  /** The HTTP status. */
  readonly status: number;
  /** @param status the status @param message the one-line message */
  constructor(status: number, message: string) {
    super("UPSTREAM_FAILED", message);
    this.status = status;
  }
}

/** The stdio target closed or exited before answering. */
export class ClosedError extends UpstreamError {
  constructor(message: string) {
    super("UPSTREAM_FAILED", message);
  }
}

/** One MCP connection of the probe. */
export interface ProbeTransport {
  /** "http" or "stdio": negotiation treats a silent stdio server differently. */
  readonly kind: "http" | "stdio";
  /** Send a request and wait for its answer (or the signal). */
  request(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<RpcAnswer>;
  /** Send a notification. */
  notify(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<void>;
  /** The 2025 era's negotiated version, sent as `MCP-Protocol-Version` over HTTP. */
  legacyVersion: string | null;
  /** End the connection (HTTP: end the session; stdio: stop the process). */
  close(): Promise<void>;
}

/**
 * A quote of untrusted text for an error line: bounded. The CLI prints every
 * error message through `escapeForTerminal`, which keeps it on one line and
 * makes control characters visible.
 */
export function quote(text: string): string {
  return `"${text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS)}...` : text}"`;
}

/** The timeout error, thrown when the probe's deadline passes. */
export function timeoutError(target: string, seconds: number): LoomError {
  return new UpstreamError(
    "UPSTREAM_TIMEOUT",
    `No answer from ${target} within ${seconds} s (raise --timeout)`,
  );
}

/** Parse one JSON-RPC message; a non-object or non-JSON text is a non-MCP answer. */
export function parseMessage(text: string, from: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UpstreamError(
      "UPSTREAM_FAILED",
      `${from} is not MCP: it sent non-JSON text ${quote(text.trim())}`,
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new UpstreamError(
      "UPSTREAM_FAILED",
      `${from} is not MCP: it sent JSON that is not a JSON-RPC message`,
    );
  }
  return value as Record<string, unknown>;
}

/** The answer in a response message, checked for shape. */
export function answerOf(message: Record<string, unknown>, from: string): RpcAnswer {
  const { result, error } = message;
  if (error !== null && typeof error === "object" && !Array.isArray(error)) {
    const { code, message: text, data } = error as Record<string, unknown>;
    return {
      error: {
        code: typeof code === "number" ? code : 0,
        message: typeof text === "string" ? text : "",
        data,
      },
    };
  }
  if (result !== null && typeof result === "object" && !Array.isArray(result)) {
    return { result: result as Record<string, unknown> };
  }
  throw new UpstreamError(
    "UPSTREAM_FAILED",
    `${from} is not MCP: a response holds neither result nor error`,
  );
}

/** Whether a message is the response to request `id`. */
export function isResponseTo(message: Record<string, unknown>, id: JsonRpcId): boolean {
  return message.id === id && !("method" in message);
}

/**
 * Read a byte stream to its end as text, holding at most
 * {@linkcode MAX_ANSWER_BYTES}.
 */
export async function readCapped(
  body: ReadableStream<Uint8Array>,
  from: string,
): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) throw tooLarge(from);
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

/** The error for an answer over {@linkcode MAX_ANSWER_BYTES}. */
export function tooLarge(from: string): LoomError {
  return new UpstreamError(
    "RESPONSE_TOO_LARGE",
    `${from} sent an answer over ${MAX_ANSWER_BYTES / 1024 / 1024} MiB; the probe stopped reading`,
  );
}

/**
 * Each `data:` payload of a `text/event-stream` (the events' data lines
 * joined by newlines), as they arrive, within the size cap. Lines end in
 * CRLF, LF or CR; an event is dispatched at its blank line, as the
 * event-stream format defines.
 */
export async function* sseEvents(
  body: ReadableStream<Uint8Array>,
  from: string,
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) throw tooLarge(from);
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A CR at the end may be the first half of a CRLF split across chunks.
      if (newline === buffer.length - 1 && buffer.endsWith("\r")) break;
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (data.length > 0) yield data.join("\n");
        data = [];
      } else if (line.startsWith("data:")) {
        data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      }
      // Other fields (event, id, retry) and comments do not matter to the probe.
    }
  }
  // An event the stream ended in the middle of (no blank line) is not dispatched.
}

/** Kill errors of an already exited process are not failures. */
export function killQuietly(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch { /* already gone */ }
}

/** The one-line error for an HTTP status the probe cannot use. */
export function statusError(
  url: string,
  response: Response,
  hasToken: boolean,
): LoomError {
  const status = response.status;
  if (status === 401 || status === 403) {
    const hint = hasToken
      ? "the token from --token-file or LOOM_HTTP_TOKEN was refused"
      : "pass a bearer token with --token-file FILE or LOOM_HTTP_TOKEN";
    return new PolicyError(`${url} answered HTTP ${status}: ${hint}`);
  }
  if (status >= 300 && status < 400) {
    const location = response.headers.get("location") ?? "";
    return new UpstreamError(
      "UPSTREAM_FAILED",
      `${url} answered HTTP ${status} (redirect to ${quote(location)}); ` +
        "the probe does not follow redirects: probe that URL directly",
    );
  }
  return new HttpStatusError(
    status,
    `${url} answered HTTP ${status}${status === 404 ? ": no MCP endpoint at this path" : ""}`,
  );
}

/** A fetch failure as one line: refused, unresolvable, TLS, or unreachable. */
export function fetchFailure(url: string, error: unknown): LoomError {
  const detail = String((error as { cause?: Error })?.cause?.message ?? (error as Error)?.message);
  const host = new URL(url).host;
  if (/connection refused/i.test(detail)) {
    return new LoomError("UNAVAILABLE", `Connection refused by ${host}: is the server running?`);
  }
  if (/dns error|failed to lookup|name or service not known|no such host/i.test(detail)) {
    return new LoomError("UNAVAILABLE", `Cannot resolve host ${quote(new URL(url).hostname)}`);
  }
  if (/certificate|tls|ssl|corrupt message|handshake|InvalidContentType/i.test(detail)) {
    return new LoomError(
      "UNAVAILABLE",
      `TLS failure talking to ${host}: ${quote(lastClause(detail))}`,
    );
  }
  return new LoomError("UNAVAILABLE", `Cannot reach ${host}: ${quote(lastClause(detail))}`);
}

function lastClause(detail: string): string {
  const parts = detail.split(": ");
  return parts.slice(-2).join(": ");
}

/** A command that could not be started. */
export function spawnFailure(program: string, error: unknown): LoomError {
  if (error instanceof Deno.errors.NotFound) {
    return new NotFoundError(
      `Command not found: ${quote(program)} (searched PATH; no shell is used)`,
    );
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new LoomError("POLICY_DENIED", `Cannot run ${quote(program)}: permission denied`);
  }
  return new LoomError(
    "UNAVAILABLE",
    `Cannot run ${quote(program)}: ${quote(String((error as Error)?.message))}`,
  );
}
