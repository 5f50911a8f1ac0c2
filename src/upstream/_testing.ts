/**
 * Test helpers for the bridge: real upstream servers on 127.0.0.1 port 0 that
 * record what they receive, and a bridge factory.
 *
 * @module
 */

import type { BridgeSpec } from "../config/mod.ts";

/** One request an upstream received. */
export interface Received {
  method: string;
  url: URL;
  headers: Headers;
  body: string;
}

/** A running upstream; dispose to stop it. */
export interface Upstream extends AsyncDisposable {
  port: number;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Everything received, in order. */
  received: Received[];
}

/** Handler of a test upstream: gets the request and its body text. */
export type UpstreamHandler = (req: Request, body: string) => Response | Promise<Response>;

/**
 * Start a recording upstream on 127.0.0.1, port 0.
 *
 * @param handler answers each request (after it is recorded)
 * @returns the running upstream
 */
export function startUpstream(handler: UpstreamHandler): Upstream {
  const received: Received[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const body = await req.text();
      received.push({ method: req.method, url: new URL(req.url), headers: req.headers, body });
      return handler(req, body);
    },
  );
  const port = server.addr.port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    received,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** A raw listener that counts what it receives; see {@linkcode byteSink}. */
export interface ByteSink extends AsyncDisposable {
  port: number;
  /** Bytes received over all connections so far. */
  readonly bytes: number;
}

/**
 * A raw listener that counts every byte any connection sends it and answers
 * nothing: the upstream that must receive zero bytes.
 *
 * @param hostname the address to listen on (a loopback address)
 * @param port the port, 0 for any
 * @returns the running sink; dispose to close it and its connections
 */
export function byteSink(hostname: string, port = 0): ByteSink {
  const listener = Deno.listen({ hostname, port });
  const conns = new Set<Deno.Conn>();
  let bytes = 0;
  const drain = async (conn: Deno.Conn) => {
    const buf = new Uint8Array(4096);
    try {
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) bytes += n;
    } catch {
      // Closed at dispose.
    } finally {
      conns.delete(conn);
    }
  };
  const drains: Promise<void>[] = [];
  const loop = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        drains.push(drain(conn));
      }
    } catch {
      // Listener closed.
    }
  })();
  return {
    port: listener.addr.port,
    get bytes() {
      return bytes;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await loop;
      await Promise.all(drains);
    },
  };
}

/**
 * A port on 127.0.0.1 that nothing listens on (bound, then closed).
 *
 * @returns the port number
 */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/**
 * A bridge with test defaults.
 *
 * @param url the URL template
 * @param overrides other fields
 * @returns a complete bridge
 */
export function makeBridge(url: string, overrides: Partial<BridgeSpec> = {}): BridgeSpec {
  return {
    toolName: "test_tool",
    method: "GET",
    url,
    queryParams: {},
    headers: {},
    bodyTemplate: null,
    responsePath: null,
    timeoutMs: null,
    ...overrides,
  };
}

/**
 * Wait, or stop waiting early when the signal aborts (so no timer outlives a test).
 *
 * @param ms how long
 * @param signal stops the wait
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(id);
      resolve();
    };
    const id = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * An abort controller that aborts when disposed: declare it after the upstream
 * (`using stop = stopper()`) so slow handlers waiting on it end before the
 * upstream shuts down.
 *
 * @returns the controller
 */
export function stopper(): AbortController & Disposable {
  const controller = new AbortController();
  return Object.assign(controller, {
    [Symbol.dispose]() {
      controller.abort();
    },
  });
}

/** Options every bridge test run uses unless it says otherwise. */
export const RUN = {
  maxResponseBytes: 1024 * 1024,
  allowNetworks: [] as readonly string[],
};
