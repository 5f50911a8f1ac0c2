/**
 * Answering one POSTed request as JSON or as a Server-Sent Events stream.
 *
 * A request that may produce notifications of its own (a `tools/call` with a
 * progress token or a log level) is answered lazily: if its result is ready
 * before any notification, the answer is plain JSON, exactly as when nothing
 * could be streamed; the first notification turns the answer into an SSE
 * stream that carries it, any later ones, and finally the response, then
 * ends. A `subscriptions/listen` request is a stream from the start, kept
 * alive by comment lines. Closing the stream (the client went away) cancels
 * the request: `onCancel` runs, and nothing more is written.
 *
 * @module
 */

import type { JsonRpcMessage, JsonRpcNotification, JsonRpcResponse } from "../mcp/mod.ts";

const ENCODER = new TextEncoder();
/** How often a long-lived stream sends a comment line, so proxies keep it open. */
const KEEP_ALIVE_MS = 15_000;

/** How to answer one request. */
export interface AnswerOptions {
  /** Stream from the start (subscriptions), with keep-alive comments. */
  stream: boolean;
  /** Whether the client accepts `text/event-stream`; if not, notifications are dropped. */
  canStream: boolean;
  /** The HTTP status of a JSON answer. */
  status(response: JsonRpcResponse): number;
  /** Headers of either answer. */
  headers: Record<string, string>;
  /** The client closed the stream before the end: cancel the request. */
  onCancel(): void;
  /** The answer has ended, whichever way (release quotas). */
  onEnd?(): void;
}

/**
 * Run one request and answer it.
 *
 * @param run runs the request; notifications it passes to `notify` belong to it
 * @param options how to answer
 * @returns the HTTP response, as soon as its form is known
 */
export function answer(
  run: (notify: (message: JsonRpcNotification) => void) => Promise<JsonRpcResponse | null>,
  options: AnswerOptions,
): Promise<Response> {
  let controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  let open = false;
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  let settle!: (response: Response) => void;
  let ended = false;
  const responded = new Promise<Response>((resolve) => (settle = resolve));

  const finish = () => {
    if (ended) return;
    ended = true;
    clearInterval(keepAlive);
    options.onEnd?.();
  };
  const write = (message: JsonRpcMessage): void => {
    if (!open || controller === null) return;
    try {
      controller.enqueue(ENCODER.encode(`event: message\ndata: ${JSON.stringify(message)}\n\n`));
    } catch {
      open = false;
    }
  };
  const startStream = (): void => {
    if (controller !== null) return;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
        open = true;
      },
      cancel() {
        // The client went away: the request is cancelled.
        open = false;
        finish();
        options.onCancel();
      },
    });
    if (options.stream) {
      keepAlive = setInterval(() => {
        try {
          controller?.enqueue(ENCODER.encode(": keep-alive\n\n"));
        } catch {
          clearInterval(keepAlive);
        }
      }, KEEP_ALIVE_MS);
    }
    settle(
      new Response(body, {
        status: 200,
        headers: {
          ...options.headers,
          "content-type": "text/event-stream",
          "cache-control": "no-cache, no-transform",
          "x-accel-buffering": "no",
        },
      }),
    );
  };

  if (options.stream && options.canStream) startStream();
  const notify = (message: JsonRpcNotification): void => {
    if (!options.canStream || ended) return;
    startStream();
    write(message);
  };
  run(notify).then((response) => {
    if (controller !== null) {
      if (response !== null) write(response);
      if (open) {
        open = false;
        try {
          controller.close();
        } catch { /* already closed */ }
      }
      finish();
      return;
    }
    finish();
    settle(
      response === null
        ? new Response(null, { status: 202, headers: options.headers })
        : new Response(JSON.stringify(response), {
          status: options.status(response),
          headers: { ...options.headers, "content-type": "application/json" },
        }),
    );
  }, (error) => {
    console.error("loom: internal error in HTTP transport:", error);
    finish();
    if (controller !== null) {
      try {
        controller.close();
      } catch { /* already closed */ }
      return;
    }
    settle(
      new Response(
        JSON.stringify({
          jsonrpc: "2.0",
          id: null,
          error: { code: -32603, message: "Internal error" },
        }),
        { status: 500, headers: { ...options.headers, "content-type": "application/json" } },
      ),
    );
  });
  return responded;
}
