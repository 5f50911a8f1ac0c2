/**
 * Step 8 for a tool of an MCP upstream (gateway mode): the call goes to the
 * upstream server, by the upstream's own tool name, within the whole-call
 * deadline; the client's cancellation is passed on as
 * `notifications/cancelled`, and the upstream's progress reaches the client
 * when it asked for progress.
 *
 * What comes back is made into LOOM's answer: text blocks as they are; a
 * resource's text as text; a resource link as a line naming it; image and
 * audio data (which LOOM does not pass on) as a line naming their type and
 * size; `structuredContent` kept for step 9 to redact. The whole answer, as
 * JSON, is held to `runtime.max_response_bytes`. An upstream tool error
 * (`isError`) stays a tool error, with the upstream's text (step 9 redacts
 * it; the output scan reads it like any answer). The outcome records the
 * upstream's tool name, the answer's size and whether it was an error,
 * never the text.
 *
 * @module
 */

import { LoomError } from "../../errors.ts";
import type { CallToolResult, LogLevel, TextContent } from "../../mcp/mod.ts";
import { type GateCall, type GateParts, toolError } from "./call.ts";
import { asLoomError, CallDeadline, type Executed } from "./08_execute.ts";
import type { Released } from "./07_secrets.ts";

/** An upstream's answer to `tools/call`, as its client reads it. */
export interface UpstreamAnswer {
  content: unknown[];
  structuredContent?: Record<string, unknown>;
  isError: boolean;
}

/**
 * The client of a gateway call, as far as the upstream may reach it while
 * the call runs: its log (filtered by the level it asked for), a request
 * to it (elicitation, sampling) when the transport can carry one, and the
 * capabilities it declared.
 */
export interface UpstreamCallClient {
  log(level: LogLevel, data: unknown): void;
  request?(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
  capabilities?: ReadonlySet<string>;
}

/** What the gate needs of an agent's MCP upstream (made by `src/app/upstream_agent.ts`). */
export interface UpstreamCaller {
  /** The upstream's identity for records and secrets: `stdio:<program>` or the URL's origin. */
  readonly origin: string;
  /** Call a tool by the upstream's own name. */
  callTool(
    name: string,
    args: Record<string, unknown>,
    options: {
      signal: AbortSignal;
      onProgress?: (progress: number, total?: number, message?: string) => void;
      /** The call's client: the upstream's log messages and requests may reach it. */
      client?: UpstreamCallClient;
    },
  ): Promise<UpstreamAnswer>;
  /** The secrets the upstream was started with (environment, headers), for step 9. */
  released(): Released;
  /** Stop the upstream (a child process is killed). */
  close(): Promise<void>;
}

/**
 * Run a gateway call. Never throws: every failure is an `error` or `timeout`
 * outcome with a tool error.
 */
export async function executeUpstream(
  parts: GateParts,
  call: GateCall,
  name: string,
  input: Record<string, unknown>,
): Promise<Executed> {
  const runtime = parts.config.runtime;
  const upstream = parts.upstream;
  if (upstream === undefined) {
    const message = `Agent "${parts.config.name}" has no MCP upstream to call`;
    return { status: "error", result: toolError(message), fields: { error: message } };
  }
  const deadline = new CallDeadline(call.ctx.signal, runtime.maxExecutionTimeMs);
  const { ctx } = call;
  ctx.log("debug", { event: "upstream_request", tool: call.tool, upstream_tool: name });
  const sentAt = performance.now();
  call.executed = true;
  try {
    const answer = await upstream.callTool(name, input, {
      signal: deadline.signal,
      onProgress: ctx.progress === undefined ? undefined : (progress, total, message) => {
        ctx.progress?.(progress, total, message === undefined ? undefined : message.slice(0, 200));
      },
      client: {
        log: (level, data) => ctx.log(level, data),
        ...(ctx.request === undefined ? {} : { request: ctx.request.bind(ctx) }),
        ...(ctx.clientCapabilities === undefined ? {} : { capabilities: ctx.clientCapabilities }),
      },
    });
    const bytes = new TextEncoder().encode(JSON.stringify(answer)).byteLength;
    if (bytes > runtime.maxResponseBytes) {
      throw new LoomError(
        "RESPONSE_TOO_LARGE",
        `The upstream's answer (${bytes} bytes) exceeds max_response_bytes ` +
          `(${runtime.maxResponseBytes})`,
      );
    }
    ctx.log("info", {
      event: "upstream_response",
      tool: call.tool,
      upstream_tool: name,
      is_error: answer.isError,
      bytes,
      duration_ms: Math.round(performance.now() - sentAt),
    });
    const result: CallToolResult = { content: answer.content.map(asText) };
    if (answer.isError) result.isError = true;
    if (answer.structuredContent !== undefined) {
      result.structuredContent = answer.structuredContent;
    }
    return {
      status: answer.isError ? "error" : "success",
      result,
      fields: { mcp: { bytes, is_error: answer.isError, tool: name } },
    };
  } catch (error) {
    const err = asLoomError(error, runtime.maxExecutionTimeMs, deadline.expired);
    ctx.log("warning", {
      event: "upstream_error",
      tool: call.tool,
      upstream_tool: name,
      code: err.code,
      duration_ms: Math.round(performance.now() - sentAt),
    });
    return {
      status: err.code === "UPSTREAM_TIMEOUT" ? "timeout" : "error",
      result: toolError(err.message),
      fields: { error: err.message, code: err.code },
    };
  } finally {
    deadline.clear();
  }
}

/** One content block of an upstream answer, as a text block. */
function asText(block: unknown): TextContent {
  if (typeof block !== "object" || block === null) return { type: "text", text: String(block) };
  const item = block as Record<string, unknown>;
  switch (item.type) {
    case "text":
      return { type: "text", text: typeof item.text === "string" ? item.text : "" };
    case "resource": {
      const resource = (item.resource ?? {}) as Record<string, unknown>;
      if (typeof resource.text === "string") return { type: "text", text: resource.text };
      return { type: "text", text: `[resource ${shown(resource.uri)}: binary content omitted]` };
    }
    case "resource_link":
      return { type: "text", text: `[resource link ${shown(item.uri)} ${shown(item.name)}]` };
    case "image":
    case "audio": {
      const size = typeof item.data === "string" ? Math.floor(item.data.length * 3 / 4) : 0;
      return {
        type: "text",
        text: `[${item.type} ${shown(item.mimeType)}, about ${size} bytes, not passed on by LOOM]`,
      };
    }
    default:
      return { type: "text", text: `[content of type ${shown(item.type)} omitted]` };
  }
}

/** A field of an upstream block, bounded, for a line about it. */
function shown(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value.slice(0, 200)) : "(none)";
}
