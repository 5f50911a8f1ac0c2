/**
 * A stdio MCP client for the bench: drives `loom run CONFIG` (stdio) by
 * writing newline-delimited JSON-RPC to its stdin with a fixed number of
 * requests in flight, and reading responses from its stdout.
 *
 * @module
 */

import { type LoadRun, percentile } from "./_stats.ts";
import { initializeBody, PROTOCOL_VERSION } from "./_servers.ts";

/** One stdio load run; `errors` counts responses that were not successful tool results. */
export type StdioLoad = LoadRun;

const encoder = new TextEncoder();

/** A JSON-RPC connection over a child's stdin/stdout. */
export class StdioClient {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #waiting = new Map<string, (line: string) => void>();
  #reading: Promise<void>;
  #closed = false;

  /** @param child a process spawned with piped stdin and stdout */
  constructor(child: Deno.ChildProcess) {
    this.#writer = child.stdin.getWriter();
    this.#reading = this.#read(child.stdout);
  }

  async #read(stdout: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of stdout) {
      rest += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = rest.indexOf("\n")) !== -1) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        // The id is the first member the engine writes after "jsonrpc".
        const m = /"id":("(?:[^"\\]|\\.)*"|-?\d+|null)/.exec(line);
        const key = m ? m[1] : "null";
        const waiter = this.#waiting.get(key);
        if (waiter) {
          this.#waiting.delete(key);
          waiter(line);
        }
      }
    }
    this.#closed = true;
    for (const w of this.#waiting.values()) w("");
    this.#waiting.clear();
  }

  /** Send a request line and resolve with the response line ("" if the server ended). */
  request(id: string, body: string): Promise<string> {
    if (this.#closed) return Promise.resolve("");
    const key = JSON.stringify(id);
    const answer = new Promise<string>((resolve) => this.#waiting.set(key, resolve));
    this.#writer.write(encoder.encode(body + "\n")).catch(() => {});
    return answer;
  }

  /** Send a notification line. */
  async notify(body: string): Promise<void> {
    await this.#writer.write(encoder.encode(body + "\n"));
  }

  /** Initialize the session. */
  async initialize(): Promise<void> {
    const line = await this.request("init", initializeBody("init"));
    const msg = line ? JSON.parse(line) : null;
    if (!msg?.result || msg.result.protocolVersion !== PROTOCOL_VERSION) {
      throw new Error(`stdio initialize failed: ${line.slice(0, 300)}`);
    }
    await this.notify(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
  }

  /**
   * Keep `concurrency` calls in flight for `seconds`.
   *
   * @param template a `tools/call` body with `@ID@` where the id goes
   */
  async load(template: string, concurrency: number, seconds: number): Promise<StdioLoad> {
    const at = template.indexOf("@ID@");
    const head = template.slice(0, at);
    const tail = template.slice(at + 4);
    const latencies: number[] = [];
    let errors = 0;
    let counter = 0;
    const t0 = performance.now();
    const stopAt = t0 + seconds * 1000;
    const worker = async () => {
      while (performance.now() < stopAt && !this.#closed) {
        const id = `s${++counter}`;
        const t = performance.now();
        const line = await this.request(id, `${head}"${id}"${tail}`);
        latencies.push((performance.now() - t) * 1000);
        if (!line.includes('"result"') || line.includes('"isError":true')) errors++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const elapsed = (performance.now() - t0) / 1000;
    const sorted = Float64Array.from(latencies).sort();
    return {
      requests: latencies.length,
      seconds: elapsed,
      rps: latencies.length / elapsed,
      errors,
      p50Us: percentile(sorted, 50),
      p99Us: percentile(sorted, 99),
    };
  }

  /** Close stdin (the server then exits) and wait for the reader to end. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#reading.catch(() => {});
  }
}
