/**
 * HTTP client benchmark: LOOM's own HTTP/1.1 client (`src/net/http1/client.ts`)
 * against undici (Node's HTTP client, whose parser is llhttp), same requests to
 * the same local upstreams, in interleaved rounds.
 *
 * Measured in this process (the upstreams run in their own processes, so
 * their CPU is not counted): CPU µs per call (user + system, from
 * `process.cpuUsage()`) and calls/s, for
 * - a small GET (the bench's fixed small JSON from `upstream.ts`) at
 *   concurrency 1 and 16, over kept-alive connections;
 * - a chunked response of many one-byte chunks (this file run with
 *   `--serve-chunked`), which shows what a response costs per chunk.
 *
 * Prints a table, and a last line `RESULT {json}` that `main.ts` reads.
 *
 * Run: `deno run -A scripts/bench/http_client_bench.ts [--quick] [--rounds=N] [--seconds=S]`
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { HttpClient } from "../../src/net/mod.ts";
import { DEV_CONFIG_FLAGS } from "../../tests/_helpers.ts";
import { startUpstreamProcess } from "./_servers.ts";
import { UPSTREAM_BODY } from "./upstream.ts";
import { ROUND_OPTIONS, type Spread, spread } from "./_stats.ts";

/** One-byte chunks per response in the chunked scenario. */
const CHUNKS = 10_000;

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    ...ROUND_OPTIONS,
    "serve-chunked": { type: "boolean", default: false },
  },
});

