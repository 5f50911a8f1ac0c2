/**
 * A load generator for when `wrk` is not installed: N keep-alive HTTP/1.1
 * connections over raw `Deno.connect`, one request in flight per connection
 * (no pipelining), for a duration or a request count. It measures its own CPU
 * so a report can show whether the generator, not the server, was the limit.
 *
 * It speaks the same environment as `mcp_call.lua` (`BENCH_BODY` with `@ID@`,
 * `BENCH_SESSION`, `BENCH_PROTOCOL`, `BENCH_HEADERS` with one `Name: value`
 * per line), so the bench drives either the same way.
 *
 * Run: `deno run --allow-net --allow-env --allow-read scripts/bench/load_http.ts
 * --url=URL --connections=16 [--seconds=5 | --requests=N]`; prints one line
 * `RESULT {json}` on stdout.
 *
 * @module
 */

import { cpuMs } from "./_proc.ts";
import { percentile } from "./_stats.ts";

/** Options of {@linkcode runLoad}. */
export interface LoadOptions {
  /** Target URL (http only). */
  url: string;
  /** Concurrent connections, each with one request in flight. */
  connections: number;
  /** Stop after this many seconds (default 5 unless `requests` is given). */
  seconds?: number;
  /** Stop after this many requests in total. */
  requests?: number;
  /** JSON body with `@ID@` where a fresh JSON-RPC id goes; GET when absent. */
  bodyTemplate?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

/** What a load run measured (same field names as the wrk script's RESULT line). */
export interface LoadReport {
  requests: number;
  duration_us: number;
  status_errors: number;
  read_errors: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  mean_us: number;
  max_us: number;
  /** CPU the generator itself used, in ms. */
  client_cpu_ms: number;
}

const CRLF2 = new Uint8Array([13, 10, 13, 10]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number, to: number): number {
  outer: for (let i = from; i <= to - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** One connection's reader: reads exactly one response at a time. */
class ResponseReader {
  #conn: Deno.Conn;
  #buf = new Uint8Array(64 * 1024);
  #len = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #fill(): Promise<void> {
    if (this.#len === this.#buf.length) {
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#len));
    if (n === null) throw new Error("Connection closed by the server");
    this.#len += n;
  }

  #consume(n: number): void {
    this.#buf.copyWithin(0, n, this.#len);
    this.#len -= n;
  }

  /** Read one response; returns its status. */
  async read(): Promise<number> {
    let end: number;
    while ((end = indexOf(this.#buf, CRLF2, 0, this.#len)) === -1) await this.#fill();
    const head = decoder.decode(this.#buf.subarray(0, end));
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    this.#consume(end + 4);
    if (length) {
      const want = Number(length[1]);
      while (this.#len < want) await this.#fill();
      this.#consume(want);
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      for (;;) {
        let nl: number;
        while ((nl = indexOf(this.#buf, CRLF2.subarray(0, 2), 0, this.#len)) === -1) {
          await this.#fill();
        }
        const size = parseInt(decoder.decode(this.#buf.subarray(0, nl)), 16);
        while (this.#len < nl + 2 + size + 2) await this.#fill();
        this.#consume(nl + 2 + size + 2);
        if (size === 0) break;
      }
    }
    return status;
  }
}

/**
 * Drive a server with keep-alive connections and measure latency.
 *
 * @param options target, concurrency and stop condition
 * @returns counts and latency percentiles
 */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const url = new URL(options.url);
  const target = `${url.pathname}${url.search}`;
  const fixed = [
    `Host: ${url.host}`,
    ...Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
  ];
  let head = "";
  let tail = "";
  if (options.bodyTemplate !== undefined) {
    const at = options.bodyTemplate.indexOf("@ID@");
    head = options.bodyTemplate.slice(0, at);
    tail = options.bodyTemplate.slice(at + 4);
  }
  const limit = options.requests ?? Infinity;
  const seconds = options.seconds ?? (options.requests === undefined ? 5 : Infinity);
  const latencies: number[] = [];
  let started = 0;
  let statusErrors = 0;
  let readErrors = 0;
  let counter = 0;
  const cpu0 = cpuMs("self") ?? 0;
  const t0 = performance.now();
  const stopAt = t0 + seconds * 1000;

  const request = (): Uint8Array => {
    if (options.bodyTemplate === undefined) {
      return encoder.encode(`GET ${target} HTTP/1.1\r\n${fixed.join("\r\n")}\r\n\r\n`);
    }
    const body = `${head}"${++counter}"${tail}`;
    return encoder.encode(
      `POST ${target} HTTP/1.1\r\n${fixed.join("\r\n")}\r\n` +
        `Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n` +
        `Content-Length: ${encoder.encode(body).length}\r\n\r\n${body}`,
    );
  };

  const worker = async (): Promise<void> => {
    let conn: Deno.Conn | null = null;
    let reader: ResponseReader | null = null;
    while (started < limit && performance.now() < stopAt) {
      started++;
      try {
        if (conn === null) {
          conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port || 80) });
          reader = new ResponseReader(conn);
        }
        const bytes = request();
        const t = performance.now();
        let written = 0;
        while (written < bytes.length) written += await conn.write(bytes.subarray(written));
        const status = await reader!.read();
        latencies.push((performance.now() - t) * 1000);
        if (status < 200 || status >= 400) statusErrors++;
      } catch {
        readErrors++;
        try {
          conn?.close();
        } catch { /* already closed */ }
        conn = null;
      }
    }
    try {
      conn?.close();
    } catch { /* already closed */ }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  const duration = performance.now() - t0;
  const sorted = Float64Array.from(latencies).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    requests: latencies.length,
    duration_us: Math.round(duration * 1000),
    status_errors: statusErrors,
    read_errors: readErrors,
    p50_us: Math.round(percentile(sorted, 50)),
    p90_us: Math.round(percentile(sorted, 90)),
    p99_us: Math.round(percentile(sorted, 99)),
    mean_us: sorted.length ? Math.round(sum / sorted.length) : NaN,
    max_us: Math.round(sorted[sorted.length - 1] ?? NaN),
    client_cpu_ms: (cpuMs("self") ?? 0) - cpu0,
  };
}

if (import.meta.main) {
  const opt = (name: string) =>
    Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const url = opt("url");
  if (!url) {
    console.error("Usage: load_http.ts --url=URL --connections=N [--seconds=S | --requests=N]");
    Deno.exit(64);
  }
  const headers: Record<string, string> = {};
  const session = Deno.env.get("BENCH_SESSION");
  const protocol = Deno.env.get("BENCH_PROTOCOL");
  if (session) headers["Mcp-Session-Id"] = session;
  if (protocol) headers["MCP-Protocol-Version"] = protocol;
  for (const line of (Deno.env.get("BENCH_HEADERS") ?? "").split("\n")) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) {
      console.error(`BENCH_HEADERS: expected "Name: value", got ${JSON.stringify(line)}`);
      Deno.exit(64);
    }
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  const report = await runLoad({
    url,
    connections: Number(opt("connections") ?? 16),
    seconds: opt("seconds") === undefined ? undefined : Number(opt("seconds")),
    requests: opt("requests") === undefined ? undefined : Number(opt("requests")),
    bodyTemplate: Deno.env.get("BENCH_BODY"),
    headers,
  });
  console.log(`RESULT ${JSON.stringify(report)}`);
}