/** The chunked upstream: answers every request with CHUNKS one-byte chunks. */
async function serveChunked(): Promise<void> {
  let body = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
  for (let i = 0; i < CHUNKS; i++) body += `1\r\n${String.fromCharCode(97 + (i % 26))}\r\n`;
  const response = new TextEncoder().encode(body + "0\r\n\r\n");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(`listening on http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);
  for await (const conn of listener) {
    (async () => {
      const buf = new Uint8Array(16384);
      let tail = "";
      try {
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          // Requests carry no body: one answer per blank line seen.
          tail += new TextDecoder().decode(buf.subarray(0, n));
          let end;
          while ((end = tail.indexOf("\r\n\r\n")) >= 0) {
            tail = tail.slice(end + 4);
            for (let done = 0; done < response.length;) {
              done += await conn.write(response.subarray(done));
            }
          }
        }
      } catch {
        // The client went away.
      } finally {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    })();
  }
}

if (flags["serve-chunked"]) {
  await serveChunked();
  Deno.exit(0);
}

const QUICK = flags.quick;
const ROUNDS = Number(flags.rounds ?? (QUICK ? 2 : 5));
const SECONDS = Number(flags.seconds ?? (QUICK ? 0.5 : 2));
const MAX_BODY = 1 << 20;
/** The same request headers for both; no compression, so both read the same bytes. */
const HEADERS = { accept: "application/json", "accept-encoding": "identity" };

/** One way of making a GET and reading the whole body. */
type Call = () => Promise<number>;

interface Contender {
  name: string;
  call: Call;
  close(): Promise<void>;
}

function loomContender(url: string): Contender {
  const client = new HttpClient();
  const target = new URL(url);
  const headers = new Headers(HEADERS);
  const signal = new AbortController().signal;
  return {
    name: "loom",
    call: async () => {
      const res = await client.request({ method: "GET", url: target, headers, body: null, signal });
      return (await res.read(MAX_BODY)).length;
    },
    close: () => {
      client.close();
      return Promise.resolve();
    },
  };
}

function undiciContender(url: string, connections: number): Contender {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections, pipelining: 1 });
  const path = target.pathname + target.search;
  return {
    name: "undici",
    call: async () => {
      const res = await pool.request({ method: "GET", path, headers: HEADERS });
      return (await res.body.bytes()).length;
    },
    close: () => pool.close(),
  };
}

interface Sample {
  cpuUs: number;
  rps: number;
}

function cpuNowUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function measure(call: Call, concurrency: number, seconds: number): Promise<Sample> {
  const deadline = performance.now() + seconds * 1000;
  let calls = 0;
  const cpu0 = cpuNowUs();
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      await call();
      calls++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  return { cpuUs: (cpuNowUs() - cpu0) / calls, rps: calls / elapsed };
}

/** Figures by scenario and contender, one sample per round. */
const samples = new Map<string, Sample[]>();

async function runScenario(
  scenario: string,
  url: string,
  concurrency: number,
  expectLength: number,
): Promise<void> {
  const contenders = [loomContender(url), undiciContender(url, concurrency)];
  try {
    for (const c of contenders) {
      const n = await c.call();
      if (n !== expectLength) {
        throw new Error(`${c.name} read ${n} bytes, expected ${expectLength}`);
      }
      await measure(c.call, concurrency, Math.min(1, SECONDS)); // warm up
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of contenders) {
        const key = `${scenario}/${c.name}`;
        const list = samples.get(key) ?? [];
        list.push(await measure(c.call, concurrency, SECONDS));
        samples.set(key, list);
      }
    }
  } finally {
    for (const c of contenders) await c.close();
  }
}

const upstream = await startUpstreamProcess();
const chunkedCmd = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--allow-net",
    "--allow-env",
    ...DEV_CONFIG_FLAGS,
    new URL(import.meta.url).pathname,
    "--serve-chunked",
  ],
  stdin: "null",
  stdout: "piped",
  stderr: "inherit",
});
const chunked = chunkedCmd.spawn();
try {
  const reader = chunked.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  while (!/listening on (\S+)\n/.test(banner)) {
    const { value, done } = await reader.read();
    if (done) throw new Error("The chunked upstream exited before it was ready");
    banner += value;
  }
  reader.releaseLock();
  chunked.stdout.cancel().catch(() => {});
  const chunkedUrl = /listening on (\S+)\n/.exec(banner)![1];

  await runScenario("small GET, c=1", `${upstream.url}/`, 1, UPSTREAM_BODY.length);
  await runScenario("small GET, c=16", `${upstream.url}/`, 16, UPSTREAM_BODY.length);
  await runScenario(`${CHUNKS} one-byte chunks, c=1`, `${chunkedUrl}/`, 1, CHUNKS);

  const fmt = (s: Spread, digits = 1): string =>
    Number.isFinite(s.median)
      ? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`
      : "—";
  const get = (key: string, field: keyof Sample) =>
    spread((samples.get(key) ?? []).map((s) => s[field]));
  const ratio = (scenario: string, field: keyof Sample) => {
    const a = samples.get(`${scenario}/loom`) ?? [];
    const b = samples.get(`${scenario}/undici`) ?? [];
    return spread(a.map((x, i) => x[field] / (b[i]?.[field] ?? NaN)));
  };
  const scenarios = [...new Set([...samples.keys()].map((k) => k.slice(0, k.lastIndexOf("/"))))];
  const lines = [
    `HTTP client bench ${QUICK ? "(quick) " : ""}— ${ROUNDS} rounds × ${SECONDS} s, ` +
    "client process CPU, median (min–max over rounds)",
    "",
    "| scenario | LOOM client CPU µs/call | undici CPU µs/call | CPU LOOM/undici | " +
    "LOOM calls/s | undici calls/s |",
    "|---|---|---|---|---|---|",
  ];
  const result: Record<string, unknown> = {};
  for (const s of scenarios) {
    lines.push(
      `| ${s} | ${fmt(get(`${s}/loom`, "cpuUs"))} | ${fmt(get(`${s}/undici`, "cpuUs"))} | ` +
        `${fmt(ratio(s, "cpuUs"), 2)}× | ${fmt(get(`${s}/loom`, "rps"), 0)} | ` +
        `${fmt(get(`${s}/undici`, "rps"), 0)} |`,
    );
    result[s] = {
      loomCpuUs: get(`${s}/loom`, "cpuUs").median,
      undiciCpuUs: get(`${s}/undici`, "cpuUs").median,
      loomRps: get(`${s}/loom`, "rps").median,
      undiciRps: get(`${s}/undici`, "rps").median,
    };
  }
  console.log(lines.join("\n"));
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  try {
    chunked.kill("SIGKILL");
  } catch { /* gone */ }
  await chunked.status;
  await upstream.stop();
}
